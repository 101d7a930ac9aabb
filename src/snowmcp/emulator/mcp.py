"""MCP endpoint (placeholder until it lands)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from snowmcp.emulator.context import EmulatorContext


class McpEndpoint:
    def __init__(self, ctx: EmulatorContext, oauth: Any) -> None:
        self.ctx = ctx
        self.oauth = oauth

    def routes(self) -> list[Route]:
        return []
