"""Native sign-in entries (issue 21): claude_mcp_server's `oauth` option writes what the real Claude
Code CLI writes for `claude mcp add --transport http --client-id ID --callback-port PORT -s user`,
and claude_mcp_info finds those entries again.

The reference is the CLI itself, run in a temporary HOME: the test compares the entry it wrote with
the module's, byte for byte in the file, then lets the CLI read the module's entry back
(`claude mcp get`). Module calls, not playbooks: the same code path, a fraction of the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.workstation.moduleutil import ROOT, run_module
from tests.workstation.native_helpers import no_managed_config_meanwhile
from tests.workstation.test_e2e_claude import claude_cli

pytestmark = [pytest.mark.claude, pytest.mark.timeout(900)]  # the /etc/claude-code lock may be held a while

INFO = ROOT / "plugins" / "modules" / "claude_mcp_info.py"
ACCOUNT = "https://myorg-myaccount.snowflakecomputing.com"
URL = f"{ACCOUNT}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP"
CLIENT_ID = "3dR9kZx0aQ1y2b7WmV8pLcN4sTe="
PORT = 8765


def claude(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "MCP_"))}
    env.update(HOME=str(home), DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", MCP_TIMEOUT="3000")
    with no_managed_config_meanwhile():  # another test's managed-mcp.json would hide user scope
        return subprocess.run([str(claude_cli()), *argv], env=env, cwd=home, capture_output=True, text=True,
                              timeout=120)  # fmt: skip


def servers(home: Path) -> dict[str, Any]:
    return dict(json.loads((home / ".claude.json").read_text()).get("mcpServers", {}))


def test_module_writes_what_claude_mcp_add_writes(tmp_path: Path) -> None:
    cli_home, our_home = tmp_path / "cli", tmp_path / "ours"
    cli_home.mkdir()
    our_home.mkdir()
    added = claude(cli_home, "mcp", "add", "--transport", "http", "--client-id", CLIENT_ID, "--callback-port", str(PORT),
                   "-s", "user", "GONG_MCP", URL)  # fmt: skip
    assert added.returncode == 0, added.stderr
    # The module edits the CLI's own file: Claude Code's state around it (machine id, flags) as the CLI left it.
    (our_home / ".claude.json").write_text(
        json.dumps({k: v for k, v in json.loads((cli_home / ".claude.json").read_text()).items() if k != "mcpServers"},
                   indent=2))  # fmt: skip
    oauth = {"client_id": CLIENT_ID, "callback_port": PORT}
    result, _ = run_module(tmp_path, name="GONG_MCP", home=str(our_home), url=URL, oauth=oauth)
    assert result["changed"] is True and result["action"] == "added", result
    assert servers(our_home) == servers(cli_home) == {
        "GONG_MCP": {"type": "http", "url": URL, "oauth": {"clientId": CLIENT_ID, "callbackPort": PORT}}
    }
    # Same bytes for the entry (key order and layout), not only the same JSON value.
    ours, theirs = ((h / ".claude.json").read_text() for h in (our_home, cli_home))
    assert ours[ours.index('"mcpServers"'):] == theirs[theirs.index('"mcpServers"'):]
    assert oct((our_home / ".claude.json").stat().st_mode & 0o777) == "0o600"

    # The CLI reads the module's entry as its own.
    got = claude(our_home, "mcp", "get", "GONG_MCP")
    assert "Scope: User config (available in all your projects)" in got.stdout, got.stdout + got.stderr
    assert f"OAuth: client_id configured, callback_port {PORT}" in [ln.strip() for ln in got.stdout.splitlines()], got.stdout

    # Idempotent; a new client id updates the one entry in place; check mode plans without writing.
    again, _ = run_module(tmp_path, name="GONG_MCP", home=str(our_home), url=URL, oauth=oauth)
    assert again["changed"] is False and again["action"] == "none"
    before = (our_home / ".claude.json").read_bytes()
    planned, _ = run_module(tmp_path, check=True, diff=True, name="GONG_MCP", home=str(our_home), url=URL,
                            oauth={"client_id": "new-client", "callback_port": PORT})  # fmt: skip
    assert planned["changed"] is True and planned["action"] == "updated"
    assert '"clientId": "new-client"' in planned["diff"]["after"] and CLIENT_ID in planned["diff"]["before"]
    assert (our_home / ".claude.json").read_bytes() == before


def test_switching_an_entry_between_helper_and_oauth_replaces_it_whole(tmp_path: Path) -> None:
    helper = "/home/alice/.local/bin/snowmcp headers"
    run_module(tmp_path, name="GONG_MCP", home=str(tmp_path), url=URL, headers_helper=helper)
    result, _ = run_module(tmp_path, name="GONG_MCP", home=str(tmp_path), url=URL, oauth={"client_id": CLIENT_ID})
    assert result["action"] == "updated"
    # No headersHelper left to override the OAuth token; no callbackPort when none was asked for (as the CLI).
    assert servers(tmp_path) == {"GONG_MCP": {"type": "http", "url": URL, "oauth": {"clientId": CLIENT_ID}}}
    back, _ = run_module(tmp_path, name="GONG_MCP", home=str(tmp_path), url=URL, headers_helper=helper)
    assert back["action"] == "updated"
    assert servers(tmp_path) == {"GONG_MCP": {"type": "http", "url": URL, "headersHelper": helper}}


@pytest.mark.parametrize(("oauth", "extra", "message"), [
    ({"client_id": "a b"}, {}, "oauth.client_id must be 1-255 printable characters"),
    ({"client_id": ""}, {}, "oauth.client_id must be 1-255 printable characters"),
    ({"client_id": "x", "callback_port": 80}, {}, "oauth.callback_port must be 1024-65535, got 80"),
    ({"client_id": "x", "callback_port": 70000}, {}, "oauth.callback_port must be 1024-65535, got 70000"),
    ({"client_id": "x"}, {"headers_helper": "snowmcp headers"}, "mutually exclusive: oauth|headers_helper"),
    ({"callback_port": 8765}, {}, "missing required arguments: client_id"),
])  # fmt: skip
def test_bad_oauth_input_fails_before_any_write(tmp_path: Path, oauth: dict[str, Any], extra: dict[str, Any],
                                                message: str) -> None:  # fmt: skip
    result, _ = run_module(tmp_path, name="GONG_MCP", home=str(tmp_path), url=URL, oauth=oauth, **extra)
    assert result.get("failed") is True and message in result["msg"], result
    assert list(tmp_path.iterdir()) == []


def test_info_finds_the_native_entries_of_the_account_whatever_their_client(tmp_path: Path) -> None:
    entries = {
        "GONG_MCP": {"type": "http", "url": URL, "oauth": {"clientId": "old-client", "callbackPort": PORT}},
        "DOCS_MCP": {"type": "http", "url": URL.replace("GONG", "DOCS"), "oauth": {"clientId": CLIENT_ID}},
        # Same account, no oauth object: the token service's kind, not a native entry.
        "HELPER_MCP": {"type": "http", "url": URL, "headersHelper": "snowmcp headers"},
        # OAuth, but another account, or not an MCP server endpoint of it.
        "OTHER": {"type": "http", "url": "https://other.snowflakecomputing.com/api/v2/databases/A/schemas/B/mcp-servers/C",
                  "oauth": {"clientId": "x"}},
        "LOOKALIKE": {"type": "http", "url": ACCOUNT + ".evil.example/api/v2/databases/A/schemas/B/mcp-servers/C",
                      "oauth": {"clientId": "x"}},
        "NOT_MCP": {"type": "http", "url": ACCOUNT + "/api/v2/databases/A", "oauth": {"clientId": "x"}},
    }  # fmt: skip
    (tmp_path / ".claude.json").write_text(json.dumps({"mcpServers": entries}))
    result, raw = run_module(tmp_path, module=INFO, home=str(tmp_path), oauth_account_urls=[ACCOUNT + "/"])
    assert result["user"]["oauth"] == ["DOCS_MCP", "GONG_MCP"], result
    assert "oauth" in result["managed"] and CLIENT_ID not in raw and "old-client" not in raw
    # Without the option the answer keeps its former shape.
    plain, _ = run_module(tmp_path, module=INFO, home=str(tmp_path))
    assert "oauth" not in plain["user"]


def test_snowmcp_status_says_how_each_server_signs_in(tmp_path: Path) -> None:
    # A workstation that has both kinds (the client is installed only in token_service mode, but a user may
    # keep an old install): each Snowflake MCP server with its mode; other OAuth servers are not ours to list.
    helper = f"{tmp_path}/.local/bin/snowmcp headers"
    (tmp_path / ".claude.json").write_text(json.dumps({"mcpServers": {
        "GONG_MCP": {"type": "http", "url": URL, "oauth": {"clientId": CLIENT_ID, "callbackPort": PORT}},
        "DOCS_MCP": {"type": "http", "url": URL.replace("GONG", "DOCS"), "headersHelper": helper},
        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/", "oauth": {"clientId": "gh"}},
    }}))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWMCP_")}
    env.update(HOME=str(tmp_path), SNOWMCP_SERVICE_URL="http://127.0.0.1:9")
    run = [str(Path(sys.executable).parent / "snowmcp"), "status"]
    report = json.loads(subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, timeout=60).stdout)
    mine = [s for s in report["servers"] if s["scope"] == "user"]
    assert mine == [
        {"name": "GONG_MCP", "url": URL, "scope": "user", "auth": "oauth"},
        {"name": "DOCS_MCP", "url": URL.replace("GONG", "DOCS"), "scope": "user", "auth": "headersHelper"},
    ]
    shown = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60).stdout.splitlines()
    claude_json = tmp_path / ".claude.json"
    assert f"  - GONG_MCP: {URL} ({claude_json}) - OAuth: Claude Code signs in itself (/mcp in Claude Code)" in shown
    assert f"  - DOCS_MCP: {URL.replace('GONG', 'DOCS')} ({claude_json})" in shown
