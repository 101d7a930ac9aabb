"""The token-endpoint client against scripted answers: parsing (expires_in as a string), the
permanent/transient error classes of Snowflake's token endpoint (docs/service.md), and the two-secret fallback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from snowmcp.service.config import Settings
from snowmcp.service.snowflake_oauth import OAuthError, SnowflakeOAuth, TokenResponse

SETTINGS = Settings(public_url="https://svc.example", snowflake_url="https://acme.snowflakecomputing.com",
                    client_id="cid", client_secret="s1+/=", client_secret_next="s2", role="MCP_USERS")  # fmt: skip


def refresh_with(*answers: tuple[int, Any]) -> tuple[TokenResponse | OAuthError, list[httpx.Request]]:
    """Run one refresh against a token endpoint that gives `answers` in turn."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = answers[len(seen)]
        seen.append(request)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"Content-Type": "application/json"})

    async def go() -> TokenResponse | OAuthError:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            try:
                return await SnowflakeOAuth(SETTINGS, client).refresh("rt")
            except OAuthError as exc:
                return exc

    return asyncio.run(go()), seen


def snowflake_error(code: str) -> dict[str, Any]:
    return {"data": None, "message": "...", "code": None, "success": False, "error": code}


@pytest.mark.parametrize(("expires_in", "expected"), [(600, 600), ("600", 600), ("599.9", 599)])
def test_expires_in_parses_leniently(expires_in: Any, expected: int) -> None:
    answer, seen = refresh_with((200, {"access_token": "at", "expires_in": expires_in, "token_type": "Bearer"}))
    assert isinstance(answer, TokenResponse) and answer.expires_in == expected and answer.refresh_token is None
    assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode(b"cid:s1+/=").decode()
    assert dict(httpx.QueryParams(seen[0].content.decode())) == {"grant_type": "refresh_token", "refresh_token": "rt"}


@pytest.mark.parametrize("body", [
    {"access_token": "at", "expires_in": "1e999"},
    {"access_token": "at", "expires_in": "soon"},
    {"expires_in": 600},
    b"<html>gateway</html>",
])  # fmt: skip
def test_odd_success_bodies_are_transient_errors(body: Any) -> None:
    answer, _ = refresh_with((200, body))
    assert isinstance(answer, OAuthError) and answer.error == "malformed_response" and not answer.permanent


@pytest.mark.parametrize(("status", "error", "permanent"), [
    (400, "invalid_grant", True),
    (400, "invalid_request", False),
    (400, "unsupported_grant_type", False),
    (503, "server_error", False),
    (500, None, False),
])  # fmt: skip
def test_error_classes(status: int, error: str | None, permanent: bool) -> None:
    answer, seen = refresh_with((status, snowflake_error(error) if error else b"oops"))
    assert isinstance(answer, OAuthError) and answer.permanent is permanent
    assert len(seen) == 1, "only invalid_client tries the other secret"


def test_invalid_client_tries_the_next_secret() -> None:
    answer, seen = refresh_with((401, snowflake_error("invalid_client")), (200, {"access_token": "at"}))
    assert isinstance(answer, TokenResponse)
    assert [r.headers["Authorization"] for r in seen] == [
        "Basic " + base64.b64encode(b"cid:s1+/=").decode(), "Basic " + base64.b64encode(b"cid:s2").decode()]
    both, seen = refresh_with((401, snowflake_error("invalid_client")), (401, snowflake_error("invalid_client")))
    assert isinstance(both, OAuthError) and both.permanent and both.error == "invalid_client" and len(seen) == 2


@pytest.fixture
def dripping_snowflake() -> Iterator[str]:
    """A real HTTP listener that answers one byte every 0.2 s for 30 s: each read is quick."""
    stop = threading.Event()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
                    for _ in range(150):
                        if stop.wait(0.2):
                            break
                        conn.sendall(b" ")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(5)
    sock.close()


def test_a_dripping_token_endpoint_times_out_in_total(dripping_snowflake: str) -> None:
    settings = replace(SETTINGS, snowflake_url=dripping_snowflake, http_timeout=1.0, refresh_timeout=1.5)

    async def go() -> OAuthError | TokenResponse:
        async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as client:  # as the service builds it
            try:
                return await SnowflakeOAuth(settings, client).refresh("rt")
            except OAuthError as exc:
                return exc

    answer = asyncio.run(go())
    assert isinstance(answer, OAuthError) and answer.error == "timeout" and not answer.permanent, answer
