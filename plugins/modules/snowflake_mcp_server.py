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
    description:
      - Server name (plain names are stored upper-case). Required unless O(servers) is given.
    type: str
  database:
    description: Database holding the server. Required with O(name).
    type: str
  schema:
    description: Schema holding the server. Required with O(name).
    type: str
  comment:
    description: Comment. Not managed when omitted.
    type: str
  tools:
    description:
      - The tools, as in Snowflake's specification. Required with O(state=present).
    type: list
    elements: dict
    suboptions: &tool_options
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
    description: Whether the server should exist (C(present) when omitted).
    type: str
    choices: [present, absent]
  servers:
    description:
      - Several servers in one module run, instead of O(name), O(database), O(schema), O(comment), O(tools) and O(state).
      - Every entry is validated before anything changes; the C(DESCRIBE)s run a few at a time over one
        connection, so converging many servers costs one sign-in and one module start instead of one per server.
    type: list
    elements: dict
    suboptions:
      name:
        description: Server name.
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
        description: The tools. Required with O(servers[].state=present).
        type: list
        elements: dict
        suboptions: *tool_options
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

- name: Every server of the inventory in one module run (one sign-in)
  snowmcp.core.snowflake_mcp_server:
    servers:
      - name: GONG_MCP
        database: AICOLLEGE
        schema: PUBLIC
        tools:
          - name: call-search
            type: CORTEX_SEARCH_SERVICE_QUERY
            identifier: AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED
      - name: OLD_MCP
        database: AICOLLEGE
        schema: PUBLIC
        state: absent
"""

RETURN = r"""
servers:
  description: One result per entry of O(servers), in order, each with the keys below and C(changed).
  returned: when O(servers) is given
  type: list
  elements: dict
server:
  description: Fully qualified server name.
  returned: without O(servers)
  type: str
  sample: AICOLLEGE.PUBLIC.GONG_MCP
action:
  description: What was (or, in check mode, would be) done.
  returned: without O(servers)
  type: str
  choices: [none, create, replace, drop]
reapplied_grants:
  description: Grants read from the server before C(CREATE OR REPLACE) and granted again in the same request.
  returned: without O(servers)
  type: list
  elements: str
  sample: ['USAGE TO ROLE MCP_USERS']
spec:
  description: The specification text sent (present only).
  returned: without O(servers), when state is present
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


def _server(params: dict[str, Any]) -> dict[str, Any]:
    """One server's wanted state, validated (raises ValueError before anything changes)."""
    parts = (normalize(params["database"]), normalize(params["schema"]), normalize(params["name"]))
    fqn = qualified_display(parts)
    state = params.get("state") or "present"
    tools = _clean_tools(params.get("tools") or [])
    if state == "present":
        if params.get("tools") is None:
            raise ValueError(f"MCP server {fqn}: tools is required with state present")
        problems = validate_tools(tools)
        if problems:
            raise ValueError(f"MCP server {fqn}: " + "; ".join(problems))
    comment = params.get("comment")
    if comment is not None and "\x00" in comment:
        raise ValueError(f"MCP server {fqn}: comment must not contain NUL")
    return {"fqn_sql": qualified(parts), "fqn": fqn, "state": state, "tools": tools, "comment": comment}


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    """Converge the server in `name`/`database`/`schema`."""
    server = _server(params)
    # DESCRIBE alone answers "does it exist?" and "what is it?" in one round trip.
    described = runner.describe(f"DESCRIBE MCP SERVER {server['fqn_sql']}", f"describing MCP server {server['fqn']}")
    return _converge_described(runner, server, described)


def converge_many(runner: Runner, servers_params: list[dict[str, Any]]) -> dict[str, Any]:
    """Converge every server in `servers`: all validated first, their DESCRIBEs run a few at a time."""
    servers = [_server(params) for params in servers_params]
    seen: set[str] = set()
    for server in servers:
        if server["fqn"] in seen:
            raise ValueError(f"MCP server {server['fqn']} is listed twice in servers")
        seen.add(server["fqn"])
    described = runner.describe_many(
        [(f"DESCRIBE MCP SERVER {s['fqn_sql']}", f"describing MCP server {s['fqn']}") for s in servers]
    )
    results = [_converge_described(runner, s, rows) for s, rows in zip(servers, described)]
    changed = [r for r in results if r.get("changed")]
    for r in results:
        r.setdefault("changed", False)
    diff = {
        "before": {r["server"]: r["diff"]["before"] for r in changed},
        "after": {r["server"]: r["diff"]["after"] for r in changed},
    }
    return {"changed": bool(changed), "servers": [{k: v for k, v in r.items() if k != "diff"} for r in results], "diff": diff}


def _converge_described(runner: Runner, server: dict[str, Any], described: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Create, replace or drop one server, given what its DESCRIBE returned (None: it does not exist)."""
    fqn_sql, fqn, tools, comment = server["fqn_sql"], server["fqn"], server["tools"], server["comment"]
    row = described[0] if described else None
    result: dict[str, Any] = {"server": fqn, "action": "none", "reapplied_grants": []}

    if server["state"] == "absent":
        if row is not None:
            runner.apply([f"DROP MCP SERVER IF EXISTS {fqn_sql}"], f"dropping MCP server {fqn}")
            result.update(changed=True, action="drop", diff={"before": {"server": fqn}, "after": {}})
        return result

    spec = render_spec(tools)
    result["spec"] = spec
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


TOOL_OPTIONS: dict[str, Any] = {
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
}  # fmt: skip

SERVER_OPTIONS: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "database": {"type": "str", "required": True},
    "schema": {"type": "str", "required": True},
    "comment": {"type": "str"},
    "tools": {"type": "list", "elements": "dict", "options": TOOL_OPTIONS},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def main() -> None:
    # The single-server options mirror one entry of `servers` but are checked in code (required
    # only without `servers`; state defaults to present there), so the two forms cannot mix.
    single = {key: dict(option, required=False, default=None) for key, option in SERVER_OPTIONS.items()}
    module = snowflake_module(
        {**single, "servers": {"type": "list", "elements": "dict", "options": SERVER_OPTIONS}},
        required_one_of=[("name", "servers")],
        mutually_exclusive=[("servers", key) for key in ("name", "database", "schema", "comment", "tools", "state")],
        required_by={"name": ("database", "schema")},
    )
    params = module.params
    if params["servers"] is not None:
        run_module(module, lambda runner: converge_many(runner, params["servers"]))
    else:
        run_module(module, lambda runner: converge(runner, params))


if __name__ == "__main__":
    main()
