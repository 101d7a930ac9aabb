"""End to end with real parts only: the emulator, the token service, the onboarding playbook,
`snowmcp login` through a scripted browser, the real Claude Code CLI and the `mcp` SDK.

The workstation is a stock Mac's: Python 3.9 runs the modules (ansible_python_interpreter) and
the client (`mcp_workstation_python`), installed from the role's default source - the wheel the
snowmcp_wheel role builds from the collection's sources on the controller (cached for the
session) - with the role's default extras (keyring).

Claude Code comes from npm (`npm install @anthropic-ai/claude-code` into .cache/claude-code at
the repository root, reused across runs). The emulator issues access tokens that live
ACCESS_TTL seconds, so the test can show an expired token being replaced with no user action.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.procs import Emulator, free_port
from harness.svc import ServiceProc, service_env, setup_integration
from tests.workstation.wshelpers import ROOT, PlaybookRun, run_playbook, write_inventory

pytestmark = [pytest.mark.claude, pytest.mark.slow]

CLAUDE_DIR = ROOT / ".cache" / "claude-code"
CLAUDE = CLAUDE_DIR / "node_modules" / ".bin" / "claude"
ACCESS_TTL = 6  # seconds; the service serves a cached token only while > TTL/2 remains
SERVER = "GONG_MCP"
SPEC = """
tools:
  - name: "call-search"
    type: "CORTEX_SEARCH_SERVICE_QUERY"
    identifier: "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
    title: "Gong Search"
    description: "cortex search for gong calls"
"""


def claude_cli() -> Path:
    """The real Claude Code CLI, installed from npm once per checkout."""
    if not CLAUDE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install @anthropic-ai/claude-code (apt-get install nodejs npm)")
        CLAUDE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "@anthropic-ai/claude-code"],
                       cwd=CLAUDE_DIR, check=True, timeout=600)  # fmt: skip
    return CLAUDE


def no_managed_config_meanwhile() -> AbstractContextManager[None]:
    """The /etc/claude-code lock held shared (tests/workstation/native_helpers.py, which imports this module)."""
    from tests.workstation import native_helpers

    return native_helpers.no_managed_config_meanwhile()


@dataclass
class World:
    emu: Emulator
    svc: ServiceProc
    home: Path
    outside: Path  # a working folder outside HOME
    env: dict[str, str]
    inventory: Path
    install: tuple[str, ...]  # how the role installs the client here (extra vars)
    wheel_cache: Path  # where the snowmcp_wheel role keeps the wheel it built

    def onboard(self, *extra: str) -> PlaybookRun:
        """The onboarding playbook for alice, with the browser stand-in in its environment."""
        keep = ("BROWSER", "SNOWMCP_KEYRING", "SNOWMCP_TEST_USERNAME", "SNOWMCP_TEST_PASSWORD")
        return run_playbook(self.home, self.inventory, "-e", "mcp_user=alice@example.com", *self.install, *extra,
                            env={k: self.env[k] for k in keep})  # fmt: skip

    @property
    def shim(self) -> Path:
        return self.home / ".local" / "bin" / "snowmcp"

    @property
    def server_url(self) -> str:
        return f"{self.emu.url}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/{SERVER}"

    def snowmcp(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.shim), *args], env=self.env, cwd=self.outside,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    def claude_mcp_list(self) -> str:
        env = dict(self.env, DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                   MCP_TIMEOUT="20000")  # fmt: skip
        # User scope: a managed-mcp.json another module holds in /etc/claude-code would hide alice's GONG_MCP.
        with no_managed_config_meanwhile():
            proc = subprocess.run([str(claude_cli()), "mcp", "list"], env=env, cwd=self.outside,
                                  capture_output=True, text=True, timeout=180)  # fmt: skip
        return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, wheel_cache: Path, python39: Path) -> Iterator[World]:
    base = tmp_path_factory.mktemp("e2e")
    claude_cli()  # install first: a failure here should not leave services running
    emu = Emulator(base / "emulator", extra_args=["--access-token-ttl", str(ACCESS_TTL)]).start()
    svc = ServiceProc(base / "service", env={})
    try:
        svc.port = free_port()
        integ = setup_integration(emu, f"{svc.url}/v1/oauth/callback", role="MCP_USERS",
                                  users=("alice@example.com",))  # fmt: skip
        for sql in (
            f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.{SERVER} FROM SPECIFICATION $${SPEC}$$",
            "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE MCP_USERS",
            "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE MCP_USERS",
            "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE MCP_USERS",
            f"GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.{SERVER} TO ROLE MCP_USERS",
        ):
            emu.query(sql)
        svc.env = service_env(emu, integ, f"sqlite:///{base / 'service' / 'store.db'}")
        svc.start()

        home = base / "home"
        home.mkdir()
        outside = base / "work"
        outside.mkdir()
        inventory = write_inventory(base / "inventory.yml", {
            "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": emu.port, "protocol": "http"},
            "token_service": {"url": svc.url},
            "snowflake_mcp_servers": [{"name": SERVER, "database": "AICOLLEGE", "schema": "PUBLIC",
                                       "roles": ["MCP_USERS"], "tools": []}],
            "mcp_users": [{"login": "alice@example.com", "roles": ["MCP_USERS"], "shell": "bash"}],
        }, python=python39)  # fmt: skip
        # The role's default install source and extras; only the interpreter and the cache are set.
        install = ("-e", f"mcp_workstation_python={python39}", "-e", f"snowmcp_wheel_cache_dir={wheel_cache}")
        run = run_playbook(home, inventory, "-e", "mcp_user=alice@example.com", *install).ok()
        assert "sign in once by running `snowmcp login`" in run.output

        browser = base / "browser"
        browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT}/harness/browser.py" "$1"\n')
        browser.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWMCP_", "ANTHROPIC_", "CLAUDE"))}
        env.update(HOME=str(home), BROWSER=str(browser), SNOWMCP_KEYRING="0",
                   SNOWMCP_TEST_USERNAME="alice@example.com", SNOWMCP_TEST_PASSWORD="alice-pass-1")  # fmt: skip
        yield World(emu, svc, home, outside, env, inventory, install, wheel_cache)
    finally:
        svc.stop()
        emu.stop()


def mcp_search(world: World, headers: dict[str, str] | None, query: str) -> tuple[list[str], list[str]]:
    """Tool names and result titles through the mcp SDK's streamable HTTP client.

    headers=None: `snowmcp headers` right before connecting. The service may hand out a token
    with only half of its ACCESS_TTL left, so it is fetched after the SDK's slow first import.
    """
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    if headers is None:
        headers = current_headers(world)

    async def run() -> tuple[list[str], list[str]]:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            streamable_http_client(world.server_url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            called = await session.call_tool("call-search", {"query": query})
            text = called.content[0].text  # type: ignore[union-attr]
            return [t.name for t in tools.tools], [r["title"] for r in json.loads(text)["results"]]

    return asyncio.run(run())


def current_headers(world: World) -> dict[str, str]:
    proc = world.snowmcp("headers")
    assert proc.returncode == 0, proc.stderr
    headers = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
    assert list(headers) == ["Authorization"] and headers["Authorization"].startswith("Bearer ")
    return dict(headers)


def test_the_client_runs_on_the_workstations_python_39_with_its_extras(world: World) -> None:
    venv = world.home / ".local" / "share" / "snowmcp"
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import sys, keyring, tomli; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probe.stdout.strip() == "3.9", probe.stderr
    assert world.shim.resolve() == (venv / "bin" / "snowmcp").resolve()
    # The default source: the wheel the controller built from the collection, copied and installed by path.
    (built,) = world.wheel_cache.glob("*/snowmcp-*.whl")
    assert (venv / "wheels" / built.name).read_bytes() == built.read_bytes()
    # The same wheel carries the service: on 3.9 it stops with one line instead of a traceback.
    service = subprocess.run([str(venv / "bin" / "snowmcp-service"), "serve"], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert service.returncode == 1 and service.stderr == "snowmcp-service needs Python 3.11+ (this is Python 3.9)\n"


def test_login_through_the_browser_stores_the_key_privately(world: World) -> None:
    before = world.snowmcp("status", "--json")
    assert before.returncode == 1 and json.loads(before.stdout)["signed_in"] is False
    proc = world.snowmcp("login")
    assert proc.returncode == 0, proc.stderr
    assert "Signed in as alice@example.com" in proc.stderr and f"{world.svc.url}/v1/login?" in proc.stderr
    creds = world.home / ".config" / "snowmcp" / "credentials"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    record = json.loads(creds.read_text())
    assert record["storage"] == "file" and record["username"].lower() == "alice@example.com"
    assert record["api_key"] not in (world.home / ".config/snowmcp/config.toml").read_text()
    assert record["api_key"] not in (world.home / ".bashrc").read_text()
    assert record["api_key"] not in proc.stdout + proc.stderr
    with no_managed_config_meanwhile():  # the servers it lists: a managed-mcp.json held meanwhile would add its own
        status = json.loads(world.snowmcp("status", "--json").stdout)
    assert status["signed_in"] and status["service_ok"] and 0 < status["days_left"] <= 1
    # The test integration's refresh tokens last one day: status must warn (< 7 days left).
    assert any("run `snowmcp login` to renew it" in w for w in status["warnings"]), status
    human = world.snowmcp("status")
    assert human.returncode == 0 and "signed in as: alice@example.com" in human.stdout.lower()
    assert "warning: your Snowflake sign-in ends in" in human.stdout
    assert [s["name"] for s in status["servers"]] == [SERVER]


def test_claude_code_connects_from_a_folder_outside_home(world: World) -> None:
    out = world.claude_mcp_list()
    line = next((ln for ln in out.splitlines() if ln.startswith(f"{SERVER}:")), "")
    assert line == f"{SERVER}: {world.server_url} (HTTP) - ✔ Connected", out
    assert not re.search(r"Failed|Pending approval|Needs authentication", out), out


# Managed mode (/etc/claude-code/managed-mcp.json) with the real CLI: tests/workstation/test_managed.py,
# the one module that touches that machine-wide folder.


def test_mcp_sdk_with_snowmcp_headers_searches_the_seeded_calls(world: World) -> None:
    tools, titles = mcp_search(world, None, "databricks")
    assert tools == ["call-search"]
    assert set(titles) == {"Acme renewal call", "Initech QBR"}


def test_expired_access_token_is_replaced_without_user_action(world: World) -> None:
    old = current_headers(world)
    refreshes_before = world.emu.stats().get("token_requests", {}).get("refresh_token:ok", 0)
    time.sleep(ACCESS_TTL + 1)  # let the emulator's access token expire
    rejected = httpx.post(world.server_url, headers={**old, "Accept": "application/json, text/event-stream"},
                          json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)  # fmt: skip
    assert rejected.status_code == 401, "the old token must really be expired"

    new = current_headers(world)
    assert new != old
    _, titles = mcp_search(world, new, "databricks")
    assert "Acme renewal call" in titles
    out = world.claude_mcp_list()
    assert f"{SERVER}: {world.server_url} (HTTP) - ✔ Connected" in out.splitlines(), out
    after: dict[str, Any] = world.emu.stats().get("token_requests", {})
    assert after.get("refresh_token:ok", 0) > refreshes_before, after


def test_refresh_mcp_compatibility_function_exports_a_working_token(world: World) -> None:
    script = 'source "$HOME/.bashrc"; refresh_mcp && printf %s "$SNOWFLAKE_MCP_TOKEN"'
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env=world.env, cwd=world.outside,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout, proc.stderr
    _, titles = mcp_search(world, {"Authorization": f"Bearer {proc.stdout}"}, "databricks")
    assert "Initech QBR" in titles


def test_ssh_login_by_pasting_the_callback_address(world: World) -> None:
    from harness.browser import sign_in

    old_key = json.loads((world.home / ".config/snowmcp/credentials").read_text())["api_key"]
    proc = subprocess.Popen([str(world.shim), "login", "--no-browser"], env=world.env, cwd=world.outside,
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None and proc.stdin is not None
        login_url = ""
        while not login_url:
            line = proc.stderr.readline()
            assert line, "snowmcp login exited before printing the URL"
            if "/v1/login?" in line:
                login_url = line.strip()
        # The browser runs "elsewhere": it cannot reach the loopback port, the user pastes the address.
        callback = sign_in(login_url, "alice@example.com", "alice-pass-1", stop_at_loopback=True)
        proc.stdin.write(callback + "\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    new_key = json.loads((world.home / ".config/snowmcp/credentials").read_text())["api_key"]
    assert new_key != old_key
    assert current_headers(world)["Authorization"].startswith("Bearer ")


def test_removed_user_gets_a_clear_error_and_no_stdout(world: World) -> None:
    from harness.svc import ADMIN_KEY

    status, body = world.svc.request("DELETE", "/v1/admin/users/alice@example.com", key=ADMIN_KEY)
    assert status in (200, 204), body
    proc = world.snowmcp("headers")
    assert proc.returncode == 3 and proc.stdout == ""
    assert "run `snowmcp login`" in proc.stderr


def test_onboarding_playbook_signs_in_when_interactive(world: World) -> None:
    """After removal, `logout` + the playbook with onboard_login=true (a desktop) brings the user back."""
    assert world.snowmcp("logout").returncode == 0
    run = world.onboard("-e", "onboard_login=true").ok()
    assert "TASK [Sign in through the browser]" in run.output and "sign in once by running" not in run.output
    status = json.loads(world.snowmcp("status", "--json").stdout)
    assert status["signed_in"] and status["username"].lower() == "alice@example.com"
    _, titles = mcp_search(world, None, "databricks")
    assert "Acme renewal call" in titles
    assert world.onboard().ok().changed == 0


def test_sign_in_revoked_in_snowflake_asks_for_a_new_login(world: World) -> None:
    world.emu.query('ALTER USER "alice@example.com" REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION MCP_OAUTH')
    time.sleep(ACCESS_TTL + 1)  # the cached access token expires; the refresh is refused (invalid_grant)
    proc = world.snowmcp("headers")
    assert proc.returncode == 3 and proc.stdout == "", proc.stderr
    assert "your Snowflake sign-in has expired or was revoked: run `snowmcp login`" in proc.stderr
    status = world.snowmcp("status")
    assert status.returncode == 1 and "run `snowmcp login`" in status.stdout
