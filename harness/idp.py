"""A test identity provider (OIDC / OAuth 2.0 authorization server) for External OAuth tests.

It plays Okta or Entra ID for Snowflake's EXTERNAL_OAUTH integrations: an
issuer, `/.well-known/openid-configuration` (also served as
`/.well-known/oauth-authorization-server`), a JWKS, `/authorize` with a
sign-in form (inputs `username` and `password`, like the emulator's, so
harness/browser.py signs in to both) and `/token` (authorization code with
PKCE S256, refresh tokens). Access tokens are RS256 JWTs signed with PyJWT:
`iss`, `aud`, `sub`, `exp`, `iat`, `scp` (the granted scopes, as a list,
Okta's form) plus any per-user claims, so a test can make tokens that Snowflake
must refuse (wrong issuer, audience, user).

Why not a packaged provider: Snowflake verifies the *access token* as a JWT
(issuer, audience, scope claim); oidc-provider-mock (PyPI) is built for ID
tokens of relying parties and accepts any client id, so it could not show
that a wrong client or redirect URI is refused. This one is small, uses
PyJWT and cryptography for every signature, and runs in-process (uvicorn in
a thread, like the tests' other helpers).

Clients are public (PKCE required, no secret) and registered with exact
redirect URIs. Bounds on the unauthenticated endpoints: form bodies of at
most 8 KiB, `state` of at most 2048 characters, at most MAX_PENDING_CODES
codes pending (each valid CODE_VALIDITY_S seconds).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.procs import free_port

CODE_VALIDITY_S = 120
MAX_PENDING_CODES = 1000
MAX_FORM_BYTES = 8 * 1024
MAX_STATE = 2048
FIELDS = (
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
    "response_type",
)


@dataclass
class IdpUser:
    password: str
    claims: dict[str, Any] = field(default_factory=dict)  # sub, email, upn, ...


@dataclass
class IdpConfig:
    audience: str = "api://snowflake"
    access_token_ttl: int = 600
    users: dict[str, IdpUser] = field(default_factory=dict)  # sign-in name -> user
    clients: dict[str, list[str]] = field(default_factory=dict)  # client id -> redirect URIs
    scope_claim: str = "scp"  # scp (a list, Okta) or scope (a space-separated string)


class TestIdp:
    """The provider; `start()` serves it on a loopback port (issuer = its base URL)."""

    __test__ = False  # not a pytest class

    def __init__(self, config: IdpConfig | None = None, *, kid: str | None = None) -> None:
        self.config = config or IdpConfig()
        self.port = free_port()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid or secrets.token_hex(8)
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.jwks_requests = 0  # how often the JWKS was fetched (tests check the fetch bound)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    # ---- tokens ----------------------------------------------------------------
    def mint(self, claims: dict[str, Any], *, key: Any = None, kid: str | None = None) -> str:
        """A signed access token with these claims over the defaults (tests forge bad ones)."""
        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.config.audience, "iat": now,
                "exp": now + self.config.access_token_ttl, **claims}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(
            body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def _access_token(self, login: str, scopes: list[str]) -> str:
        user = self.config.users[login]
        scope_value: Any = scopes if self.config.scope_claim == "scp" else " ".join(scopes)
        claims = {"sub": login, **user.claims, self.config.scope_claim: scope_value}
        return self.mint(claims)

    def _token_response(self, login: str, scopes: list[str], client_id: str) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(32)
        with self.lock:
            self.refresh_tokens[refresh] = {
                "login": login,
                "scopes": scopes,
                "client_id": client_id,
            }
        return {
            "access_token": self._access_token(login, scopes),
            "token_type": "Bearer",
            "expires_in": self.config.access_token_ttl,
            "scope": " ".join(scopes),
            "refresh_token": refresh,
        }

    # ---- serving -----------------------------------------------------------------
    def app(self) -> Starlette:
        app = Starlette(routes=ROUTES)
        app.state.idp = self
        return app

    def start(self) -> TestIdp:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test IdP did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> TestIdp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- endpoints: module-level handlers reading request.app.state ------------------------
async def configuration(request: Request) -> JSONResponse:
    idp: TestIdp = request.app.state.idp
    base = idp.issuer
    return JSONResponse({
        "issuer": base,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "jwks_uri": idp.jwks_url,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })  # fmt: skip


async def jwks(request: Request) -> JSONResponse:
    idp: TestIdp = request.app.state.idp
    with idp.lock:
        idp.jwks_requests += 1
    return JSONResponse(idp.jwks())


async def _form(request: Request) -> dict[str, str] | None:
    """The form fields, or None when the body is (or may be) over MAX_FORM_BYTES.

    A Content-Length is required and checked before reading: the HTTP server then
    delivers at most that many bytes, so nothing larger is ever read into memory."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        return None
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _page(params: dict[str, str], error: str = "") -> HTMLResponse:
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(params[k])}">'
        for k in FIELDS
        if k in params
    )
    alert = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(
        "<!doctype html><title>Sign in - test identity provider</title><h1>Test identity provider</h1>"
        f'{alert}<form method="post" action="/authorize">{hidden}'
        '<input type="text" name="username"><input type="password" name="password">'
        "<button>Sign in</button></form>",
        status_code=401 if error else 200,
    )


def _bad(text: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>Error</title><p>{html.escape(text)}</p>", status_code=status
    )


async def authorize(request: Request) -> Response:
    idp: TestIdp = request.app.state.idp
    if request.method == "GET":
        params = dict(request.query_params.items())
    else:
        form = await _form(request)
        if form is None:
            return _bad("request too large", 413)
        params = form
    client, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if redirect_uri not in idp.config.clients.get(client, []):
        # Never redirect to an unregistered URI: shown, not redirected.
        return _bad("unknown client_id or redirect_uri not registered for it")
    if len(params.get("state", "")) > MAX_STATE:
        return _bad("state too long")

    def fail(error: str) -> Response:
        query = {"error": error, **({"state": params["state"]} if "state" in params else {})}
        return RedirectResponse(redirect_uri + "?" + urlencode(query), status_code=302)

    if params.get("response_type") != "code":
        return fail("unsupported_response_type")
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        return fail("invalid_request")  # public clients must use PKCE S256
    if request.method == "GET":
        return _page(params)
    login = params.get("username", "")
    user = idp.config.users.get(login)
    if user is None or not secrets.compare_digest(
        user.password.encode(), params.get("password", "").encode()
    ):
        return _page(params, "Incorrect username or password.")
    code = secrets.token_urlsafe(24)
    now = time.time()
    with idp.lock:
        for old in [c for c, r in idp.codes.items() if r["expires_at"] < now]:
            del idp.codes[old]
        if len(idp.codes) >= MAX_PENDING_CODES:
            return fail("temporarily_unavailable")
        idp.codes[code] = {
            "login": login, "client_id": client, "redirect_uri": redirect_uri,
            "challenge": params["code_challenge"], "scopes": params.get("scope", "").split(),
            "expires_at": now + CODE_VALIDITY_S,
        }  # fmt: skip
    query = {"code": code, **({"state": params["state"]} if "state" in params else {})}
    return RedirectResponse(redirect_uri + "?" + urlencode(query), status_code=302)


def _token_error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status, headers={"Cache-Control": "no-store"})


async def token(request: Request) -> Response:
    idp: TestIdp = request.app.state.idp
    form = await _form(request)
    if form is None:
        return _token_error("invalid_request", 413)
    client = form.get("client_id", "")
    if client not in idp.config.clients:
        return _token_error("invalid_client", 401)
    grant = form.get("grant_type")
    if grant == "authorization_code":
        with idp.lock:
            record = idp.codes.pop(form.get("code", ""), None)  # single use
        if record is None or record["expires_at"] < time.time() or record["client_id"] != client:
            return _token_error("invalid_grant")
        if form.get("redirect_uri") != record["redirect_uri"]:
            return _token_error("invalid_grant")
        verifier = form.get("code_verifier", "")
        computed = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if not verifier or not secrets.compare_digest(computed, record["challenge"]):
            return _token_error("invalid_grant")
        body = idp._token_response(record["login"], record["scopes"], client)
    elif grant == "refresh_token":
        with idp.lock:
            record = idp.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotated
        if record is None or record["client_id"] != client:
            return _token_error("invalid_grant")
        body = idp._token_response(record["login"], record["scopes"], client)
    else:
        return _token_error("unsupported_grant_type")
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/.well-known/openid-configuration", configuration),
    Route("/.well-known/oauth-authorization-server", configuration),
    Route("/jwks", jwks),
    Route("/authorize", authorize, methods=["GET", "POST"]),
    Route("/token", token, methods=["POST"]),
]
