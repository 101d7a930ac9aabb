"""A real Prometheus against a running token service (the emulator as Snowflake).

One module-scoped set-up: the emulator (4 s access tokens), the service (sqlite store,
backoff shortened so failing refreshes are retried every fraction of a second), Prometheus
scraping it every second and evaluating a test copy of the shipped rules every second.
The copy differs from the shipped file only in `for:` (0s): what promtool unit-tests is
the shipped file (test_alerts.py). While the emulator refuses refreshes (503 from its
token endpoint), SnowmcpRefreshFailuresRising must fire, and SnowmcpHigh5xxRate once the
cached token expires and /v1/token answers 503 - read back from /api/v1/alerts.
The dashboard's queries run through the same Prometheus (the PromQL parser that will run
them) and may name only metrics a scrape of the running service lists.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness import monitoring
from harness.flow import login
from harness.procs import Emulator, free_port
from harness.prometheus import Prometheus
from harness.svc import ServiceProc, service_env, setup_integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana" / "snowmcp-token-service.json"
ALERT = "SnowmcpRefreshFailuresRising"
ALERT_5XX = "SnowmcpHigh5xxRate"
# Grafana's macros are not PromQL: what Grafana puts in their place before sending a query.
PROMETHEUS_OWN = {"up"}  # what Prometheus records about each scrape itself
pytestmark = pytest.mark.slow  # the emulator, the service and Prometheus, once for the module

GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


@dataclass
class Stack:
    emu: Emulator
    svc: ServiceProc
    prom: Prometheus
    key: str


def rules_for_test(dest: Path) -> Path:
    """The shipped rules with every `for:` set to 0s, nothing else changed."""
    rules = yaml.safe_load(monitoring.RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    dest.write_text(yaml.safe_dump(rules, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("prom")
    emu = Emulator(tmp / "emu", extra_args=["--access-token-ttl", "4"]).start()
    svc = prom = None
    try:
        svc = ServiceProc(tmp / "svc", {}, port=free_port())  # the redirect URI needs the port first
        integ = setup_integration(emu, f"{svc.url}/v1/oauth/callback")
        svc.env = service_env(emu, integ, f"sqlite:///{tmp / 'store.db'}",
                              SNOWMCP_BACKOFF_BASE="0.2", SNOWMCP_BACKOFF_MAX="0.5")  # fmt: skip
        svc.start()
        key = login(svc, "alice@example.com")
        prom = Prometheus(tmp / "prometheus", [f"127.0.0.1:{svc.port}"], [rules_for_test(tmp / "rules.yml")]).start()
        yield Stack(emu, svc, prom, key)
    finally:
        if prom is not None:
            prom.stop()
        if svc is not None:
            svc.stop()
        emu.stop()


def firing(prom: Prometheus, name: str) -> list[dict[str, Any]]:
    return [a for a in prom.api("alerts")["alerts"] if a["labels"]["alertname"] == name and a["state"] == "firing"]


def rule_state(prom: Prometheus, name: str) -> dict[str, Any]:
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"] if r.get("name") == name]
    assert len(rules) == 1, rules
    return dict(rules[0])


def test_refresh_failure_and_5xx_alerts_fire_while_snowflake_refuses_refreshes(stack: Stack) -> None:
    prom, svc, emu = stack.prom, stack.svc, stack.emu
    # Prometheus scrapes the service and loaded every shipped rule, all healthy and quiet.
    prom.wait_for(lambda: [t for t in prom.api("targets")["activeTargets"] if t["health"] == "up"], what="healthy target")
    prom.wait_for(lambda: prom.api("rules")["groups"], what="rule groups")
    shipped = [r["alert"] for g in yaml.safe_load(monitoring.RULES.read_text())["groups"] for r in g["rules"]]
    for name in shipped:
        assert rule_state(prom, name)["health"] in ("ok", "unknown"), rule_state(prom, name)
    assert rule_state(prom, ALERT)["state"] == "inactive"
    assert not firing(prom, ALERT)

    emu.set_faults(status=503)  # Snowflake's token endpoint refuses every refresh
    try:
        # /v1/token retries the refresh on each call once the token is stale (2 s), and answers
        # 503 once it has expired (4 s): both alerts must fire.
        deadline = time.monotonic() + 90
        fired: dict[str, list[dict[str, Any]]] = {}
        while time.monotonic() < deadline and len(fired) < 2:
            svc.request("GET", "/v1/token", stack.key)
            time.sleep(0.3)
            fired = {name: found for name in (ALERT, ALERT_5XX) if (found := firing(prom, name))}
        assert len(fired) == 2, f"fired: {sorted(fired)}; rules: {rule_state(prom, ALERT)} {rule_state(prom, ALERT_5XX)}"
    finally:
        emu.set_faults()
    (alert,) = fired[ALERT]
    assert alert["labels"] == {"alertname": ALERT, "job": "snowmcp", "severity": "warning"}
    assert float(alert["value"]) > 0.1
    assert alert["annotations"]["runbook_url"].endswith("#snowmcprefreshfailuresrising")
    (alert_5xx,) = fired[ALERT_5XX]
    assert alert_5xx["labels"] == {"alertname": ALERT_5XX, "job": "snowmcp", "severity": "critical"}
    # The service really failed refreshes at Snowflake and answered 503: its own counters, read
    # back from Prometheus.
    failed = prom.api("query", query='sum(snowmcp_refreshes_total{job="snowmcp", result="transient"})')["result"]
    assert failed and float(failed[0]["value"][1]) >= 2
    answered = prom.api("query", query='sum(snowmcp_http_responses_total{job="snowmcp", code="503"})')["result"]
    assert answered and float(answered[0]["value"][1]) >= 1
    # ...and the emulator saw the refresh grants it refused.
    assert emu.stats()["token_requests"].get("refresh_token:fault", 0) >= 2, emu.stats()


def exported(svc: ServiceProc) -> set[str]:
    """Sample names a scrape of the running service can carry (counters: _total; histograms: ...)."""
    with urllib.request.urlopen(svc.url + "/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    names: set[str] = set()
    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"],
                "gauge": [""], "summary": ["", "_sum", "_count", "_created"]}  # fmt: skip
    for family in text_string_to_metric_families(text):
        if family.name.startswith("snowmcp_"):
            names.update(family.name + s for s in suffixes.get(family.type, [""]))
    return names


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    queries = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 10
    return queries


def test_dashboard_queries_parse_and_name_only_exported_metrics(stack: Stack) -> None:
    available = exported(stack.svc)
    assert {"snowmcp_refreshes_total", "snowmcp_http_responses_total", "snowmcp_lock_wait_seconds_bucket"} <= available
    rule_exprs = [("rule " + r["alert"], r["expr"]) for g in yaml.safe_load(monitoring.RULES.read_text())["groups"]
                  for r in g["rules"]]  # fmt: skip
    for title, expr in dashboard_queries() + rule_exprs:
        promql = expr
        for macro, value in GRAFANA_MACROS.items():
            promql = promql.replace(macro, value)
        assert "$" not in promql, f"{title}: unknown Grafana variable in {expr!r}"
        try:
            stack.prom.api("query", query=promql)  # a syntax or type error is 400 bad_data
        except ValueError as exc:
            raise AssertionError(f"{title}: Prometheus refuses {promql!r}: {exc}") from None
        # Every metric a query selects is written `name{...}` (functions take `(`).
        selected = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", promql))
        assert selected, f"{title}: {expr!r} selects no metric"
        assert set(re.findall(r"\b(snowmcp_[a-z0-9_]+)", promql)) <= selected, f"{title}: a metric without labels"
        unknown = selected - available - PROMETHEUS_OWN
        assert not unknown, f"{title}: {sorted(unknown)} not exported by the service"
