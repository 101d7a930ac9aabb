"""`snowmcp-emulator serve`: arguments, the ready line, --state persistence, --latency-ms."""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path

import pytest

from harness.procs import BIN, SEED, Emulator, free_port
from tests.emulator.oauth_flow import (
    callback_server,
    create_integration,
    login_tokens,
    run_sql,
    token_request,
)


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "snowmcp-emulator"), "serve", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "/nonexistent/seed.yml"], "cannot load the account"),
        (["--seed", str(SEED), "--latency-ms", "-5"], "--latency-ms"),
        (["--seed", str(SEED), "--access-token-ttl", "0"], "--access-token-ttl"),
    ],
)
def test_bad_arguments_fail_clearly(args: list[str], message: str) -> None:
    result = serve(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_seed_content_fails_before_serving(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yml"
    seed.write_text("users: not-a-list\n")
    result = serve("--seed", str(seed))
    assert result.returncode == 2 and "cannot load the account" in result.stderr


def test_malformed_seed_yaml_is_reported_without_quoting_the_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yml"
    seed.write_text('users:\n  - {login_name: A, password: "hunter2-secret, roles: []}\n')
    result = serve("--seed", str(seed))
    assert result.returncode == 2
    assert "not valid YAML at line" in result.stderr
    assert "hunter2-secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_state_survives_a_restart(tmp_path: Path) -> None:
    emu = Emulator(tmp_path / "emu").start()
    try:
        assert f"listening on {emu.url}" in emu.log.read_text()
        run_sql(
            emu,
            "CREATE ROLE PERSISTED_ROLE COMMENT = 'kept'",
            "GRANT ROLE PERSISTED_ROLE TO ROLE ANALYST",
        )
        with callback_server() as cb:
            client = create_integration(emu, "KEEP_OAUTH", cb.uri)
            tokens = login_tokens(emu, cb, client, "alice@example.com", "alice-pass-1")
        mode = stat.S_IMODE(emu.state_file.stat().st_mode)
        assert mode == 0o600
        saved = emu.state_file.read_text()
        # Only SHA-256 digests of tokens and codes are stored, never a usable token.
        assert tokens["refresh_token"] not in saved and tokens["access_token"] not in saved

        emu.restart()

        roles = emu.query("SHOW ROLES LIKE 'PERSISTED_ROLE'")
        assert [(r["name"], r["comment"]) for r in roles] == [("PERSISTED_ROLE", "kept")]
        grants = emu.query("SHOW GRANTS OF ROLE PERSISTED_ROLE")
        assert [(g["granted_to"], g["grantee_name"]) for g in grants] == [("ROLE", "ANALYST")]
        # OAuth state persisted too: the refresh token and the delegation are still good.
        refreshed = token_request(
            emu, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert refreshed.status_code == 200, refreshed.text
        delegations = emu.query("SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION KEEP_OAUTH")
        assert [d["user_name"] for d in delegations] == ["alice@example.com"]
    finally:
        emu.stop()


def test_latency_delays_every_query_request(tmp_path: Path) -> None:
    emu = Emulator(tmp_path / "emu", extra_args=["--latency-ms", "250"]).start()
    try:
        conn = emu.connect()
        try:
            cur = conn.cursor()
            started = time.monotonic()
            for _ in range(2):
                cur.execute("SELECT CURRENT_ROLE()")
            # Lower bound only: two requests cannot finish before two delays passed.
            assert time.monotonic() - started >= 0.5
        finally:
            conn.close()
        assert emu.stats()["query_requests"] == 2
    finally:
        emu.stop()


def test_a_slow_state_write_never_replaces_a_newer_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OAuth saves after releasing the account lock, so two saves can overlap. Here save A
    snapshots first and stalls in its rename; save B snapshots a newer account meanwhile.
    The file must end up holding B's snapshot (before the fix A's rename won, and a
    restart lost B's change, e.g. a rotated single-use refresh token)."""
    import json
    import os
    import threading

    from snowmcp.emulator.context import EmulatorContext
    from snowmcp.emulator.model import Role
    from snowmcp.emulator.seed import load_seed

    ctx = EmulatorContext(load_seed(SEED), state_file=tmp_path / "state.json")
    a_stalled, release_a, b_done_or_waiting = threading.Event(), threading.Event(), threading.Event()
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if threading.current_thread().name == "A":
            a_stalled.set()
            assert release_a.wait(30)
        real_replace(src, dst)

    class SpyLock:
        """The save lock; tells the test when B is about to wait for it."""

        def __init__(self) -> None:
            self.inner = threading.Lock()

        def __enter__(self) -> None:
            if threading.current_thread().name == "B":
                b_done_or_waiting.set()
            self.inner.acquire()

        def __exit__(self, *exc: object) -> None:
            self.inner.release()

    monkeypatch.setattr(os, "replace", replace)
    ctx._save_lock = SpyLock()  # type: ignore[assignment]

    def save_b() -> None:
        try:
            ctx.save()
        finally:
            b_done_or_waiting.set()

    ctx.account.roles["FIRST"] = Role("FIRST")
    a = threading.Thread(target=ctx.save, name="A")
    a.start()
    assert a_stalled.wait(30)
    ctx.account.roles["SECOND"] = Role("SECOND")
    b = threading.Thread(target=save_b, name="B")
    b.start()
    assert b_done_or_waiting.wait(30)
    release_a.set()
    a.join(30)
    b.join(30)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert {"FIRST", "SECOND"} <= {r["name"] for r in saved["roles"]}


def test_usage_matches_the_documented_synopsis() -> None:
    """docs/emulator.md ("Running"): `snowmcp-emulator serve --port N --seed FILE [--state FILE] [--latency-ms MS]
    [--access-token-ttl S]`."""
    usage = subprocess.run([str(BIN / "snowmcp-emulator"), "serve", "--help"], capture_output=True, text=True,
                           timeout=30, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    for part in ("--port N", "--seed FILE", "[--state FILE]", "[--latency-ms MS]", "[--access-token-ttl S]"):
        assert part in usage, usage
