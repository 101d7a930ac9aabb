"""OAuth discovery for MCP clients: Protected Resource Metadata and authorization server metadata.

- `GET /.well-known/oauth-protected-resource/api/v2/databases/{db}/schemas/{schema}/mcp-servers/{name}`
  (RFC 9728, the path of the MCP server's URL appended): `resource` (the MCP
  server's URL), `authorization_servers` (Snowflake OAuth's issuer, the account
  URL; or, when OAUTH_AUTHORIZATION_SERVER is in effect for the server's
  schema, that External OAuth integration's EXTERNAL_OAUTH_ISSUER),
  `scopes_supported` (OAUTH_SCOPES_SUPPORTED, when set) and
  `bearer_methods_supported`. It answers for any well-formed server path,
  existing or not, so an unauthenticated caller cannot probe which servers
  exist (the MCP endpoint answers 401 before it looks the server up).
- `GET /.well-known/oauth-authorization-server` (RFC 8414): Snowflake OAuth's
  endpoints (`/oauth/authorize`, `/oauth/token-request`), PKCE S256, public
  (`none`) and confidential (`client_secret_basic`) clients. No
  `registration_endpoint`: Snowflake has no dynamic client registration, so
  clients must be pre-registered (a PUBLIC integration's client id).

Both are unauthenticated and read-only: they read the account under its
lock and answer a small JSON document; the path parameters are bounded by
the HTTP server's request line limit.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.engine.parameters import effective, scopes
from snowmcp.emulator.model import Account

PRM_PREFIX = "/.well-known/oauth-protected-resource"
MCP_PATH = "/api/v2/databases/{db}/schemas/{schema}/mcp-servers/{name}"


def path_identifier(segment: str) -> str:
    """`"my db"` -> `my db` (verbatim); `aicollege` -> `AICOLLEGE`."""
    if len(segment) >= 2 and segment[0] == '"' and segment[-1] == '"':
        return segment[1:-1].replace('""', '"')
    return segment.upper()


def authorization_server(account: Account, db: str, schema: str) -> str | None:
    """The External OAuth integration named by OAUTH_AUTHORIZATION_SERVER for db.schema, if any."""
    value, _level = effective(account, db, schema, "OAUTH_AUTHORIZATION_SERVER")
    return value or None


def metadata_url(ctx: EmulatorContext, mcp_path: str) -> str:
    return ctx.base_url.rstrip("/") + PRM_PREFIX + mcp_path


def protected_resource(ctx: EmulatorContext, mcp_path: str, db: str, schema: str) -> dict[str, Any]:
    base = ctx.base_url.rstrip("/")
    account = ctx.account
    with account.lock:
        server = authorization_server(account, db, schema)
        supported, _level = effective(account, db, schema, "OAUTH_SCOPES_SUPPORTED")
        if server is None:
            issuers = [base]
        else:
            integ = account.external_integrations.get(server)
            # A parameter naming a dropped integration: no server can issue an accepted token.
            issuers = [integ.issuer] if integ is not None else []
    doc: dict[str, Any] = {
        "resource": base + mcp_path,
        "authorization_servers": issuers,
        "bearer_methods_supported": ["header"],
    }
    if scopes(supported):
        doc["scopes_supported"] = scopes(supported)
    return doc


async def protected_resource_metadata(request: Request) -> JSONResponse:
    ctx: EmulatorContext = request.app.state.ctx
    ctx.stats.incr("discovery", "protected_resource")
    mcp_path = request.url.path[len(PRM_PREFIX) :]
    p = request.path_params
    doc = protected_resource(ctx, mcp_path, path_identifier(p["db"]), path_identifier(p["schema"]))
    return JSONResponse(doc)


async def authorization_server_metadata(request: Request) -> JSONResponse:
    ctx: EmulatorContext = request.app.state.ctx
    ctx.stats.incr("discovery", "authorization_server")
    base = ctx.base_url.rstrip("/")
    return JSONResponse(
        {
            "issuer": base,
            "authorization_endpoint": base + "/oauth/authorize",
            "token_endpoint": base + "/oauth/token-request",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        }
    )


routes = [
    Route(PRM_PREFIX + MCP_PATH, protected_resource_metadata, methods=["GET"]),
    Route(
        "/.well-known/oauth-authorization-server", authorization_server_metadata, methods=["GET"]
    ),
]
