"""Role mcp_workstation through playbooks/onboard_user.yml, against a temporary HOME.

The first scenario installs the client the way the role does by default: the snowmcp
wheel built from the collection's sources on the controller (cached for the session),
copied and installed by path into the per-user virtual environment (its second run and
offboarding include the install; its runs about Claude Code's entries skip it); the other
scenarios skip the install to stay fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.workstation.native_helpers import no_managed_config_meanwhile
from tests.workstation.wshelpers import PlaybookRun, run_playbook, snapshot, write_inventory

SERVICE = "http://127.0.0.1:9"  # nothing listens there: the role must not need the service
ACCOUNT = "http://127.0.0.1:8"
SERVERS = [
    {"name": "gong_mcp", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_USERS"], "tools": []},
    {"name": "docs_mcp", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["mcp_docs"], "tools": []},
    {"name": "admin_mcp", "database": "OPS", "schema": "PUBLIC", "roles": ["ADMINS"], "tools": []},
]
USERS = [
    {"login": "alice@example.com", "roles": ["MCP_USERS", "MCP_DOCS"], "shell": "/bin/bash"},
    {"login": "bob@example.com", "roles": ["MCP_USERS"], "host": "bob-laptop", "shell": "zsh", "servers": ["gong_mcp"]},
]
pytestmark = pytest.mark.slow  # every test runs the onboarding playbook
VARS: dict[str, Any] = {
    "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": 8, "protocol": "http"},
    "token_service": {"url": SERVICE + "/"},
    "snowflake_mcp_servers": SERVERS,
    "mcp_users": USERS,
}
CLAUDE_STATE = (
    '{\n  "numStartups": 3,\n  "machineID": "7ba0ab8ec2a4",\n  "tipsHistory": {"ide": 1},\n'
    '  "mcpServers": {\n    "github": {\n      "type": "http",\n      "url": "https://api.githubcopilot.com/mcp/"\n'
    '    }\n  },\n  "projects": {"/home/alice/w": {"mcpServers": {}, "allowedTools": []}}\n}'
)
BASHRC = 'export EDITOR=vim\nalias ll="ls -l"\n'
NO_INSTALL = ("-e", "mcp_workstation_install_client=false")


def url(name: str, db: str = "AICOLLEGE") -> str:
    return f"{ACCOUNT}/api/v2/databases/{db}/schemas/PUBLIC/mcp-servers/{name}"


@dataclass
class Onboarded:
    home: Path
    inventory: Path
    before: dict[str, Any]
    first: PlaybookRun
    wheel_cache: Path

    def run(self, *extra: str, install: bool = True) -> PlaybookRun:
        # The default install source (no client_package); no extras, so pip needs no index.
        # install=False: a run about Claude Code's entries only skips the (unchanged) client install.
        return run_playbook(self.home, self.inventory, "-e", "mcp_user=alice@example.com",
                            "-e", f"snowmcp_wheel_cache_dir={self.wheel_cache}",
                            "-e", '{"mcp_workstation_client_extras": []}', *extra,
                            *(() if install else NO_INSTALL))  # fmt: skip

    def claude(self) -> dict[str, Any]:
        return dict(json.loads((self.home / ".claude.json").read_text()))


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory, wheel_cache: Path) -> Iterator[Onboarded]:
    base = tmp_path_factory.mktemp("alice")
    home = base / "home"
    home.mkdir()
    (home / ".claude.json").write_text(CLAUDE_STATE)
    (home / ".claude.json").chmod(0o600)
    (home / ".bashrc").write_text(BASHRC)
    before = snapshot(home)
    inventory = write_inventory(base / "inventory.yml", VARS)
    state = Onboarded(home, inventory, before, PlaybookRun(-1, ""), wheel_cache)
    state.first = state.run()
    yield state


def test_first_run_configures_claude_code_shell_and_client(alice: Onboarded) -> None:
    alice.first.ok()
    assert alice.first.changed > 0
    home = alice.home
    shim = home / ".local/bin/snowmcp"
    helper = f"{shim} headers"
    claude = alice.claude()
    # Servers whose roles intersect the user's (case-insensitively), nothing else; github kept as it was.
    assert claude["mcpServers"] == {
        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},
        "gong_mcp": {"type": "http", "url": url("gong_mcp"), "headersHelper": helper},
        "docs_mcp": {"type": "http", "url": url("docs_mcp"), "headersHelper": helper},
    }
    text = (home / ".claude.json").read_text()
    assert text.startswith(CLAUDE_STATE.split('\n    }\n  },\n  "projects"')[0] + "\n    },")
    assert text.endswith('  },\n  "projects": {"/home/alice/w": {"mcpServers": {}, "allowedTools": []}}\n}')
    assert oct((home / ".claude.json").stat().st_mode & 0o777) == "0o600"

    assert shim.is_symlink() and os.readlink(shim) == str(home / ".local/share/snowmcp/bin/snowmcp")
    # Installed from the wheel the controller built from the collection's sources, by path.
    (built,) = alice.wheel_cache.glob("*/snowmcp-*.whl")
    copied = home / ".local/share/snowmcp/wheels" / built.name
    assert copied.read_bytes() == built.read_bytes()
    (record,) = (home / ".local/share/snowmcp/lib").glob("python3.*/site-packages/snowmcp-*.dist-info/RECORD")
    assert "snowmcp/client/cli.py," in record.read_text()
    config = (home / ".config/snowmcp/config.toml").read_text()
    assert f'service_url = "{SERVICE}"' in config and 'login = "alice@example.com"' in config
    assert oct((home / ".config/snowmcp").stat().st_mode & 0o777) == "0o700"
    assert oct((home / ".config/snowmcp/config.toml").stat().st_mode & 0o777) == "0o600"
    bashrc = (home / ".bashrc").read_text()
    assert bashrc.startswith(BASHRC) and bashrc.count("# BEGIN snowmcp") == 1
    assert not (home / ".zshrc").exists() and not (home / ".mcp.json").exists()
    assert "sign in once by running `snowmcp login`" in alice.first.output


def test_second_run_changes_nothing(alice: Onboarded) -> None:
    before = snapshot(alice.home)
    run = alice.run().ok()
    assert run.changed == 0, run.output[-4000:]
    assert snapshot(alice.home) == before


def test_installed_client_reads_its_config_and_lists_the_servers(alice: Onboarded) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWMCP_")}
    env["HOME"] = str(alice.home)
    with no_managed_config_meanwhile():  # the servers it lists: a managed-mcp.json held meanwhile would add its own
        proc = subprocess.run([str(alice.home / ".local/bin/snowmcp"), "status", "--json"], env=env,
                              capture_output=True, text=True, timeout=30, cwd="/")  # fmt: skip
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["service_url"] == SERVICE and not report["service_ok"]
    assert {s["name"] for s in report["servers"]} == {"gong_mcp", "docs_mcp"}
    proc = subprocess.run([str(alice.home / ".local/bin/snowmcp"), "headers"], env=env,
                          capture_output=True, text=True, timeout=30, cwd="/")  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "" and "snowmcp login" in proc.stderr


def test_shell_block_sets_path_service_and_refresh_mcp(alice: Onboarded) -> None:
    script = 'source "$HOME/.bashrc"; echo "$SNOWMCP_SERVICE_URL"; command -v snowmcp; type -t refresh_mcp'
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env={"HOME": str(alice.home), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.stdout.split() == [SERVICE, str(alice.home / ".local/bin/snowmcp"), "function"], proc.stderr


def test_new_contents_under_the_same_version_are_reinstalled(alice: Onboarded, tmp_path: Path) -> None:
    # Changed sources, same version: pip keeps an installed copy of that version, so the role
    # must reinstall the copied wheel (and only then: a first install is one pip run).
    (built,) = alice.wheel_cache.glob("*/snowmcp-*.whl")
    rebuilt = tmp_path / built.name
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b"# rebuilt\n" if item.filename == "snowmcp/client/__init__.py" else data)
    run = alice.run("-e", f"snowmcp_wheel_path={rebuilt}").ok()
    assert run.changed == 2, run.output[-4000:]  # the copy and the reinstall, nothing else
    (installed,) = (alice.home / ".local/share/snowmcp/lib").glob("python3.*/site-packages/snowmcp/client/__init__.py")
    assert installed.read_text().endswith("# rebuilt\n")


def test_a_dropped_server_or_a_lost_role_removes_only_that_server(alice: Onboarded) -> None:
    # A server dropped from the account leaves Claude Code; the user's other server stays.
    servers = [dict(SERVERS[0], state="absent"), *SERVERS[1:]]
    run = alice.run("-e", json.dumps({"snowflake_mcp_servers": servers}), install=False).ok()
    assert run.changed > 0
    assert set(alice.claude()["mcpServers"]) == {"github", "docs_mcp"}
    # Then the server is back in the inventory and alice loses MCP_DOCS: the server comes back,
    # docs_mcp (that role's only server) goes, nothing else moves.
    users = [dict(USERS[0], roles=["MCP_USERS"]), USERS[1]]
    run = alice.run("-e", json.dumps({"mcp_users": users}), install=False).ok()
    assert run.changed > 0
    assert set(alice.claude()["mcpServers"]) == {"github", "gong_mcp"}
    assert alice.claude()["mcpServers"]["github"] == {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}


def test_offboarding_removes_exactly_what_was_added(alice: Onboarded) -> None:
    users = [dict(USERS[0], state="absent"), USERS[1]]
    run = alice.run("-e", json.dumps({"mcp_users": users})).ok()
    assert run.changed > 0
    assert snapshot(alice.home) == alice.before
    assert (alice.home / ".claude.json").read_text() == CLAUDE_STATE
    # That a re-run then changes nothing is site.yml's: tests/deploy/test_site.py's
    # test_next_run_changes_nothing runs this role after the same offboarding.


# --- scenarios without the client install (fast) ---------------------------------------------

def test_invalid_claude_json_fails_before_anything_changes(fresh_home: Path) -> None:
    (fresh_home / ".claude.json").write_text('{"mcpServers": {"x": 1},}')
    before = snapshot(fresh_home)
    inventory = write_inventory(fresh_home.parent / "inv.yml", VARS)
    run = run_playbook(fresh_home, inventory, "-e", "mcp_user=alice@example.com", *NO_INSTALL)
    assert run.rc != 0
    assert "is not valid JSON (line 1, column 25" in run.output and "left untouched" in run.output
    assert snapshot(fresh_home) == before


def test_unknown_user_and_bad_service_url_fail_clearly(fresh_home: Path) -> None:
    inventory = write_inventory(fresh_home.parent / "inv.yml", VARS)
    run = run_playbook(fresh_home, inventory, "-e", "mcp_user=mallory@example.com", *NO_INSTALL)
    assert run.rc != 0 and '"mallory@example.com" is not a login in mcp_users' in run.output
    bad = dict(VARS, token_service={"url": "http://svc/$(id)"})
    run = run_playbook(fresh_home, write_inventory(fresh_home.parent / "bad.yml", bad), "-e", "mcp_user=alice@example.com", *NO_INSTALL)
    assert run.rc != 0 and "token_service.url" in run.output
    # The API key would cross the network in clear: the CLI refuses it, so the role does too.
    cleartext = dict(VARS, token_service={"url": "http://snowmcp.example.com"})
    run = run_playbook(fresh_home, write_inventory(fresh_home.parent / "http.yml", cleartext), "-e", "mcp_user=alice@example.com", *NO_INSTALL)
    assert run.rc != 0 and "https URL, or http on this machine only" in run.output
    assert snapshot(fresh_home) == {}


def test_hosts_limit_zsh_fish_and_home_mcp_json_then_offboard(fresh_home: Path) -> None:
    # bob lives on bob-laptop; nobody on localhost (no mcp_user given); other-host is left out by --limit.
    inventory = write_inventory(fresh_home.parent / "inv.yml", VARS, hosts=("localhost", "bob-laptop", "other-host"))
    extra = ("--limit", "bob-laptop,localhost", "-e", '{"mcp_workstation_shells": ["zsh", "fish"]}',
             "-e", "mcp_workstation_write_home_mcp_json=true", *NO_INSTALL)  # fmt: skip
    run = run_playbook(fresh_home, inventory, *extra).ok()
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.output, re.MULTILINE))
    assert recap.keys() == {"localhost", "bob-laptop"}, run.output[-3000:]
    assert recap["localhost"] == "0" and int(recap["bob-laptop"]) > 0
    helper = f"{fresh_home}/.local/bin/snowmcp headers"
    entry = {"type": "http", "url": url("gong_mcp"), "headersHelper": helper}
    # bob's, not alice's (alice has no host); his `servers` list narrows what his roles allow.
    assert json.loads((fresh_home / ".claude.json").read_text()) == {"mcpServers": {"gong_mcp": entry}}
    assert json.loads((fresh_home / ".mcp.json").read_text()) == {"mcpServers": {"gong_mcp": entry}}
    assert 'login = "bob@example.com"' in (fresh_home / ".config/snowmcp/config.toml").read_text()
    assert f"SNOWMCP_SERVICE_URL={SERVICE}; export" in (fresh_home / ".zshrc").read_text()
    fish = (fresh_home / ".config/fish/conf.d/snowmcp.fish").read_text()
    assert f"set -gx SNOWMCP_SERVICE_URL {SERVICE}" in fish and "function refresh_mcp" in fish
    assert not (fresh_home / ".bashrc").exists()

    # Turning the option off removes the ~/.mcp.json entries again (the file was ours: it goes).
    run_playbook(fresh_home, inventory, *extra, "-e", "mcp_workstation_write_home_mcp_json=false").ok()
    assert not (fresh_home / ".mcp.json").exists()
    assert (fresh_home / ".claude.json").exists()

    users = [USERS[0], dict(USERS[1], state="absent")]
    run_playbook(fresh_home, inventory, *extra, "-e", json.dumps({"mcp_users": users})).ok()
    assert snapshot(fresh_home) == {}, "offboarding must leave no file behind"


def test_check_mode_on_a_fresh_home_writes_nothing(fresh_home: Path) -> None:
    inventory = write_inventory(fresh_home.parent / "inv.yml", VARS)
    run = run_playbook(fresh_home, inventory, "--check", "-e", "mcp_user=alice@example.com", *NO_INSTALL).ok()
    assert run.changed > 0
    assert snapshot(fresh_home) == {}
