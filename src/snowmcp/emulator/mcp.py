"""Snowflake-managed MCP server endpoint: JSON-RPC 2.0 over HTTP POST.

`POST /api/v2/databases/{db}/schemas/{schema}/mcp-servers/{name}` answers
`initialize`, `notifications/initialized` (202, no body), `ping`, `tools/list`
and `tools/call` for MCP servers created through SQL. It answers with plain
`application/json` (allowed by the streamable HTTP transport even when the
client also accepts `text/event-stream`) and keeps no MCP session.

Auth: `Authorization: Bearer <token>`: a Snowflake OAuth access token
(oauth.py) or an IdP's JWT accepted by an EXTERNAL_OAUTH integration
(external_tokens.py); with OAUTH_AUTHORIZATION_SERVER in effect only that
integration's tokens. Missing, invalid or expired tokens get 401 with
`WWW-Authenticate: Bearer resource_metadata="<Protected Resource Metadata URL>"`
(discovery.py), the MCP authorization spec's pointer for clients.
The request runs as the token's role (its `session:role:` scope, else the
user's default role). That role needs USAGE on the server (granted_on
CORTEX_AGENT_SERVER); without it, or when the server does not exist, the
answer is 404 "does not exist or not authorized" (Snowflake never tells the
two apart). `tools/call` additionally needs the tool's privileges (USAGE on a Cortex
Search service here; the other tool types in mcp_tools.py). As everywhere in
Snowflake, a privilege on a schema object also needs USAGE on its database
and schema.

Path segments are resolved the way Snowflake resolves identifiers in REST
URLs: an unquoted segment is upper-cased, a double-quoted one (`%22My
Db%22`) is taken verbatim with `""` meaning one `"`.

Cortex Search tools search the seeded documents: every query word must occur
(case-insensitively) in some column of the document; results keep seed
order, honour `limit` (default 10), `columns` and `filter` (`@eq`, `@contains`
on array columns, `@gte`, `@lte`, `@and`, `@or`, `@not`; a malformed filter or
an unknown column is an invalid-params error, never ignored), and come back as one text
content item holding `{"results": [...], "request_id": "..."}`, the shape of
Cortex Search's REST query response.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.discovery import authorization_server, metadata_url, path_identifier
from snowmcp.emulator.engine import Engine
from snowmcp.emulator.external_tokens import (
    ExternalTokenError,
    JwksCache,
    looks_like_jwt,
    unverified_issuer,
    verify,
)
from snowmcp.emulator.mcp_tools import ToolError, call_tool, split_identifier
from snowmcp.emulator.model import Account, McpServer, qualified
from snowmcp.emulator.oauth import AccessGrant, OAuth

PROTOCOL_VERSION = "2025-06-18"
SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000

# JSON-RPC error codes
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
TOOL_ERROR = -32000

# Cortex Search tools need USAGE on their service; the other types: mcp_tools.py.
TOOL_OBJECT_KIND = {
    "CORTEX_SEARCH_SERVICE_QUERY": ("CORTEX_SEARCH_SERVICE", "Cortex Search Service"),
}

SEARCH_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "Search query."},
        "columns": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Columns to return.",
        },
        "filter": {
            "type": "object",
            "description": "Filter with @eq, @contains, @gte, @lte, @and, @or, @not.",
        },
        "limit": {"type": "integer", "description": "Maximum number of results.", "default": 10},
    },
    "required": ["query"],
}
GENERIC_INPUT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def _rpc_error(req_id: Any, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}
    )


def _rpc_result(req_id: Any, result: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"jsonrpc": "2.0", "id": req_id, "result": result})


def _unauthorized(error: str, description: str, resource_metadata: str) -> JSONResponse:
    # RFC 9728 section 5.1: the challenge points MCP clients at the Protected Resource Metadata.
    challenge = f'Bearer resource_metadata="{resource_metadata}"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    return JSONResponse(
        {"code": "390303", "message": description},
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


class McpEndpoint:
    def __init__(self, ctx: EmulatorContext, oauth: OAuth, engine: Engine) -> None:
        self.ctx = ctx
        self.oauth = oauth
        self.engine = engine  # SYSTEM_EXECUTE_SQL tools run statements through it
        self.jwks = JwksCache()

    def routes(self) -> list[Route]:
        path = "/api/v2/databases/{db}/schemas/{schema}/mcp-servers/{name}"
        return [Route(path, self.handle, methods=["POST", "GET", "DELETE"])]

    async def handle(self, request: Request) -> Response:
        db = path_identifier(request.path_params["db"])
        schema = path_identifier(request.path_params["schema"])
        name = path_identifier(request.path_params["name"])
        prm = metadata_url(self.ctx, request.url.path)
        header = request.headers.get("authorization", "")
        scheme, _space, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.ctx.stats.incr("mcp_calls", "unauthorized")
            return _unauthorized("", "Missing OAuth access token.", prm)
        grant = await self._authenticate(token.strip(), db, schema)
        if isinstance(grant, str):
            self.ctx.stats.incr("mcp_calls", "unauthorized")
            return _unauthorized("invalid_token", grant, prm)
        if request.method != "POST":
            # No server-initiated stream and no MCP session to delete.
            return Response(status_code=405, headers={"Allow": "POST"})
        with self.ctx.account.lock:
            server = self._usable_server(grant, db, schema, name)
            if server is None:
                self.ctx.stats.incr("mcp_calls", "not_found")
                return JSONResponse(
                    {
                        "code": "002003",
                        "message": f"MCP server '{qualified(db, schema, name)}' does not exist or not authorized.",
                    },
                    status_code=404,
                )
        try:
            message = json.loads(await request.body())
        except ValueError:
            return _rpc_error(None, PARSE_ERROR, "Parse error")
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return _rpc_error(None, INVALID_REQUEST, "Invalid Request")
        method = message.get("method")
        if not isinstance(method, str):
            # A response or something else a client should not send us.
            return Response(status_code=202)
        self.ctx.stats.incr("mcp_calls", method)
        if "id" not in message:
            # Notifications (notifications/initialized, cancelled, ...) get no body.
            return Response(status_code=202)
        req_id = message["id"]
        params = message.get("params") or {}
        if not isinstance(params, dict):
            return _rpc_error(req_id, INVALID_PARAMS, "params must be an object")
        if method == "initialize":
            return _rpc_result(req_id, self._initialize(server, params))
        if method == "ping":
            return _rpc_result(req_id, {})
        if method == "tools/list":
            return _rpc_result(req_id, {"tools": [_tool_descriptor(t) for t in _tools(server)]})
        if method == "tools/call":
            return self._call(req_id, grant, server, params)
        return _rpc_error(req_id, METHOD_NOT_FOUND, f"Method not found: {method}")

    async def _authenticate(self, token: str, db: str, schema: str) -> AccessGrant | str:
        """The token's grant, or why it is refused. When OAUTH_AUTHORIZATION_SERVER is in effect
        for the server's schema, only tokens of that External OAuth integration's issuer count
        (Snowflake OAuth tokens included in the refusal); otherwise Snowflake OAuth tokens and
        tokens of any External OAuth integration whose issuer matches."""
        account = self.ctx.account
        with account.lock:
            named = authorization_server(account, db, schema)
            issuer = unverified_issuer(token) if looks_like_jwt(token) else None
            if named is not None:
                integ = account.external_integrations.get(named)
                if integ is None or issuer != integ.issuer:
                    return (
                        "The access token was not issued by this MCP server's authorization server."
                    )
            elif issuer is not None:
                integ = next(
                    (i for i in account.external_integrations.values() if i.issuer == issuer),
                    None,
                )
                if integ is None:
                    return "Invalid OAuth access token."
            else:
                integ = None
        if integ is None:
            grant = self.oauth.validate_access_token(token)
            if isinstance(grant, str):
                return (
                    "OAuth access token expired."
                    if grant == "expired"
                    else "Invalid OAuth access token."
                )
            return grant
        try:
            ext = await asyncio.to_thread(
                verify, account, integ, token, self.ctx.base_url.rstrip("/"), self.jwks
            )
        except ExternalTokenError as exc:
            self.ctx.stats.incr("external_tokens", "refused")
            return str(exc)
        self.ctx.stats.incr("external_tokens", "ok")
        return AccessGrant(ext.user, ext.role, ext.integration, ext.expires_at)

    def _usable_server(
        self, grant: AccessGrant, db: str, schema: str, name: str
    ) -> McpServer | None:
        account = self.ctx.account
        server = account.mcp_server(db, schema, name)
        if server is None:
            return None
        if not account.user_has_role(grant.user, grant.role):
            return None
        if not _can_use(account, grant.role, "CORTEX_AGENT_SERVER", [db, schema, name]):
            return None
        return server

    @staticmethod
    def _initialize(server: McpServer, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        version = asked if asked in SUPPORTED_VERSIONS else PROTOCOL_VERSION
        return {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": server.name, "version": "1.0.0"},
        }

    def _call(
        self, req_id: Any, grant: AccessGrant, server: McpServer, params: dict[str, Any]
    ) -> Response:
        name = params.get("name")
        tool = next((t for t in _tools(server) if t.get("name") == name), None)
        if tool is None:
            return _rpc_error(req_id, INVALID_PARAMS, f"Unknown tool: {name}")
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            return _rpc_error(req_id, INVALID_PARAMS, "arguments must be an object")
        tool_type = str(tool.get("type", "")).upper()
        account = self.ctx.account
        with account.lock:
            if tool_type != "CORTEX_SEARCH_SERVICE_QUERY":
                try:
                    payload = call_tool(
                        account, self.engine, grant.user, grant.role, tool, arguments
                    )
                except ToolError as exc:
                    return _rpc_error(req_id, TOOL_ERROR, str(exc))
                return _rpc_result(
                    req_id,
                    {"content": [{"type": "text", "text": json.dumps(payload)}], "isError": False},
                )
            parts = split_identifier(str(tool.get("identifier", "")))
            granted_on, label = TOOL_OBJECT_KIND[tool_type]
            if len(parts) != 3 or not _can_use(account, grant.role, granted_on, parts):
                return _rpc_error(
                    req_id,
                    TOOL_ERROR,
                    f"{label} '{tool.get('identifier')}' does not exist or not authorized.",
                )
            service = account.cortex_search_service(*parts)
            if service is None:
                return _rpc_error(
                    req_id,
                    TOOL_ERROR,
                    f"Cortex Search Service '{tool.get('identifier')}' does not exist or not authorized.",
                )
            documents = list(service.documents)
        problem, results = search(documents, arguments)
        if problem:
            return _rpc_error(req_id, INVALID_PARAMS, problem)
        payload = {"results": results, "request_id": str(uuid.uuid4())}
        return _rpc_result(
            req_id,
            {"content": [{"type": "text", "text": json.dumps(payload)}], "isError": False},
        )


def _can_use(account: Account, role: str, granted_on: str, parts: list[str]) -> bool:
    """USAGE on a schema object needs USAGE on its database and schema too, as in Snowflake."""
    db, schema, _name = parts
    needed = {
        ("DATABASE", qualified(db)),
        ("SCHEMA", qualified(db, schema)),
        (granted_on, qualified(*parts)),
    }
    return needed <= account.objects_with_privilege(role, "USAGE")


def _tools(server: McpServer) -> list[dict[str, Any]]:
    tools = server.spec.get("tools") or []
    return [t for t in tools if isinstance(t, dict)]


def _tool_descriptor(tool: dict[str, Any]) -> dict[str, Any]:
    tool_type = str(tool.get("type", "")).upper()
    out: dict[str, Any] = {"name": tool.get("name")}
    if tool.get("title"):
        out["title"] = tool["title"]
    out["description"] = tool.get("description") or ""
    if tool_type == "CORTEX_SEARCH_SERVICE_QUERY":
        out["inputSchema"] = SEARCH_INPUT_SCHEMA
    else:
        config = tool.get("config") or {}
        schema = config.get("input_schema") if isinstance(config, dict) else None
        out["inputSchema"] = schema if isinstance(schema, dict) else GENERIC_INPUT_SCHEMA
    return out


def search(
    documents: list[dict[str, Any]], arguments: dict[str, Any]
) -> tuple[str | None, list[dict[str, Any]]]:
    """Word match over every column; (error, results)."""
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        return "query must be a non-empty string", []
    limit = arguments.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        return f"limit must be an integer between 1 and {MAX_LIMIT}", []
    columns = arguments.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        return "columns must be an array of strings", []
    flt = arguments.get("filter")
    if flt is not None:
        known = {str(k).casefold() for doc in documents for k in doc}
        try:
            _check_filter(flt, known)
        except ValueError as exc:
            return f"invalid filter: {exc}", []
    words = [w.casefold() for w in query.split()]
    hits: list[dict[str, Any]] = []
    for doc in documents:
        haystack = " ".join(str(v) for v in doc.values()).casefold()
        if all(w in haystack for w in words) and (flt is None or _matches(doc, flt)):
            row = dict(doc) if columns is None else {c: doc.get(c) for c in columns}
            hits.append(row)
            if len(hits) >= limit:
                break
    return None, hits


# ---- Cortex Search filters ---------------------------------------------------
# {"@eq": {"col": v}}, {"@contains": {"col": v}} (array column holds v),
# {"@gte"|"@lte": {"col": v}}, {"@and"|"@or": [filter, ...]}, {"@not": filter}.
_COLUMN_OPS = ("@eq", "@contains", "@gte", "@lte")
_LIST_OPS = ("@and", "@or")


def _check_filter(flt: Any, known: set[str]) -> None:
    """Raise ValueError naming the problem: a bad filter is an error, never ignored."""
    if not isinstance(flt, dict) or len(flt) != 1:
        raise ValueError("each filter must be an object with exactly one operator")
    ((op, operand),) = flt.items()
    if op in _COLUMN_OPS:
        if not isinstance(operand, dict) or len(operand) != 1:
            raise ValueError(f"{op} takes an object with exactly one column")
        ((column, value),) = operand.items()
        if str(column).casefold() not in known:
            raise ValueError(f"unknown column '{column}'")
        if isinstance(value, dict | list) or value is None:
            raise ValueError(f"{op} takes a scalar value")
    elif op in _LIST_OPS:
        if not isinstance(operand, list) or not operand:
            raise ValueError(f"{op} takes a non-empty array of filters")
        for item in operand:
            _check_filter(item, known)
    elif op == "@not":
        _check_filter(operand, known)
    else:
        raise ValueError(f"unknown operator '{op}'")


def _column_value(doc: dict[str, Any], column: str) -> Any:
    wanted = column.casefold()
    return next((v for k, v in doc.items() if str(k).casefold() == wanted), None)


def _ordered(a: Any, b: Any) -> bool:
    """Can a and b be compared with <= (both numbers, or both strings)?"""
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    ((op, operand),) = flt.items()
    if op == "@and":
        return all(_matches(doc, f) for f in operand)
    if op == "@or":
        return any(_matches(doc, f) for f in operand)
    if op == "@not":
        return not _matches(doc, operand)
    ((column, value),) = operand.items()
    actual = _column_value(doc, str(column))
    if op == "@eq":
        return bool(actual == value and not isinstance(actual, list))
    if op == "@contains":
        return isinstance(actual, list) and value in actual
    if not _ordered(actual, value):
        return False
    return bool(actual >= value) if op == "@gte" else bool(actual <= value)
