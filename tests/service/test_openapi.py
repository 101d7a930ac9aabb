"""The OpenAPI 3.1 document (src/snowmcp/service/openapi.json, served at GET /openapi.json)
against the app and against a live service.

- The routes the app serves and the document's operations are the same set.
- schemathesis (the CLI operators would run) fuzzes the live service - the real process,
  signed in against the emulator, rate limits on - with a small, fixed budget (a few
  examples per operation, a fixed seed): no 500, and every answer's status, content type,
  headers and body must be in the document. Both keys are configured per security scheme,
  and schemathesis's own `ignored_auth` check drops them; the service's
  `snowmcp_http_responses_total{code}` read back afterwards shows 401, 403 and 429
  answers were among those checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from harness.flow import login
from harness.procs import BIN, Emulator, free_port
from harness.svc import ADMIN_KEY, ServiceProc, service_env, setup_integration
from snowmcp.service.app import build_app
from snowmcp.service.config import Settings
from snowmcp.service.openapi import document

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def test_every_route_is_documented_and_every_documented_operation_served() -> None:
    app = build_app(Settings(public_url="http://127.0.0.1:1"))  # routes only: no lifespan, no store
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route), route
        path = re.sub(r"\{(\w+)(:\w+)?\}", "{}", route.path)  # parameter names may differ, places not
        served |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}  # HEAD: Starlette adds it to GET
    doc = document()
    documented = {(m, re.sub(r"\{\w+\}", "{}", p)) for p, ops in doc["paths"].items() for m in ops if m in METHODS}
    assert served == documented, f"served only: {served - documented}; documented only: {documented - served}"
    assert doc["openapi"].startswith("3.1.")


# The fuzzing budget: examples per operation and a fixed seed, so a run is bounded and repeatable.
MAX_EXAMPLES = 8
SEED = 22
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass
class Live:
    svc: ServiceProc
    emu: Emulator
    key: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("openapi")
    emu = Emulator(tmp / "emu").start()
    svc = ServiceProc(tmp / "svc", {}, port=free_port())
    try:
        integ = setup_integration(emu, f"{svc.url}/v1/oauth/callback")
        # The limits on, small enough that a short fuzzing run meets them: per API key (8, then
        # one request per 10 s: schemathesis sends few distinct requests to the parameterless
        # token endpoints) and sign-in steps per address. The failed-authentication limit is on with a burst the run
        # does not exhaust: past it an address gets 429 before its key is looked at (by design,
        # docs/service.md), which schemathesis's `ignored_auth` check (expects 401/403) would
        # report; test_auth_limit.py covers that limit.
        svc.env = service_env(emu, integ, f"sqlite:///{tmp / 'store.db'}",
                              SNOWMCP_RATE_LIMIT="0.1", SNOWMCP_RATE_BURST="8",
                              SNOWMCP_AUTH_FAIL_RATE="1", SNOWMCP_AUTH_FAIL_BURST="1000",
                              SNOWMCP_SIGNIN_RATE="5", SNOWMCP_SIGNIN_BURST="10")  # fmt: skip
        svc.start()
        key = login(svc, "alice@example.com")
        login(svc, "bob@example.com")  # the user the admin revocation finds (schemathesis.toml)
        yield Live(svc, emu, key)
    finally:
        svc.stop()
        emu.stop()


def counters(svc: ServiceProc) -> dict[tuple[str, ...], float]:
    """The service's answers by status code, and its API requests by (endpoint, result)."""
    with urllib.request.urlopen(svc.url + "/metrics", timeout=10) as resp:  # noqa: S310
        families = list(text_string_to_metric_families(resp.read().decode()))
    found: dict[tuple[str, ...], float] = {}
    for f in families:
        for sample in f.samples:
            if sample.name == "snowmcp_http_responses_total":
                found[(sample.labels["code"],)] = sample.value
            elif sample.name == "snowmcp_requests_total":
                found[(sample.labels["endpoint"], sample.labels["result"])] = sample.value
    return found


def schemathesis(live: Live, workdir: Path, admin_key: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`schemathesis run` against the live service; the keys go through the environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SNOWMCP_FUZZ_API_KEY": live.key, "SNOWMCP_FUZZ_ADMIN_KEY": admin_key,
           "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}  # fmt: skip
    report = workdir / "report.json"
    cmd = [str(BIN / "schemathesis"), "--config-file", str(CONFIG), "run", f"{live.svc.url}/openapi.json",
           "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
           "--request-timeout", "10", "--no-shrink", "--report", "ndjson", "--report-ndjson-path", str(report),
           *extra]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=600)
    (workdir / "schemathesis.out").write_text(result.stdout + result.stderr)
    return result, report


@pytest.mark.slow
def test_schemathesis_finds_every_answer_in_the_document(live: Live, tmp_path: Path) -> None:
    before = counters(live.svc)
    # Every operation but `snowmcp logout` (it would revoke the key half-way), with the right
    # key for each security scheme.
    result, report = schemathesis(live, tmp_path / "all", ADMIN_KEY, "--exclude-operation-id", "logout")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    # The first run spent the user key's budget (0.1/s, burst 8): one request's worth comes back
    # after 10 s, so the second run's logout is answered, not throttled.
    time.sleep(10.5)
    # Then (fuzzing only: the first run did the coverage phase) the admin operations with a key
    # that is valid but not an admin's (403 every time), and logout (200 once, then 401).
    second, report_2 = schemathesis(live, tmp_path / "not-admin", live.key, "--include-tag", "admin",
                                    "--include-operation-id", "logout", "--phases", "fuzzing")  # fmt: skip
    assert second.returncode == 0, second.stdout[-12000:] + second.stderr[-3000:]
    after = counters(live.svc)
    seen = {k: after[k] - before.get(k, 0.0) for k in after if after[k] > before.get(k, 0.0)}
    # The runs reached the answers the contract is about, read back from the service itself.
    for code in ("200", "302", "400", "401", "403", "404", "405", "429"):
        assert seen.get((code,), 0) > 0, f"no {code} answer during the runs: {seen}"
    assert not [k for k in seen if len(k) == 1 and k[0].startswith("5")], seen
    assert seen.get(("logout", "ok"), 0) == 1, seen
    for limited in (("token", "rate_limited"), ("login", "rate_limited")):  # per API key; sign-in per address
        assert seen.get(limited, 0) > 0, f"no 429 from {limited}: {seen}"
    # Every operation of the document was exercised (schemathesis leaves out the document's own
    # path; test_the_document_is_served_with_this_service_as_server reads that one).
    documented = {f"{m.upper()} {p}" for p, ops in document()["paths"].items() for m in ops if m in METHODS}
    tested = {op for r in (report, report_2) for op in re.findall(r'"label":"([A-Z]+ [^"]+)"', r.read_text())}
    assert tested == documented - {"GET /openapi.json"}, (tested, documented)


def test_the_document_is_served_with_this_service_as_server(live: Live) -> None:
    with urllib.request.urlopen(live.svc.url + "/openapi.json", timeout=10) as resp:  # noqa: S310
        assert resp.headers["Content-Type"] == "application/json"
        served = json.load(resp)
    assert served["servers"] == [{"url": live.svc.url, "description": "this token service"}]
    assert {k: v for k, v in served.items() if k != "servers"} == {k: v for k, v in document().items() if k != "servers"}


def test_the_limits_answers_are_counted_and_documented(live: Live) -> None:
    """What RequestLimits refuses before any route (schemathesis sends no such request) is
    counted in snowmcp_http_responses_total like any answer, and is the documented 413."""
    before = counters(live.svc).get(("413",), 0.0)
    req = urllib.request.Request(live.svc.url + "/v1/login/exchange", data=b"{" + b" " * 8192 + b"}",  # noqa: S310
                                 headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310
    assert refused.value.code == 413
    body = json.loads(refused.value.read())
    documented = document()["components"]["responses"]["TooLarge"]["content"]["application/json"]["schema"]
    assert body["error"] in documented["properties"]["error"]["enum"] and set(body) == {"error", "message"}
    assert "413" in document()["paths"]["/v1/login/exchange"]["post"]["responses"]
    assert counters(live.svc).get(("413",), 0.0) == before + 1
