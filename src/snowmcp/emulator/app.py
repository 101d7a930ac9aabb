"""The emulator's Starlette application: wire protocol, OAuth, MCP and test hooks."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from snowmcp.emulator import discovery
from snowmcp.emulator.admin import Admin
from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.engine import Engine
from snowmcp.emulator.mcp import McpEndpoint
from snowmcp.emulator.oauth import OAuth
from snowmcp.emulator.wire import WireProtocol


def create_app(ctx: EmulatorContext) -> Starlette:
    engine = Engine(ctx)
    oauth = OAuth(ctx)
    wire = WireProtocol(ctx, engine, oauth.authenticate_connector)
    mcp = McpEndpoint(ctx, oauth, engine)
    admin = Admin(ctx)
    routes = [*wire.routes(), *oauth.routes(), *mcp.routes(), *admin.routes(), *discovery.routes]
    app = Starlette(routes=routes)

    async def not_found(request: Request, exc: Exception) -> Response:
        # Same JSON envelope as every other failure, so a connector gets a clear message.
        return JSONResponse(
            {
                "data": None,
                "code": None,
                "message": f"{request.method} {request.url.path} is not emulated",
                "success": False,
            },
            status_code=404,
        )

    app.add_exception_handler(404, not_found)
    app.state.ctx = ctx
    app.state.wire = wire
    app.state.oauth = oauth
    return app
