"""Test hooks under /__emulator/: counters and token-endpoint faults.

Not part of Snowflake's API: tests and benchmarks use these to observe how
many round trips a module made and to make the OAuth token endpoint fail.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from snowmcp.emulator.context import EmulatorContext

_FAULT_KEYS = {"status", "delay_s", "outage_s", "error"}


class Admin:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("/__emulator/stats", self.stats, methods=["GET"]),
            Route("/__emulator/stats/reset", self.reset, methods=["POST"]),
            Route("/__emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
        ]

    async def stats(self, request: Request) -> Response:
        snap: dict[str, Any] = self.ctx.stats.snapshot()
        # A flat total is what most tests compare before/after a module run.
        snap["query_requests"] = snap.get("query_requests", {}).get("total", 0)
        return JSONResponse(snap)

    async def reset(self, request: Request) -> Response:
        self.ctx.stats.reset()
        return JSONResponse({"reset": True})

    async def faults(self, request: Request) -> Response:
        faults = self.ctx.faults
        if request.method == "GET":
            return JSONResponse(faults.as_dict())
        body: Any = {}
        if request.method == "POST":
            raw = await request.body()
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or set(body) - _FAULT_KEYS:
            return JSONResponse(
                {"error": f"expected an object with keys among {sorted(_FAULT_KEYS)}"},
                status_code=400,
            )
        problem = _validate(body)
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        # Replace, never merge: {} clears every fault.
        faults.status = int(body["status"]) if body.get("status") is not None else None
        faults.delay_s = float(body.get("delay_s") or 0.0)
        outage = float(body.get("outage_s") or 0.0)
        faults.outage_until = time.monotonic() + outage if outage > 0 else 0.0
        faults.error = str(body["error"]) if body.get("error") else None
        return JSONResponse(faults.as_dict())


def _validate(body: dict[str, Any]) -> str | None:
    status = body.get("status")
    if status is not None and (
        not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599
    ):
        return "status must be an HTTP status code (100-599)"
    for key in ("delay_s", "outage_s"):
        value = body.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            return f"{key} must be a non-negative number"
    error = body.get("error")
    if error is not None and not isinstance(error, str):
        return "error must be a string"
    return None
