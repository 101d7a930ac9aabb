"""tools/call for the MCP tool types other than Cortex Search: privilege checks, then a stand-in answer.

Each tool type is checked the way Snowflake checks its caller (the session's
role and every role it inherits; OWNERSHIP counts as every privilege):

| type | needs |
|---|---|
| CORTEX_ANALYST_MESSAGE | USAGE on database and schema, SELECT on the semantic view |
| CORTEX_AGENT_RUN | USAGE on database, schema and agent |
| SYSTEM_EXECUTE_SQL | USAGE on the warehouse (`config.warehouse`, else the user's default) |
| GENERIC | USAGE on database, schema, the function/procedure, and the warehouse |

A missing privilege and a missing object give the same "does not exist or
not authorized" error, as everywhere in Snowflake.

What runs is a stand-in (docs/emulator.md): Analyst answers with a fixed
statement over the semantic view, an agent with a fixed sentence naming
itself, a generic tool with its name and arguments echoed, and
SYSTEM_EXECUTE_SQL runs the statement through the emulator's own SQL engine
(read-only unless `config.read_only: false`).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.model import Account, Routine, qualified

if TYPE_CHECKING:
    from snowmcp.emulator.engine import Engine

# Statements a read-only SQL tool may run (the emulator's read statements).
READ_ONLY_KINDS = ("SHOW", "DESCRIBE", "SELECT", "USE")


class ToolError(Exception):
    """A tool call Snowflake refuses; the message is what the client sees."""


def call_tool(
    account: Account,
    engine: Engine,
    user: str,
    role: str,
    tool: dict[str, Any],
    arguments: dict[str, Any],
) -> dict[str, Any]:
    """Check the caller's privileges for `tool` and return the JSON payload of its answer."""
    tool_type = str(tool.get("type", "")).upper()
    if tool_type == "SYSTEM_EXECUTE_SQL":
        return _execute_sql(account, engine, user, role, tool, arguments)
    ident = str(tool.get("identifier", ""))
    parts = split_identifier(ident)
    if len(parts) != 3:
        raise ToolError(f"Object '{ident}' does not exist or not authorized.")
    db, schema, name = parts
    usage = account.objects_with_privilege(role, "USAGE")
    in_schema = {("DATABASE", qualified(db)), ("SCHEMA", qualified(db, schema))} <= usage
    sch = account.schema(db, schema)
    if tool_type == "CORTEX_ANALYST_MESSAGE":
        full = qualified(db, schema, name)
        readable = ("SEMANTIC_VIEW", full) in account.objects_with_privilege(role, "SELECT")
        if sch is None or name not in sch.semantic_views or not (in_schema and readable):
            raise ToolError(f"Semantic view '{ident}' does not exist or not authorized.")
        question = str(arguments.get("message") or arguments.get("query") or "")
        statement = f"SELECT * FROM SEMANTIC_VIEW({full} METRICS *) LIMIT 100"  # noqa: S608 - returned, not run
        return {
            "message": {
                "role": "analyst",
                "content": [
                    {
                        "type": "text",
                        "text": f"This is our interpretation of your question: {question}",
                    },
                    {"type": "sql", "statement": statement},
                ],
            },
            "request_id": str(uuid.uuid4()),
        }
    if tool_type == "CORTEX_AGENT_RUN":
        full = qualified(db, schema, name)
        if sch is None or name not in sch.agents or not (in_schema and ("AGENT", full) in usage):
            raise ToolError(f"Agent '{ident}' does not exist or not authorized.")
        return {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"Agent {full} received: {arguments.get('message', '')}"}
            ],
        }
    if tool_type == "GENERIC":
        kind = str((tool.get("config") or {}).get("type") or "function").upper()
        pool = {} if sch is None else (sch.procedures if kind == "PROCEDURE" else sch.functions)
        callable_ = [
            r for r in pool.values() if r.name == name and (kind, r.grant_name(db, schema)) in usage
        ]
        if not (in_schema and callable_):
            label = "Procedure" if kind == "PROCEDURE" else "Function"
            raise ToolError(f"{label} '{ident}' does not exist or not authorized.")
        _warehouse(account, user, role, tool)
        routine: Routine = callable_[0]
        return {"result": f"{routine.name} called with {json.dumps(arguments, sort_keys=True)}"}
    raise ToolError(f"Unknown tool type {tool_type}.")


def _warehouse(account: Account, user: str, role: str, tool: dict[str, Any]) -> str:
    """The warehouse a SQL or generic tool runs on; the caller needs USAGE on it."""
    config = tool.get("config") or {}
    wanted = config.get("warehouse") if isinstance(config, dict) else None
    found = account.users.get(user)
    name = (
        split_identifier(str(wanted))[0] if wanted else (found.default_warehouse if found else None)
    )
    if not name:
        raise ToolError("No active warehouse selected in the current session.")
    if name not in account.warehouses or (
        "WAREHOUSE",
        qualified(name),
    ) not in account.objects_with_privilege(role, "USAGE"):
        raise ToolError(f"Warehouse '{name}' does not exist or not authorized.")
    return name


def _execute_sql(
    account: Account,
    engine: Engine,
    user: str,
    role: str,
    tool: dict[str, Any],
    arguments: dict[str, Any],
) -> dict[str, Any]:
    from snowmcp.emulator.engine import Session
    from snowmcp.emulator.sql_parser import parse, stats_kind

    warehouse = _warehouse(account, user, role, tool)
    sql = arguments.get("sql") or arguments.get("statement") or arguments.get("query")
    if not isinstance(sql, str) or not sql.strip():
        raise ToolError("Argument 'sql' (the statement to run) is required.")
    config = tool.get("config") or {}
    read_only = config.get("read_only", True) if isinstance(config, dict) else True
    try:
        if read_only and not all(stats_kind(s).startswith(READ_ONLY_KINDS) for s in parse(sql)):
            raise ToolError("Only read-only statements are allowed by this tool (read_only: true).")
        results = engine.execute(Session(user=user, role=role, warehouse=warehouse), sql)
    except SnowflakeError as exc:
        raise ToolError(str(exc)) from None
    last = results[-1]
    return {
        "resultSetMetaData": {
            "numRows": len(last.rows),
            "rowType": [{"name": c.name} for c in last.columns],
        },
        "data": [[None if v is None else str(v) for v in row] for row in last.rows],
    }


def split_identifier(identifier: str) -> list[str]:
    """`DB.SCHEMA."My Service"` -> ["DB", "SCHEMA", "My Service"] (spec identifiers)."""
    parts: list[str] = []
    current = ""
    quoted = False
    i = 0
    while i < len(identifier):
        ch = identifier[i]
        if quoted:
            if ch == '"' and identifier[i + 1 : i + 2] == '"':
                current += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append(current)
            current = ""
        else:
            current += ch.upper()
        i += 1
    parts.append(current)
    return parts
