#!/usr/bin/python
"""Ansible module snowflake_role: create, update or drop Snowflake roles."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_role
short_description: Create, comment or drop Snowflake account roles
description:
  - Makes one role, or a whole list of roles in one call, present or absent.
  - Reads current roles with a single C(SHOW ROLES), plans in memory, and sends all changes in one request.
  - Supports check mode (returns the plan) and diff mode.
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
options:
  name:
    description:
      - The role. A plain name is stored upper-case (as Snowflake does); write C('"Mixed"') with double quotes to keep case.
      - Mutually exclusive with O(roles).
    type: str
  comment:
    description: Comment for O(name). Not managed when omitted.
    type: str
  state:
    description: Whether O(name) should exist. Also the default for items of O(roles).
    type: str
    choices: [present, absent]
    default: present
  roles:
    description: Several roles at once.
    type: list
    elements: dict
    suboptions:
      name:
        description: The role.
        type: str
        required: true
      comment:
        description: Comment (not managed when omitted).
        type: str
      state:
        description: Whether the role should exist (defaults to O(state)).
        type: str
        choices: [present, absent]
"""

EXAMPLES = r"""
- name: One role
  snowmcp.core.snowflake_role:
    name: MCP_USERS
    comment: People who may use the MCP servers

- name: Several roles in one call, connection from module_defaults
  snowmcp.core.snowflake_role:
    roles:
      - {name: MCP_USERS, comment: MCP users}
      - {name: MCP_SALES}
      - {name: OLD_ROLE, state: absent}
"""

RETURN = r"""
created:
  description: Roles created.
  returned: always
  type: list
  elements: str
  sample: [MCP_USERS]
dropped:
  description: Roles dropped.
  returned: always
  type: list
  elements: str
updated:
  description: Roles whose comment was changed.
  returned: always
  type: list
  elements: str
queries:
  description: Statements run (or planned, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["SHOW ROLES", "CREATE ROLE IF NOT EXISTS MCP_USERS COMMENT = 'MCP users'"]
"""

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner, rows_named
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    ident,
    like,
    literal,
    normalize,
)


def wanted_roles(params: dict[str, Any]) -> list[dict[str, Any]]:
    if params["name"] is not None:
        items = [{"name": params["name"], "comment": params["comment"], "state": params["state"]}]
    else:
        items = [{**r, "state": r.get("state") or params["state"]} for r in params["roles"] or []]
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        stored = normalize(item["name"])
        if stored in seen:
            raise ValueError(f"role {stored!r} is listed twice")
        seen[stored] = {"name": stored, "comment": item.get("comment"), "state": item["state"]}
    return list(seen.values())


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    wanted = wanted_roles(params)
    if not wanted:
        return {"created": [], "dropped": [], "updated": []}
    sql = f"SHOW ROLES LIKE {like(wanted[0]['name'])}" if len(wanted) == 1 else "SHOW ROLES"
    rows = runner.read(sql, "reading roles")
    current = {r["name"]: r for r in rows}
    if len(wanted) == 1:
        current = {r["name"]: r for r in rows_named(rows, wanted[0]["name"])}
    statements: list[str] = []
    created, dropped, updated = [], [], []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for item in wanted:
        name, comment = item["name"], item["comment"]
        row = current.get(name)
        before[name] = None if row is None else {"comment": row.get("comment") or ""}
        if item["state"] == "absent":
            after[name] = None
            if row is not None:
                statements.append(f"DROP ROLE IF EXISTS {ident(name)}")
                dropped.append(name)
        elif row is None:
            after[name] = {"comment": comment or ""}
            suffix = f" COMMENT = {literal(comment)}" if comment else ""
            statements.append(f"CREATE ROLE IF NOT EXISTS {ident(name)}{suffix}")
            created.append(name)
        else:
            after[name] = dict(before[name])
            if comment is not None and (row.get("comment") or "") != comment:
                after[name]["comment"] = comment
                statements.append(f"ALTER ROLE {ident(name)} SET COMMENT = {literal(comment)}")
                updated.append(name)
    runner.apply(statements, "changing roles")
    changed = bool(statements)
    result: dict[str, Any] = {"changed": changed, "created": created, "dropped": dropped, "updated": updated}
    if changed:
        keys = set(created) | set(dropped) | set(updated)
        result["diff"] = {
            "before": {k: before[k] for k in sorted(keys)},
            "after": {k: after[k] for k in sorted(keys)},
        }
    return result


def main() -> None:
    module = snowflake_module(
        {
            "name": {"type": "str"},
            "comment": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "roles": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "comment": {"type": "str"},
                    "state": {"type": "str", "choices": ["present", "absent"]},
                },
            },
        },
        mutually_exclusive=[("name", "roles")],
        required_one_of=[("name", "roles")],
    )
    run_module(module, lambda runner: converge(runner, module.params))


if __name__ == "__main__":
    main()
