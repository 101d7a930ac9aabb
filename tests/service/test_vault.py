"""Vault mode against a real OpenBao (dev server, one per module) and the emulator: the
service's secrets come from KV v2, tokens at rest are sealed through Transit, nothing
secret is in its environment or arguments, a reload re-reads KV, `vault rewrap` follows a
Transit key rotation. The outage suite is test_vault_outage.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness.flow import login
from harness.procs import BIN, Emulator, OpenBao, free_port
from harness.svc import ADMIN_KEY, ENCRYPTION_KEY, ServiceProc, setup_integration
from snowmcp.service.config import ConfigError, load_settings
from snowmcp.service.crypto import DecryptError, KeyRing, hash_secret
from snowmcp.service.store import UserRecord
from snowmcp.service.store.sqlite import SqliteStore
from snowmcp.service.tokens import access_aad, refresh_aad
from snowmcp.service.vault.transit import key_version, split
from tests.service.test_api import token_works
from tests.service.vaultkit import kv_secret, vault_service

USER = "alice@example.com"
NEW_ADMIN_KEY = "admin-" + "y" * 40
FILE_MODE_KEY = "smcp_old_file_mode_key_" + "z" * 20


def put_file_mode_record(db: Path) -> None:
    """A user record as file-key mode wrote it, left in the store from before the switch."""
    ring, now, user = KeyRing.from_strings([ENCRYPTION_KEY]), time.time(), "dave@example.com"
    old = UserRecord(username=user, login=user, api_key_hash=hash_secret(FILE_MODE_KEY),
                     refresh_token=ring.encrypt("r", refresh_aad(user)), access_token=ring.encrypt("a", access_aad(user)),
                     access_token_issued_at=now, access_token_expires_at=now + 3600,
                     refresh_token_expires_at=now + 86400)  # fmt: skip

    async def put() -> None:
        store = SqliteStore(db)
        try:
            assert await store.save(old, 0)
        finally:
            await store.close()

    asyncio.run(put())


@pytest.fixture(scope="module")
def env(shared_emulator: Emulator, openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("vault-svc")
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback")
    db = workdir / "tokens.db"
    # Short AppRole tokens (3 s, at most 6 s): over the module the service must renew its
    # token and log in again, or its later Vault calls fail.
    svc = vault_service(workdir, shared_emulator, openbao, integ, f"sqlite:///{db}",
                        token_ttl="3s", token_max_ttl="6s")  # fmt: skip
    svc.port = port
    put_file_mode_record(db)
    svc.start()
    try:
        yield {"svc": svc, "emu": shared_emulator, "bao": openbao, "integ": integ, "db": db, "keys": {},
               "started": time.monotonic()}  # fmt: skip
    finally:
        svc.stop()


def stored(db: Path, user: str = USER) -> UserRecord:
    with contextlib.closing(sqlite3.connect(db)) as conn:  # closed: a leaked one keeps a stale view
        (data,) = conn.execute("SELECT data FROM users WHERE username = ?", (user,)).fetchone()
    return UserRecord.from_json(data)


def transit_open(bao: OpenBao, token: str, aad: str) -> str:
    """Open a stored ciphertext the long way, as an operator with Transit access would."""
    wrapped, nonce, body = split(token)
    plain_key = bao.api("POST", "transit/decrypt/snowmcp-token-service", {"ciphertext": wrapped})["data"]["plaintext"]
    return AESGCM(base64.b64decode(plain_key)).decrypt(nonce, body, aad.encode()).decode()


def test_config_refuses_secrets_in_vault_mode(tmp_path: Path) -> None:
    base = {"SNOWMCP_VAULT_ADDR": "http://127.0.0.1:8200", "SNOWMCP_VAULT_ROLE_ID": "r",
            "SNOWMCP_VAULT_SECRET_ID_FILE": str(tmp_path / "sid"), "SNOWMCP_PUBLIC_URL": "http://127.0.0.1:1",
            "SNOWMCP_SNOWFLAKE_URL": "http://127.0.0.1:2", "SNOWMCP_ROLE": "R", "SNOWMCP_ALLOW_ANY_USER": "true"}  # fmt: skip
    settings = load_settings(None, base)
    assert settings.vault_mode and settings.client_secret == "" and settings.encryption_keys == ()
    for name, value in [("SNOWMCP_CLIENT_SECRET", "s3cret-value"), ("SNOWMCP_CLIENT_ID", "id"),
                        ("SNOWMCP_ENCRYPTION_KEYS", ENCRYPTION_KEY), ("SNOWMCP_ADMIN_KEYS", ADMIN_KEY),
                        ("SNOWMCP_CLIENT_SECRET_NEXT", "s3cret-value")]:  # fmt: skip
        with pytest.raises(ConfigError, match=f"{name} must not be set in Vault mode") as info:
            load_settings(None, {**base, name: value})
        assert value not in str(info.value)
    with pytest.raises(ConfigError, match="VAULT_TOKEN is set"):
        load_settings(None, {**base, "VAULT_TOKEN": "hvs.x"})
    with pytest.raises(ConfigError, match="needs SNOWMCP_VAULT_SECRET_ID_FILE"):
        load_settings(None, {**base, "SNOWMCP_VAULT_SECRET_ID_FILE": ""})
    with pytest.raises(ConfigError, match="SNOWMCP_VAULT_ADDR must use https"):
        load_settings(None, {**base, "SNOWMCP_VAULT_ADDR": "http://vault.example.com:8200"})
    toml = tmp_path / "s.toml"
    toml.write_text('client_secret = "from-the-file"\n')
    with pytest.raises(ConfigError, match="SNOWMCP_CLIENT_SECRET must not be set"):
        load_settings(toml, base)


def test_sign_in_and_tokens_sealed_through_transit(env: dict[str, Any]) -> None:
    svc, emu, bao, db = env["svc"], env["emu"], env["bao"], env["db"]
    key = env["keys"][USER] = login(svc, USER)  # the client id/secret from KV reached Snowflake
    status, body = svc.request("GET", "/v1/token", key)
    assert status == 200 and token_works(emu, body["access_token"], USER)
    rec = stored(db)
    for field, aad in ((rec.access_token, access_aad(USER)), (rec.refresh_token, refresh_aad(USER))):
        wrapped, _nonce, _body = split(field)
        assert wrapped.startswith("vault:v1:")  # the data key, wrapped by the Transit key
        with pytest.raises(DecryptError):  # no key on the host opens it...
            KeyRing.from_strings([ENCRYPTION_KEY]).decrypt(field, aad)
        assert transit_open(bao, field, aad)  # ...Transit does
    assert transit_open(bao, rec.access_token, access_aad(USER)) == body["access_token"]
    assert body["access_token"].encode() not in db.read_bytes()


def test_no_secret_in_the_process(env: dict[str, Any]) -> None:
    svc, integ, bao = env["svc"], env["integ"], env["bao"]
    assert svc.proc is not None
    environ = Path(f"/proc/{svc.proc.pid}/environ").read_bytes()
    cmdline = Path(f"/proc/{svc.proc.pid}/cmdline").read_bytes()
    secret_id = Path(svc.env["SNOWMCP_VAULT_SECRET_ID_FILE"]).read_text()
    for secret in (integ.secret, integ.secret_2, ADMIN_KEY, secret_id, bao.root_token):
        assert secret.encode() not in environ and secret.encode() not in cmdline
    names = {line.split(b"=", 1)[0].decode() for line in environ.split(b"\0") if line}
    assert not names & {"SNOWMCP_CLIENT_SECRET", "SNOWMCP_ENCRYPTION_KEYS", "SNOWMCP_ADMIN_KEYS", "VAULT_TOKEN"}
    assert "SNOWMCP_VAULT_ADDR" in names
    assert oct(os.stat(svc.env["SNOWMCP_VAULT_SECRET_ID_FILE"]).st_mode & 0o777) == "0o600"


def test_admin_keys_and_allow_list_from_kv_reload_on_sighup(env: dict[str, Any]) -> None:
    svc, bao, integ = env["svc"], env["bao"], env["integ"]
    assert svc.request("GET", "/v1/admin/users", ADMIN_KEY)[0] == 200  # its digest is in KV
    assert svc.request("GET", "/v1/admin/users", NEW_ADMIN_KEY)[0] == 403
    version = bao.write_kv(kv_secret(integ, NEW_ADMIN_KEY, allowed_users="bob@example.com"))
    assert svc.proc is not None
    svc.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while svc.request("GET", "/v1/admin/users", NEW_ADMIN_KEY)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert svc.proc.poll() is None, "SIGHUP must not stop the service"
    assert svc.request("GET", "/v1/admin/users", NEW_ADMIN_KEY)[0] == 200
    assert svc.request("GET", "/v1/admin/users", ADMIN_KEY)[0] == 403
    status, body = svc.request("GET", "/v1/token", env["keys"][USER])  # alice left KV's allow-list
    assert status == 403 and body["error"] == "not_allowed"
    assert {"event": "reload", "kv_version": version}.items() <= audit_event(svc, "reload").items()
    bao.write_kv(kv_secret(integ))  # back to the module's values
    svc.proc.send_signal(signal.SIGHUP)
    while svc.request("GET", "/v1/token", env["keys"][USER])[0] != 200 and time.monotonic() < deadline + 10:
        time.sleep(0.1)
    assert svc.request("GET", "/v1/token", env["keys"][USER])[0] == 200


def audit_event(svc: ServiceProc, name: str) -> dict[str, Any]:
    """The first audit line of that event (the log is flushed every second)."""
    deadline = time.monotonic() + 10
    while True:
        events = [json.loads(line) for line in svc.audit.read_text().splitlines() if line.strip()]
        found = [e for e in events if e.get("event") == name]
        if found or time.monotonic() > deadline:
            assert found, f"no {name} event in the audit log"
            return dict(found[0])
        time.sleep(0.2)


def run_rewrap(svc: ServiceProc) -> dict[str, int]:
    env = {**os.environ, **svc.env, "SNOWMCP_AUDIT_LOG": "-"}
    done = subprocess.run([str(BIN / "snowmcp-service"), "vault", "rewrap"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return dict(json.loads(lines[0]))


def test_transit_rotation_rewrap_and_min_decryption_version(env: dict[str, Any]) -> None:
    svc, bao, db, emu = env["svc"], env["bao"], env["db"], env["emu"]
    before = stored(db)
    bao.api("POST", "transit/keys/snowmcp-token-service/rotate")
    counts = run_rewrap(svc)
    assert counts["records"] == 2 and counts["rewrapped"] == 1 and counts["skipped"] == 1  # dave: file-key mode
    after = stored(db)
    assert key_version(split(after.refresh_token)[0]) == 2 and key_version(split(after.access_token)[0]) == 2
    assert after.version == before.version + 1
    assert transit_open(bao, after.refresh_token, refresh_aad(USER)) == transit_open(bao, before.refresh_token,
                                                                                       refresh_aad(USER))  # fmt: skip
    assert run_rewrap(svc)["rewrapped"] == 0  # idempotent: nothing left on version 1
    assert stored(db).version == after.version
    bao.api("POST", "transit/keys/snowmcp-token-service/config", {"min_decryption_version": 2})
    with pytest.raises(Exception, match="400"):  # the old wrapping is dead now
        transit_open(bao, before.refresh_token, refresh_aad(USER))
    # A new process (no cached key) opens the rewrapped record through Transit.
    svc.stop()
    svc.start()
    env["started"] = time.monotonic()
    status, body = svc.request("GET", "/v1/token", env["keys"][USER])
    assert status == 200 and token_works(emu, body["access_token"], USER)


def test_token_renewed_and_login_repeated(env: dict[str, Any]) -> None:
    """The AppRole token lives 3 s (6 s at most): 7 s after the start the service has renewed
    it and logged in again, and a call that needs Vault still works."""
    svc = env["svc"]
    log_before = svc.log.read_text().count("vault: logged in with approle")
    time.sleep(max(0.0, 7 - (time.monotonic() - env["started"])))
    deadline = time.monotonic() + 10  # a login racing a lapsing 3 s token may be retried
    while svc.request("GET", "/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    status, ready = svc.request("GET", "/readyz")
    assert status == 200, ready
    assert login(svc, "bob@example.com")  # a new data key from Transit
    logins = svc.log.read_text().count("vault: logged in with approle")
    assert logins >= log_before + 1, svc.log.read_text()[-3000:]


def test_config_check_connect_and_file_key_records(env: dict[str, Any]) -> None:
    """`config check --connect` logs in and validates the KV secret (exit 4 when Vault
    refuses); a record sealed in file-key mode before the switch (written by the fixture
    before the service started) asks for a new sign-in."""
    svc = env["svc"]
    base = {**os.environ, **svc.env, "SNOWMCP_PUBLIC_URL": svc.url}
    cmd = [str(BIN / "snowmcp-service"), "config", "check", "--connect"]
    done = subprocess.run(cmd, env=base, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["settings"]["client_secret"] == ""  # none in the settings
    bad = subprocess.run(cmd, env={**base, "SNOWMCP_VAULT_ROLE_ID": "not-a-role"}, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert bad.returncode == 4 and "login failed" in bad.stderr, bad.stderr
    status, body = svc.request("GET", "/v1/token", FILE_MODE_KEY)
    assert status == 409 and body["error"] == "reauth_required", body


def test_token_file_auth_follows_vault_agent_rewrites(env: dict[str, Any], tmp_path: Path) -> None:
    """SNOWMCP_VAULT_AUTH=token_file: the token Vault Agent writes is used, and a new one
    written over it (the old one revoked) is picked up without a restart."""
    bao, svc = env["bao"], env["svc"]

    def new_token() -> str:
        answer = bao.api("POST", "auth/token/create", {"policies": ["snowmcp-token-service"], "ttl": "1h"})
        return str(answer["auth"]["client_token"])

    sink = tmp_path / "vault-token"
    first = new_token()
    sink.write_text(first)
    sink.chmod(0o600)
    agent_env = {k: v for k, v in svc.env.items() if not k.startswith(("SNOWMCP_VAULT_ROLE_ID", "SNOWMCP_VAULT_SECRET_ID"))}
    agent_env.update({"SNOWMCP_VAULT_AUTH": "token_file", "SNOWMCP_VAULT_TOKEN_FILE": str(sink)})
    svc.stop()  # the last test of the module: the same port (the integration's redirect URI)
    other = ServiceProc(tmp_path / "agent-svc", agent_env, port=svc.port, name="agent-mode")
    other.start()
    try:
        assert login(other, "bob@example.com")  # KV read and a new data key with the file's token
        second = new_token()
        sink.write_text(second)  # Vault Agent renews/replaces the sink...
        bao.api("POST", "auth/token/revoke", {"token": first})  # ...and the old token dies
        assert login(other, "bob@example.com")
        environ = Path(f"/proc/{other.proc.pid}/environ").read_bytes() if other.proc else b""
        assert first.encode() not in environ and second.encode() not in environ
    finally:
        other.stop()
