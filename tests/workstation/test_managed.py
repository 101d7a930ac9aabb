"""Managed mode of the mcp_workstation role with real parts: the onboarding playbook, the emulator,
the token service, `snowmcp login` through a scripted browser and the real Claude Code CLI reading
/etc/claude-code/managed-mcp.json.

This is the only test module that touches /etc/claude-code (it is machine-wide; under xdist a
file lock also keeps any other run of it out). Whatever was there is moved aside first and put
back afterwards. The machine-wide client, its link and its config go to a temporary folder
(role variables), and SNOWMCP_SYSTEM_CONFIG points the client at that config, so nothing else
of the machine changes. One scenario, four playbook runs: user mode, managed mode for two users,
one of them offboarded, back to user mode.

Managed mode works in each user's home as that user's local account, never as root (issue 23;
the attacks are in test_shared_machine.py). Here both test users map to one local account whose
home is the HOME the user-mode runs use (outside pytest's 0700 folders, so the account can reach
it), and the managed runs give the modules a Python that account can run (/usr/bin/python3).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.procs import Emulator, free_port
from harness.svc import ServiceProc, service_env, setup_integration
from tests.workstation.native_helpers import ETC, etc_claude_code_holding
from tests.workstation.test_e2e_claude import SPEC, claude_cli
from tests.workstation.wshelpers import ROOT, PlaybookRun, run_playbook, write_inventory

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(os.geteuid() != 0, reason="writes /etc/claude-code (CI runs as root)"),
    # The module fixture runs two playbooks (one installs the client): ~75 s on an idle 2-core
    # machine, several times that when the machine is busy with other test workers.
    pytest.mark.timeout(900),
]

SERVERS = [
    {"name": "GONG_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_USERS"], "tools": []},
    {"name": "ADMIN_MCP", "database": "OPS", "schema": "PUBLIC", "roles": ["ADMINS"], "tools": []},
]
ALICE = {"login": "alice@example.com", "roles": ["MCP_USERS"], "host": "ws1", "shell": "bash"}
BOB = {"login": "BOB@EXAMPLE.COM", "roles": ["MCP_USERS", "ADMINS"], "host": "ws1", "shell": "bash"}
# What IT put there by other means: must survive every run byte for byte.
IT_MCP = '{\n  "mcpServers": {\n    "it-tools": {\n      "command": "/opt/it/mcp-tools",\n      "args": []\n    }\n  }\n}\n'
IT_SETTINGS = ('{\n  "permissions": {\n    "deny": [\n      "WebFetch"\n    ]\n  },\n'
               '  "allowedMcpServers": [\n    {\n      "serverName": "it-tools"\n    }\n  ]\n}\n')  # fmt: skip

CLAUDE_STATE = '{\n  "numStartups": 3,\n  "machineID": "7ba0ab8ec2a4"\n}\n'
ACCOUNT = "smmgd_user"  # the local account both test users map to in managed mode


@dataclass
class Machine:
    base: Path  # the machine-wide paths and the users' folders (0755, outside pytest's folders)
    emu: Emulator
    svc: ServiceProc
    home: Path  # the Ansible session's HOME (user mode writes there)
    inventory: Path
    extra: tuple[str, ...]
    env: dict[str, str]
    runs: dict[str, PlaybookRun]
    user_mode_servers: dict[str, Any]  # ~/.claude.json's mcpServers after the user-mode run
    ansible_tmp: Path  # ANSIBLE_REMOTE_TEMP every account can use (1777)
    # Managed mode: the users' local account, a Python it can run, become by su (no sudo here),
    # and the test service's plain-http loopback URL explicitly allowed.
    managed: tuple[str, ...] = ("-e", "mcp_workstation_scope=managed", "-e", f"mcp_workstation_unix_user={ACCOUNT}",
                                "-e", "ansible_python_interpreter=/usr/bin/python3", "-e", "ansible_become_method=su",
                                "-e", "mcp_workstation_allow_loopback_http=true")  # fmt: skip

    @property
    def system_bin(self) -> Path:
        return self.base / "usr-local-bin"

    @property
    def helper(self) -> str:
        return f"{self.system_bin / 'snowmcp'} headers"

    def url(self, name: str) -> str:
        db = "OPS" if name == "ADMIN_MCP" else "AICOLLEGE"
        return f"{self.emu.url}/api/v2/databases/{db}/schemas/PUBLIC/mcp-servers/{name}"

    def play(self, *extra: str) -> PlaybookRun:
        return run_playbook(self.home, self.inventory, *self.extra, *extra,
                            env={"ANSIBLE_REMOTE_TEMP": str(self.ansible_tmp)})  # fmt: skip

    def as_user(self, home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, HOME=str(home), DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                   MCP_TIMEOUT="20000")  # fmt: skip
        return subprocess.run(list(argv), env=env, cwd=self.base, capture_output=True, text=True, timeout=180)


def managed_json() -> dict[str, Any]:
    return dict(json.loads((ETC / "managed-mcp.json").read_text()))


def settings_json() -> dict[str, Any]:
    return dict(json.loads((ETC / "managed-settings.json").read_text()))


@pytest.fixture(scope="module")
def etc_claude_code() -> Iterator[Path]:
    """/etc/claude-code holding only IT's files for this module; the machine's own is put back afterwards."""
    with etc_claude_code_holding(IT_MCP, IT_SETTINGS) as etc:
        yield etc


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory, wheel_cache: Path, etc_claude_code: Path) -> Iterator[Machine]:
    base = tmp_path_factory.mktemp("managed")
    claude_cli()
    emu = Emulator(base / "emulator").start()
    svc = ServiceProc(base / "service", env={})
    outer = Path(tempfile.mkdtemp(prefix="snowmcp-managed-", dir="/tmp"))
    outer.chmod(0o755)
    try:
        svc.port = free_port()
        integ = setup_integration(emu, f"{svc.url}/v1/oauth/callback", role="MCP_USERS")
        for sql in (
            f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP FROM SPECIFICATION $${SPEC}$$",
            "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE MCP_USERS",
            "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE MCP_USERS",
            "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP TO ROLE MCP_USERS",
        ):
            emu.query(sql)
        svc.env = service_env(emu, integ, f"sqlite:///{base / 'service' / 'store.db'}")
        svc.start()
        home = outer / "home"
        home.mkdir()
        (home / ".claude.json").write_text(CLAUDE_STATE)
        ansible_tmp = outer / "ansible-tmp"
        ansible_tmp.mkdir()
        ansible_tmp.chmod(0o1777)
        subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", "--user-group",
                        ACCOUNT], check=True, capture_output=True)  # fmt: skip
        inventory = write_inventory(base / "inventory.yml", {
            "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": emu.port, "protocol": "http"},
            "token_service": {"url": svc.url},
            "snowflake_mcp_servers": SERVERS,
            "mcp_users": [ALICE, BOB],
        }, hosts=("ws1",))  # fmt: skip
        # The machine-wide paths, like the home, where every account can reach them (as on a real
        # machine: /opt, /usr/local/bin, /etc), not in pytest's 0700 folder.
        system_config = outer / "etc-snowmcp" / "config.toml"
        extra = ("-e", f"snowmcp_wheel_cache_dir={wheel_cache}", "-e", '{"mcp_workstation_client_extras": []}',
                 "-e", f"mcp_workstation_system_venv={outer / 'opt-snowmcp'}",
                 "-e", f"mcp_workstation_system_bin_dir={outer / 'usr-local-bin'}",
                 "-e", f"mcp_workstation_system_config={system_config}")  # fmt: skip
        browser = base / "browser"
        browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT}/harness/browser.py" "$1"\n')
        browser.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWMCP_", "ANTHROPIC_", "CLAUDE"))}
        env.update(BROWSER=str(browser), SNOWMCP_KEYRING="0", SNOWMCP_SYSTEM_CONFIG=str(system_config))
        state = Machine(outer, emu, svc, home, inventory, extra, env, {}, {}, ansible_tmp)
        # Run 1: user mode (no install needed to prove the switch) puts both users' servers in ~/.claude.json.
        state.runs["user"] = state.play("-e", "mcp_workstation_install_client=false").ok()
        state.user_mode_servers = json.loads((home / ".claude.json").read_text())["mcpServers"]
        # What user mode wrote in the home is the user's (the account's), as on a real machine.
        subprocess.run(["chown", "-R", f"{ACCOUNT}:{ACCOUNT}", str(home)], check=True)
        # Run 2: managed mode with the allow-list, for both users of ws1.
        state.runs["managed"] = state.play(*state.managed, "-e", "mcp_workstation_managed_allowlist=true").ok()
        yield state
    finally:
        svc.stop()
        emu.stop()
        subprocess.run(["userdel", ACCOUNT], capture_output=True, check=False)
        shutil.rmtree(outer, ignore_errors=True)


def test_user_mode_first(machine: Machine) -> None:
    # The starting point of the switch: user mode wrote the users' servers into ~/.claude.json.
    helper = f"{machine.home}/.local/bin/snowmcp headers"
    assert machine.user_mode_servers == {
        name: {"type": "http", "url": machine.url(name), "headersHelper": helper} for name in ("GONG_MCP", "ADMIN_MCP")
    }


def test_managed_mode_writes_the_union_of_the_hosts_users(machine: Machine) -> None:
    managed = ETC / "managed-mcp.json"
    info = managed.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o644, 0)
    # alice's GONG_MCP and bob's ADMIN_MCP, once each; IT's entry kept as it was.
    assert managed_json()["mcpServers"] == {
        "it-tools": {"command": "/opt/it/mcp-tools", "args": []},
        "GONG_MCP": {"type": "http", "url": machine.url("GONG_MCP"), "headersHelper": machine.helper},
        "ADMIN_MCP": {"type": "http", "url": machine.url("ADMIN_MCP"), "headersHelper": machine.helper},
    }
    assert managed.read_text().startswith(IT_MCP.rsplit("\n    }\n  }\n}", 1)[0] + "\n    },")
    settings = settings_json()
    assert settings["permissions"] == {"deny": ["WebFetch"]}
    assert settings["allowedMcpServers"] == [{"serverName": "it-tools"}, {"serverName": "GONG_MCP"},
                                             {"serverName": "ADMIN_MCP"}]  # fmt: skip
    assert stat.S_IMODE((ETC / "managed-settings.json").stat().st_mode) == 0o644


def test_switching_to_managed_leaves_no_user_entry_behind(machine: Machine) -> None:
    # User mode's entries went (nothing is listed twice); Claude Code's own state stayed as it was.
    assert (machine.home / ".claude.json").read_text() == CLAUDE_STATE
    assert not (machine.home / ".bashrc").exists()  # the shell block was all of it
    assert not (machine.home / ".config" / "snowmcp" / "config.toml").exists()


def test_machine_wide_client_is_root_owned_and_configured(machine: Machine) -> None:
    shim = machine.system_bin / "snowmcp"
    venv = machine.base / "opt-snowmcp"
    assert shim.is_symlink() and os.readlink(shim) == str(venv / "bin" / "snowmcp")
    assert (venv / "bin" / "snowmcp").stat().st_uid == 0
    config = machine.base / "etc-snowmcp" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    keys = [ln.split("=")[0].strip() for ln in config.read_text().splitlines() if ln and not ln.startswith("#")]
    assert keys == ["service_url"]  # nothing about any user, nothing secret


def test_signed_in_user_gets_the_enterprise_server_connected(machine: Machine) -> None:
    alice = machine.base / "alice"
    alice.mkdir()
    shim = str(machine.system_bin / "snowmcp")
    login = subprocess.run([shim, "login"], env=dict(machine.env, HOME=str(alice), SNOWMCP_TEST_USERNAME="alice@example.com",
                                                     SNOWMCP_TEST_PASSWORD="alice-pass-1"),
                           capture_output=True, text=True, timeout=120, cwd=machine.base)  # fmt: skip
    assert login.returncode == 0, login.stderr
    # The key is alice's, in her home; the service URL came from the machine's config.
    assert json.loads((alice / ".config/snowmcp/credentials").read_text())["service_url"] == machine.svc.url
    got = machine.as_user(alice, str(claude_cli()), "mcp", "get", "GONG_MCP")
    assert "Scope: Enterprise config (managed by your organization)" in got.stdout, got.stdout + got.stderr
    assert "✔ Connected" in got.stdout, got.stdout + got.stderr
    listed = machine.as_user(alice, str(claude_cli()), "mcp", "list").stdout
    assert f"GONG_MCP: {machine.url('GONG_MCP')} (HTTP) - ✔ Connected" in listed.splitlines(), listed
    # `snowmcp status` finds her servers in the machine's file (she has none of her own).
    status = json.loads(machine.as_user(alice, shim, "status", "--json").stdout)
    assert status["signed_in"] is True
    assert {(s["name"], s["scope"]) for s in status["servers"]} == {("GONG_MCP", "managed"), ("ADMIN_MCP", "managed")}
    shown = machine.as_user(alice, shim, "status").stdout.splitlines()
    assert f"  - GONG_MCP: {machine.url('GONG_MCP')} ({ETC / 'managed-mcp.json'})" in shown, shown


def test_user_who_has_not_signed_in_is_told_to_run_snowmcp_login(machine: Machine) -> None:
    carol = machine.base / "carol"
    carol.mkdir()
    listed = machine.as_user(carol, str(claude_cli()), "mcp", "list").stdout
    assert f"GONG_MCP: {machine.url('GONG_MCP')} (HTTP) - ✘ Failed to connect" in listed.splitlines(), listed
    helper = machine.as_user(carol, str(machine.system_bin / "snowmcp"), "headers")
    assert helper.returncode != 0 and helper.stdout == ""
    assert helper.stderr.strip().splitlines() == ["snowmcp: not signed in: run `snowmcp login`"], helper.stderr


def test_onboarding_one_user_without_host_keeps_the_other_users_servers(machine: Machine) -> None:
    # IT onboards the users of a shared machine one at a time (-e mcp_user) without giving them
    # `host`: the run cannot tell who else lives here, so bob's ADMIN_MCP (alice lacks it) must stay.
    hostless = json.dumps({"mcp_users": [{k: v for k, v in u.items() if k != "host"} for u in (ALICE, BOB)]})
    settings_before = settings_json()
    run = machine.play(*machine.managed, "-e", "mcp_workstation_managed_allowlist=true",
                       "-e", hostless, "-e", "mcp_user=alice@example.com").ok()  # fmt: skip
    assert set(managed_json()["mcpServers"]) == {"it-tools", "GONG_MCP", "ADMIN_MCP"}
    assert settings_json() == settings_before
    assert (machine.system_bin / "snowmcp").is_symlink()
    assert run.changed == 0, run.output[-3000:]


def test_offboarding_then_switching_back_to_user_mode(machine: Machine) -> None:
    gone = json.dumps({"mcp_users": [ALICE, dict(BOB, state="absent")]})
    machine.play(*machine.managed, "-e", "mcp_workstation_managed_allowlist=true", "-e", gone).ok()
    # bob was the only user of ADMIN_MCP: it leaves the machine's file and the allow-list.
    assert set(managed_json()["mcpServers"]) == {"it-tools", "GONG_MCP"}
    assert settings_json()["allowedMcpServers"] == [{"serverName": "it-tools"}, {"serverName": "GONG_MCP"}]

    # (bob's entry goes from the inventory: the test's users share one HOME, as user mode sees it.)
    machine.play("-e", "mcp_workstation_install_client=false", "-e", json.dumps({"mcp_users": [ALICE]})).ok()
    # Back to user mode: IT's files exactly as they were, alice's server once, in ~/.claude.json.
    assert (ETC / "managed-mcp.json").read_text() == IT_MCP
    assert (ETC / "managed-settings.json").read_text() == IT_SETTINGS
    servers = json.loads((machine.home / ".claude.json").read_text())["mcpServers"]
    assert servers == {"GONG_MCP": {"type": "http", "url": machine.url("GONG_MCP"),
                                    "headersHelper": f"{machine.home}/.local/bin/snowmcp headers"}}  # fmt: skip
    assert not (machine.system_bin / "snowmcp").exists() and not (machine.base / "opt-snowmcp").exists()
