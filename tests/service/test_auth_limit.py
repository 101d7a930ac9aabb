"""Failed authentication is limited per client address (the real service process): after the
burst, wrong or missing keys get 429 before any store lookup, audit lines collapse, metrics
count it; keys that authenticated lately in the process are still served."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from harness.flow import browser_leg, login
from harness.procs import Emulator, free_port
from harness.svc import ADMIN_KEY, ServiceProc, service_env, setup_integration

BURST = 5


def audit_lines(svc: ServiceProc) -> list[dict[str, Any]]:
    return [json.loads(line) for line in svc.audit.read_text().splitlines() if line.strip()]


def metric(svc: ServiceProc, endpoint: str, result: str) -> float:
    with urllib.request.urlopen(svc.url + "/metrics") as resp:  # noqa: S310
        text = resp.read().decode()
    assert "127.0.0.1" not in text, "no per-address labels"
    prefix = f'snowmcp_requests_total{{endpoint="{endpoint}",result="{result}"}} '
    found = [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0]) if found else 0.0


def retry_after(svc: ServiceProc, path: str, key: str) -> tuple[int, str | None]:
    req = urllib.request.Request(svc.url + path, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    try:
        with urllib.request.urlopen(req) as resp:  # noqa: S310
            return resp.status, resp.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")


def test_failed_auth_is_limited_per_address(shared_emulator: Emulator, tmp_path: Path) -> None:
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback")
    svc = ServiceProc(tmp_path, service_env(
        shared_emulator, integ, f"sqlite:///{tmp_path}/tokens.db",
        SNOWMCP_AUTH_FAIL_RATE="0.01", SNOWMCP_AUTH_FAIL_BURST=str(BURST),  # one failure back per 100 s
    ), port=port).start()  # fmt: skip
    try:
        alice = login(svc, "alice@example.com")
        bob = login(svc, "bob@example.com")  # signed in here: its key is known-good in this process
        assert svc.request("GET", "/v1/token", alice)[0] == 200
        # The burst: every kind of failure counts, from the one address all test clients share.
        assert svc.request("GET", "/v1/token", "smcp_wrong1")[0] == 401
        assert svc.request("GET", "/v1/token", "smcp_wrong2")[0] == 401
        assert svc.request("GET", "/v1/me")[0] == 401
        assert svc.request("GET", "/v1/admin/users", alice)[0] == 403
        status, body = svc.request("POST", "/v1/login/exchange", body={"code": "nope", "code_verifier": "v" * 43})
        assert status == 400 and body["error"] == "invalid_grant"
        # Over the limit: 429 for wrong/missing keys on every endpoint, with Retry-After.
        for _ in range(20):
            status, body = svc.request("GET", "/v1/token", "smcp_guess")
            assert status == 429 and body["error"] == "rate_limited", body
        assert svc.request("GET", "/v1/me")[0] == 429
        assert svc.request("GET", "/v1/me", "smcp_guess")[0] == 429
        assert svc.request("GET", "/v1/admin/users", alice)[0] == 429
        assert svc.request("DELETE", "/v1/admin/users/alice@example.com")[0] == 429
        code, after = retry_after(svc, "/v1/token", "smcp_guess")
        assert code == 429 and after is not None and int(after) >= 1
        # A real sign-in code is refused too (no cheap check), before the store is read: the
        # code is not burnt.
        pending = browser_leg(svc, "alice@example.com")
        status, body = svc.request("POST", "/v1/login/exchange", body={"code": pending.code,
                                                                       "code_verifier": pending.verifier})  # fmt: skip
        assert status == 429 and body["error"] == "rate_limited"
        # Valid keys are still served: API keys that authenticated in this process, admin keys.
        status, body = svc.request("GET", "/v1/token", alice)
        assert status == 200 and body["username"] == "alice@example.com"
        assert svc.request("GET", "/v1/me", bob)[0] == 200
        assert svc.request("GET", "/v1/admin/users", ADMIN_KEY)[0] == 200
        # Metrics: counted by endpoint, no address label.
        assert metric(svc, "token", "auth_rate_limited") == 21
        assert metric(svc, "me", "auth_rate_limited") == 2
        assert metric(svc, "admin", "auth_rate_limited") == 2
        assert metric(svc, "exchange", "auth_rate_limited") == 1
        assert metric(svc, "token", "bad_key") == 2
    finally:
        svc.stop()
    lines = audit_lines(svc)
    assert [ln["client"] for ln in lines if ln.get("result") == "bad_key"] == ["127.0.0.1"] * 2
    assert len([ln for ln in lines if ln["event"] == "admin"]) == 1, "only the forbidden try before the limit"
    limited = [ln for ln in lines if ln["event"] == "auth_rate_limited"]
    assert len(limited) == 1, "27 refusals collapse into one line per address per minute"
    assert limited[0] == {**limited[0], "client": "127.0.0.1", "endpoint": "token", "refused": 1}
    assert "smcp_guess" not in svc.audit.read_text() and alice not in svc.audit.read_text()

    # A new process knows no keys yet: while the address is limited, an API key it has not
    # seen authenticate is refused like a guess (documented trade-off: no store lookup).
    svc.start()
    try:
        for _ in range(BURST):
            assert svc.request("GET", "/v1/token", "smcp_wrong")[0] == 401
        assert svc.request("GET", "/v1/token", alice)[0] == 429
        assert svc.request("GET", "/v1/admin/users", ADMIN_KEY)[0] == 200
    finally:
        svc.stop()


def test_auth_fail_limit_can_be_disabled(shared_emulator: Emulator, tmp_path: Path) -> None:
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback")
    svc = ServiceProc(tmp_path, service_env(shared_emulator, integ, f"sqlite:///{tmp_path}/tokens.db"),
                      port=port).start()  # fmt: skip  (service_env: SNOWMCP_AUTH_FAIL_RATE=0)
    try:
        statuses = {svc.request("GET", "/v1/token", f"smcp_wrong{i}")[0] for i in range(60)}
        assert statuses == {401}
        assert metric(svc, "token", "auth_rate_limited") == 0
    finally:
        svc.stop()
    assert len([ln for ln in audit_lines(svc) if ln.get("result") == "bad_key"]) == 60

