"""Helpers for the emulator's OAuth and MCP tests: a real browser-style flow over HTTP.

A tiny HTTP server on a loopback port plays the OAuth client's redirect URI;
httpx plays the browser (GET the sign-in page, POST the form, follow the 302
to the callback for real).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from harness.procs import ADMIN_PASSWORD, ADMIN_USER, Emulator


@dataclass
class Callback:
    """The OAuth client's redirect URI: records every query it receives."""

    server: ThreadingHTTPServer
    received: list[dict[str, str]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"


@contextmanager
def callback_server() -> Iterator[Callback]:
    holder: list[Callback] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            holder[0].received.append({k: v[0] for k, v in query.items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"signed in")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Callback(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Client:
    """An OAuth integration created through SQL, with its credentials."""

    name: str
    client_id: str
    secret: str
    secret_2: str
    redirect_uri: str


def run_sql(
    emu: Emulator, *statements: str, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD
) -> None:
    conn = emu.connect(user=user, password=password)
    try:
        cur = conn.cursor()
        for stmt in statements:
            cur.execute(stmt)
    finally:
        conn.close()


def create_integration(emu: Emulator, name: str, redirect_uri: str, extra: str = "") -> Client:
    run_sql(
        emu,
        f"CREATE OR REPLACE SECURITY INTEGRATION {name} TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
        f"OAUTH_CLIENT_TYPE = 'CONFIDENTIAL' OAUTH_REDIRECT_URI = '{redirect_uri}' "
        f"OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE {extra}",
    )
    secrets_json = emu.query(f"SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('{name}')")[0]
    values = json.loads(next(iter(secrets_json.values())))
    return Client(
        name,
        values["OAUTH_CLIENT_ID"],
        values["OAUTH_CLIENT_SECRET"],
        values["OAUTH_CLIENT_SECRET_2"],
        redirect_uri,
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def authorize_params(
    client: Client, *, scope: str = "refresh_token", state: str = "st-1", **extra: str
) -> dict[str, str]:
    return {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": client.redirect_uri,
        "scope": scope,
        "state": state,
        **extra,
    }


def hidden_fields(page: str) -> dict[str, str]:
    import html

    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    }


def sign_in(emu: Emulator, params: dict[str, str], username: str, password: str) -> httpx.Response:
    """GET the sign-in page, POST the form, follow the redirect; returns the last response."""
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        page = browser.get(emu.url + "/oauth/authorize", params=params)
        if page.status_code != 200 or page.history:
            return page  # an error page, or already redirected back with ?error=
        assert 'name="username"' in page.text and 'name="password"' in page.text
        form = {**hidden_fields(page.text), "username": username, "password": password}
        return browser.post(emu.url + "/oauth/authorize", data=form)


def get_code(
    emu: Emulator, callback: Callback, params: dict[str, str], username: str, password: str
) -> str:
    before = len(callback.received)
    response = sign_in(emu, params, username, password)
    assert response.status_code == 200, response.text
    assert len(callback.received) == before + 1, "the browser did not reach the redirect URI"
    got = callback.received[-1]
    assert got.get("state") == params.get("state"), got
    assert "code" in got, got
    return got["code"]


def token_request(
    emu: Emulator, client: Client, secret: str | None = None, **form: str
) -> httpx.Response:
    return httpx.post(
        emu.url + "/oauth/token-request",
        data=form,
        auth=(client.client_id, client.secret if secret is None else secret),
        timeout=30,
    )


def exchange(emu: Emulator, client: Client, code: str, **extra: str) -> httpx.Response:
    return token_request(
        emu,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri,
        **extra,
    )


def login_tokens(
    emu: Emulator,
    callback: Callback,
    client: Client,
    username: str,
    password: str,
    scope: str = "refresh_token",
    **exchange_extra: str,
) -> dict[str, Any]:
    code = get_code(emu, callback, authorize_params(client, scope=scope), username, password)
    response = exchange(emu, client, code, **exchange_extra)
    assert response.status_code == 200, response.text
    return dict(response.json())
