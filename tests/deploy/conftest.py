"""Fixtures for the deploy tests: the demo inventory against a private emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.procs import BIN, ROOT, Emulator, free_port
from snowmcp import demo


@dataclass
class DemoDeploy:
    """A demo-inventory deployment in a temporary SNOWMCP_DEMO_DIR."""

    dir: Path
    emulator: Emulator
    settings: demo.Settings

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, SNOWMCP_DEMO_DIR=str(self.dir), PATH=f"{BIN}:{os.environ.get('PATH', '')}",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")  # fmt: skip
        env.update(extra)
        return env

    def playbook(self, playbook: str, *args: str) -> dict[str, Any]:
        """Run a playbook on the demo inventory; returns {"plays": {name: changed results}, "stdout"}."""
        cmd = [str(BIN / "ansible-playbook"), playbook, "-i", str(ROOT / "inventory" / "demo"), *args]
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"{playbook} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        assert "[WARNING]" not in proc.stdout + proc.stderr, proc.stderr
        return {"plays": parse_plays(proc.stdout), "stdout": proc.stdout}

    def credentials(self) -> dict[str, Any]:
        return demo.service_credentials(self.dir)


def parse_plays(stdout: str) -> dict[str, int]:
    """Changed results per play, from the default callback's output ("changed: [host]" lines)."""
    plays: dict[str, int] = {}
    current = None
    for line in stdout.splitlines():
        match = re.match(r"^PLAY \[(.*)\] \*+", line)
        if match:
            current = match.group(1)
            plays.setdefault(current, 0)
        elif current is not None and line.startswith("changed: ["):
            plays[current] += 1
    return plays


def changed_per_play(report: dict[str, Any]) -> dict[str, int]:
    return dict(report["plays"])


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDeploy]:
    """The emulator (demo seed, fresh passwords) and settings for inventory/demo; stops the service after."""
    directory = tmp_path_factory.mktemp("demo")
    os.chmod(directory, 0o700)
    passwords = demo.make_seed(directory)
    # Short access tokens so the service refreshes while tests run (margin 60 s: every ~5 s).
    emu = Emulator(directory / "emulator", seed=directory / "emulator-seed.yml", extra_args=["--access-token-ttl", "65"])
    emu.start()
    settings = demo.write_settings(directory, emu.port, free_port(), passwords)
    try:
        yield DemoDeploy(directory, emu, settings)
    finally:
        demo.stop(directory)
        emu.stop()


def sign_in(deploy: DemoDeploy, login: str, home: Path) -> None:
    """`snowmcp login --service URL` with the scripted browser as $BROWSER (real HTTP redirects)."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), SNOWMCP_DEMO_DIR=str(deploy.dir), SNOWMCP_DEMO_SIGN_IN_AS=login,
               BROWSER=f"{sys.executable} -m snowmcp.demo browser %s")  # fmt: skip
    env.pop("SNOWMCP_DEMO_BROWSER_CHILD", None)
    proc = subprocess.run([str(BIN / "snowmcp"), "login", "--service", deploy.settings.service_url], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    log = (deploy.dir / "browser.log").read_text() if (deploy.dir / "browser.log").exists() else ""
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\nbrowser:\n{log}"
