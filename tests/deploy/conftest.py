"""Fixtures for the deploy tests: the demo inventory against a private emulator.

The playbooks run the way users run them: from the collection tarball built here and
installed with ansible-galaxy into a temporary collections path, from a folder outside
the repository with its own ansible.cfg and inventory (`ansible-playbook snowmcp.core.site`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import demo
from harness.procs import BIN, ROOT, Emulator


@dataclass
class DemoDeploy:
    """A demo-inventory deployment in a temporary SNOWMCP_DEMO_DIR."""

    dir: Path
    emulator: Emulator
    settings: demo.Settings
    playbooks: Path  # the user's folder: ansible.cfg (the installed collection) and inventory/

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(galaxy_env(), SNOWMCP_DEMO_DIR=str(self.dir), ANSIBLE_FORCE_COLOR="0")
        env.update(extra)
        return env

    def playbook(self, playbook: str, *args: str) -> dict[str, Any]:
        """Run a playbook (`snowmcp.core.<name>`) of the installed collection from the user's folder.

        Returns {"plays": {name: changed results}, "stdout"}.
        """
        proc = self.run(playbook, *args)
        if proc.returncode != 0:
            raise AssertionError(f"{playbook} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        assert "[WARNING]" not in proc.stdout + proc.stderr, proc.stderr
        return {"plays": parse_plays(proc.stdout), "stdout": proc.stdout}

    def run(self, playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        """The ansible-playbook run itself, whatever its outcome."""
        cmd = [str(BIN / "ansible-playbook"), playbook, *args]
        return subprocess.run(cmd, cwd=self.playbooks, env=self.env(), capture_output=True, text=True, timeout=900,
                              check=False)  # fmt: skip

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


# The `snowmcp` CLI also reads the machine's /etc/snowmcp/config.toml (managed mode); a test that runs
# the CLI as a user with only a HOME points it elsewhere, so such a file left on the machine by
# anything else cannot redirect the test's users.
NO_SYSTEM_CONFIG = {"SNOWMCP_SYSTEM_CONFIG": "/nonexistent/snowmcp/config.toml"}


def galaxy_env() -> dict[str, str]:
    """ansible-galaxy / ansible-playbook settings from the user's folder only (no repository ansible.cfg)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return dict(env, PATH=f"{BIN}:{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1")


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collections path holding snowmcp.core installed from a freshly built tarball."""
    base = tmp_path_factory.mktemp("galaxy")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(base / "dist"), str(ROOT)],
                   cwd=base, env=galaxy_env(), check=True, capture_output=True, timeout=300)  # fmt: skip
    (tarball,) = (base / "dist").glob("snowmcp-core-*.tar.gz")
    collections = base / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(collections), str(tarball)],
                   cwd=base, env=galaxy_env(), check=True, capture_output=True, timeout=300)  # fmt: skip
    return collections


def user_folder(directory: Path, collections: Path, wheel_cache: Path) -> Path:
    """A playbook folder of the user's own: ansible.cfg naming the installed collection, the demo inventory.

    The workstation installs the client the default way (the wheel the controller builds from the
    collection's sources) into the demo HOME, without extras so pip needs no index.
    """
    folder = directory / "playbooks"
    folder.mkdir()
    (folder / "ansible.cfg").write_text(
        f"[defaults]\ninventory = inventory\ncollections_path = {collections}\nretry_files_enabled = false\n"
    )
    shutil.copytree(ROOT / "inventory" / "demo", folder / "inventory")
    workstation = folder / "inventory" / "host_vars" / "demo-workstation.yml"
    workstation.write_text(
        'mcp_workstation_home: "{{ snowmcp_demo.home }}"\n'
        "mcp_workstation_install_client: true\n"
        "mcp_workstation_client_extras: []\n"
        f"snowmcp_wheel_cache_dir: {wheel_cache}\n"
    )
    return folder


def sign_in(deploy: DemoDeploy, login: str, home: Path) -> None:
    """`snowmcp login --service URL` with the scripted browser as $BROWSER (real HTTP redirects)."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), SNOWMCP_DEMO_DIR=str(deploy.dir), SNOWMCP_DEMO_SIGN_IN_AS=login,
               BROWSER=demo.BROWSER)  # fmt: skip
    env.pop("SNOWMCP_DEMO_BROWSER_CHILD", None)
    env.update(NO_SYSTEM_CONFIG)
    proc = subprocess.run([str(BIN / "snowmcp"), "login", "--service", deploy.settings.service_url], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    log = (deploy.dir / "browser.log").read_text() if (deploy.dir / "browser.log").exists() else ""
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\nbrowser:\n{log}"


def sql(deploy: DemoDeploy, statement: str) -> list[dict[str, Any]]:
    """A statement at the deployment's emulator, as its ADMIN user."""
    return deploy.emulator.query(statement, password=deploy.settings.passwords["ADMIN"])


def mcp_holders(deploy: DemoDeploy) -> set[str]:
    """Names of the users holding MCP_USERS, read back from the emulator."""
    return {r["grantee_name"] for r in sql(deploy, "SHOW GRANTS OF ROLE MCP_USERS") if r["granted_to"] == "USER"}


def admin_users(service_url: str, admin_key: str) -> list[str]:
    """The token service's users by login, read with the admin API."""
    req = urllib.request.Request(service_url + "/v1/admin/users")  # noqa: S310
    req.add_header("Authorization", f"Bearer {admin_key}")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        data: Any = json.load(resp)
    users = data["users"] if isinstance(data, dict) else data
    return [str(u["username"]).lower() for u in users]
