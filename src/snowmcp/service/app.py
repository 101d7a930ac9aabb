"""The HTTP API (Starlette). Routes and contracts: docs/service.md ("HTTP API"); errors are JSON {"error", "message"}."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from snowmcp.service.audit import AuditLog
from snowmcp.service.config import Settings, normalise_login
from snowmcp.service.crypto import Cipher, KeyRing, hash_secret, same
from snowmcp.service.httpmetrics import ResponseCounter
from snowmcp.service.limits import ClientAddress, RequestLimits
from snowmcp.service.login import BrowserBinding, LoginError, LoginFlow
from snowmcp.service.metrics import Metrics
from snowmcp.service.openapi import openapi_document
from snowmcp.service.ratelimit import AuthFailLimiter, RateLimiter, RecentKeys
from snowmcp.service.snowflake_oauth import SnowflakeOAuth
from snowmcp.service.store import Store, StoreError, UserRecord, open_store
from snowmcp.service.tokens import ReauthRequired, TokenManager, Unavailable, UserGone
from snowmcp.service.vault.client import RETRY_AFTER as VAULT_RETRY_AFTER
from snowmcp.service.vault.client import VaultClient, VaultError

log = logging.getLogger("snowmcp.service")


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


NO_STORE = {"Cache-Control": "no-store"}
PURGE_EVERY = 30.0  # seconds between sweeps of expired sign-ins and codes
TARPIT_SECONDS = 1.0  # a refused sign-in step is answered after this pause...
TARPIT_MAX = 1024  # ...for at most this many requests at a time (a held request is a sleeping coroutine on a connection that is open anyway)
REAUTH_MESSAGE = "Your Snowflake sign-in has expired or was revoked: run `snowmcp login`."


class Service:
    """Everything one process needs; built in the app's lifespan."""

    def __init__(self, settings: Settings, store: Store | None = None, *, cipher: Cipher | None = None,
                 vault: VaultClient | None = None, base_settings: Settings | None = None,
                 metrics: Metrics | None = None) -> None:  # fmt: skip
        self.settings = settings
        # Vault mode: the settings before the KV secret was applied (a reload applies the
        # new secret to these, so a field removed from KV falls back to the settings).
        self.base_settings = base_settings or settings
        self.vault = vault  # Vault mode: the client the cipher and reloads use
        self.cipher: Cipher = cipher if cipher is not None else KeyRing.from_strings(settings.encryption_keys)
        self.metrics = metrics if metrics is not None else Metrics()
        self.audit = AuditLog(settings.audit_log)
        self.store = store if store is not None else open_store(settings.store)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout, connect=min(5.0, settings.http_timeout)))
        self.oauth = SnowflakeOAuth(settings, self.http)
        self.tokens = TokenManager(settings, self.store, self.cipher, self.oauth, self.metrics, self.audit)
        self.login = LoginFlow(settings, self.store, self.cipher, self.oauth, self.metrics, self.audit)
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        # Failed authentication, per client address (the proxy's address behind a proxy).
        self.auth_fail = AuthFailLimiter(settings.auth_fail_rate, settings.auth_fail_burst)
        self.recent_keys = RecentKeys()  # API keys that authenticated lately: served while limited
        # Sign-in steps (/v1/login, /v1/oauth/callback) are unauthenticated writes: limited per
        # address and for all addresses together, before the store is touched.
        self.signin_per_client = AuthFailLimiter(settings.signin_rate, settings.signin_burst)
        self.signin_all = RateLimiter(settings.signin_rate_global, settings.signin_burst_global)
        self.tarpitted = 0  # refused sign-in steps currently held before their 429
        self.allowed = settings.allowed_logins  # empty: anyone who can sign in to Snowflake
        self.token_ok = self.metrics.requests.labels("token", "ok")  # hot path: bind the label once
        # Admin keys are compared as hashes: config files may hold `sha256:<hex>` only.
        self.admin_hashes = tuple(k[7:] if k.startswith("sha256:") else hash_secret(k) for k in settings.admin_keys)

    def apply_secrets(self, settings: Settings) -> None:
        """Take new values of the secrets (a reload in Vault mode re-read the KV secret)."""
        self.settings = settings
        self.oauth.client_id = settings.client_id
        self.oauth.secrets = list(settings.client_secrets)
        self.oauth._preferred = 0
        self.allowed = self.login.allowed = settings.allowed_logins
        self.admin_hashes = tuple(k[7:] if k.startswith("sha256:") else hash_secret(k) for k in settings.admin_keys)

    async def reload(self) -> bool:
        """SIGHUP in Vault mode: re-read the KV secret; the old values stay on failure."""
        from snowmcp.service.config import ConfigError
        from snowmcp.service.vault.secrets import apply_secret, read_secret

        if self.vault is None:
            return False
        try:
            secret = await read_secret(self.vault)
            self.apply_secrets(apply_secret(self.base_settings, secret))
        except (VaultError, ConfigError) as exc:
            log.error("reload: the KV secret could not be applied, keeping the previous values: %s", exc)
            return False
        log.info("reload: applied version %d of the KV secret", secret.version)
        self.audit.write("reload", kv_version=secret.version)
        return True

    async def close(self) -> None:
        if self.vault is not None:
            await self.vault.close()
        await self.http.aclose()
        await self.store.close()
        self.audit.close()


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _space, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _client(request: Request) -> str:
    """The address RequestLimits decided for this request (SNOWMCP_TRUSTED_PROXIES applied)."""
    decided = request.scope.get("state", {}).get("client")
    if decided is not None:
        return str(decided)
    return request.client.host if request.client else "-"


def _json_body(raw: bytes) -> dict[str, Any] | None:
    """A JSON object whose strings are all valid Unicode, or None for anything else.

    json.loads accepts lone surrogates (`"\\ud800"`) that fail later when encoded, and deep
    nesting raises RecursionError: both are malformed input, not server errors.
    """
    try:
        body = json.loads(raw)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # lone surrogates fail here
    except (ValueError, RecursionError, UnicodeError):
        return None
    return body if isinstance(body, dict) else None


class TokenAnswer(Response):
    """The 200 of GET /v1/token: a JSON body, never cached. Its three headers are set
    directly: Response's generic header building is a tenth of this route's own work."""

    media_type = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        self.raw_headers = [(b"content-length", str(len(self.body)).encode()),
                            (b"content-type", b"application/json"), (b"cache-control", b"no-store")]  # fmt: skip


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")  # fmt: skip
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def _svc(request: Request) -> Service:
    """The process's Service, which the lifespan put on app.state."""
    service: Service = request.app.state.service
    return service


def _auth_limited(s: Service, request: Request, endpoint: str) -> Response:
    """429 for an address over its failed-authentication limit: counted, audited collapsed."""
    client = _client(request)
    s.metrics.requests.labels(endpoint, "auth_rate_limited").inc()
    refused = s.auth_fail.refused(client)
    if refused:  # at most one line per address per report interval, with the count
        s.audit.write("auth_rate_limited", client=client, endpoint=endpoint, refused=refused)
    return error(429, "rate_limited", "too many failed authentication attempts from this address",
                 {"Retry-After": str(s.auth_fail.retry_after(client))})  # fmt: skip


async def _user_from_key(s: Service, request: Request, endpoint: str) -> UserRecord | Response:
    key = _bearer(request)
    client = _client(request)
    if key is None:
        if not s.auth_fail.fail(client):
            return _auth_limited(s, request, endpoint)
        s.metrics.requests.labels(endpoint, "no_key").inc()
        return error(401, "unauthorized", "missing API key: send Authorization: Bearer <api key> "
                     "(run `snowmcp login`)", {"WWW-Authenticate": "Bearer"})  # fmt: skip
    key_hash = hash_secret(key)
    if s.auth_fail.blocked(client) and key_hash not in s.recent_keys:
        # Limited address, key not seen valid lately: refuse before any store lookup.
        return _auth_limited(s, request, endpoint)
    rec = await s.store.get_by_key(key_hash)
    # The index lookup is by hash; compare again in constant time for good measure.
    if rec is None or not same(rec.api_key_hash, key_hash):
        s.recent_keys.discard(key_hash)
        if not s.auth_fail.fail(client):
            return _auth_limited(s, request, endpoint)
        s.metrics.requests.labels(endpoint, "bad_key").inc()
        s.audit.write(endpoint, result="bad_key", client=client)
        return error(401, "unauthorized", "unknown or replaced API key: run `snowmcp login`",
                     {"WWW-Authenticate": "Bearer"})  # fmt: skip
    if s.auth_fail.enabled:
        s.recent_keys.add(key_hash)
    if not s.limiter.allow(key_hash):
        s.metrics.requests.labels(endpoint, "rate_limited").inc()
        return error(429, "rate_limited", "too many requests for this API key",
                     {"Retry-After": str(s.limiter.retry_after())})  # fmt: skip
    return rec


async def token(request: Request) -> Response:
    s = _svc(request)
    found = await _user_from_key(s, request, "token")
    if isinstance(found, Response):
        return found
    rec = found
    if s.allowed and rec.username not in s.allowed:
        # Taken off the allow-list after signing in: the old API key must stop working too.
        s.metrics.requests.labels("token", "not_allowed").inc()
        s.audit.write("token", user=rec.login, result="not_allowed", client=_client(request))
        return error(403, "not_allowed", f"{rec.login} is no longer allowed to use this token service; "
                     "ask your Snowflake administrator")  # fmt: skip
    try:
        body = await s.tokens.token_for(rec)
    except ReauthRequired:
        s.metrics.requests.labels("token", "reauth_required").inc()
        s.audit.write("token", user=rec.login, result="reauth_required", client=_client(request))
        return error(409, "reauth_required", REAUTH_MESSAGE)
    except UserGone:
        s.metrics.requests.labels("token", "revoked").inc()
        return error(401, "unauthorized", "this user was revoked: run `snowmcp login`")
    except Unavailable as exc:
        s.metrics.requests.labels("token", "unavailable").inc()
        s.audit.write("token", user=rec.login, result="unavailable", client=_client(request))
        return error(503, "unavailable", str(exc), {"Retry-After": str(max(1, round(exc.retry_after)))})
    s.token_ok.inc()
    s.audit.write("token", user=rec.login, result="ok", client=_client(request))
    return TokenAnswer(body)


async def me(request: Request) -> Response:
    s = _svc(request)
    found = await _user_from_key(s, request, "me")
    if isinstance(found, Response):
        return found
    if request.method == "DELETE":
        # `snowmcp logout`: the key's owner revokes it (and the stored Snowflake tokens), so
        # a copy of the key left anywhere stops working. Needs only the key itself.
        deleted = await s.store.delete(found.username, api_key_hash=found.api_key_hash)
        s.tokens.forget(found.username)
        s.recent_keys.discard(found.api_key_hash)
        s.metrics.requests.labels("logout", "ok").inc()
        s.audit.write("logout", user=found.login, client=_client(request), found=deleted)
        return JSONResponse({"revoked": found.login}, headers=NO_STORE)
    s.metrics.requests.labels("me", "ok").inc()
    return JSONResponse(found.public())


async def _signin_limited(s: Service, request: Request, endpoint: str) -> Response | None:
    """429 when this address, or all addresses together, started too many sign-in steps.

    The 429 is sent after a pause (up to TARPIT_SECONDS, for at most TARPIT_MAX requests at
    a time): a client that floods over a few connections, each waiting for its answer,
    then sends a request per second per connection instead of thousands, and the event
    loop stays free for signed-in users. Beyond TARPIT_MAX the 429 goes out at once with
    `Connection: close`.
    """
    client = _client(request)
    if s.signin_per_client.fail(client):  # takes one token from the address's bucket
        if s.signin_all.allow("*"):
            return None
        retry = s.signin_all.retry_after()
        s.metrics.requests.labels(endpoint, "rate_limited_global").inc()
    else:
        retry = s.signin_per_client.retry_after(client)
        s.metrics.requests.labels(endpoint, "rate_limited").inc()
        refused = s.signin_per_client.refused(client)
        if refused:  # collapsed: one line per address per report interval
            s.audit.write("signin_rate_limited", client=client, endpoint=endpoint, refused=refused)
    headers = {"Retry-After": str(retry)}
    if s.tarpitted < TARPIT_MAX:
        s.tarpitted += 1
        try:
            await asyncio.sleep(min(float(retry), TARPIT_SECONDS))
        finally:
            s.tarpitted -= 1
    else:
        headers["Connection"] = "close"
    return error(429, "rate_limited", "too many sign-ins started; try again later", headers)


async def login(request: Request) -> Response:
    s = _svc(request)
    limited = await _signin_limited(s, request, "login")
    if limited is not None:
        return limited
    q = request.query_params
    try:
        target = await s.login.start(q.get("port"), q.get("state"), q.get("code_challenge"))
    except LoginError as exc:
        s.metrics.requests.labels("login", exc.code).inc()
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error(exc.status, exc.code, exc.message, headers)
    s.metrics.requests.labels("login", "redirect").inc()
    response = RedirectResponse(target.url, status_code=302, headers=NO_STORE)
    binding = target.binding
    assert binding is not None
    response.set_cookie(binding.name, binding.value, max_age=s.settings.login_ttl, path="/v1/oauth/callback",
                        secure=s.settings.public_url.startswith("https:"), httponly=True, samesite="lax")  # fmt: skip
    return response


async def callback(request: Request) -> Response:
    s = _svc(request)
    limited = await _signin_limited(s, request, "callback")
    if limited is not None:
        return limited
    q = request.query_params
    state = q.get("state")
    cookie = request.cookies.get(BrowserBinding.cookie_name(state)) if state else None
    try:
        target = await s.login.callback(q.get("code"), state, q.get("error"), _client(request), cookie)
    except LoginError as exc:
        s.metrics.requests.labels("callback", exc.code).inc()
        titles = {"not_allowed": "Not allowed", "access_denied": "Sign-in cancelled",
                  "wrong_browser": "Sign-in started elsewhere"}  # fmt: skip
        return _page(titles.get(exc.code, "Sign-in failed"), exc.message, exc.status)
    s.metrics.requests.labels("callback", "redirect").inc()
    response = RedirectResponse(target.url, status_code=302, headers=NO_STORE)
    if state:
        response.delete_cookie(BrowserBinding.cookie_name(state), path="/v1/oauth/callback")
    return response


async def exchange(request: Request) -> Response:
    s = _svc(request)
    client = _client(request)
    if s.auth_fail.blocked(client):
        # No cheap way to tell a good code from a guess: refused before the store is read.
        return _auth_limited(s, request, "exchange")
    body = _json_body(await request.body())
    if body is None:
        # Malformed sign-in attempts count like wrong codes.
        if not s.auth_fail.fail(client):
            return _auth_limited(s, request, "exchange")
        s.metrics.requests.labels("exchange", "invalid_request").inc()
        return error(400, "invalid_request", "body must be JSON {\"code\": ..., \"code_verifier\": ...}")
    try:
        api_key, login_name = await s.login.exchange(body.get("code"), body.get("code_verifier"), client)
    except LoginError as exc:
        s.auth_fail.fail(client)
        s.metrics.requests.labels("exchange", exc.code).inc()
        return error(exc.status, exc.code, exc.message)
    s.tokens.forget(normalise_login(login_name))
    if s.auth_fail.enabled:
        s.recent_keys.add(hash_secret(api_key))
    s.metrics.requests.labels("exchange", "ok").inc()
    return JSONResponse({"api_key": api_key, "username": login_name}, headers=NO_STORE)


def _admin_check(request: Request) -> Response | str:
    # Checking an admin key is in memory (no store): a valid one is served even from a
    # limited address; failures count towards the address's limit.
    s = _svc(request)
    key = _bearer(request)
    client = _client(request)
    if key is None:
        if not s.auth_fail.fail(client):
            return _auth_limited(s, request, "admin")
        return error(401, "unauthorized", "missing admin key", {"WWW-Authenticate": "Bearer"})
    presented = hash_secret(key)
    matched = [h for h in s.admin_hashes if same(h, presented)]
    if not matched:
        if not s.auth_fail.fail(client):
            return _auth_limited(s, request, "admin")
        s.audit.write("admin", result="forbidden", client=client)
        return error(403, "forbidden", "this endpoint needs an admin key")
    return matched[0][:12]  # key fingerprint for the audit log


async def admin_users(request: Request) -> Response:
    s = _svc(request)
    who = _admin_check(request)
    if isinstance(who, Response):
        return who
    users = [u.public() for u in await s.store.list_users()]
    s.audit.write("admin_list_users", admin=who, client=_client(request), count=len(users))
    return JSONResponse({"users": users})


async def admin_revoke(request: Request) -> Response:
    s = _svc(request)
    who = _admin_check(request)
    if isinstance(who, Response):
        return who
    login_name = request.path_params["username"]
    username = normalise_login(login_name)
    deleted = await s.store.delete(username)
    s.tokens.forget(username)
    s.audit.write("revoke", user=login_name, admin=who, client=_client(request), found=deleted)
    if not deleted:
        return error(404, "not_found", f"no stored user {login_name!r}")
    return JSONResponse({"revoked": login_name})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    s = _svc(request)
    try:
        await s.store.ping()
    except StoreError:
        return error(503, "not_ready", "the token store is not reachable")
    if s.vault is not None and not s.vault.healthy:
        # Cached access tokens are still served meanwhile; refreshes and sign-ins answer 503.
        return error(503, "not_ready", f"Vault is not usable: {s.vault.problem}; cached access tokens are "
                     "still served, refreshes and sign-ins wait for Vault", {"Retry-After": str(VAULT_RETRY_AFTER)})  # fmt: skip
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    s = _svc(request)
    try:
        body = await s.metrics.render(s.store)
    except StoreError:
        return error(503, "not_ready", "the token store is not reachable")
    return Response(body, media_type="text/plain; version=0.0.4")


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    codes = {404: "not_found", 405: "method_not_allowed"}
    # Starlette's 405 carries `Allow` (RFC 9110 requires it): keep the exception's headers.
    headers = getattr(exc, "headers", None)
    return error(status, codes.get(status, "error"), str(getattr(exc, "detail", "error")), dict(headers) if headers else None)


async def store_down(request: Request, exc: Exception) -> Response:
    log.error("store error: %s", exc)
    return error(503, "not_ready", "the token store is not reachable")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # build_app left the settings (and a store given by a test) on app.state; the handlers
    # find the Service there as request.app.state.service.
    service = await _start_service(app.state.settings, app.state.given_store, app.state.metrics)
    app.state.service = service

    async def flush_audit() -> None:
        while True:
            await asyncio.sleep(service.audit.FLUSH_EVERY)
            service.audit.flush()

    async def purge_expired() -> None:
        # Expired sign-ins and codes are dropped here, not by the requests that add them.
        while True:
            await asyncio.sleep(PURGE_EVERY)
            try:
                await service.store.purge_expired()
            except StoreError as exc:
                log.warning("could not purge expired sign-ins: %s", exc)

    background = [asyncio.create_task(flush_audit()), asyncio.create_task(purge_expired())]
    if service.vault is not None:
        background.append(asyncio.create_task(service.vault.maintain()))
        _on_sighup(service, background)
    try:
        yield
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await service.tokens.drain()
        await service.close()


async def _start_service(settings: Settings, store: Store | None, metrics: Metrics) -> Service:
    """The Service; in Vault mode after logging in and reading the KV secret (a Vault that
    cannot be reached at start stops the start: the unit's restart policy retries)."""
    if not settings.vault_mode:
        return Service(settings, store, metrics=metrics)
    from snowmcp.service.vault.secrets import apply_secret, read_secret
    from snowmcp.service.vault.transit import TransitCipher

    vault = VaultClient(settings)
    try:
        secret = await read_secret(vault)
    except BaseException:
        await vault.close()
        raise
    log.info("vault mode: read version %d of the KV secret", secret.version)
    merged = apply_secret(settings, secret)
    cipher = TransitCipher(vault, settings.vault_transit_mount, settings.vault_transit_key)
    return Service(merged, store, cipher=cipher, vault=vault, base_settings=settings, metrics=metrics)


def _on_sighup(service: Service, background: list[asyncio.Task[None]]) -> None:
    """SIGHUP re-reads the KV secret (Gunicorn's master restarts its workers on SIGHUP
    instead; they read it as they start)."""
    loop = asyncio.get_running_loop()

    def reload() -> None:
        background.append(loop.create_task(_reload(service)))

    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (RuntimeError, ValueError, NotImplementedError):
        pass  # not the main thread (an in-process test client): no signal handling


async def _reload(service: Service) -> None:
    await service.reload()


def build_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The ASGI app: routes, the request-limits middleware, error handlers and the lifespan."""
    routes: list[Any] = [
        Route("/v1/token", token),  # first: the hot path (Starlette tries routes in order)
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi_document),
        Route("/v1/login", login),
        Route("/v1/oauth/callback", callback),
        Route("/v1/login/exchange", exchange, methods=["POST"]),
        Route("/v1/me", me, methods=["GET", "DELETE"]),
        Route("/v1/admin/users", admin_users),
        Route("/v1/admin/users/{username:path}", admin_revoke, methods=["DELETE"]),
    ]
    limits = Middleware(
        RequestLimits,
        max_body=settings.max_body_bytes, body_limits={}, max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers, read_timeout=settings.read_timeout,
        client=ClientAddress(settings.trusted_proxies),
    )  # fmt: skip
    # ResponseCounter first (outermost): it counts the limits' refusals too. The Metrics it
    # counts into go to the Service the lifespan builds (app.state.metrics).
    counts = Metrics()
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(ResponseCounter, metrics=counts), limits],
                    exception_handlers={StoreError: store_down, HTTPException: http_error})  # fmt: skip
    app.state.settings = settings
    app.state.given_store = store
    app.state.metrics = counts
    return app
