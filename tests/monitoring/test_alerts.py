"""The shipped alert rules, checked by the tool that will run them: `promtool check rules`
and `promtool test rules` (unit tests with input series for every alert, in
alerts.promtool.yml); the PrometheusRule manifest is the same rules; every alert has a
runbook in docs/operations.md; the collection tarball keeps monitoring/."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness import monitoring
from harness.prometheus import tool

ROOT = Path(__file__).resolve().parents[2]
RULES = monitoring.RULES
UNIT_TESTS = Path(__file__).with_name("alerts.promtool.yml")
OPERATIONS = ROOT / "docs" / "operations.md"


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_promtool_checks_the_shipped_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout, result.stdout


def test_promtool_unit_tests_pass_and_cover_every_alert() -> None:
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # Every alert has at least one case where it fires and one where it must not.
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    checks = [c for case in cases for c in case.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    names = {a["alert"] for a in alerts()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"


def test_prometheusrule_is_generated_from_the_rule_file() -> None:
    committed = monitoring.MANIFEST.read_text()
    assert committed == monitoring.render(), "run `python -m harness.monitoring` and commit the manifest"
    manifest = yaml.safe_load(committed)
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_alert_has_a_runbook_entry() -> None:
    doc = OPERATIONS.read_text()
    assert re.search(r"^## Alerts$", doc, re.M), "docs/operations.md has no Alerts section"
    alerts_section = doc.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    anchors = {_anchor(h): body for h, body in
               zip(re.findall(r"^### (.+)$", alerts_section, re.M),
                   re.split(r"^### .+$", alerts_section, flags=re.M)[1:], strict=True)}  # fmt: skip
    for alert in alerts():
        name = alert["alert"]
        url = alert["annotations"]["runbook_url"]
        assert url.endswith("docs/operations.md#" + name.lower()), url
        body = anchors.get(name.lower())
        assert body is not None, f"no '### {name}' runbook in docs/operations.md"
        assert "**Means**" in body and "**Do**" in body, f"runbook of {name} lacks what it means / what to do"
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def test_the_collection_tarball_keeps_monitoring() -> None:
    """ansible-galaxy's build_ignore is fnmatch on paths relative to the collection root."""
    ignore = yaml.safe_load((ROOT / "galaxy.yml").read_text())["build_ignore"]
    shipped = [p.relative_to(ROOT).as_posix() for p in (ROOT / "monitoring").rglob("*") if p.is_file()]
    assert len(shipped) >= 5
    for rel in shipped:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = [pat for pat in ignore for pre in prefixes if fnmatch.fnmatch(pre, pat)]
        assert not hit, f"{rel} is excluded from the tarball by build_ignore {hit}"
