"""Native sign-in end to end (issue 21): the role writes ~/.claude.json, and two real OAuth clients sign in with
nothing but what it wrote - the official MCP Python SDK, and Claude Code itself.

Real parts: the emulator (Protected Resource Metadata, Snowflake OAuth with a PUBLIC client, External OAuth),
the test identity provider of harness/idp.py, the onboarding playbook (which reads the PUBLIC integration's
client id from the emulator itself in snowflake_oauth mode), the MCP SDK's OAuthClientProvider
(tests/emulator/native_client.py), and the Claude Code CLI: `claude mcp list` before sign-in, then its
interactive `/mcp` -> Authenticate under tmux, with $BROWSER a script running harness/browser.py (which signs
in on the emulator's form and lands on Claude Code's own callback listener), then `claude mcp list` again.

One emulator, one HOME, two role runs: snowflake_oauth, then external_oauth (after the account side names the
IdP, the same steps as the account play's, in SQL).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.idp import IdpConfig, IdpUser, TestIdp
from harness.procs import ADMIN_PASSWORD, ADMIN_USER, Emulator, free_port
from tests.emulator.native_client import SignIn, connect, results
from tests.emulator.oauth_flow import run_sql
from tests.workstation.native_helpers import (
    TmuxClaude,
    claude,
    claude_env,
    no_managed_config_meanwhile,
)
from tests.workstation.test_e2e_claude import SPEC
from tests.workstation.wshelpers import ROOT, PlaybookRun, run_playbook, write_inventory

pytestmark = [pytest.mark.claude, pytest.mark.slow, pytest.mark.timeout(900)]

PORT = free_port()  # Claude Code's fixed callback port (it listens there during the sign-in)
ALICE = {"login": "alice@example.com", "roles": ["ANALYST"], "shell": "bash"}
SERVER = {"name": "GONG_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["ANALYST"], "tools": []}
IDP_APP = "claude-code-app"


@dataclass
class World:
    emu: Emulator
    idp: TestIdp
    base: Path
    home: Path
    client_id: str  # the PUBLIC integration's, as SHOW_OAUTH_CLIENT_SECRETS shows it
    runs: dict[str, PlaybookRun]
    entries: dict[str, dict[str, Any]]  # mode -> the GONG_MCP entry the role wrote

    @property
    def url(self) -> str:
        return f"{self.emu.url}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP"

    def onboard(self, mode: str, **native: Any) -> None:
        inventory = write_inventory(self.base / f"{mode}.yml", {
            "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": self.emu.port,
                                     "protocol": "http", "user": ADMIN_USER, "password": ADMIN_PASSWORD},
            "snowflake_mcp_servers": [SERVER],
            "mcp_users": [ALICE],
            "mcp_auth_mode": mode,
            "mcp_native_oauth": {"callback_port": PORT, **native},
        })  # fmt: skip
        self.runs[mode] = run_playbook(self.home, inventory, "-e", "mcp_user=alice@example.com").ok()
        self.entries[mode] = json.loads((self.home / ".claude.json").read_text())["mcpServers"]["GONG_MCP"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("native-e2e")
    home = base / "home"
    home.mkdir()
    config = IdpConfig(audience="api://snowflake", users={"alice": IdpUser("alice-idp-pass", {"sub": "alice@example.com"})},
                       clients={IDP_APP: [f"http://localhost:{PORT}/callback"]})  # fmt: skip
    emu = Emulator(base / "emulator").start()
    try:
        with TestIdp(config) as idp, no_managed_config_meanwhile():
            # The account side of snowflake_oauth (what the account play converges), in SQL.
            run_sql(emu,
                f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP FROM SPECIFICATION $${SPEC}$$",
                "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST", "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST",
                "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE ANALYST",
                "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP TO ROLE ANALYST",
                "CREATE SECURITY INTEGRATION SNOWMCP_CLAUDE_CODE TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
                f"OAUTH_CLIENT_TYPE = 'PUBLIC' OAUTH_REDIRECT_URI = 'http://localhost:{PORT}/callback' "
                "OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE OAUTH_ENFORCE_PKCE = TRUE ALLOWED_ROLES_LIST = ('ANALYST')",
                "ALTER ACCOUNT SET OAUTH_SCOPES_SUPPORTED = 'session:role:ANALYST,refresh_token'",
            )  # fmt: skip
            row = emu.query("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('SNOWMCP_CLAUDE_CODE')")[0]
            client_id = str(json.loads(next(iter(row.values())))["OAUTH_CLIENT_ID"])
            state = World(emu, idp, base, home, client_id, {}, {})
            state.onboard("snowflake_oauth")
            yield state
    finally:
        emu.stop()


def test_role_reads_the_public_client_from_snowflake_and_writes_the_entry(world: World) -> None:
    assert world.entries["snowflake_oauth"] == {
        "type": "http", "url": world.url, "oauth": {"clientId": world.client_id, "callbackPort": PORT}}  # fmt: skip
    # Nothing of the token service mode on the workstation.
    assert sorted(p.name for p in world.home.iterdir() if p.name not in (".ansible", ".cache")) == [".claude.json"]


def test_claude_code_before_sign_in(world: World) -> None:
    # Discovery reached the emulator's metadata (401 -> PRM -> authorization server), no browser opened.
    listed = claude(world.home, "mcp", "list").splitlines()
    assert f"GONG_MCP: {world.url} (HTTP) - ! Needs authentication" in listed, listed
    shown = [ln.strip() for ln in claude(world.home, "mcp", "get", "GONG_MCP").splitlines()]
    assert "Status: ! Needs authentication" in shown and f"OAuth: client_id configured, callback_port {PORT}" in shown


def test_mcp_sdk_signs_in_with_only_what_the_role_wrote(world: World) -> None:
    entry = json.loads((world.home / ".claude.json").read_text())["mcpServers"]["GONG_MCP"]
    person = SignIn("alice@example.com", "alice-pass-1")
    outcome = connect(entry, person, "call-search", {"query": "globex"})
    assert outcome.tools == ["call-search"]
    assert [r["title"] for r in results(outcome)] == ["Globex discovery call"]
    asked = {k: v[0] for k, v in parse_qs(urlsplit(person.urls[0]).query).items()}
    assert person.urls[0].startswith(world.emu.url + "/oauth/authorize?")
    assert (asked["client_id"], asked["redirect_uri"]) == (world.client_id, f"http://localhost:{PORT}/callback")


def test_claude_code_signs_in_itself_and_connects(world: World) -> None:
    browser_log = world.base / "browser.log"
    browser = world.base / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> "{browser_log}"\n'
                       f'exec "{sys.executable}" "{ROOT}/harness/browser.py" "$1" >> "{browser_log}" 2>&1\n')  # fmt: skip
    browser.chmod(0o755)
    # Claude Code's start-up questions answered as a user who has used it before (onboarding done, folder trusted).
    claude_json = world.home / ".claude.json"
    state = json.loads(claude_json.read_text())
    state.update(hasCompletedOnboarding=True, projects={str(world.base): {"hasTrustDialogAccepted": True}})
    claude_json.write_text(json.dumps(state, indent=2))
    env = claude_env(world.home, BROWSER=str(browser), SNOWMCP_TEST_USERNAME="alice@example.com",
                     SNOWMCP_TEST_PASSWORD="alice-pass-1")  # fmt: skip
    tui = TmuxClaude(world.home, env, world.base).start()
    try:
        tui.wait_for("for shortcuts")
        tui.send("/mcp", "Enter")
        tui.wait_for("GONG_MCP · △ needs authentication")
        tui.send("Enter")
        tui.wait_for("1. Authenticate")
        tui.send("Enter")
        screen = tui.wait_for("Authentication successful. Connected to GONG_MCP.")
        assert "Authentication successful" in screen
    finally:
        tui.stop()
    opened = browser_log.read_text().splitlines()[0]
    asked = {k: v[0] for k, v in parse_qs(urlsplit(opened).query).items()}
    # What Claude Code sends with a fixed callback port: localhost, not 127.0.0.1 (the PUBLIC integration's URI).
    assert asked["redirect_uri"] == f"http://localhost:{PORT}/callback"
    assert (asked["client_id"], asked["code_challenge_method"]) == (world.client_id, "S256")
    assert asked["scope"] == "session:role:ANALYST refresh_token" and asked["resource"] == world.url
    listed = claude(world.home, "mcp", "list").splitlines()
    assert f"GONG_MCP: {world.url} (HTTP) - ✔ Connected" in listed, listed
    # Claude Code keeps the tokens itself (0600), not in ~/.claude.json.
    store = world.home / ".claude" / ".credentials.json"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    assert [r["serverUrl"] for r in json.loads(store.read_text())["mcpOAuth"].values()] == [world.url]
    delegations = world.emu.query("SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION SNOWMCP_CLAUDE_CODE")
    assert {d["user_name"] for d in delegations} == {"alice@example.com"}


def test_external_oauth_entry_signs_in_at_the_identity_provider(world: World) -> None:
    # The account side of external_oauth: the IdP's integration named as the MCP servers' authorization server.
    run_sql(world.emu,
        "CREATE SECURITY INTEGRATION SNOWMCP_IDP TYPE = EXTERNAL_OAUTH ENABLED = TRUE "
        f"EXTERNAL_OAUTH_TYPE = OKTA EXTERNAL_OAUTH_ISSUER = '{world.idp.issuer}' "
        f"EXTERNAL_OAUTH_JWS_KEYS_URL = '{world.idp.jwks_url}' EXTERNAL_OAUTH_AUDIENCE_LIST = ('api://snowflake') "
        "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM = 'sub' EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE = 'LOGIN_NAME' "
        "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE = 'scp'",
        "ALTER ACCOUNT SET OAUTH_AUTHORIZATION_SERVER = 'SNOWMCP_IDP' OAUTH_SCOPES_SUPPORTED = 'session:role:ANALYST'",
    )  # fmt: skip
    world.onboard("external_oauth", client_id=IDP_APP)
    entry = world.entries["external_oauth"]
    assert entry == {"type": "http", "url": world.url, "oauth": {"clientId": IDP_APP, "callbackPort": PORT}}
    person = SignIn("alice", "alice-idp-pass")
    outcome = connect(entry, person, "call-search", {"query": "globex"})
    assert person.urls[0].startswith(world.idp.issuer + "/authorize?")
    assert [r["title"] for r in results(outcome)] == ["Globex discovery call"]
    # The Snowflake OAuth tokens Claude Code got before are now from the wrong issuer: refused on MCP endpoints.
    listed = claude(world.home, "mcp", "list").splitlines()
    assert f"GONG_MCP: {world.url} (HTTP) - ✔ Connected" not in listed, listed
