"""Connect the official MCP Python SDK to an MCP server the way Claude Code does in a native mode.

Input: only what the workstation role writes into `~/.claude.json` for a server
(`{"type": "http", "url": URL, "oauth": {"clientId": ID, "callbackPort": PORT}}`).
The SDK's OAuthClientProvider (an implementation of the MCP authorization spec that
this project did not write) then does the rest: 401 -> Protected Resource Metadata ->
authorization server metadata -> authorization code + PKCE in a browser (here
harness/browser.py, which signs in on whichever login form it is shown) -> token ->
the MCP calls. The pre-registered client is handed to the SDK as stored client
information (no dynamic registration: Snowflake has none), public
(`token_endpoint_auth_method: none`), redirecting to
`http://localhost:<callbackPort>/callback` as Claude Code does with a fixed port.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.browser import sign_in


@dataclass
class SignIn:
    username: str
    password: str
    urls: list[str] = field(default_factory=list)  # authorization URLs the SDK opened


@dataclass
class Outcome:
    tools: list[str]
    call_text: str
    scope_asked: str  # the scope the SDK asked for (from the authorization URL)


def redirect_uri(entry: dict[str, Any]) -> str:
    return f"http://localhost:{entry['oauth']['callbackPort']}/callback"


async def _run(
    entry: dict[str, Any], person: SignIn, tool: str, arguments: dict[str, Any]
) -> Outcome:
    import httpx2
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import (
        AuthorizationCodeResult,
        OAuthClientInformationFull,
        OAuthClientMetadata,
        OAuthToken,
    )

    uri = redirect_uri(entry)
    client_info = OAuthClientInformationFull(
        client_id=entry["oauth"]["clientId"],
        redirect_uris=[uri],  # type: ignore[list-item]
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )

    class Storage:
        def __init__(self) -> None:
            self.tokens: OAuthToken | None = None

        async def get_tokens(self) -> OAuthToken | None:
            return self.tokens

        async def set_tokens(self, tokens: OAuthToken) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> OAuthClientInformationFull | None:
            return client_info

        async def set_client_info(self, info: OAuthClientInformationFull) -> None:
            raise AssertionError("a pre-registered client must not be registered again")

    landed: list[str] = []

    async def redirect_handler(url: str) -> None:
        person.urls.append(url)
        # The browser stops at the loopback callback (the SDK's own listener in Claude Code).
        landed.append(
            await asyncio.to_thread(
                sign_in, url, person.username, person.password, stop_at_loopback=True
            )
        )

    async def callback_handler() -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlsplit(landed[-1]).query).items()}
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query}")
        assert landed[-1].startswith(uri + "?"), landed[-1]
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"))

    provider = OAuthClientProvider(
        server_url=entry["url"],
        client_metadata=OAuthClientMetadata(
            redirect_uris=[uri],  # type: ignore[list-item]
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            client_name="Claude Code",
        ),
        storage=Storage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=20) as http,
        streamable_http_client(entry["url"], http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        called = await session.call_tool(tool, arguments)
        text = called.content[0].text  # type: ignore[union-attr]
    asked = parse_qs(urlsplit(person.urls[0]).query).get("scope", [""])[0] if person.urls else ""
    return Outcome([t.name for t in listed.tools], text, asked)


def connect(entry: dict[str, Any], person: SignIn, tool: str, arguments: dict[str, Any]) -> Outcome:
    """Sign in with the SDK and run tools/list and one tools/call; raises on any failure."""
    return asyncio.run(_run(entry, person, tool, arguments))


def results(outcome: Outcome) -> list[dict[str, Any]]:
    return list(json.loads(outcome.call_text)["results"])
