#!/usr/bin/python
"""Ansible module snowflake_mcp_server: Snowflake-managed MCP servers from a structured tools list."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_mcp_server
short_description: Create, update or drop a Snowflake-managed MCP server
description:
  - Builds the server's specification from a structured O(tools) list (validated before anything changes -
    known tool types, required fields, at most 50 tools, no C($$)) and compares it semantically with the spec
    C(DESCRIBE MCP SERVER) returns.
  - Snowflake has no C(ALTER MCP SERVER), so a changed spec or comment means C(CREATE OR REPLACE), which drops
    the grants on the server. The module reads those grants first (C(SHOW GRANTS ON MCP SERVER)) and re-applies them
    in the same request, so nobody loses access.
  - Supports check mode (returns the plan) and diff mode.
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
options:
  name:
    description: Server name (plain names are stored upper-case).
    type: str
    required: true
  database:
    description: Database holding the server.
    type: str
    required: true
  schema:
    description: Schema holding the server.
    type: str
    required: true
  comment:
    description: Comment. Not managed when omitted.
    type: str
  tools:
    description:
      - The tools, as in Snowflake's specification. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description: Tool name shown to the MCP client.
        type: str
        required: true
      type:
        description: Tool type.
        type: str
        required: true
        choices: [CORTEX_SEARCH_SERVICE_QUERY, CORTEX_ANALYST_MESSAGE, SYSTEM_EXECUTE_SQL, CORTEX_AGENT_RUN, GENERIC]
      identifier:
        description: Fully qualified object the tool uses (C(DB.SCHEMA.OBJECT)); required except for C(SYSTEM_EXECUTE_SQL).
        type: str
      title:
        description: Title.
        type: str
      description:
        description: Description for the model.
        type: str
      config:
        description:
          - Type-specific settings.
          - C(SYSTEM_EXECUTE_SQL) - read_only, query_timeout, warehouse.
          - C(GENERIC) - type, warehouse, query_timeout, input_schema.
        type: dict
  state:
    description: Whether the server should exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Gong call search as an MCP server
  snowmcp.core.snowflake_mcp_server:
    name: GONG_MCP
    database: AICOLLEGE
    schema: PUBLIC
    comment: Gong call search
    tools:
      - name: call-search
        type: CORTEX_SEARCH_SERVICE_QUERY
        identifier: AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED
        title: Gong Search
        description: cortex search for gong calls
"""

RETURN = r"""
server:
  description: Fully qualified server name.
  returned: always
  type: str
  sample: AICOLLEGE.PUBLIC.GONG_MCP
action:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: str
  choices: [none, create, replace, drop]
reapplied_grants:
  description: Grants read from the server before C(CREATE OR REPLACE) and granted again in the same request.
  returned: always
  type: list
  elements: str
  sample: ['USAGE TO ROLE MCP_USERS']
spec:
  description: The specification text sent (present only).
  returned: when state is present
  type: str
queries:
  description: Statements run (or planned, in check mode), in order.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_mcp_spec import (
    normalize_tools,
    parse_described_spec,
    render_spec,
    same_spec,
    validate_tools,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    dollar_quoted,
    ident,
    literal,
    normalize,
    qualified,
    qualified_display,
)


def _clean_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in t.items() if v is not None} for t in tools]


def regrant_statements(fqn_sql: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """GRANT statements that restore `SHOW GRANTS ON MCP SERVER` rows (OWNERSHIP excluded)."""
    statements, described = [], []
    for row in rows:
        privilege = str(row.get("privilege") or "").upper()
        if privilege in ("", "OWNERSHIP") or str(row.get("granted_to") or "").upper() != "ROLE":
            continue
        grantee = str(row["grantee_name"])
        option = " WITH GRANT OPTION" if str(row.get("grant_option")).lower() == "true" else ""
        statements.append(f"GRANT {privilege} ON MCP SERVER {fqn_sql} TO ROLE {ident(grantee)}{option}")
        described.append(f"{privilege} TO ROLE {ident(grantee)}")
    return statements, described


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    parts = (normalize(params["database"]), normalize(params["schema"]), normalize(params["name"]))
    fqn_sql = qualified(parts)
    fqn = qualified_display(parts)
    state = params["state"]
    tools = _clean_tools(params["tools"] or [])
    if state == "present":
        problems = validate_tools(tools)
        if problems:
            raise ValueError(f"MCP server {fqn}: " + "; ".join(problems))
    if params["comment"] is not None and "\x00" in params["comment"]:
        raise ValueError(f"MCP server {fqn}: comment must not contain NUL")

    # DESCRIBE alone answers "does it exist?" and "what is it?" in one round trip.
    described = runner.describe(f"DESCRIBE MCP SERVER {fqn_sql}", f"describing MCP server {fqn}")
    row = described[0] if described else None
    result: dict[str, Any] = {"server": fqn, "action": "none", "reapplied_grants": []}

    if state == "absent":
        if row is not None:
            runner.apply([f"DROP MCP SERVER IF EXISTS {fqn_sql}"], f"dropping MCP server {fqn}")
            result.update(changed=True, action="drop", diff={"before": {"server": fqn}, "after": {}})
        return result

    spec = render_spec(tools)
    result["spec"] = spec
    comment = params["comment"]
    comment_sql = f"\n  COMMENT = {literal(comment)}" if comment else ""
    body = f"{comment_sql}\n  FROM SPECIFICATION {dollar_quoted(spec)}"
    after = {"comment": comment, "spec": normalize_tools(tools)}
    if row is None:
        runner.apply([f"CREATE MCP SERVER {fqn_sql}{body}"], f"creating MCP server {fqn}")
        result.update(changed=True, action="create", diff={"before": {}, "after": after})
        return result

    current_spec = row.get("server_spec")
    current_comment = row.get("comment") or ""
    before = {"comment": current_comment, "spec": parse_described_spec(current_spec)}
    spec_same = same_spec(tools, current_spec)
    comment_same = comment is None or comment == current_comment
    if spec_same and comment_same:
        return result
    if comment is None:
        # Replacing would drop an unmanaged comment: keep it.
        after["comment"] = current_comment
        if current_comment:
            body = f"\n  COMMENT = {literal(current_comment)}\n  FROM SPECIFICATION {dollar_quoted(spec)}"
    grants = runner.read(f"SHOW GRANTS ON MCP SERVER {fqn_sql}", f"reading grants on MCP server {fqn}")
    regrants, described_grants = regrant_statements(fqn_sql, grants)
    # One request: the server is never without its grants for a round trip.
    runner.apply([f"CREATE OR REPLACE MCP SERVER {fqn_sql}{body}", *regrants], f"replacing MCP server {fqn}")
    result.update(changed=True, action="replace", reapplied_grants=described_grants, diff={"before": before, "after": after})
    return result


def main() -> None:
    module = snowflake_module(
        {
            "name": {"type": "str", "required": True},
            "database": {"type": "str", "required": True},
            "schema": {"type": "str", "required": True},
            "comment": {"type": "str"},
            "tools": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "type": {
                        "type": "str",
                        "required": True,
                        "choices": [
                            "CORTEX_SEARCH_SERVICE_QUERY", "CORTEX_ANALYST_MESSAGE", "SYSTEM_EXECUTE_SQL",
                            "CORTEX_AGENT_RUN", "GENERIC",
                        ],
                    },
                    "identifier": {"type": "str"},
                    "title": {"type": "str"},
                    "description": {"type": "str"},
                    "config": {"type": "dict"},
                },
            },
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ("tools",))],
    )
    run_module(module, lambda runner: converge(runner, module.params))


if __name__ == "__main__":
    main()
