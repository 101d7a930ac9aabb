"""Role mcp_workstation in the native sign-in modes (issue 21), user scope, with the real Claude Code CLI.

One HOME, one scenario of playbook runs (playbooks/onboard_user.yml), each asserted on the files read back:
token_service (the shim linked to a real client, which signs in: an API key in its credentials file) ->
external_oauth (entries with the OAuth client; client, shell block, config and API key gone) -> the same again
(changed=0, not a byte moved) -> token_service (only headersHelper entries again) -> offboarding in
external_oauth mode (the HOME exactly as it was before the first run).

external_oauth takes its client id from the inventory, so no Snowflake is needed here; the managed scope and
snowflake_oauth (client id read from the emulator) are in test_native_managed.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.workstation.native_helpers import claude, no_managed_config_meanwhile
from tests.workstation.wshelpers import BIN, PlaybookRun, run_playbook, snapshot, write_inventory

pytestmark = [pytest.mark.slow, pytest.mark.claude, pytest.mark.timeout(900)]

SERVICE = "http://127.0.0.1:9"  # nothing listens: neither mode may need the service on the workstation
ACCOUNT = "http://127.0.0.1:8"
SERVERS = [
    {"name": "GONG_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_USERS"], "tools": []},
    {"name": "DOCS_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_DOCS"], "tools": []},
]
ALICE = {"login": "alice@example.com", "roles": ["MCP_USERS", "MCP_DOCS"], "shell": "bash"}
TOKEN_VARS: dict[str, Any] = {
    "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": 8, "protocol": "http"},
    "token_service": {"url": SERVICE},
    "snowflake_mcp_servers": SERVERS,
    "mcp_users": [ALICE],
}
CLIENT_ID = "0oa1b2c3d4e5f6g7h8i9"  # an Okta-style application id: not a secret (public client)
PORT = 8765
NATIVE = {"mcp_auth_mode": "external_oauth", "mcp_native_oauth": {"client_id": CLIENT_ID, "callback_port": PORT}}
CLAUDE_STATE = (
    '{\n  "numStartups": 3,\n  "machineID": "7ba0ab8ec2a4",\n  "mcpServers": {\n    "github": {\n'
    '      "type": "http",\n      "url": "https://api.githubcopilot.com/mcp/"\n    }\n  },\n'
    '  "projects": {"/home/alice/w": {"mcpServers": {}}}\n}\n'
)
BASHRC = "export EDITOR=vim\n"
NO_INSTALL = ("-e", "mcp_workstation_install_client=false")


def url(name: str) -> str:
    return f"{ACCOUNT}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/{name}"


@dataclass
class Switch:
    home: Path
    base: Path
    before: dict[str, Any]
    runs: dict[str, PlaybookRun] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # HOME snapshots after runs
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)  # ~/.claude.json mcpServers after runs

    def run(self, name: str, variables: dict[str, Any], *extra: str) -> PlaybookRun:
        inventory = write_inventory(self.base / f"{name}.yml", variables)
        run = run_playbook(self.home, inventory, "-e", "mcp_user=alice@example.com", *extra)
        self.runs[name] = run.ok()
        self.files[name] = snapshot(self.home)
        claude = self.home / ".claude.json"
        self.servers[name] = json.loads(claude.read_text()).get("mcpServers", {}) if claude.exists() else {}
        return run

    def claude(self, *argv: str) -> str:
        with no_managed_config_meanwhile():
            return claude(self.home, *argv, cwd=self.base)


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Switch]:
    base = tmp_path_factory.mktemp("native")
    home = base / "home"
    home.mkdir()
    (home / ".claude.json").write_text(CLAUDE_STATE)
    (home / ".claude.json").chmod(0o600)
    (home / ".bashrc").write_text(BASHRC)
    state = Switch(home, base, snapshot(home))
    # token_service mode. The client install itself is test_role.py's (it costs a pip run): here the shim
    # links to this checkout's snowmcp, as the demo does, and that real client signs in (key in the file).
    state.run("token", TOKEN_VARS, *NO_INSTALL)
    (home / ".local/bin").mkdir(parents=True)
    (home / ".local/bin/snowmcp").symlink_to(BIN / "snowmcp")
    env = dict(os.environ, HOME=str(home), SNOWMCP_KEYRING="0")
    subprocess.run([str(BIN / "python"), "-c",
                    f"from snowmcp.client import credentials; credentials.save('smk_test_key_1', '{ALICE['login']}', '{SERVICE}')"],
                   env=env, check=True, timeout=60)  # fmt: skip
    state.files["signed_in"] = snapshot(home)
    # No token service in the inventory at all: the native modes do not need one.
    native_vars = {k: v for k, v in TOKEN_VARS.items() if k != "token_service"} | NATIVE
    state.run("native", native_vars)
    state.run("native_again", native_vars)
    state.run("token_back", TOKEN_VARS, *NO_INSTALL)
    state.run("offboard", native_vars | {"mcp_users": [dict(ALICE, state="absent")]})
    yield state


def test_token_service_mode_first(switch: Switch) -> None:
    helper = f"{switch.home}/.local/bin/snowmcp headers"
    assert switch.servers["token"] == {
        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},
        "GONG_MCP": {"type": "http", "url": url("GONG_MCP"), "headersHelper": helper},
        "DOCS_MCP": {"type": "http", "url": url("DOCS_MCP"), "headersHelper": helper},
    }
    signed_in = switch.files["signed_in"]
    assert ".config/snowmcp/credentials" in signed_in and ".local/bin/snowmcp" in signed_in
    assert b"# BEGIN snowmcp" in signed_in[".bashrc"][1]


def test_native_mode_writes_oauth_entries_and_clears_the_token_service_mode(switch: Switch) -> None:
    oauth = {"clientId": CLIENT_ID, "callbackPort": PORT}
    assert switch.servers["native"] == {
        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},
        "GONG_MCP": {"type": "http", "url": url("GONG_MCP"), "oauth": oauth},
        "DOCS_MCP": {"type": "http", "url": url("DOCS_MCP"), "oauth": oauth},
    }
    # No client, no shim, no config, no API key, no shell block: the user's own files as they were.
    files = switch.files["native"]
    assert set(files) == {".claude.json", ".bashrc"}, sorted(files)
    assert files[".bashrc"] == ("0o644", BASHRC.encode())
    assert files[".claude.json"][0] == "0o600"
    # The client signed out before its shim went (it asked the service to revoke the key, then removed it).
    out = switch.runs["native"].output
    task = out.index("Sign out (removes the API key from the keyring or the credentials file)")
    assert out[task:].split("\n", 2)[1] == "changed: [localhost]", out[task : task + 500]
    # Claude Code's own state around the entries: untouched.
    text = files[".claude.json"][1].decode()
    assert text.startswith(CLAUDE_STATE.split("\n    }\n  },")[0]) and text.endswith(CLAUDE_STATE.split("\n  },\n")[-1])


def test_claude_code_shows_each_server_with_its_oauth_client(switch: Switch) -> None:
    # The HOME as the native run left it (the later runs changed it): restore that ~/.claude.json.
    (switch.home / ".claude.json").write_bytes(switch.files["native"][".claude.json"][1])
    try:
        for name in ("GONG_MCP", "DOCS_MCP"):
            shown = [ln.strip() for ln in switch.claude("mcp", "get", name).splitlines()]
            assert "Scope: User config (available in all your projects)" in shown, shown
            assert f"URL: {url(name)}" in shown and f"OAuth: client_id configured, callback_port {PORT}" in shown, shown
    finally:
        claude = switch.home / ".claude.json"
        if switch.files["offboard"].get(".claude.json"):
            claude.write_bytes(switch.files["offboard"][".claude.json"][1])


def test_native_rerun_changes_nothing(switch: Switch) -> None:
    assert switch.runs["native_again"].changed == 0, switch.runs["native_again"].output[-3000:]
    assert switch.files["native_again"] == switch.files["native"]


def test_back_to_token_service_leaves_only_its_entries(switch: Switch) -> None:
    helper = f"{switch.home}/.local/bin/snowmcp headers"
    assert switch.servers["token_back"] == switch.servers["token"]
    assert not any("oauth" in entry for entry in switch.servers["token_back"].values())
    assert all(entry.get("headersHelper") == helper for n, entry in switch.servers["token_back"].items() if n != "github")
    assert b"# BEGIN snowmcp" in switch.files["token_back"][".bashrc"][1]


def test_offboarding_in_native_mode_restores_the_home(switch: Switch) -> None:
    assert switch.files["offboard"] == switch.before
    assert switch.files["offboard"][".claude.json"][1].decode() == CLAUDE_STATE
