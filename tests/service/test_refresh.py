"""Refresh under pressure, against real processes: the emulator (single-use refresh tokens,
short-lived access tokens, injected faults), several service replicas on one redis-server.

Token lifetimes here are 8 s: the service refreshes when less than half the lifetime is
left (its margin is min(SNOWMCP_TOKEN_MARGIN, lifetime / 2)), so tests wait for that
point by reading the expiry back from /v1/me - a precondition, not a timing assertion.
Tests with one request at a time and no step that must finish inside a token's lifetime
use 4 s (SHORT_TTL): only their waits get shorter.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from harness.flow import login
from harness.procs import BIN, Emulator, RedisServer, free_port
from harness.svc import ServiceProc, service_env, setup_integration
from snowmcp.service.crypto import generate_key
from tests.service.test_api import token_works

TTL = 8
SHORT_TTL = 4
SHORT = pytest.mark.parametrize("emu", [SHORT_TTL], indirect=True, ids=["ttl4"])
USER = "alice@example.com"


@pytest.fixture
def emu(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Emulator]:
    """The emulator; access tokens live TTL seconds, or what the test asks for with SHORT."""
    ttl = getattr(request, "param", TTL)
    e = Emulator(tmp_path / "emu", extra_args=["--access-token-ttl", str(ttl)]).start()
    try:
        yield e
    finally:
        e.stop()


def refreshes(emu: Emulator) -> dict[str, int]:
    counts = emu.stats().get("token_requests", {})
    return {k: v for k, v in counts.items() if k.startswith("refresh_token:")}


def wait_until_stale(svc: ServiceProc, key: str, *, expired: bool = False) -> None:
    """Sleep until the stored access token is inside the refresh margin (or fully expired)."""
    _, me = svc.request("GET", "/v1/me", key)
    lifetime = me["access_token_expires_at"] - me["last_sign_in_at"] if not me["last_refresh_at"] else (
        me["access_token_expires_at"] - me["last_refresh_at"])  # fmt: skip
    stale_at = me["access_token_expires_at"] - (0 if expired else lifetime / 2)
    time.sleep(max(0.0, stale_at - time.time()) + 0.3)


def replicas(tmp_path: Path, emu: Emulator, store: str, n: int, *, single_use: bool = True,
             **extra: str) -> list[ServiceProc]:  # fmt: skip
    ports = [free_port() for _ in range(n)]
    public = f"http://127.0.0.1:{ports[0]}"
    integ = setup_integration(emu, f"{public}/v1/oauth/callback", single_use=single_use)
    env = service_env(emu, integ, store, SNOWMCP_PUBLIC_URL=public, **extra)
    return [ServiceProc(tmp_path / "svc", env, port=p, name=f"svc{i}").start() for i, p in enumerate(ports)]


def burst(procs: list[ServiceProc], key: str, n: int) -> list[tuple[int, Any]]:
    with ThreadPoolExecutor(max_workers=min(n, 100)) as pool:
        futures = [pool.submit(procs[i % len(procs)].request, "GET", "/v1/token", key) for i in range(n)]
        return [f.result() for f in futures]


@pytest.mark.slow
@pytest.mark.redis
def test_200_concurrent_calls_on_three_replicas_refresh_exactly_once(tmp_path: Path, emu: Emulator) -> None:
    server = RedisServer(tmp_path / "redis").start()
    procs = replicas(tmp_path, emu, server.url, 3)
    try:
        key = login(procs[0], USER)
        _, first = procs[1].request("GET", "/v1/token", key)
        wait_until_stale(procs[0], key, expired=True)
        assert not token_works(emu, first["access_token"], USER), "precondition: the token has expired"
        before = refreshes(emu)
        results = burst(procs, key, 200)
        assert [s for s, _ in results] == [200] * 200, [b for s, b in results if s != 200][:3]
        tokens = {b["access_token"] for _, b in results}
        after = refreshes(emu)
        assert after.get("refresh_token:ok", 0) - before.get("refresh_token:ok", 0) == 1, after
        assert sum(after.values()) - sum(before.values()) == 1, f"only one refresh may reach Snowflake: {after}"
        assert len(tokens) == 1 and first["access_token"] not in tokens, "everyone gets the one new token"
        assert token_works(emu, tokens.pop(), USER)
        # Not locked out: the rotated refresh token was stored, so the next refresh works too.
        wait_until_stale(procs[0], key)
        status, body = procs[2].request("GET", "/v1/token", key)
        assert status == 200 and token_works(emu, body["access_token"], USER)
        assert refreshes(emu).get("refresh_token:ok", 0) - before.get("refresh_token:ok", 0) == 2
        assert procs[0].request("GET", "/v1/me", key)[1]["state"] == "active"
        # Neither redis' memory nor its append-only file on disk holds a plaintext token.
        r = redis.Redis.from_url(server.url)
        raw = b"".join(r.get(k) or b"" for k in r.keys("snowmcp:*") if r.type(k) == b"string")
        assert b"ver:1-hint:" not in raw and b"alice@example.com" in raw
        aof = b"".join(p.read_bytes() for p in (tmp_path / "redis").rglob("*.aof"))
        assert aof and b"ver:1-hint:" not in aof
    finally:
        for p in procs:
            p.stop()
        server.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_replica_killed_mid_refresh_loses_no_refresh_token(tmp_path: Path, emu: Emulator) -> None:
    """kill -9 the lease holder while its refresh call is in flight (and Snowflake has not
    processed it: the emulator answers 503 after a delay). Its lease lapses; another replica
    refreshes with the stored token; the user keeps working."""
    server = RedisServer(tmp_path / "redis").start()
    procs = replicas(tmp_path, emu, server.url, 3, SNOWMCP_LOCK_TTL="3", SNOWMCP_HTTP_TIMEOUT="2")
    r = redis.Redis.from_url(server.url)
    try:
        key = login(procs[0], USER)
        wait_until_stale(procs[0], key)
        emu.set_faults(status=503, delay_s=1.5)
        with ThreadPoolExecutor(max_workers=1) as pool:
            victim = pool.submit(procs[0].request, "GET", "/v1/token", key)
            deadline = time.time() + 10
            while not r.exists(f"snowmcp:lease:refresh:{USER}") and time.time() < deadline:
                time.sleep(0.02)
            assert r.exists(f"snowmcp:lease:refresh:{USER}"), "replica 0 should hold the refresh lease"
            procs[0].kill()
            with pytest.raises(OSError):
                victim.result()
        # Wait for the emulator to have answered the dead replica's request (with the fault)
        # before clearing faults, so that request can never be processed as a success.
        deadline = time.time() + 10
        while refreshes(emu).get("refresh_token:fault", 0) < 1 and time.time() < deadline:
            time.sleep(0.05)
        emu.set_faults()
        before = refreshes(emu)
        results = burst(procs[1:], key, 40)
        assert [s for s, _ in results] == [200] * 40, [b for s, b in results if s != 200][:3]
        tokens = {b["access_token"] for _, b in results}
        assert len(tokens) == 1 and token_works(emu, tokens.pop(), USER)
        assert refreshes(emu).get("refresh_token:ok", 0) - before.get("refresh_token:ok", 0) == 1
        assert procs[1].request("GET", "/v1/me", key)[1]["state"] == "active"
    finally:
        for p in procs:
            p.stop()
        server.stop()


@pytest.mark.slow
def test_transient_faults_serve_cached_token_then_recover(tmp_path: Path, emu: Emulator) -> None:
    (svc,) = replicas(tmp_path, emu, f"sqlite:///{tmp_path}/t.db", 1, single_use=False,
                      SNOWMCP_BACKOFF_BASE="0.2", SNOWMCP_BACKOFF_MAX="0.5")  # fmt: skip
    try:
        key = login(svc, USER)
        _, cached = svc.request("GET", "/v1/token", key)
        wait_until_stale(svc, key)
        for fault in ({"status": 503}, {"outage_s": 60}):
            emu.set_faults(**fault)
            for _ in range(3):
                status, body = svc.request("GET", "/v1/token", key)
                assert status == 200 and body["access_token"] == cached["access_token"], body
                time.sleep(0.3)  # past the backoff window: each round retries Snowflake
        assert refreshes(emu).get("refresh_token:fault", 0) >= 2, "the service did retry"
        # Once the cached token has expired there is nothing valid to serve: 503, not a stale token.
        time.sleep(max(0.0, cached["expires_at"] - time.time()) + 1.1)
        status, body = svc.request("GET", "/v1/token", key)
        assert status == 503 and body["error"] == "unavailable"
        emu.set_faults()
        deadline = time.time() + 15
        while time.time() < deadline:
            status, body = svc.request("GET", "/v1/token", key)
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200 and body["access_token"] != cached["access_token"]
        assert token_works(emu, body["access_token"], USER)
    finally:
        svc.stop()


@pytest.mark.slow
@SHORT
def test_invalid_grant_marks_user_needs_sign_in_and_sign_in_fixes_it(tmp_path: Path, emu: Emulator) -> None:
    (svc,) = replicas(tmp_path, emu, f"sqlite:///{tmp_path}/t.db", 1)
    try:
        key = login(svc, USER)
        wait_until_stale(svc, key)
        emu.set_faults(status=400, error="invalid_grant")
        status, body = svc.request("GET", "/v1/token", key)
        assert status == 409 and body["error"] == "reauth_required" and "snowmcp login" in body["message"]
        assert svc.request("GET", "/v1/token", key)[0] == 409
        _, me = svc.request("GET", "/v1/me", key)
        assert me["state"] == "reauth_required", "kept, not deleted"
        emu.set_faults()
        new_key = login(svc, USER)
        status, body = svc.request("GET", "/v1/token", new_key)
        assert status == 200 and token_works(emu, body["access_token"], USER)
    finally:
        svc.stop()


@pytest.mark.slow
@pytest.mark.redis
@SHORT
def test_restarts_of_service_and_redis_keep_everyone_signed_in(tmp_path: Path, emu: Emulator) -> None:
    server = RedisServer(tmp_path / "redis", persistence=True).start()
    # The current secret is wrong (e.g. just rotated in Snowflake): the service falls back to
    # the next one for the code exchange and for refreshes.
    (svc,) = replicas(tmp_path, emu, server.url, 1, SNOWMCP_CLIENT_SECRET="not-the-secret-anymore")
    try:
        key = login(svc, USER)
        svc.stop()
        svc.start()
        status, body = svc.request("GET", "/v1/token", key)
        assert status == 200 and token_works(emu, body["access_token"], USER)
        server.restart()
        wait_until_stale(svc, key)
        status, body = svc.request("GET", "/v1/token", key)  # refresh after redis came back
        assert status == 200 and token_works(emu, body["access_token"], USER), body
        server.restart()
        svc.stop()
        svc.start()
        assert svc.request("GET", "/v1/me", key)[1]["last_refresh_at"] > 0, "the refresh was persisted"
        assert svc.request("GET", "/v1/token", key)[0] == 200
    finally:
        svc.stop()
        server.stop()


def _lease_held(db: Path, user: str) -> bool:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT 1 FROM leases WHERE name = ? AND expires > ?",
                           (f"refresh:{user}", time.time())).fetchone()  # fmt: skip
    return row is not None


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["ok", "invalid_grant"])
@SHORT
def test_keys_rotate_racing_a_refresh_loses_nothing(tmp_path: Path, emu: Emulator, answer: str) -> None:
    """`keys rotate` re-encrypts the record (a new version) while the service's refresh call is
    in flight. The refresh's compare-and-set then fails; with single-use refresh tokens,
    dropping its result would lose the only copy of the rotated refresh token."""
    old_key, new_key = generate_key(), generate_key()
    db = tmp_path / "t.db"
    (svc,) = replicas(tmp_path, emu, f"sqlite:///{db}", 1, SNOWMCP_ENCRYPTION_KEYS=f"{old_key},{new_key}",
                      SNOWMCP_HTTP_TIMEOUT="20", SNOWMCP_LOCK_TTL="30")  # outlast the slow answer below
    try:
        key = login(svc, USER)
        wait_until_stale(svc, key)
        before = refreshes(emu)
        fault: dict[str, Any] = {"delay_s": 6}
        if answer == "invalid_grant":
            fault.update(status=400, error="invalid_grant")
        emu.set_faults(**fault)
        with ThreadPoolExecutor(max_workers=1) as pool:
            victim = pool.submit(svc.request, "GET", "/v1/token", key)
            deadline = time.time() + 10
            while not _lease_held(db, USER) and time.time() < deadline:
                time.sleep(0.02)
            assert _lease_held(db, USER), "precondition: the service is refreshing"
            rotate = subprocess.run([str(BIN / "snowmcp-service"), "keys", "rotate"], capture_output=True, text=True,
                                    env={**os.environ, **svc.env, "SNOWMCP_ENCRYPTION_KEYS": f"{new_key},{old_key}"},
                                    timeout=60)  # fmt: skip
            assert rotate.returncode == 0 and json.loads(rotate.stdout)["rotated"] == 1, rotate.stderr
            assert not victim.done(), "precondition: the rotation landed while the refresh was in flight"
            status, body = victim.result()
        emu.set_faults()
        assert refreshes(emu).get(f"refresh_token:{'ok' if answer == 'ok' else 'fault'}", 0) == (
            before.get(f"refresh_token:{'ok' if answer == 'ok' else 'fault'}", 0) + 1)  # fmt: skip
        _, me = svc.request("GET", "/v1/me", key)
        if answer == "invalid_grant":
            assert status == 409 and body["error"] == "reauth_required", body
            assert me["state"] == "reauth_required", "the verdict must be stored, not only answered"
            return
        assert status == 200 and token_works(emu, body["access_token"], USER), body
        assert me["state"] == "active" and me["last_refresh_at"] > 0
        # The rotated refresh token was kept: the next refresh works (a dropped one would be dead).
        wait_until_stale(svc, key)
        status, again = svc.request("GET", "/v1/token", key)
        assert status == 200 and again["access_token"] != body["access_token"], again
        assert token_works(emu, again["access_token"], USER)
    finally:
        svc.stop()


@pytest.mark.slow
def test_a_refresh_outlives_the_request_that_started_it(tmp_path: Path, emu: Emulator) -> None:
    """Snowflake answers after the caller gave up (client timeout, and longer than
    SNOWMCP_HTTP_TIMEOUT): the single-use rotation is still stored, so every refresh Snowflake
    performed is one the service recorded, and the next refresh works (no invalid_grant)."""
    (svc,) = replicas(tmp_path, emu, f"sqlite:///{tmp_path}/t.db", 1, SNOWMCP_HTTP_TIMEOUT="1",
                      SNOWMCP_REFRESH_TIMEOUT="20")  # fmt: skip
    try:
        key = login(svc, USER)
        wait_until_stale(svc, key, expired=True)
        emu.set_faults(delay_s=3)  # Snowflake performs the refresh, but only after 3 s
        with pytest.raises(OSError):  # the client gives up and disconnects after 0.5 s
            urllib.request.urlopen(urllib.request.Request(  # noqa: S310
                svc.url + "/v1/token", headers={"Authorization": f"Bearer {key}"}), timeout=0.5)
        status, body = svc.request("GET", "/v1/token", key)  # joins the flight, waits 1 s at most
        assert status == 503 and body["error"] == "unavailable", body
        deadline = time.time() + 15
        while refreshes(emu).get("refresh_token:ok", 0) < 1 and time.time() < deadline:
            time.sleep(0.1)
        emu.set_faults()
        assert refreshes(emu) == {"refresh_token:ok": 1}
        status, body = svc.request("GET", "/v1/token", key)
        assert status == 200 and token_works(emu, body["access_token"], USER)
        _, me = svc.request("GET", "/v1/me", key)
        assert me["last_refresh_at"] > 0, "the late answer was stored"
        # The rotated refresh token the service stored is the live one: the next refresh works.
        wait_until_stale(svc, key, expired=True)
        status, body = svc.request("GET", "/v1/token", key)
        assert status == 200 and token_works(emu, body["access_token"], USER)
        assert refreshes(emu) == {"refresh_token:ok": 2}, "no invalid_grant"
    finally:
        svc.stop()
    stored = [ln for ln in map(json.loads, svc.audit.read_text().splitlines())
              if ln["event"] == "refresh" and ln["result"] == "ok"]  # fmt: skip
    assert len(stored) == 2 and all(ln["rotated"] for ln in stored), "the service recorded each rotation"
