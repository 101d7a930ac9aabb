"""The HTTP API end to end: real sign-in through the emulator's OAuth pages, the authorization
matrix, one-time codes, allow-list, admin API, audit, metrics, and secrets kept out of logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.browser import SignInError
from harness.flow import browser_leg, login
from harness.procs import Emulator, RedisServer, free_port
from harness.svc import (
    ADMIN_KEY,
    ENCRYPTION_KEY,
    Integration,
    ServiceProc,
    service_env,
    setup_integration,
)

TOKEN_PREFIX = "ver:1-hint:"  # every emulator-issued token starts with this


@pytest.fixture(scope="module")
def env(shared_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("svc")
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback",
                              users=("alice@example.com", "BOB@EXAMPLE.COM", "carol@example.com"))  # fmt: skip
    svc = ServiceProc(workdir, service_env(
        shared_emulator, integ, f"sqlite:///{workdir}/tokens.db",
        # Upper-case on purpose: logins compare case-insensitively. Carol may sign in to
        # Snowflake with the role but is not on the service's allow-list.
        SNOWMCP_ALLOWED_USERS="ALICE@example.com,bob@EXAMPLE.com",
        SNOWMCP_ADMIN_KEYS=f"sha256:{__import__('hashlib').sha256(ADMIN_KEY.encode()).hexdigest()}",
    ), port=port).start()  # fmt: skip
    try:
        yield {"svc": svc, "emu": shared_emulator, "integ": integ, "workdir": workdir,
               "keys": {u: login(svc, u) for u in ("alice@example.com", "bob@example.com")}}  # fmt: skip
    finally:
        svc.stop()


def token_works(emu: Emulator, token: str, user: str) -> bool:
    """Check a token at the emulator the way a client would use it: a connector OAuth login."""
    try:
        rows = emu.query("SELECT CURRENT_USER()", authenticator="oauth", token=token, user=user, password=None)
    except Exception:
        return False
    return bool(rows)


def test_sign_in_gives_each_user_their_own_valid_token(env: dict[str, Any]) -> None:
    svc, emu, keys = env["svc"], env["emu"], env["keys"]
    sa, alice = svc.request("GET", "/v1/token", keys["alice@example.com"])
    sb, bob = svc.request("GET", "/v1/token", keys["bob@example.com"])
    assert sa == sb == 200
    assert alice["username"] == "alice@example.com" and bob["username"] == "bob@example.com"
    assert alice["token_type"] == "Bearer" and isinstance(alice["expires_at"], int)
    assert alice["access_token"] != bob["access_token"]
    assert token_works(emu, alice["access_token"], "alice@example.com")
    assert token_works(emu, bob["access_token"], "bob@example.com")
    assert not token_works(emu, TOKEN_PREFIX + "forged", "alice@example.com"), "the check itself can fail"


def test_authorization_matrix(env: dict[str, Any]) -> None:
    svc, keys = env["svc"], env["keys"]
    _, alice_token = svc.request("GET", "/v1/token", keys["alice@example.com"])
    for key in (None, "", "smcp_wrong", keys["alice@example.com"] + "x", ADMIN_KEY):
        status, body = svc.request("GET", "/v1/token", key)
        assert status == 401 and body["error"] == "unauthorized", (key, body)
        assert "access_token" not in body
    for path in ("/v1/admin/users", "/v1/admin/users/bob@example.com"):
        method = "GET" if path.endswith("users") else "DELETE"
        assert svc.request(method, path)[0] == 401
        status, body = svc.request(method, path, keys["alice@example.com"])
        assert status == 403 and body["error"] == "forbidden"
    # No caller can name another user: the path and query are ignored for /v1/token.
    status, body = svc.request("GET", "/v1/token?username=bob@example.com", keys["alice@example.com"])
    assert status == 200 and body["username"] == "alice@example.com"
    assert body["access_token"] == alice_token["access_token"]
    # Bob is still there after the forbidden DELETE.
    assert svc.request("GET", "/v1/token", keys["bob@example.com"])[0] == 200


def test_one_time_code_is_single_use_and_bound_to_the_cli_verifier(env: dict[str, Any]) -> None:
    svc = env["svc"]
    pending = browser_leg(svc, "alice@example.com")
    status, body = svc.request("POST", "/v1/login/exchange", body={"code": pending.code,
                                                                   "code_verifier": "x" * 43})  # fmt: skip
    assert status == 400 and body["error"] == "invalid_grant"
    # The failed attempt burnt the code: the right verifier no longer helps an attacker or the user.
    status, body = svc.request("POST", "/v1/login/exchange", body={"code": pending.code,
                                                                   "code_verifier": pending.verifier})  # fmt: skip
    assert status == 400 and body["error"] == "invalid_grant"
    pending = browser_leg(svc, "alice@example.com")
    ok = svc.request("POST", "/v1/login/exchange", body={"code": pending.code, "code_verifier": pending.verifier})
    again = svc.request("POST", "/v1/login/exchange", body={"code": pending.code, "code_verifier": pending.verifier})
    assert ok[0] == 200 and again[0] == 400
    # Signing in again replaced the key: the module's stored key for alice is now dead.
    old = env["keys"]["alice@example.com"]
    assert svc.request("GET", "/v1/token", old)[0] == 401
    env["keys"]["alice@example.com"] = ok[1]["api_key"]
    assert svc.request("GET", "/v1/token", ok[1]["api_key"])[0] == 200


def test_bad_login_requests_are_refused_before_anything_changes(env: dict[str, Any]) -> None:
    svc = env["svc"]
    good = "&state=abcdefgh&code_challenge=" + "a" * 43
    for query in ("", "port=80" + good, "port=5000&state=a&code_challenge=x", "port=1%C2%B2345" + good,
                  "port=%EF%BC%95%EF%BC%90%EF%BC%90%EF%BC%90" + good, "port=5000%0A" + good,
                  "port=5000&state=abcdefgh%0A&code_challenge=" + "a" * 43):  # superscript 2, fullwidth 5000, newlines
        status, body = svc.request("GET", "/v1/login?" + query)
        assert status == 400 and body["error"] == "invalid_request"
    status, body = svc.request("GET", "/v1/oauth/callback?code=forged&state=forged")
    assert status == 400 and "snowmcp login" in body
    status, body = svc.request("POST", "/v1/login/exchange", body=["not", "an", "object"])
    assert status == 400 and body["error"] == "invalid_request"


def test_allow_list_refuses_other_users_with_a_page(env: dict[str, Any]) -> None:
    svc = env["svc"]
    with pytest.raises(SignInError) as err:
        browser_leg(svc, "carol@example.com")
    assert err.value.status == 403 and "not allowed" in err.value.body
    _, users = svc.request("GET", "/v1/admin/users", ADMIN_KEY)
    assert "carol@example.com" not in [u["username"] for u in users["users"]]


def test_me_shows_refresh_token_expiry(env: dict[str, Any]) -> None:
    svc = env["svc"]
    status, me = svc.request("GET", "/v1/me", env["keys"]["bob@example.com"])
    assert status == 200 and me["username"] == "bob@example.com" and me["state"] == "active"
    # issue time + the integration's validity (86400 s in setup_integration)
    assert abs(me["refresh_token_expires_at"] - (me["last_sign_in_at"] + 86400)) < 5
    assert me["access_token_expires_at"] > me["last_sign_in_at"]


def test_admin_list_and_revoke(env: dict[str, Any]) -> None:
    svc = env["svc"]
    key = login(svc, "bob@example.com")
    status, users = svc.request("GET", "/v1/admin/users", ADMIN_KEY)
    assert status == 200
    listed = {u["username"]: u for u in users["users"]}
    assert listed["bob@example.com"]["state"] == "active"
    assert "api_key_hash" not in listed["bob@example.com"] and "refresh_token" not in listed["bob@example.com"]
    status, body = svc.request("DELETE", "/v1/admin/users/BOB@example.com", ADMIN_KEY)
    assert status == 200 and body == {"revoked": "BOB@example.com"}
    assert svc.request("GET", "/v1/token", key)[0] == 401
    _, users = svc.request("GET", "/v1/admin/users", ADMIN_KEY)
    assert "bob@example.com" not in [u["username"] for u in users["users"]]
    assert svc.request("DELETE", "/v1/admin/users/bob@example.com", ADMIN_KEY)[0] == 404
    env["keys"]["bob@example.com"] = login(svc, "bob@example.com")


def test_health_ready_metrics(env: dict[str, Any]) -> None:
    svc = env["svc"]
    assert svc.request("GET", "/healthz") == (200, {"status": "ok"})
    assert svc.request("GET", "/readyz") == (200, {"status": "ready"})
    import urllib.request

    with urllib.request.urlopen(svc.url + "/metrics") as resp:  # noqa: S310
        text = resp.read().decode()
    assert 'snowmcp_requests_total{endpoint="token",result="ok"}' in text
    assert 'snowmcp_users{state="active"}' in text
    assert 'snowmcp_refresh_tokens_expiring{within="1d"}' in text
    assert "example.com" not in text, "no per-user labels"


def test_unknown_routes_answer_json(env: dict[str, Any]) -> None:
    status, body = env["svc"].request("GET", "/v1/nope")
    assert status == 404 and body["error"] == "not_found"


def test_audit_log_records_events_without_secrets(env: dict[str, Any]) -> None:
    svc, keys = env["svc"], env["keys"]
    svc.request("GET", "/v1/token", keys["alice@example.com"])
    expected = {"signin", "token", "revoke", "admin_list_users"}
    deadline = time.time() + 10  # the service writes buffered audit lines every second
    while True:
        lines = [json.loads(line) for line in svc.audit.read_text().splitlines()]
        events = {e["event"] for e in lines}
        if expected <= events or time.time() > deadline:
            break
        time.sleep(0.2)
    assert expected <= events
    fetch = [e for e in lines if e["event"] == "token" and e.get("user") == "alice@example.com"]
    assert fetch and fetch[-1]["result"] == "ok" and fetch[-1]["client"] == "127.0.0.1"
    assert (svc.audit.stat().st_mode & 0o777) == 0o600


def test_no_secret_in_logs_bodies_or_store(env: dict[str, Any]) -> None:
    svc, integ, workdir = env["svc"], env["integ"], env["workdir"]
    tokens = [svc.request("GET", "/v1/token", k)[1]["access_token"] for k in env["keys"].values()]
    secrets_ = [*tokens, *env["keys"].values(), integ.secret, integ.secret_2, ADMIN_KEY, ENCRYPTION_KEY]
    texts = {"service log": svc.log.read_text(), "audit log": svc.audit.read_text()}
    for name, text in texts.items():
        assert TOKEN_PREFIX not in text, f"a token leaked into the {name}"
        for s in secrets_:
            assert s not in text, f"a secret leaked into the {name}"
    raw = b"".join(p.read_bytes() for p in Path(workdir).glob("tokens.db*"))
    assert raw, "the store file exists"
    assert TOKEN_PREFIX.encode() not in raw, "plaintext token in the store"
    for s in secrets_:
        assert s.encode() not in raw
    for p in Path(workdir).glob("tokens.db*"):
        assert (p.stat().st_mode & 0o777) == 0o600, p


def test_integration_fixture_sanity(env: dict[str, Any]) -> None:
    integ: Integration = env["integ"]
    assert integ.client_id and integ.secret != integ.secret_2


@pytest.mark.parametrize("store", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_readyz_follows_the_store(tmp_path: Path, store: str) -> None:
    """Readiness is the store answering: redis stopped, or the sqlite file deleted under the
    running service (everything written from then on would be lost at restart), is not ready."""
    server = RedisServer(tmp_path / "redis").start() if store == "redis" else None
    url = server.url if server else f"sqlite:///{tmp_path}/tokens.db"
    integ = Integration("X", "client-id", "secret", "secret-2", "MCP_USERS")
    nowhere = Emulator(tmp_path / "emu", port=9)  # never started: readiness does not call Snowflake
    svc = ServiceProc(tmp_path / "svc", service_env(nowhere, integ, url)).start()
    try:
        assert svc.request("GET", "/readyz") == (200, {"status": "ready"})
        if server:
            server.stop()
        else:
            for p in tmp_path.glob("tokens.db*"):
                p.unlink()
        status, body = svc.request("GET", "/readyz")
        assert status == 503 and body["error"] == "not_ready", body
        assert svc.request("GET", "/healthz") == (200, {"status": "ok"}), "the process itself is alive"
        if server:
            server.start()
            assert svc.request("GET", "/readyz") == (200, {"status": "ready"}), "recovers by itself"
    finally:
        svc.stop()
        if server:
            server.stop()


def test_taken_off_the_allow_list_after_sign_in_gets_no_more_tokens(tmp_path: Path, shared_emulator: Emulator) -> None:
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback", name="MCP_ALLOW")
    env = service_env(shared_emulator, integ, f"sqlite:///{tmp_path}/tokens.db",
                      SNOWMCP_ALLOWED_USERS="alice@example.com,bob@example.com")  # fmt: skip
    svc = ServiceProc(tmp_path, env, port=port).start()
    try:
        alice, bob = login(svc, "alice@example.com"), login(svc, "bob@example.com")
        svc.stop()
        svc.env = {**env, "SNOWMCP_ALLOWED_USERS": "Alice@Example.com"}  # IT removed bob
        svc.start()
        status, body = svc.request("GET", "/v1/token", bob)
        assert status == 403 and body["error"] == "not_allowed" and "access_token" not in body, body
        status, body = svc.request("GET", "/v1/token", alice)
        assert status == 200 and body["username"] == "alice@example.com"
    finally:
        svc.stop()
