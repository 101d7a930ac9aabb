"""Serving and refreshing access tokens: the part that must never double-refresh.

Path of `GET /v1/token` after the API key resolved to a record:
1. The decrypted access token is valid for more than the margin: answer (no I/O beyond
   the key lookup already done).
2. Otherwise join this process's single flight for the user, or start it.
3. The flight takes the user's lease (shared by all replicas via the store). While
   waiting it re-reads the record: another replica may already have refreshed.
4. Holding the lease it re-reads the record again, and only if the token is still
   stale calls Snowflake. A rotated refresh token is written with compare-and-set on
   the version it read and the write completes before anyone is answered. If that
   compare-and-set loses to a write that kept the refresh token used (`keys rotate`
   re-encrypting it), the result is applied on top of it and written again; a write that
   replaced the token (new sign-in, revocation) wins.
   The refresh runs as a task of its own, not in the request that caused it: once sent to
   Snowflake it runs to completion (up to SNOWMCP_REFRESH_TIMEOUT) and its answer is stored
   even if the caller disconnects or stops waiting (after SNOWMCP_HTTP_TIMEOUT it gets the
   still-valid cached token, or 503). A rotated refresh token is lost only if the process
   dies between Snowflake's answer and the store write.
5. Transient failure: capped exponential backoff with full jitter (per user, in
   process) and the still-valid cached token keeps being served. Permanent failure
   (invalid_grant, invalid_client on every secret): the record is kept and marked
   reauth_required.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, replace

from snowmcp.service.audit import AuditLog
from snowmcp.service.config import Settings
from snowmcp.service.crypto import Cipher, DecryptError, Sealing
from snowmcp.service.lease import Lease, held
from snowmcp.service.metrics import Metrics
from snowmcp.service.snowflake_oauth import OAuthError, SnowflakeOAuth, TokenResponse
from snowmcp.service.store import ACTIVE, REAUTH_REQUIRED, Store, UserRecord
from snowmcp.service.vault.client import RETRY_AFTER as VAULT_RETRY_AFTER
from snowmcp.service.vault.client import VaultError
from snowmcp.service.vault.transit import ForeignCiphertext

log = logging.getLogger("snowmcp.service")


class ReauthRequired(Exception):
    """The user must run `snowmcp login` again."""


class Unavailable(Exception):
    """No valid token can be served right now (Snowflake unreachable); retry later."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UserGone(Exception):
    """The record disappeared (revoked) while we were working on it."""


class _Superseded(Exception):
    """A new sign-in replaced the record during our refresh; its fresh record is served."""

    def __init__(self, record: UserRecord) -> None:
        super().__init__("superseded")
        self.record = record


def access_aad(username: str) -> str:
    return f"snowmcp:access:{username}"


def refresh_aad(username: str) -> str:
    return f"snowmcp:refresh:{username}"


@dataclass
class _Backoff:
    failures: int = 0
    next_at: float = 0.0


class TokenManager:
    def __init__(self, settings: Settings, store: Store, cipher: Cipher, oauth: SnowflakeOAuth,
                 metrics: Metrics, audit: AuditLog) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.cipher = cipher
        self.oauth = oauth
        self.metrics = metrics
        self.audit = audit
        self._flights: dict[str, asyncio.Task[UserRecord]] = {}
        self._backoff: dict[str, _Backoff] = {}
        # The answer of GET /v1/token (which holds the decrypted access token) keyed by user,
        # valid for one record version and ciphertext only, so a refresh, sign-in or
        # revocation (all bump or remove the version) invalidates it.
        self._answers: dict[str, tuple[int, str, bytes]] = {}

    # -- reading -------------------------------------------------------------
    def fresh(self, rec: UserRecord, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        lifetime = rec.access_token_expires_at - rec.access_token_issued_at
        # Short-lived tokens (tests, odd integrations) must not be refreshed on every call.
        margin = min(float(self.settings.token_margin), max(lifetime, 0.0) / 2)
        return bool(rec.access_token) and rec.access_token_expires_at - now > margin

    async def answer(self, rec: UserRecord) -> bytes:
        """The JSON body of GET /v1/token for this record.

        It stays in this process's memory (never on disk), decrypted token included, for as
        long as the record keeps this version and ciphertext: the caller has just read the
        record from the store, so a revocation, new sign-in or refresh anywhere shows at once.
        A repeated fetch costs no decryption (no Transit call in Vault mode) and no encoding.
        """
        hit = self._answers.get(rec.username)
        if hit is not None and hit[0] == rec.version and hit[1] == rec.access_token:
            return hit[2]
        plain = await self.cipher.open(rec.access_token, access_aad(rec.username))
        body = json.dumps({"access_token": plain, "token_type": "Bearer", "expires_at": int(rec.access_token_expires_at),
                           "username": rec.login}, separators=(",", ":")).encode()  # fmt: skip
        if len(self._answers) > 50_000:
            self._answers.clear()
        self._answers[rec.username] = (rec.version, rec.access_token, body)
        return body

    def forget(self, username: str) -> None:
        self._answers.pop(username, None)
        self._backoff.pop(username, None)

    async def token_for(self, rec: UserRecord) -> bytes:
        """The answer of GET /v1/token for the user (see `answer`), refreshing first if needed."""
        if rec.state != ACTIVE:
            raise ReauthRequired()
        if not self.fresh(rec):
            rec = await self._single_flight(rec.username)
        try:
            return await self.answer(rec)
        except ForeignCiphertext:
            # Written before the switch to Vault mode: no key here opens it; a sign-in replaces it.
            raise ReauthRequired() from None
        except DecryptError:
            log.error("stored access token for a user does not decrypt with the key ring")
            raise Unavailable("stored token cannot be decrypted; check SNOWMCP_ENCRYPTION_KEYS", 60) from None
        except VaultError as exc:
            raise Unavailable(f"the token service cannot open this token without Vault ({exc}); retry shortly",
                              VAULT_RETRY_AFTER) from None

    # -- refreshing ----------------------------------------------------------
    async def _single_flight(self, username: str) -> UserRecord:
        flight = self._flights.get(username)
        if flight is not None:
            self.metrics.singleflight_joins.inc()
        else:
            # A task of its own: cancelling or timing out the request that started it must not
            # abandon a refresh Snowflake may already have performed (single-use tokens).
            flight = asyncio.create_task(self._refresh_across_replicas(username))
            self._flights[username] = flight
            flight.add_done_callback(lambda done: self._landed(username, done))
        try:
            async with asyncio.timeout(self.settings.http_timeout):
                return await asyncio.shield(flight)
        except TimeoutError:
            # Still running: it stores its result when Snowflake answers. Serve what we have.
            rec = await self._reread(username)
            if self._servable(rec, time.time()):
                return rec
            raise Unavailable("Snowflake is slow to refresh this token; retry shortly", 2) from None

    def _landed(self, username: str, flight: asyncio.Task[UserRecord]) -> None:
        if self._flights.get(username) is flight:
            del self._flights[username]
        if not flight.cancelled():
            flight.exception()  # mark retrieved: the callers may all have gone

    async def drain(self) -> None:
        """At shutdown: let refreshes under way finish and store their answers."""
        if self._flights:
            await asyncio.wait(list(self._flights.values()), timeout=self.settings.refresh_timeout)

    @staticmethod
    def _servable(rec: UserRecord, now: float) -> bool:
        """Not fresh, but not expired either: served while a refresh cannot be done."""
        return bool(rec.access_token) and rec.access_token_expires_at > now + 1

    def _in_backoff(self, rec: UserRecord, now: float) -> UserRecord:
        """During backoff: the cached token if still valid, else Unavailable."""
        b = self._backoff[rec.username]
        if self._servable(rec, now):
            return rec
        raise Unavailable("Snowflake's token endpoint is failing; retrying with backoff", b.next_at - now)

    async def _refresh_across_replicas(self, username: str) -> UserRecord:
        s = self.settings
        rec = await self._reread(username)
        if self.fresh(rec):
            return rec
        b = self._backoff.get(username)
        if b is not None and time.time() < b.next_at:
            return self._in_backoff(rec, time.time())
        lease = Lease(self.store, f"refresh:{username}", s.lock_ttl)
        started = time.monotonic()
        waited = False
        delay = 0.01
        while not await lease.try_acquire():
            if not waited:
                waited = True
                self.metrics.lock_waits.inc()
            # Another process or replica is refreshing: its result lands in the store.
            rec = await self._reread(username)
            if self.fresh(rec):
                self.metrics.lock_wait_seconds.observe(time.monotonic() - started)
                return rec
            if time.monotonic() - started > s.lock_ttl + s.http_timeout:
                if self._servable(rec, time.time()):
                    return rec
                raise Unavailable("another replica holds this user's refresh lock", 2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        if waited:
            self.metrics.lock_wait_seconds.observe(time.monotonic() - started)
        async with held(lease):
            rec = await self._reread(username)  # the lease holder before us may have refreshed
            if self.fresh(rec):
                return rec
            try:
                return await self._refresh_holding_lease(rec)
            except _Superseded as exc:
                return exc.record

    async def _reread(self, username: str) -> UserRecord:
        rec = await self.store.get(username)
        if rec is None:
            raise UserGone()
        if rec.state != ACTIVE:
            raise ReauthRequired()
        return rec

    async def _refresh_holding_lease(self, rec: UserRecord) -> UserRecord:
        username = rec.username
        try:
            refresh_token = await self.cipher.open(rec.refresh_token, refresh_aad(username))
            # The key the new tokens are sealed under is ready before Snowflake is called:
            # between Snowflake's answer and the store write nothing may need Vault.
            sealer = await self.cipher.sealer([rec.refresh_token])
        except ForeignCiphertext:
            raise ReauthRequired() from None  # sealed in file-key mode: a new sign-in replaces it
        except DecryptError:
            log.error("stored refresh token does not decrypt with the key ring")
            raise Unavailable("stored token cannot be decrypted; check SNOWMCP_ENCRYPTION_KEYS", 60) from None
        except VaultError as exc:
            # Nothing was sent to Snowflake: the refresh token is untouched in the store.
            raise Unavailable(f"the token service cannot reach Vault to refresh this token ({exc}); retry shortly",
                              VAULT_RETRY_AFTER) from None
        started = time.monotonic()
        try:
            answer = await self.oauth.refresh(refresh_token)
        except OAuthError as exc:
            self.metrics.refresh_seconds.observe(time.monotonic() - started)
            if exc.permanent:
                return await self._mark_reauth(rec, refresh_token, exc.error)
            return self._transient(rec, exc.error)
        self.metrics.refresh_seconds.observe(time.monotonic() - started)
        now = time.time()
        new = self._refreshed(rec, answer, now, sealer)
        # Single-use mode: the old refresh token is dead now and this write is the only copy
        # of the new one, so it completes before anyone is answered.
        while not await self.store.save(new, new.version - 1):
            current = await self._after_conflict(rec, refresh_token)
            # `current` may carry the same data key rewrapped (`vault rewrap`): its wrapping
            # is the one to keep. Both keys are in memory here, so this needs no Vault call.
            sealer = await self.cipher.sealer([current.refresh_token, rec.refresh_token])
            new = self._refreshed(current, answer, now, sealer)
        self._backoff.pop(username, None)
        self.metrics.refreshes.labels("ok").inc()
        self.audit.write("refresh", user=rec.login, result="ok",
                         rotated=answer.refresh_token is not None)  # fmt: skip
        return new

    def _refreshed(self, base: UserRecord, answer: TokenResponse, now: float, sealer: Sealing) -> UserRecord:
        """`base` with a refresh's result applied (version bumped); re-encrypts nothing else."""
        username = base.username
        new = replace(
            base,
            version=base.version + 1,
            access_token=sealer.seal(answer.access_token, access_aad(username)),
            access_token_expires_at=now + answer.expires_in,
            access_token_issued_at=now,
            updated_at=now,
            last_refresh_at=now,
        )
        if answer.refresh_token is not None:
            new = replace(new, refresh_token=sealer.seal(answer.refresh_token, refresh_aad(username)),
                          refresh_token_expires_at=now + self.settings.refresh_token_validity)  # fmt: skip
        return new

    async def _after_conflict(self, rec: UserRecord, refresh_token: str) -> UserRecord:
        """Someone wrote `rec` while we held its lease: the record to apply our result to.

        A write that kept the refresh token we used (`keys rotate` re-encrypting it) must not
        make us drop a rotated one, so our result goes on top of it. A new sign-in, a
        revocation or another refresh (only if our lease lapsed) replaced the token: theirs
        wins - its fresh token is served, or the caller retries.
        """
        current = await self._reread(rec.username)  # revoked: UserGone; marked: ReauthRequired
        try:
            # A data key that differs from ours means a new sign-in: no Vault call is needed
            # to tell (the hint opens a rewrapped copy of our own key locally).
            opened = await self.cipher.open(current.refresh_token, refresh_aad(rec.username), hint=rec.refresh_token)
            same = opened == refresh_token
        except (DecryptError, VaultError):
            same = False
        if same:
            return current
        self.metrics.refreshes.labels("conflict").inc()
        log.error("refresh result discarded: the user's sign-in was replaced while the lease was held")
        self.audit.write("refresh", user=rec.login, result="conflict")
        if self.fresh(current):
            raise _Superseded(current)
        raise Unavailable("token refresh conflicted; retry", 1)

    def _transient(self, rec: UserRecord, error: str) -> UserRecord:
        s = self.settings
        b = self._backoff.setdefault(rec.username, _Backoff())
        b.failures += 1
        # Full jitter: spread retries of many users so a recovering Snowflake is not stampeded.
        b.next_at = time.time() + random.uniform(0, min(s.backoff_max, s.backoff_base * 2 ** (b.failures - 1)))
        self.metrics.refreshes.labels("transient").inc()
        self.audit.write("refresh", user=rec.login, result="transient", error=error, failures=b.failures)
        log.warning("transient refresh failure (%s), attempt %d", error, b.failures)
        return self._in_backoff(rec, time.time())

    async def _mark_reauth(self, rec: UserRecord, refresh_token: str, error: str) -> UserRecord:
        new = replace(rec, version=rec.version + 1, state=REAUTH_REQUIRED, updated_at=time.time())
        while not await self.store.save(new, new.version - 1):
            current = await self._after_conflict(rec, refresh_token)
            new = replace(current, version=current.version + 1, state=REAUTH_REQUIRED, updated_at=time.time())
        self.metrics.refreshes.labels("permanent").inc()
        self.audit.write("refresh", user=rec.login, result="reauth_required", error=error)
        self.forget(rec.username)
        raise ReauthRequired()
