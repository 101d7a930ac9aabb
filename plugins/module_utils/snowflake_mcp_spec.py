"""MCP server specifications: validate a structured `tools` list, render it, compare it.

Rules of Snowflake's MCP server specification (docs/inventory.md,
`snowflake_mcp_servers`): known tool types only; every type but
SYSTEM_EXECUTE_SQL needs an `identifier`; at most 50 tools; the spec may not
contain `$$` (it is sent inside `$$ ... $$`). DESCRIBE MCP SERVER returns the
spec as JSON with an added `"version": 1`, so specs are compared as parsed
data (version dropped, identifiers canonical), never as text.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    canonical_qualified,
    canonical_type,
    routine_signature,
    split_qualified,
)

TOOL_TYPES = (
    "CORTEX_SEARCH_SERVICE_QUERY",
    "CORTEX_ANALYST_MESSAGE",
    "SYSTEM_EXECUTE_SQL",
    "CORTEX_AGENT_RUN",
    "GENERIC",
)
TOOL_KEYS = ("name", "type", "identifier", "title", "description", "config")
# Inventory-only keys: used to plan grants, never sent in the specification.
# `arguments`: a GENERIC tool's argument types (Snowflake grants USAGE per signature).
INVENTORY_KEYS = ("arguments",)
CONFIG_KEYS = {
    "SYSTEM_EXECUTE_SQL": {"read_only": bool, "query_timeout": int, "warehouse": str},
    "GENERIC": {"type": str, "warehouse": str, "query_timeout": int, "input_schema": dict},
}
MAX_TOOLS = 50


def validate_tools(tools: Any) -> list[str]:
    """Every problem with a tools list (empty list = valid)."""
    if not isinstance(tools, list):
        return ["tools must be a list"]
    problems: list[str] = []
    if not tools:
        problems.append("tools must list at least one tool")
    if len(tools) > MAX_TOOLS:
        problems.append(f"at most {MAX_TOOLS} tools per MCP server (got {len(tools)})")
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            problems.append(f"{where} must be a mapping")
            continue
        name = tool.get("name")
        if isinstance(name, str) and name:
            where = f"tool {name!r}"
        unknown = sorted(set(tool) - set(TOOL_KEYS) - set(INVENTORY_KEYS))
        if unknown:
            problems.append(
                f"{where}: unknown keys {', '.join(unknown)} (allowed: {', '.join(TOOL_KEYS + INVENTORY_KEYS)})"
            )
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: `name` is required")
        elif name in seen:
            problems.append(f"{where}: duplicate tool name")
        else:
            seen.add(name)
        ttype = tool.get("type")
        if ttype not in TOOL_TYPES:
            problems.append(f"{where}: unknown type {ttype!r} (one of: {', '.join(TOOL_TYPES)})")
        ident = tool.get("identifier")
        if ttype != "SYSTEM_EXECUTE_SQL" and ttype in TOOL_TYPES and not ident:
            problems.append(f"{where}: type {ttype} needs an `identifier` (database.schema.object)")
        if ident:
            try:
                if len(split_qualified(str(ident))) != 3:
                    problems.append(f"{where}: identifier {ident!r} must be database.schema.object")
            except IdentifierError as exc:
                problems.append(f"{where}: bad identifier {ident!r}: {exc}")
        problems.extend(_arguments_problems(tool, where))
        for key in ("title", "description"):
            if tool.get(key) is not None and not isinstance(tool[key], str):
                problems.append(f"{where}: `{key}` must be a string")
        config = tool.get("config")
        if config is not None:
            if not isinstance(config, dict):
                problems.append(f"{where}: `config` must be a mapping")
            elif ttype in CONFIG_KEYS:
                allowed = CONFIG_KEYS[ttype]
                for key, value in config.items():
                    if key not in allowed:
                        problems.append(f"{where}: unknown config key {key!r} for {ttype} (allowed: {', '.join(allowed)})")
                    elif not isinstance(value, allowed[key]) or (allowed[key] is int and isinstance(value, bool)):
                        problems.append(f"{where}: config.{key} must be {allowed[key].__name__}")
                if ttype == "GENERIC" and config.get("type") not in (None, "function", "procedure"):
                    problems.append(f"{where}: config.type must be function or procedure")
    if not problems and "$$" in render_spec(tools):
        problems.append("the specification must not contain '$$' (it is sent between $$ ... $$)")
    return problems


def normalize_tools(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec as data: empty keys dropped, identifiers canonical."""
    out = []
    for tool in tools:
        item = {k: tool[k] for k in TOOL_KEYS if tool.get(k) not in (None, "", {})}
        if "identifier" in item:
            try:
                item["identifier"] = canonical_qualified(str(item["identifier"]))
            except IdentifierError:
                pass
        out.append(item)
    return {"tools": out}


def render_spec(tools: list[dict[str, Any]]) -> str:
    """YAML text for `FROM SPECIFICATION $$ ... $$`.

    Every value is written as JSON, which is valid YAML: strings are always
    double-quoted and escaped, so no input can change the document's shape.
    """
    lines = ["tools:"]
    for tool in normalize_tools(tools)["tools"]:
        first = True
        for key in TOOL_KEYS:
            if key not in tool:
                continue
            prefix = "  - " if first else "    "
            first = False
            lines.append(f"{prefix}{key}: {json.dumps(tool[key], sort_keys=True)}")
    return "\n".join(lines)


def parse_described_spec(text: Any) -> dict[str, Any] | None:
    """DESCRIBE's server_spec (JSON, with "version") as comparable data; None if unreadable."""
    if isinstance(text, dict):
        data = dict(text)
    else:
        try:
            data = json.loads(str(text))
        except ValueError:
            try:
                import yaml  # some accounts echo the YAML back; accept it too

                data = yaml.safe_load(str(text))
            except Exception:
                return None
    if not isinstance(data, dict):
        return None
    data.pop("version", None)
    tools = data.get("tools")
    if not isinstance(tools, list):
        return None
    return normalize_tools([t for t in tools if isinstance(t, dict)])


def canonical(spec: dict[str, Any] | None) -> str:
    return json.dumps(spec, sort_keys=True)


def same_spec(desired_tools: list[dict[str, Any]], described: Any) -> bool:
    return canonical(normalize_tools(desired_tools)) == canonical(parse_described_spec(described))


def spec_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools without inventory-only keys: what snowflake_mcp_server takes."""
    return [{k: v for k, v in tool.items() if k not in INVENTORY_KEYS} for tool in tools]


def _arguments_problems(tool: dict[str, Any], where: str) -> list[str]:
    args = tool.get("arguments")
    if args is None:
        return []
    if tool.get("type") != "GENERIC":
        return [f"{where}: `arguments` is only for GENERIC tools (the function's or procedure's argument types)"]
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return [f"{where}: `arguments` must be a list of type names, e.g. [NUMBER, VARCHAR]"]
    try:
        for arg in args:
            canonical_type(arg)
    except IdentifierError as exc:
        return [f"{where}: `arguments`: {exc}"]
    return []


# Tool type -> (privilege, object type) needed on the tool's `identifier` to call it.
# Documented with its sources in docs/account.md ("Privileges each tool type needs").
TOOL_OBJECT_PRIVILEGE = {
    "CORTEX_SEARCH_SERVICE_QUERY": ("USAGE", "CORTEX SEARCH SERVICE"),
    "CORTEX_ANALYST_MESSAGE": ("SELECT", "SEMANTIC VIEW"),
    "CORTEX_AGENT_RUN": ("USAGE", "AGENT"),
}


def tool_privileges(tools: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(privilege, object type, canonical name) every role using these tools needs.

    USAGE on the database and schema of each tool's object, the privilege its
    type needs on the object (a GENERIC tool: USAGE on the function or
    procedure with its argument types), and USAGE on `config.warehouse` of SQL
    and GENERIC tools.
    """
    out: list[tuple[str, str, str]] = []
    for tool in tools:
        ident = tool.get("identifier")
        ttype = tool.get("type")
        if ident:
            db, schema, _obj = split_qualified(str(ident))
            out.append(("USAGE", "DATABASE", canonical_qualified(_q(db))))
            out.append(("USAGE", "SCHEMA", canonical_qualified(f"{_q(db)}.{_q(schema)}")))
            if ttype in TOOL_OBJECT_PRIVILEGE:
                privilege, object_type = TOOL_OBJECT_PRIVILEGE[str(ttype)]
                out.append((privilege, object_type, canonical_qualified(str(ident))))
            elif ttype == "GENERIC":
                kind = str((tool.get("config") or {}).get("type") or "function").upper()
                out.append(("USAGE", kind, routine_signature(str(ident), list(tool.get("arguments") or []))))
        warehouse = (tool.get("config") or {}).get("warehouse")
        if warehouse and ttype in CONFIG_KEYS:
            out.append(("USAGE", "WAREHOUSE", canonical_qualified(str(warehouse))))
    return list(dict.fromkeys(out))  # de-duplicated, order kept


def _q(stored: str) -> str:
    return '"' + stored.replace('"', '""') + '"'
