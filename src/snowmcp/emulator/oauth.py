"""OAuth endpoints (placeholder until the full flow lands)."""

from __future__ import annotations

from starlette.routing import Route

from snowmcp.emulator.context import EmulatorContext


class OAuth:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return []

    def authenticate_connector(self, token: str) -> tuple[str, str | None] | str:
        return "invalid"
