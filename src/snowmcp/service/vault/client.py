"""An asynchronous Vault / OpenBao HTTP API client on the service's own httpx.

Why not hvac: hvac is synchronous (requests). The service runs on one event loop per
process; a Transit or KV call made with hvac would stop every other request of the
process for its duration (or need a thread per call). The few endpoints used here
(AppRole / Kubernetes login, token renew-self and lookup-self, KV v2 read, Transit
datakey/decrypt/rewrap) are plain JSON over HTTP, so httpx.AsyncClient (already the
service's client for Snowflake) does it without blocking and with one connection pool.

Errors: anything that is not an answer (connection refused, timeout, 5xx, sealed) is
VaultUnavailable: the API turns it into 503 + Retry-After and /readyz reports it. A
403 makes the client log in again once (the token expired or was revoked) before it
gives up with VaultDenied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx

from snowmcp.service.config import Settings

log = logging.getLogger("snowmcp.service.vault")

RETRY_AFTER = 5  # seconds a caller is told to wait while Vault is unreachable
PROBE_EVERY = 2.0  # seconds between probes while Vault is unreachable
HEALTH_EVERY = 10.0  # seconds between checks while it is fine (one lookup-self: cheap)
RENEW_AT = 2 / 3  # renew the token when this fraction of its lease has passed


class VaultError(Exception):
    """A Vault call failed; the message never holds a secret."""


class VaultUnavailable(VaultError):
    """Vault did not answer (down, sealed, slow, 5xx): retry later."""


class VaultDenied(VaultError):
    """Vault refused the call even after a fresh login (policy, role or credentials wrong)."""


class VaultClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.base = settings.vault_addr.rstrip("/") + "/v1/"
        if http is None:
            verify: Any = settings.vault_ca_cert or True
            http = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout, connect=min(3.0, settings.http_timeout)),
                                     verify=verify)  # fmt: skip
        self.http = http
        self._token = ""
        self._renew_at = 0.0  # monotonic; 0: never (token_file: Vault Agent renews)
        self._expires_at = 0.0
        self._renewable = False
        self._login_lease = 0.0
        self._token_file_stamp: tuple[float, int] | None = None
        self._login_lock = asyncio.Lock()
        self.problem = ""  # why Vault is not usable now ("" while it is): /readyz shows it
        self.calls = 0  # API calls made (tests, bench)

    # -- health ---------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return not self.problem

    def _down(self, why: str) -> VaultUnavailable:
        if self.problem != why:
            log.warning("vault unavailable: %s", why)
        self.problem = why
        return VaultUnavailable(why)

    # -- raw calls --------------------------------------------------------------
    async def _call(self, method: str, path: str, body: dict[str, Any] | None, token: str) -> httpx.Response:
        headers = {"X-Vault-Request": "true"}
        if token:
            headers["X-Vault-Token"] = token
        if self.settings.vault_namespace:
            headers["X-Vault-Namespace"] = self.settings.vault_namespace
        self.calls += 1
        try:
            resp = await self.http.request(method, self.base + path, json=body, headers=headers)
        except httpx.TimeoutException:
            raise self._down(f"vault did not answer within {self.settings.http_timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise self._down(f"vault unreachable ({type(exc).__name__})") from None
        if resp.status_code >= 500:
            sealed = resp.status_code == 503
            raise self._down("vault is sealed or in standby" if sealed else f"vault answered {resp.status_code}")
        return resp

    @staticmethod
    def _errors(resp: httpx.Response) -> str:
        try:
            errors = resp.json().get("errors") or []
        except ValueError:
            errors = []
        return "; ".join(str(e) for e in errors)[:300] or f"HTTP {resp.status_code}"

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One authenticated call; logs in (again) when needed. The JSON answer, {} for 204."""
        token = await self._current_token()
        resp = await self._call(method, path, body, token)
        if resp.status_code == 403:
            # Expired, revoked or rotated token: one fresh login, then the call once more.
            token = await self._current_token(force=True, stale=token)
            resp = await self._call(method, path, body, token)
            if resp.status_code == 403:
                raise VaultDenied(f"vault denied {path}: {self._errors(resp)}")
        if resp.status_code >= 400:
            raise VaultDenied(f"vault refused {path}: {self._errors(resp)}")
        self.problem = ""
        return dict(resp.json()) if resp.content.strip() else {}

    # -- authentication ----------------------------------------------------------
    async def _current_token(self, *, force: bool = False, stale: str = "") -> str:
        auth = self.settings.vault_auth
        if auth == "token_file":
            # Vault Agent keeps the sink file fresh; it is re-read whenever it changes.
            return self._read_token_file(force=force)
        if self._token and not force and time.monotonic() < self._expires_at:
            return self._token
        async with self._login_lock:
            if self._token and self._token != stale and time.monotonic() < self._expires_at:
                return self._token  # another request logged in meanwhile
            await self.login()
            return self._token

    def _read_token_file(self, *, force: bool) -> str:
        path = Path(self.settings.vault_token_file)
        try:
            st = path.stat()
            stamp = (st.st_mtime, st.st_size)
            if force or stamp != self._token_file_stamp or not self._token:
                self._token = path.read_text(encoding="utf-8").strip()
                self._token_file_stamp = stamp
        except OSError as exc:
            raise self._down(f"cannot read SNOWMCP_VAULT_TOKEN_FILE: {exc.strerror}") from None
        if not self._token:
            raise self._down("SNOWMCP_VAULT_TOKEN_FILE is empty (Vault Agent not running yet?)")
        return self._token

    async def login(self) -> None:
        s = self.settings
        if s.vault_auth == "approle":
            path = f"auth/{s.vault_approle_mount}/login"
            body = {"role_id": s.vault_role_id, "secret_id": _read_secret_file(s.vault_secret_id_file, "SNOWMCP_VAULT_SECRET_ID_FILE")}
        elif s.vault_auth == "kubernetes":
            path = f"auth/{s.vault_kubernetes_mount}/login"
            # Projected service-account tokens rotate: read the file at every login.
            body = {"role": s.vault_kubernetes_role, "jwt": _read_secret_file(s.vault_kubernetes_jwt_file, "SNOWMCP_VAULT_KUBERNETES_JWT_FILE")}
        else:
            self._read_token_file(force=True)
            return
        resp = await self._call("POST", path, body, "")
        if resp.status_code >= 400:
            self.problem = f"vault {s.vault_auth} login failed: {self._errors(resp)}"
            raise VaultDenied(self.problem)
        auth = resp.json()["auth"]
        self._take(auth)
        self._login_lease = float(auth.get("lease_duration") or 0)
        self.problem = ""
        log.info("vault: logged in with %s (lease %ss)", s.vault_auth, auth.get("lease_duration"))

    def _take(self, auth: dict[str, Any]) -> None:
        now = time.monotonic()
        lease = float(auth.get("lease_duration") or 0)
        self._token = str(auth["client_token"])
        self._renewable = bool(auth.get("renewable"))
        # lease 0: a token that does not expire (root-like); check it now and then anyway.
        # Counted as expired a little early (5 s, or a quarter of a short lease) so a call is
        # never sent with a token about to lapse - and never so early that every call logs in.
        self._expires_at = now + lease - min(5.0, lease / 4) if lease else now + 3600
        self._renew_at = now + lease * RENEW_AT if lease else now + 3600

    async def maintain(self) -> None:
        """Background task: renew the token before it expires (or log in again), and check
        Vault every HEALTH_EVERY seconds (PROBE_EVERY while it is unreachable), so /readyz
        tells the truth and the service becomes ready again by itself."""
        while True:
            try:
                due = self._token and time.monotonic() >= self._renew_at
                if due and not self.problem and self.settings.vault_auth != "token_file":
                    await self._renew()
                else:
                    await self.health()  # clears `problem` on success; a 403 logs in again
            except VaultError as exc:
                log.warning("vault: %s", exc)
            except Exception:  # the keeper must never die
                log.exception("vault: token upkeep failed")
            if self.problem:
                pause = PROBE_EVERY
            else:
                pause = max(0.5, min(HEALTH_EVERY, self._renew_at - time.monotonic()))
            await asyncio.sleep(pause)

    async def _renew(self) -> None:
        if self._renewable:
            resp = await self._call("POST", "auth/token/renew-self", {}, self._token)
            if resp.status_code < 400:
                auth = resp.json()["auth"]
                self._take(auth)
                # Near the token's max TTL the lease shrinks: log in again rather than run out.
                if float(auth.get("lease_duration") or 0) >= self._login_lease / 2:
                    return
        async with self._login_lock:
            await self.login()

    async def health(self) -> None:
        """Raise VaultUnavailable unless Vault answers for this token now."""
        await self.request("GET", "auth/token/lookup-self")

    async def close(self) -> None:
        await self.http.aclose()


def _read_secret_file(path: str, setting: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise VaultDenied(f"cannot read {setting}: {exc.strerror}") from None
    if not value:
        raise VaultDenied(f"{setting} is empty")
    return value
