"""MCP server specifications: parse the YAML of `CREATE MCP SERVER ... FROM SPECIFICATION $$...$$`.

The spec is validated the way Snowflake documents it (docs/emulator.md, "MCP"):
a mapping with a `tools` list of at most 50 tools, each with a unique `name`,
a known `type`, and an `identifier` for every type but SYSTEM_EXECUTE_SQL.
The stored form is the parsed mapping without "version"; DESCRIBE adds
`"version": 1` (see describe_json).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from snowmcp.emulator.errors import SnowflakeError, invalid_value

TOOL_TYPES = (
    "CORTEX_SEARCH_SERVICE_QUERY",
    "CORTEX_ANALYST_MESSAGE",
    "SYSTEM_EXECUTE_SQL",
    "CORTEX_AGENT_RUN",
    "GENERIC",
)
MAX_TOOLS = 50
_TOOL_KEYS = {"name", "type", "identifier", "title", "description", "config"}
_CONFIG_KEYS = {
    "SYSTEM_EXECUTE_SQL": {"read_only", "query_timeout", "warehouse"},
    "GENERIC": {"type", "warehouse", "query_timeout", "input_schema"},
}


def _bad(detail: str) -> SnowflakeError:
    return invalid_value(f"Invalid MCP server specification: {detail}")


def parse_spec(text: str) -> dict[str, Any]:
    """Parse and validate a spec; returns the dict to store (without "version")."""
    if "$$" in text:
        raise _bad("the specification may not contain '$$'")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _bad(f"not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise _bad("expected a mapping with a 'tools' list")
    data = dict(data)
    data.pop("version", None)
    unknown = sorted(set(data) - {"tools"})
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(map(str, unknown))}")
    tools = data.get("tools")
    if not isinstance(tools, list) or not tools:
        raise _bad("'tools' must be a non-empty list")
    if len(tools) > MAX_TOOLS:
        raise _bad(f"at most {MAX_TOOLS} tools are allowed, got {len(tools)}")
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        _check_tool(index, tool, seen)
    return data


def _check_tool(index: int, tool: Any, seen: set[str]) -> None:
    where = f"tools[{index}]"
    if not isinstance(tool, dict):
        raise _bad(f"{where} must be a mapping")
    unknown = sorted(str(k) for k in set(tool) - _TOOL_KEYS)
    if unknown:
        raise _bad(f"{where}: unknown field(s) {', '.join(unknown)}")
    name = tool.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad(f"{where}: 'name' is required")
    if name in seen:
        raise _bad(f"tool name '{name}' is used more than once")
    seen.add(name)
    tool_type = tool.get("type")
    if tool_type not in TOOL_TYPES:
        raise _bad(f"tool '{name}': 'type' must be one of {', '.join(TOOL_TYPES)}")
    identifier = tool.get("identifier")
    if tool_type != "SYSTEM_EXECUTE_SQL":
        if not isinstance(identifier, str) or not identifier.strip():
            raise _bad(f"tool '{name}': 'identifier' is required for type {tool_type}")
    elif identifier is not None and not isinstance(identifier, str):
        raise _bad(f"tool '{name}': 'identifier' must be a string")
    for key in ("title", "description"):
        if key in tool and not isinstance(tool[key], str):
            raise _bad(f"tool '{name}': '{key}' must be a string")
    config = tool.get("config")
    if config is None:
        return
    if not isinstance(config, dict):
        raise _bad(f"tool '{name}': 'config' must be a mapping")
    allowed = _CONFIG_KEYS.get(tool_type)
    if allowed is not None:
        extra = sorted(str(k) for k in set(config) - allowed)
        if extra:
            raise _bad(f"tool '{name}': unknown config field(s) {', '.join(extra)}")
    if "read_only" in config and not isinstance(config["read_only"], bool):
        raise _bad(f"tool '{name}': config.read_only must be true or false")
    if "query_timeout" in config and (
        isinstance(config["query_timeout"], bool) or not isinstance(config["query_timeout"], int)
    ):
        raise _bad(f"tool '{name}': config.query_timeout must be an integer")
    if tool_type == "GENERIC" and config.get("type") not in (None, "function", "procedure"):
        raise _bad(f"tool '{name}': config.type must be function or procedure")


def describe_json(spec: dict[str, Any]) -> str:
    """server_spec as DESCRIBE MCP SERVER shows it: compact JSON with "version": 1 first."""
    return json.dumps({"version": 1, **spec}, separators=(",", ":"))
