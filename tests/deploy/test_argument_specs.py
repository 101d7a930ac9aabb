"""The token_service role documents every key of `token_service` in its argument specs."""

from __future__ import annotations

import re
from typing import Any

import yaml

from harness.procs import ROOT

ROLE = ROOT / "roles" / "token_service"


def test_argument_specs_document_every_token_service_key() -> None:
    defaults: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["token_service_defaults"]
    specs: dict[str, Any] = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for entry in ("main", "rotate"):
        lines = specs[entry]["options"]["token_service"]["description"]
        documented = [m.group(1) for m in (re.match(r"C\((\w+)\) \(", line) for line in lines) if m]
        assert documented == list(defaults), entry  # every key, once, in the defaults' order
    assert specs["rotate"]["options"]["token_service_rotate"]["required"] is True
