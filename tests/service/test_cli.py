"""`snowmcp-service` commands as a user runs them: config check, keys generate/rotate while
the service runs, admin users list/revoke through the store."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from harness.flow import login
from harness.procs import BIN, Emulator, free_port
from harness.svc import ServiceProc, service_env, setup_integration
from snowmcp.service.crypto import KeyRing
from snowmcp.service.store.sqlite import SqliteStore


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "snowmcp-service"), *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_config_check_reports_without_secrets(tmp_path: Path) -> None:
    missing = cli("config", "check", env={"SNOWMCP_CLIENT_ID": "id"})
    assert missing.returncode == 2 and "SNOWMCP_PUBLIC_URL" in missing.stderr
    key = cli("keys", "generate").stdout.strip()
    assert len(KeyRing.from_strings([key]).primary_id) == 8
    cfg = tmp_path / "service.toml"
    cfg.write_text(
        'public_url = "https://tokens.example.com"\nsnowflake_url = "https://acme.snowflakecomputing.com"\n'
        f'client_id = "cid"\nclient_secret = "s3cret-value"\nrole = "MCP_USERS"\nencryption_keys = ["{key}"]\n'
        f'store = "sqlite:///{tmp_path}/t.db"\n'
    )
    # No allow-list: a configuration error (fail closed), unless anyone is allowed explicitly.
    empty = cli("config", "check", "--config", str(cfg))
    assert empty.returncode == 2 and "SNOWMCP_ALLOWED_USERS is empty" in empty.stderr, empty.stderr
    anyone = cli("config", "check", "--config", str(cfg), env={"SNOWMCP_ALLOW_ANY_USER": "true"})
    assert anyone.returncode == 0 and json.loads(anyone.stdout)["settings"]["allow_any_user"] is True
    cfg.write_text(cfg.read_text() + 'allowed_users = ["alice@example.com"]\n')
    ok = cli("config", "check", "--connect", "--config", str(cfg))
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["settings"]["role"] == "MCP_USERS" and report["settings"]["client_secret"] == "<set>"
    assert "s3cret-value" not in ok.stdout and key not in ok.stdout
    # A Redis URL carries its password: shown as set, never echoed.
    redis = cli("config", "check", "--config", str(cfg), env={"SNOWMCP_STORE": "redis://:pw-s3cret@10.0.0.9:6379/0"})
    assert redis.returncode == 0, redis.stderr
    assert json.loads(redis.stdout)["settings"]["store"] == "redis://:<set>@10.0.0.9:6379/0"
    assert "pw-s3cret" not in redis.stdout + redis.stderr


def test_keys_rotate_while_serving_and_admin_cli(tmp_path: Path, shared_emulator: Emulator) -> None:
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback", name="MCP_CLI")
    store = f"sqlite:///{tmp_path}/tokens.db"
    old_key = cli("keys", "generate").stdout.strip()
    new_key = cli("keys", "generate").stdout.strip()
    # Step 1 of a rotation: the service learns the new key (second: decrypt only) and restarts.
    env = service_env(shared_emulator, integ, store, SNOWMCP_ENCRYPTION_KEYS=f"{old_key},{new_key}")
    svc = ServiceProc(tmp_path, env, port=port).start()
    try:
        key = login(svc, "alice@example.com")
        _, before = svc.request("GET", "/v1/token", key)
        # Step 2: re-encrypt everything under the new key, with the service running.
        rotate_env = {**env, "SNOWMCP_ENCRYPTION_KEYS": f"{new_key},{old_key}"}
        done = cli("keys", "rotate", env=rotate_env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rotated"] == 1
        import asyncio

        async def read() -> str:
            s = SqliteStore(tmp_path / "tokens.db")
            rec = await s.get("alice@example.com")
            await s.close()
            assert rec is not None
            return rec.access_token

        ct = asyncio.run(read())
        assert not KeyRing.from_strings([new_key]).needs_rotation(ct), "stored under the new key now"
        status, after = svc.request("GET", "/v1/token", key)
        assert status == 200 and after["access_token"] == before["access_token"]
        # Step 3: the old key is dropped; everything still opens.
        svc.stop()
        svc.env = {**env, "SNOWMCP_ENCRYPTION_KEYS": new_key}
        svc.start()
        assert svc.request("GET", "/v1/token", key)[0] == 200

        listed = cli("admin", "users", "list", "--json", env=svc.env)
        users = json.loads(listed.stdout)["users"]
        assert [u["username"] for u in users] == ["alice@example.com"] and users[0]["state"] == "active"
        assert "ver:1-hint" not in listed.stdout
        revoked = cli("admin", "users", "revoke", "ALICE@example.com", env=svc.env)
        assert revoked.returncode == 0, revoked.stderr
        assert svc.request("GET", "/v1/token", key)[0] == 401
        assert json.loads(cli("admin", "users", "list", "--json", env=svc.env).stdout)["users"] == []
        assert cli("admin", "users", "revoke", "alice@example.com", env=svc.env).returncode == 1
    finally:
        svc.stop()


def test_usage_matches_the_documented_synopsis() -> None:
    """docs/service.md: `snowmcp-service serve [--config FILE]` and `revoke <login>`."""
    assert "usage: snowmcp-service serve [-h] [--config FILE]" in cli("serve", "--help").stdout
    assert "[--config FILE] login" in cli("admin", "users", "revoke", "--help").stdout
