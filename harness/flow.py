"""Acting as the `snowmcp login` CLI in tests: PKCE, the browser leg, the exchange."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse
from dataclasses import dataclass

from harness.browser import sign_in
from harness.svc import ServiceProc

PASSWORDS = {
    "alice@example.com": "alice-pass-1",
    "bob@example.com": "bob-pass-1",
    "carol@example.com": "carol-pass-1",
}


@dataclass
class Pending:
    code: str
    verifier: str
    state: str


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def browser_leg(svc: ServiceProc, user: str, password: str | None = None, port: int = 54321) -> Pending:
    """Start at /v1/login, sign in at the emulator, stop at the CLI's loopback URL."""
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({"port": port, "state": state, "code_challenge": challenge})
    final = sign_in(f"{svc.url}/v1/login?{query}", user, password or PASSWORDS[user], stop_at_loopback=True)
    parts = urllib.parse.urlsplit(final)
    assert parts.netloc == f"127.0.0.1:{port}", final
    params = dict(urllib.parse.parse_qsl(parts.query))
    assert params["state"] == state, "the CLI's state must come back unchanged"
    return Pending(params["code"], verifier, state)


def login(svc: ServiceProc, user: str) -> str:
    """A full sign-in; returns the API key."""
    pending = browser_leg(svc, user)
    status, body = svc.request("POST", "/v1/login/exchange", body={"code": pending.code,
                                                                   "code_verifier": pending.verifier})  # fmt: skip
    assert status == 200, body
    assert body["username"].lower() == user
    return str(body["api_key"])
