"""Browser sign-in: /v1/login -> Snowflake -> /v1/oauth/callback -> CLI loopback -> /v1/login/exchange.

Two PKCE pairs are in play. The service's own (verifier kept server-side in the
pending login) protects the Snowflake code exchange; the CLI's (challenge sent to
/v1/login, verifier to /v1/login/exchange) proves that whoever redeems the one-time
code is the CLI that started the sign-in, not something that saw the loopback URL.
Pending logins and one-time codes live in the store (single use, with a TTL) so a
sign-in may start on one replica and finish on another.

The sign-in is also bound to the browser that started it: /v1/login sets a short-lived
HttpOnly, SameSite=Lax cookie whose hash is kept in the pending login, and the callback
only continues in a browser that sends it back. A link started by an attacker and
completed by a victim therefore stops at the callback, before any code is issued.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from snowmcp.service.audit import AuditLog
from snowmcp.service.config import Settings, normalise_login
from snowmcp.service.crypto import (
    Cipher,
    DecryptError,
    hash_secret,
    new_api_key,
    new_opaque,
    pkce_challenge,
    same,
)
from snowmcp.service.metrics import Metrics
from snowmcp.service.snowflake_oauth import OAuthError, SnowflakeOAuth
from snowmcp.service.store import ACTIVE, Store, UserRecord
from snowmcp.service.tokens import access_aad, refresh_aad
from snowmcp.service.vault.client import RETRY_AFTER as VAULT_RETRY_AFTER
from snowmcp.service.vault.client import VaultError, VaultUnavailable

T = TypeVar("T")

_PORT_RE = re.compile(r"[0-9]{1,5}")
_STATE_RE = re.compile(r"[A-Za-z0-9._~-]{8,512}")
_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class LoginError(Exception):
    """A sign-in step failed; `code` is the API error code, the message is safe to show."""

    def __init__(self, code: str, message: str, status: int = 400, retry_after: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class BrowserBinding:
    """The cookie that ties a sign-in to the browser that started it (one per sign-in, so
    parallel sign-ins in one browser do not overwrite each other)."""

    name: str
    value: str

    @staticmethod
    def cookie_name(our_state: str) -> str:
        return "snowmcp_signin_" + hash_secret(our_state)[:16]

    @classmethod
    def new(cls, our_state: str) -> BrowserBinding:
        return cls(cls.cookie_name(our_state), new_opaque())


@dataclass(frozen=True)
class Redirect:
    url: str
    binding: BrowserBinding | None = None


class LoginFlow:
    def __init__(self, settings: Settings, store: Store, cipher: Cipher, oauth: SnowflakeOAuth,
                 metrics: Metrics, audit: AuditLog) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.oauth = oauth
        self.metrics = metrics
        self.audit = audit
        self.allowed = settings.allowed_logins

    async def start(self, port: str | None, state: str | None, challenge: str | None) -> Redirect:
        # fullmatch on ASCII digits: str.isdigit() also takes superscript digits (int() then fails) and fullwidth ones,
        # and a `$` pattern would take a trailing newline.
        if port is None or not _PORT_RE.fullmatch(port) or not 1024 <= int(port) <= 65535:
            raise LoginError("invalid_request", "port must be the CLI's loopback port (1024-65535)")
        if state is None or not _STATE_RE.fullmatch(state):
            raise LoginError("invalid_request", "state must be 8-512 URL-safe characters")
        if challenge is None or not _CHALLENGE_RE.fullmatch(challenge):
            raise LoginError("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
        our_state = new_opaque()
        verifier = new_opaque(48)
        sealer = await self._vault_step(self.cipher.session_sealer())
        binding = BrowserBinding.new(our_state)
        stored = await self.store.put_once(
            "login:" + hash_secret(our_state),
            {"port": int(port), "cli_state": state, "cli_challenge": challenge,
             "verifier": sealer.seal(verifier, "snowmcp:login"), "browser": hash_secret(binding.value)},
            self.settings.login_ttl, cap=self.settings.max_pending_signins,
        )  # fmt: skip
        if not stored:
            # Refusing new sign-ins (rather than dropping the oldest) keeps the ones already
            # under way working; the per-address limit makes one client unable to fill it.
            self.metrics.signins.labels("pending_full").inc()
            raise LoginError("busy", "too many sign-ins are under way; try again in a minute", 503, retry_after=60)
        return Redirect(self.oauth.authorize_url(our_state, pkce_challenge(verifier)), binding)

    async def callback(self, code: str | None, state: str | None, error: str | None, client: str,
                       browser: str | None = None) -> Redirect:  # fmt: skip
        pending = await self.store.take_once("login:" + hash_secret(state)) if state else None
        if pending is None:
            self.metrics.signins.labels("bad_state").inc()
            raise LoginError("invalid_state", "This sign-in link is unknown, used or expired. "
                             "Run `snowmcp login` again.")  # fmt: skip
        if browser is None or not same(hash_secret(browser), str(pending.get("browser", ""))):
            # Taken (so burnt) either way: a link completed in another browser cannot be retried.
            self.metrics.signins.labels("wrong_browser").inc()
            self.audit.write("signin", result="wrong_browser", client=client)
            raise LoginError("wrong_browser", "This sign-in was started in another browser (or its cookie was "
                             "blocked). Run `snowmcp login` on your own machine and finish it in the browser "
                             "it opens.", 400)  # fmt: skip
        if error or not code:
            self.metrics.signins.labels("denied").inc()
            self.audit.write("signin", result="denied_at_snowflake", client=client)
            raise LoginError("access_denied", "Snowflake did not authorise the sign-in. Run `snowmcp login` again.", 403)
        verifier = await self._vault_step(self.cipher.open(pending["verifier"], "snowmcp:login"))
        # The new record's data key (Vault mode) before Snowflake is asked, so its answer
        # cannot be stranded by Vault failing after it.
        sealer = await self._vault_step(self.cipher.sealer())
        try:
            answer = await self.oauth.exchange_code(code, verifier)
        except OAuthError as exc:
            self.metrics.signins.labels("exchange_failed").inc()
            self.audit.write("signin", result="exchange_failed", error=exc.error, client=client)
            raise LoginError("exchange_failed", "Snowflake refused the sign-in code. Run `snowmcp login` again.",
                             502 if not exc.permanent else 400) from None  # fmt: skip
        if not answer.username or not answer.refresh_token:
            self.metrics.signins.labels("exchange_failed").inc()
            raise LoginError("exchange_failed", "Snowflake's answer had no user name or refresh token; "
                             "check that the integration issues refresh tokens.", 502)  # fmt: skip
        login = answer.username
        if self.allowed and normalise_login(login) not in self.allowed:
            self.metrics.signins.labels("not_allowed").inc()
            self.audit.write("signin", user=login, result="not_allowed", client=client)
            raise LoginError("not_allowed", f"{login} is not allowed to use this token service. "
                             "Ask your Snowflake administrator to add you.", 403)  # fmt: skip
        now = time.time()
        one_time = new_opaque()
        username = normalise_login(login)
        await self.store.put_once(
            "code:" + hash_secret(one_time),
            {"login": login, "cli_challenge": pending["cli_challenge"],
             "access": sealer.seal(answer.access_token, access_aad(username)),
             "access_expires_at": now + answer.expires_in, "issued_at": now,
             "refresh": sealer.seal(answer.refresh_token, refresh_aad(username))},
            self.settings.code_ttl,
        )  # fmt: skip
        query = urlencode({"code": one_time, "state": pending["cli_state"]})
        return Redirect(f"http://127.0.0.1:{pending['port']}/callback?{query}")

    async def _vault_step(self, step: Awaitable[T]) -> T:
        """A cipher step of a sign-in: Vault unreachable is 503 + Retry-After, not 500."""
        try:
            return await step
        except VaultUnavailable as exc:
            self.metrics.signins.labels("vault_unavailable").inc()
            raise LoginError("unavailable", f"the token service cannot reach Vault ({exc}); try again shortly",
                             503, retry_after=VAULT_RETRY_AFTER) from None  # fmt: skip
        except VaultError as exc:
            self.metrics.signins.labels("vault_error").inc()
            raise LoginError("unavailable", f"the token service's Vault set-up refused a step ({exc})",
                             503, retry_after=60) from None  # fmt: skip
        except DecryptError:
            raise LoginError("invalid_state", "This sign-in can no longer be completed (its key changed). "
                             "Run `snowmcp login` again.") from None  # fmt: skip

    async def exchange(self, code: object, verifier: object, client: str) -> tuple[str, str]:
        if not isinstance(code, str) or not isinstance(verifier, str) or not _VERIFIER_RE.fullmatch(verifier):
            raise LoginError("invalid_request", "body must be {\"code\": ..., \"code_verifier\": ...}")
        pending = await self.store.take_once("code:" + hash_secret(code))
        if pending is None:
            self.metrics.signins.labels("bad_code").inc()
            raise LoginError("invalid_grant", "the sign-in code is unknown, used or expired; run `snowmcp login` again")
        if not same(pkce_challenge(verifier), pending["cli_challenge"]):
            self.metrics.signins.labels("bad_verifier").inc()
            self.audit.write("signin", user=pending["login"], result="bad_verifier", client=client)
            raise LoginError("invalid_grant", "code_verifier does not match the sign-in; run `snowmcp login` again")
        login: str = pending["login"]
        username = normalise_login(login)
        api_key = new_api_key()
        now = time.time()
        while True:
            current = await self.store.get(username)
            base = current.version if current else 0
            rec = UserRecord(
                username=username, login=login, state=ACTIVE, version=base + 1,
                api_key_hash=hash_secret(api_key),
                refresh_token=pending["refresh"],
                refresh_token_expires_at=pending["issued_at"] + self.settings.refresh_token_validity,
                access_token=pending["access"], access_token_expires_at=pending["access_expires_at"],
                access_token_issued_at=pending["issued_at"],
                created_at=current.created_at if current else now, updated_at=now,
                last_sign_in_at=now, last_refresh_at=current.last_refresh_at if current else 0.0,
            )  # fmt: skip
            # Signing in again replaces the record, and with it the old API key.
            if await self.store.save(rec, base):
                break
        self.metrics.signins.labels("ok").inc()
        self.audit.write("signin", user=login, result="ok", client=client, replaced_key=current is not None)
        return api_key, login
