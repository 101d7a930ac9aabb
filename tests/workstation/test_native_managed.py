"""The role in a native sign-in mode, managed scope: /etc/claude-code/managed-mcp.json gets the host's servers
with the OAuth client, every user of the machine signs in inside Claude Code as themselves.

Like test_managed.py this touches the machine's /etc/claude-code: it moves what is there aside under the same
exclusive lock and puts it back afterwards. The client install is not needed to prove the entries (it is
test_managed.py's), so every run passes mcp_workstation_install_client=false. Managed mode works in each user's
home as the user's local account (issue 23): both test users map to one throwaway account whose home is the HOME
of the runs, outside pytest's 0700 folders, as in test_managed.py. The client id comes as the fact
the account play leaves (snowmcp_native_client_id); reading it from Snowflake is test_native_e2e.py's.

One scenario, five runs, files read back after each: token_service managed -> snowflake_oauth managed -> the
same again (changed=0) -> bob offboarded -> external_oauth in user scope (the machine's file back to IT's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.workstation.native_helpers import ETC, claude, etc_claude_code_holding
from tests.workstation.wshelpers import PlaybookRun, run_playbook, write_inventory

pytestmark = [
    pytest.mark.claude,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="writes /etc/claude-code (CI runs as root)"),
    pytest.mark.timeout(900),  # five playbook runs, and the wait for the /etc/claude-code lock
]

# An account URL no other module uses: a user-scope run in a native mode takes the OAuth entries of its own
# account in managed-mcp.json for its own and removes them (test_native_role runs against :8 meanwhile).
ACCOUNT = "http://127.0.0.1:7"
SERVERS = [
    {"name": "GONG_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_USERS"], "tools": []},
    {"name": "ADMIN_MCP", "database": "OPS", "schema": "PUBLIC", "roles": ["ADMINS"], "tools": []},
]
ALICE = {"login": "alice@example.com", "roles": ["MCP_USERS"], "host": "ws1", "shell": "bash"}
BOB = {"login": "bob@example.com", "roles": ["MCP_USERS", "ADMINS"], "host": "ws1", "shell": "bash"}
IT_MCP = '{\n  "mcpServers": {\n    "it-tools": {\n      "command": "/opt/it/mcp-tools",\n      "args": []\n    }\n  }\n}\n'
IT_SETTINGS = '{\n  "allowedMcpServers": [\n    {\n      "serverName": "it-tools"\n    }\n  ]\n}\n'
VARS: dict[str, Any] = {
    "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": 7, "protocol": "http"},
    "token_service": {"url": "http://127.0.0.1:9"},
    "snowflake_mcp_servers": SERVERS,
    "mcp_users": [ALICE, BOB],
}
PUBLIC_CLIENT = "XRYfro5Zn/DzZlJgijIM2fc5TQk="  # a PUBLIC integration's OAUTH_CLIENT_ID, as the account play reads it
PORT = 8765
MANAGED = ("-e", "mcp_workstation_scope=managed", "-e", "mcp_workstation_managed_allowlist=true")
UNIX_ACCOUNT = "smnat_user"  # the local account both test users map to
# As that account: a Python it can run, become by su (no sudo here); the test's loopback http service URL allowed.
AS_ACCOUNT = ("-e", f"mcp_workstation_unix_user={UNIX_ACCOUNT}", "-e", "ansible_python_interpreter=/usr/bin/python3",
              "-e", "ansible_become_method=su", "-e", "mcp_workstation_allow_loopback_http=true")  # fmt: skip


def url(name: str) -> str:
    db = "OPS" if name == "ADMIN_MCP" else "AICOLLEGE"
    return f"{ACCOUNT}/api/v2/databases/{db}/schemas/PUBLIC/mcp-servers/{name}"


@dataclass
class Machine:
    base: Path
    home: Path
    runs: dict[str, PlaybookRun] = field(default_factory=dict)
    managed: dict[str, str] = field(default_factory=dict)  # managed-mcp.json's text after each run
    settings: dict[str, str] = field(default_factory=dict)  # managed-settings.json's text after each run
    claude_get: str = ""

    def play(self, name: str, variables: dict[str, Any], *extra: str) -> None:
        inventory = write_inventory(self.base / f"{name}.yml", variables, hosts=("ws1",))
        self.runs[name] = run_playbook(self.home, inventory, "-e", "mcp_workstation_install_client=false",
                                       "-e", f"mcp_workstation_system_bin_dir={self.base / 'bin'}",
                                       # the machine's client config too: never the real /etc/snowmcp
                                       "-e", f"mcp_workstation_system_config={self.base / 'etc-snowmcp' / 'config.toml'}",
                                       *AS_ACCOUNT, *extra,
                                       env={"ANSIBLE_REMOTE_TEMP": str(self.base / "ansible-tmp")}).ok()  # fmt: skip
        self.managed[name] = (ETC / "managed-mcp.json").read_text()
        self.settings[name] = (ETC / "managed-settings.json").read_text()


@pytest.fixture(scope="module")
def machine() -> Iterator[Machine]:
    base = Path(tempfile.mkdtemp(prefix="snowmcp-native-managed-", dir="/tmp"))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir()
    (base / "ansible-tmp").mkdir(mode=0o1777)
    (base / "ansible-tmp").chmod(0o1777)
    subprocess.run(["userdel", UNIX_ACCOUNT], capture_output=True, check=False)  # left by an interrupted run
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", "--user-group",
                    UNIX_ACCOUNT], check=True, capture_output=True)  # fmt: skip
    subprocess.run(["chown", f"{UNIX_ACCOUNT}:{UNIX_ACCOUNT}", str(home)], check=True)
    state = Machine(base, home)
    try:
        with etc_claude_code_holding(IT_MCP, IT_SETTINGS):
            native = {"mcp_auth_mode": "snowflake_oauth", "mcp_native_oauth": {"callback_port": PORT}}
            fact = ("-e", f"snowmcp_native_client_id={PUBLIC_CLIENT}")
            state.play("token", VARS, *MANAGED)
            state.play("native", VARS | native, *MANAGED, *fact)
            state.claude_get = claude(home, "mcp", "get", "GONG_MCP", cwd=base)
            # Claude Code ran as root here (it created ~/.claude.json and ~/.claude): a user's own run leaves them theirs.
            subprocess.run(["chown", "-R", f"{UNIX_ACCOUNT}:{UNIX_ACCOUNT}", str(home)], check=True)
            state.play("native_again", VARS | native, *MANAGED, *fact)
            state.play("bob_gone", VARS | native | {"mcp_users": [ALICE, dict(BOB, state="absent")]}, *MANAGED, *fact)
            external = {"mcp_auth_mode": "external_oauth", "mcp_native_oauth": {"client_id": "idp-app", "callback_port": PORT}}
            state.play("user_scope", VARS | external | {"mcp_users": [ALICE]})
            yield state
    finally:
        subprocess.run(["userdel", UNIX_ACCOUNT], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def servers(text: str) -> dict[str, Any]:
    return dict(json.loads(text)["mcpServers"])


def test_token_service_managed_first(machine: Machine) -> None:
    helper = f"{machine.base / 'bin' / 'snowmcp'} headers"
    assert {n: e.get("headersHelper") for n, e in servers(machine.managed["token"]).items()} == {
        "it-tools": None, "GONG_MCP": helper, "ADMIN_MCP": helper}  # fmt: skip


def test_native_managed_entries_replace_the_helper_entries(machine: Machine) -> None:
    oauth = {"clientId": PUBLIC_CLIENT, "callbackPort": PORT}
    assert servers(machine.managed["native"]) == {
        "it-tools": {"command": "/opt/it/mcp-tools", "args": []},
        "GONG_MCP": {"type": "http", "url": url("GONG_MCP"), "oauth": oauth},
        "ADMIN_MCP": {"type": "http", "url": url("ADMIN_MCP"), "oauth": oauth},
    }
    assert machine.managed["native"].startswith(IT_MCP.rsplit("\n    }\n  }\n}", 1)[0] + "\n    },")
    assert json.loads(machine.settings["native"])["allowedMcpServers"] == [
        {"serverName": "it-tools"}, {"serverName": "GONG_MCP"}, {"serverName": "ADMIN_MCP"}]  # fmt: skip
    shown = [ln.strip() for ln in machine.claude_get.splitlines()]
    assert "Scope: Enterprise config (managed by your organization)" in shown, shown
    assert f"OAuth: client_id configured, callback_port {PORT}" in shown, shown


def test_native_managed_rerun_changes_nothing(machine: Machine) -> None:
    assert machine.runs["native_again"].changed == 0, machine.runs["native_again"].output[-3000:]
    assert machine.managed["native_again"] == machine.managed["native"]
    assert machine.settings["native_again"] == machine.settings["native"]


def test_offboarding_the_only_user_of_a_server_removes_it(machine: Machine) -> None:
    assert set(servers(machine.managed["bob_gone"])) == {"it-tools", "GONG_MCP"}
    assert json.loads(machine.settings["bob_gone"])["allowedMcpServers"] == [
        {"serverName": "it-tools"}, {"serverName": "GONG_MCP"}]  # fmt: skip


def test_user_scope_leaves_the_machine_as_it_found_it(machine: Machine) -> None:
    assert machine.managed["user_scope"] == IT_MCP and machine.settings["user_scope"] == IT_SETTINGS
    assert json.loads((machine.home / ".claude.json").read_text())["mcpServers"] == {
        "GONG_MCP": {"type": "http", "url": url("GONG_MCP"), "oauth": {"clientId": "idp-app", "callbackPort": PORT}}}  # fmt: skip
