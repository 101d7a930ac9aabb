"""Generate monitoring/kubernetes/prometheusrule.yml from the plain Prometheus rule file.

The rule file (monitoring/prometheus/snowmcp-token-service.rules.yml) is the one source:
the Prometheus Operator's PrometheusRule carries the very same `groups` under `spec`, so
the two cannot drift (tests/monitoring/test_alerts.py fails when the committed manifest is
not what this produces). Run `python -m harness.monitoring` after editing the rules.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "monitoring" / "prometheus" / "snowmcp-token-service.rules.yml"
MANIFEST = ROOT / "monitoring" / "kubernetes" / "prometheusrule.yml"

HEADER = """\
# GENERATED from ../prometheus/snowmcp-token-service.rules.yml by `python -m harness.monitoring`:
# edit the rule file, then regenerate. The same alerts for the Prometheus Operator
# (kubectl apply -n <namespace> -f prometheusrule.yml); your Prometheus resource's
# ruleSelector must match these labels. The rules select the scrape job "snowmcp":
# servicemonitor.yml next to this file scrapes the token service under that job name.
"""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key, as yamllint (ansible-lint) and kubectl users expect.
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PromQL over several lines stays readable as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def manifest(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "snowmcp-token-service",
            "labels": {"app.kubernetes.io/name": "snowmcp-token-service", "app.kubernetes.io/part-of": "snowmcp"},
        },
        "spec": {"groups": rules["groups"]},
    }


def render() -> str:
    rules = yaml.safe_load(RULES.read_text())
    body = yaml.dump(manifest(rules), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def main() -> int:
    MANIFEST.write_text(render())
    print(f"wrote {MANIFEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
