"""A real Prometheus server for tests: Debian's `prometheus` binary (harness/provision.sh
installs it), on a free loopback port, a temporary TSDB, logs in a file, a guaranteed stop."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.procs import free_port, stop, wait_for_http


def tool(name: str) -> str:
    """Path of `prometheus` or `promtool`; a missing tool fails loudly (CI must not skip)."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not on PATH: run harness/provision.sh (Debian: apt-get install prometheus)")
    return path


@dataclass
class Prometheus:
    """`prometheus` scraping `targets` as job `job` every `interval`, evaluating `rule_files` as often."""

    workdir: Path
    targets: list[str]
    rule_files: list[Path]
    job: str = "snowmcp"
    interval: str = "1s"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self) -> Prometheus:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval, "scrape_timeout": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{"job_name": self.job, "static_configs": [{"targets": self.targets}]}],
        }
        conf = self.workdir / "prometheus.yml"
        conf.write_text(yaml.safe_dump(config))
        cmd = [
            tool("prometheus"), f"--config.file={conf}", f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for_http(self.url + "/-/ready", self.proc, self.log, timeout=60)
        return self

    def stop(self) -> None:
        stop(self.proc)

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns `data`, raises with Prometheus's error otherwise."""
        query = "?" + urllib.parse.urlencode(params) if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as resp:  # noqa: S310
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def wait_for(self, check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
        """Poll `check()` until it returns something truthy; Prometheus's log on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"Prometheus: no {what} after {timeout}s; log:\n{self.log.read_text()[-4000:]}")
