"""Vault slow or down while the service runs, against a real OpenBao with on-disk storage
(one per module) that is stopped (or frozen with SIGSTOP) and started and unsealed again:
cached access tokens are still served, a refresh that needs Vault answers 503 with
Retry-After and loses nothing (single-use refresh tokens), /readyz says why, and the
service is ready again by itself when Vault is back - the service is never restarted.

Two replicas share one store: `a` signed the user in (the record's data key is in its
memory), `b` never read the record, so every token it serves or refreshes needs Vault."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.browser import SignInError
from harness.flow import browser_leg, login
from harness.procs import Emulator, OpenBao, free_port
from harness.svc import ServiceProc, setup_integration
from snowmcp.service.store import UserRecord
from tests.service.test_api import token_works
from tests.service.vaultkit import vault_service

TTL = 6  # the emulator's access tokens: the service refreshes once less than TTL/2 is left
USER = "alice@example.com"


@pytest.fixture(scope="module")
def env(openbao_disk: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    emu = Emulator(tmp_path_factory.mktemp("emu"), extra_args=["--access-token-ttl", str(TTL)]).start()
    workdir = tmp_path_factory.mktemp("vault-outage")
    port = free_port()
    integ = setup_integration(emu, f"http://127.0.0.1:{port}/v1/oauth/callback", single_use=True)
    db = workdir / "tokens.db"
    a = vault_service(workdir, emu, openbao_disk, integ, f"sqlite:///{db}", SNOWMCP_HTTP_TIMEOUT="2")
    a.port = port
    b = ServiceProc(workdir, {**a.env, "SNOWMCP_PUBLIC_URL": a.url}, name="replica-b")
    try:
        a.start()
        b.start()
        key = login(a, USER)
        yield {"a": a, "b": b, "emu": emu, "bao": openbao_disk, "db": db, "key": key,
               "pids": (a.proc.pid if a.proc else 0, b.proc.pid if b.proc else 0)}  # fmt: skip
    finally:
        a.stop()
        b.stop()
        emu.stop()


def stored(db: Path) -> UserRecord:
    with contextlib.closing(sqlite3.connect(db)) as conn:  # closed: a leaked one keeps a stale view
        (data,) = conn.execute("SELECT data FROM users WHERE username = ?", (USER,)).fetchone()
    return UserRecord.from_json(data)


def refreshes(emu: Emulator) -> int:
    return sum(v for k, v in emu.stats().get("token_requests", {}).items() if k.startswith("refresh_token:"))


def wait_expired(svc: ServiceProc, key: str) -> None:
    """Sleep until the stored access token has expired (a precondition, not a timing check)."""
    _, me = svc.request("GET", "/v1/me", key)
    time.sleep(max(0.0, me["access_token_expires_at"] - time.time()) + 1.2)


def poll(svc: ServiceProc, path: str, key: str | None, want: int, limit: float = 30.0) -> tuple[int, Any]:
    deadline = time.monotonic() + limit
    while True:
        status, body = svc.request("GET", path, key)
        if status == want or time.monotonic() > deadline:
            return status, body
        time.sleep(0.25)


def refused_with_retry_after(svc: ServiceProc, key: str) -> dict[str, Any]:
    """GET /v1/token that must be a 503 with Retry-After; its JSON body."""
    req = urllib.request.Request(svc.url + "/v1/token", headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)  # noqa: S310 - loopback
    assert info.value.code == 503, info.value.read()
    assert int(info.value.headers["Retry-After"]) >= 1
    return dict(json.loads(info.value.read()))


def test_vault_down_cached_served_refresh_503_then_recovers(env: dict[str, Any]) -> None:
    a, b, emu, bao, db, key = env["a"], env["b"], env["emu"], env["bao"], env["db"], env["key"]
    status, cached = a.request("GET", "/v1/token", key)
    assert status == 200
    bao.stop()
    try:
        status, again = a.request("GET", "/v1/token", key)  # no Vault call: held in memory
        assert status == 200 and again["access_token"] == cached["access_token"]
        assert refused_with_retry_after(b, key)["error"] == "unavailable"  # b needs the data key
        for svc in (a, b):
            status, ready = poll(svc, "/readyz", None, 503)
            assert status == 503 and ready["error"] == "not_ready"
            assert "Vault is not usable" in ready["message"] and "unreachable" in ready["message"], ready
        # A sign-in starts (its verifier's key is in memory) and stops at the callback, which
        # needs a new data key for the user's record: a 503 page, not a 500.
        with pytest.raises(SignInError) as refused:
            browser_leg(a, "bob@example.com")
        assert refused.value.status == 503 and "/v1/oauth/callback" in str(refused.value)
        before, sent = stored(db), refreshes(emu)
        wait_expired(a, key)
        # The refresh on b needs Vault (to open the refresh token): 503, nothing sent, nothing lost.
        assert refused_with_retry_after(b, key)["error"] == "unavailable"
        assert refreshes(emu) == sent and stored(db).refresh_token == before.refresh_token
        # a holds the record's data key: its refresh needs no Vault call at all.
        status, body = a.request("GET", "/v1/token", key)
        assert status == 200 and body["access_token"] != cached["access_token"]
        assert refreshes(emu) == sent + 1 and stored(db).version == before.version + 1
    finally:
        bao.start()  # the same port and data: unsealed again by the harness
    for svc in (a, b):
        assert poll(svc, "/readyz", None, 200)[0] == 200
    status, body = poll(b, "/v1/token", key, 200)
    assert status == 200 and token_works(emu, body["access_token"], USER)  # a's rotated token
    for svc, pid in zip((a, b), env["pids"], strict=True):
        assert svc.proc is not None and svc.proc.pid == pid and svc.proc.poll() is None  # no restart
        assert "Traceback" not in svc.log.read_text()


def test_vault_frozen_answers_503_not_500_and_recovers(env: dict[str, Any]) -> None:
    """SIGSTOP: connections are accepted and never answered (a hung Vault): calls time out
    after SNOWMCP_HTTP_TIMEOUT (2 s here) instead of hanging the requests."""
    a, b, emu, bao, db, key = env["a"], env["b"], env["emu"], env["bao"], env["db"], env["key"]
    b.stop()
    b.start()  # a new process: it has no data key in memory
    a.request("GET", "/v1/token", key)
    assert bao.proc is not None
    bao.proc.send_signal(signal.SIGSTOP)
    try:
        assert a.request("GET", "/v1/token", key)[0] == 200  # cached
        before, sent = stored(db), refreshes(emu)
        assert refused_with_retry_after(b, key)["error"] == "unavailable"
        status, ready = poll(b, "/readyz", None, 503)
        assert status == 503 and "did not answer" in ready["message"], ready
        assert stored(db).refresh_token == before.refresh_token and refreshes(emu) == sent
    finally:
        bao.proc.send_signal(signal.SIGCONT)
    assert poll(b, "/readyz", None, 200)[0] == 200
    status, body = poll(b, "/v1/token", key, 200)
    assert status == 200 and token_works(emu, body["access_token"], USER)
    assert "Traceback" not in b.log.read_text()
