#!/usr/bin/python
"""Ansible module snowflake_oauth_parameters: OAUTH_AUTHORIZATION_SERVER / OAUTH_SCOPES_SUPPORTED per object."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_oauth_parameters
short_description: Converge the MCP OAuth discovery parameters on the account, databases and schemas
description:
  - Sets or unsets C(OAUTH_AUTHORIZATION_SERVER) (the name of an External OAuth security integration whose issuer
    Snowflake advertises in MCP servers' protected resource metadata, and the only issuer whose tokens MCP endpoints
    then accept) and C(OAUTH_SCOPES_SUPPORTED) (the scopes advertised to MCP clients) with
    C(ALTER ACCOUNT | DATABASE | SCHEMA ... SET | UNSET). Schema values override database values, which override the
    account's.
  - Each target states both parameters' wanted value at its own level; an empty or missing value means the
    parameter must not be set at that level (it is C(UNSET) when it is). Values inherited from another level are
    not this target's.
  - Reads with one C(SHOW PARAMETERS LIKE 'OAUTH_%' IN <object>) per target (run a few at a time), never one per MCP
    server; changes only what differs, all C(SET)s before any C(UNSET) so MCP servers are never left without the
    wanted authorization server while the level moves.
  - Supports check mode (returns the plan) and diff mode.
version_added: "0.2.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
options:
  targets:
    description: The objects to converge.
    type: list
    elements: dict
    required: true
    suboptions:
      level:
        description: Which object.
        type: str
        required: true
        choices: [account, database, schema]
      database:
        description: Database name (levels C(database) and C(schema)).
        type: str
      schema:
        description: Schema name (level C(schema)).
        type: str
      authorization_server:
        description: C(OAUTH_AUTHORIZATION_SERVER) at this level; empty or missing to unset it here.
        type: str
      scopes_supported:
        description: C(OAUTH_SCOPES_SUPPORTED) at this level (stored comma-separated); empty or missing to unset it here.
        type: list
        elements: str
"""

EXAMPLES = r"""
- name: MCP clients sign in with the corporate IdP, asking for the MCP role
  snowmcp.core.snowflake_oauth_parameters:
    targets:
      - level: account
        authorization_server: SNOWMCP_IDP
        scopes_supported: ["session:role:MCP_USERS"]

- name: Back to Snowflake OAuth (token service mode) - nothing set anywhere
  snowmcp.core.snowflake_oauth_parameters:
    targets:
      - level: account
      - level: schema
        database: AICOLLEGE
        schema: PUBLIC
"""

RETURN = r"""
changed_targets:
  description: The objects whose parameters were (or, in check mode, would be) changed.
  returned: always
  type: list
  elements: str
  sample: [account]
queries:
  description: Statements run (or planned, in check mode), in order, reads included.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_parameters_plan import (
    current,
    desired,
    label,
    read_sql,
    statements,
    target_key,
    validate,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    targets = params["targets"]
    problems = validate(targets)
    if problems:
        raise ValueError("; ".join(problems))
    keys = [target_key(t) for t in targets]
    rows = runner.read_many(
        [(read_sql(k), f"reading the OAuth parameters of {label(k)}") for k in keys]
    )
    sets: list[str] = []
    unsets: list[str] = []
    changed: list[str] = []
    before_all: dict[str, Any] = {}
    after_all: dict[str, Any] = {}
    for key, target, found in zip(keys, targets, rows):
        before = current(key, found)
        after = desired(target)
        todo = statements(key, before, after)
        if todo:
            changed.append(label(key))
            before_all[label(key)] = before
            after_all[label(key)] = after
        sets += [s for s in todo if " SET " in s]
        unsets += [s for s in todo if " UNSET " in s]
    runner.apply(sets + unsets, "converging the OAuth parameters")
    result: dict[str, Any] = {"changed": bool(changed), "changed_targets": changed}
    if changed:
        result["diff"] = {"before": before_all, "after": after_all}
    return result


def main() -> None:
    spec: dict[str, Any] = {
        "targets": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "level": {
                    "type": "str",
                    "required": True,
                    "choices": ["account", "database", "schema"],
                },
                "database": {"type": "str"},
                "schema": {"type": "str"},
                "authorization_server": {"type": "str"},
                "scopes_supported": {"type": "list", "elements": "str"},
            },
        }
    }
    module = snowflake_module(spec)
    run_module(module, lambda runner: converge(runner, module.params))


if __name__ == "__main__":
    main()
