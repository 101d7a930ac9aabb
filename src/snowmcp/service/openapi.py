"""GET /openapi.json: the token service's OpenAPI 3.1 document (openapi.json next to this file).

The document is the one description of every endpoint, status and body (docs/service.md's
table restates it in prose); tests/service/test_openapi.py checks that the app's routes and
the document's paths are the same and runs schemathesis against a live service with it.
Served with `servers` set to this deployment's SNOWMCP_PUBLIC_URL, so a client generator or
a fuzzer pointed at the document reaches this service.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


@functools.cache
def document() -> dict[str, Any]:
    """The document as shipped (package data, read once)."""
    text = resources.files("snowmcp.service").joinpath("openapi.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@functools.cache
def _rendered(public_url: str) -> bytes:
    doc = {**document(), "servers": [{"url": public_url, "description": "this token service"}]}
    return json.dumps(doc, separators=(",", ":")).encode()


async def openapi_document(request: Request) -> Response:
    body = _rendered(request.app.state.settings.public_url)
    return Response(body, media_type="application/json")
