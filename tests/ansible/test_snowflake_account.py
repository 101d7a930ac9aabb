"""The account play end to end: ansible-playbook against a real emulator, state read back via the connector.

The tests in this module share one emulator and run in order: the first one
converges the seeded account, later ones change the inventory or the account
and check what the play does about it. Each asserts on state read back, not on
return codes alone.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.procs import Emulator
from tests.ansible.snowflake_helpers import (
    base_inventory,
    client_secrets,
    grants_of,
    grants_to,
    integration,
    mcp_servers,
    refresh,
    role_names,
    run_play,
    sign_in,
    snapshot,
    users_of,
    write_inventory,
)

pytestmark = pytest.mark.slow  # every test runs the account play
REDIRECT = "http://127.0.0.1:8765/v1/oauth/callback"


@pytest.fixture(scope="module")
def inv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory")


def inventory(emu: Emulator, inv_dir: Path, name: str = "inv.yml", **changes: Any) -> Path:
    variables = base_inventory(emu.port, emu.key_file)
    variables.update(copy.deepcopy(changes))
    return write_inventory(inv_dir / name, variables)


def test_objects_the_inventory_names_must_exist_before_any_change(emu: Emulator, inv_dir: Path) -> None:
    # Runs first, on the freshly seeded account: nothing of the play's exists yet.
    variables = base_inventory(emu.port, emu.key_file)
    variables["snowflake_mcp_roles"][0]["grant_to_roles"] = ["SYSADMN"]  # typo of SYSADMIN
    variables["snowflake_mcp_servers"][0]["tools"][0]["identifier"] = "AICOLLEGE.PUBLIC.NO_SUCH_SEARCH"
    before = snapshot(emu)
    for args in ((), ("--check",)):
        result = run_play(write_inventory(inv_dir / "missing_objects.yml", variables), *args, check=False)
        assert result.rc != 0
        assert "Fail before any change when objects the inventory names do not exist" in result.tasks
        assert result.tasks["Fail before any change when objects the inventory names do not exist"] == {"failed"}
        assert "2 object(s) named in the inventory do not exist in Snowflake" in result.out
        assert "nothing was changed" in result.out
        assert "ROLE SYSADMN (named by snowflake_mcp_roles[0] (MCP_USERS).grant_to_roles)" in result.out
        assert (
            "CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.NO_SUCH_SEARCH (named by MCP server AICOLLEGE.PUBLIC.GONG_MCP, "
            "tool 'call-search')" in result.out
        )
        assert "Converge the MCP roles" not in result.tasks
        assert snapshot(emu) == before
        assert not {"MCP_USERS", "MCP_SALES"} & role_names(emu)
        assert emu.query("SHOW SECURITY INTEGRATIONS") == []
        assert mcp_servers(emu) == {}


def test_check_mode_plans_but_changes_nothing(emu: Emulator, inv_dir: Path) -> None:
    before = snapshot(emu)
    result = run_play(inventory(emu, inv_dir), "--check", "--diff")
    assert "Converge every grant of the MCP roles (objects, roles, users) in one call" in result.changed_tasks
    assert snapshot(emu) == before
    assert "MCP_USERS" not in role_names(emu)


def test_first_run_converges(emu: Emulator, inv_dir: Path) -> None:
    result = run_play(inventory(emu, inv_dir))
    assert result.recap()["failed"] == 0
    assert {"MCP_USERS", "MCP_SALES"} <= role_names(emu)
    # Logins resolve to user names: bob's login is lower-case, his SCIM name upper-case.
    assert users_of(emu, "MCP_USERS") == {"alice@example.com", "BOB@EXAMPLE.COM", "carol@example.com", "o'brien@example.com"}
    assert users_of(emu, "MCP_SALES") == {"alice@example.com"}
    assert ("ROLE", "SYSADMIN") in grants_of(emu, "MCP_USERS")
    assert grants_to(emu, "MCP_USERS") == {
        ("USAGE", "DATABASE", "AICOLLEGE"),
        ("USAGE", "SCHEMA", "AICOLLEGE.PUBLIC"),
        ("USAGE", "CORTEX_AGENT_SERVER", "AICOLLEGE.PUBLIC.DOCS_MCP"),
        ("USAGE", "CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.DOCS_SEARCH"),
        ("USAGE", "WAREHOUSE", "COMPUTE_WH"),
    }
    assert ("USAGE", "CORTEX_AGENT_SERVER", "AICOLLEGE.PUBLIC.GONG_MCP") in grants_to(emu, "MCP_SALES")
    assert set(mcp_servers(emu)) == {"GONG_MCP", "DOCS_MCP"}
    props = integration(emu)
    assert props["OAUTH_REDIRECT_URI"] == REDIRECT
    assert props["ALLOWED_ROLES_LIST"].split(",") == ["MCP_SALES", "MCP_USERS"] or set(
        props["ALLOWED_ROLES_LIST"].split(",")
    ) == {"MCP_USERS", "MCP_SALES"}
    assert props["OAUTH_ENFORCE_PKCE"] == "true"
    # The login with no Snowflake user is reported, not guessed.
    assert "No Snowflake user for: nobody@example.com" in result.out


def test_second_run_changes_nothing(emu: Emulator, inv_dir: Path) -> None:
    before = snapshot(emu)
    secrets_before = client_secrets(emu)
    result = run_play(inventory(emu, inv_dir))
    assert result.changed_tasks == []
    assert result.recap()["changed"] == 0
    assert snapshot(emu) == before
    assert client_secrets(emu) == secrets_before


def test_exact_purges_only_what_it_manages(emu: Emulator, inv_dir: Path) -> None:
    drift = [
        'GRANT ROLE MCP_USERS TO USER "dave@example.com"',  # holder not in the inventory: revoked
        "GRANT ROLE MCP_USERS TO ROLE ANALYST",  # role holder not in the inventory: revoked
        "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE MCP_USERS",
        "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST",  # unmanaged role: kept
        "GRANT ROLE ANALYST TO ROLE MCP_SALES",  # an unmanaged role held by a managed one: kept
        "GRANT CREATE TABLE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE MCP_USERS",  # a privilege it cannot list: kept
    ]
    for sql in drift:
        emu.query(sql)
    analyst_users = users_of(emu, "ANALYST")
    result = run_play(inventory(emu, inv_dir))
    assert result.changed_tasks == ["Converge every grant of the MCP roles (objects, roles, users) in one call"]
    assert "dave@example.com" not in users_of(emu, "MCP_USERS")
    assert ("ROLE", "ANALYST") not in grants_of(emu, "MCP_USERS")
    assert ("USAGE", "CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED") not in grants_to(emu, "MCP_USERS")
    assert ("USAGE", "DATABASE", "AICOLLEGE") in grants_to(emu, "ANALYST")
    assert ("ROLE", "MCP_SALES") in grants_of(emu, "ANALYST")
    assert ("CREATE TABLE", "SCHEMA", "AICOLLEGE.PUBLIC") in grants_to(emu, "MCP_USERS")
    assert users_of(emu, "ANALYST") == analyst_users
    # That the purge holds (a re-run changes nothing) is the next test's exact list of changed tasks.


def spec_and_integration_changed(variables: dict[str, Any]) -> dict[str, Any]:
    """The inventory after the spec and integration change (the tests after it start from there)."""
    variables["snowflake_mcp_servers"][1]["tools"][0]["description"] = "Search the onboarding docs"
    variables["snowflake_oauth_integration"] |= {"refresh_token_validity": 86400, "comment": "v2"}
    return variables


def test_spec_change_keeps_every_grant_and_integration_is_altered_in_place(emu: Emulator, inv_dir: Path) -> None:
    # Two inventory changes, one run: neither may touch a grant, each changes its own task only.
    emu.query("GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.DOCS_MCP TO ROLE ANALYST")  # a grant the inventory does not know
    grants_on = {(r["privilege"], r["grantee_name"]) for r in emu.query("SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.DOCS_MCP")}
    creates = emu.stats()["queries"].get("CREATE_MCP_SERVER", 0)
    creds = client_secrets(emu)
    variables = spec_and_integration_changed(base_inventory(emu.port, emu.key_file))
    result = run_play(write_inventory(inv_dir / "spec_integ.yml", variables))
    assert result.changed_tasks == [
        "Converge the OAuth security integration (altered in place, never replaced)",
        "Converge the MCP servers (a spec change keeps every grant on the server)",
    ]
    # The spec change: the server is re-created with the new spec and keeps every grant on it.
    assert emu.stats()["queries"].get("CREATE_MCP_SERVER", 0) == creates + 1
    spec = emu.query("DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.DOCS_MCP")[0]["server_spec"]
    assert "Search the onboarding docs" in spec
    after = {(r["privilege"], r["grantee_name"]) for r in emu.query("SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.DOCS_MCP")}
    assert after == grants_on
    assert ("USAGE", "ANALYST") in after
    # The integration change: ALTER, never CREATE OR REPLACE (the same client, the same secrets).
    props = integration(emu)
    assert props["OAUTH_REFRESH_TOKEN_VALIDITY"] == "86400"
    assert props["COMMENT"] == "v2"
    assert client_secrets(emu) == creds
    # That both changes hold is the next test's exact list of changed tasks (from this state).


def test_offboarding_revokes_roles_and_delegations(emu: Emulator, inv_dir: Path) -> None:
    tokens = sign_in(emu, "carol@example.com", "carol-pass-1", "MCP_USERS", REDIRECT)
    assert refresh(emu, tokens["refresh_token"]).status_code == 200
    assert emu.query('SHOW DELEGATED AUTHORIZATIONS BY USER "carol@example.com"')
    variables = spec_and_integration_changed(base_inventory(emu.port, emu.key_file))
    for user in variables["mcp_users"]:
        if user["login"] == "carol@example.com":
            user["state"] = "absent"
    path = write_inventory(inv_dir / "offboard.yml", variables)
    result = run_play(path)
    # Exactly these two: the spec and integration changes of the test before are not redone.
    assert result.changed_tasks == [
        "Converge every grant of the MCP roles (objects, roles, users) in one call",
        "Offboard users with state absent (remove their delegated authorizations)",
    ]
    assert "carol@example.com" not in users_of(emu, "MCP_USERS")
    assert emu.query('SHOW DELEGATED AUTHORIZATIONS BY USER "carol@example.com"') == []
    denied = refresh(emu, tokens["refresh_token"])
    assert denied.status_code in (400, 401) and denied.json()["error"] == "invalid_grant"
    assert run_play(path).changed_tasks == []


def test_server_with_state_absent_is_dropped_with_what_only_it_needed(emu: Emulator, inv_dir: Path) -> None:
    variables = base_inventory(emu.port, emu.key_file)
    docs = variables["snowflake_mcp_servers"][1]
    assert docs["name"] == "DOCS_MCP"
    # Only the name and place matter now; tools and roles may stay or go.
    variables["snowflake_mcp_servers"][1] = {"name": "DOCS_MCP", "database": "AICOLLEGE", "schema": "PUBLIC",
                                             "state": "absent"}  # fmt: skip
    path = write_inventory(inv_dir / "drop_server.yml", variables)
    before = snapshot(emu)
    run_play(path, "--check")
    assert snapshot(emu) == before
    result = run_play(path)
    assert result.recap()["failed"] == 0
    assert set(mcp_servers(emu)) == {"GONG_MCP"}
    # MCP_USERS used only DOCS_MCP: everything it was granted for it goes. MCP_SALES keeps what
    # GONG_MCP needs (the shared database and schema too) and loses the rest.
    assert {g for g in grants_to(emu, "MCP_USERS") if g[0] == "USAGE"} == set()
    assert {g for g in grants_to(emu, "MCP_SALES") if g[0] == "USAGE" and g[1] != "ROLE"} == {
        ("USAGE", "DATABASE", "AICOLLEGE"),
        ("USAGE", "SCHEMA", "AICOLLEGE.PUBLIC"),
        ("USAGE", "CORTEX_AGENT_SERVER", "AICOLLEGE.PUBLIC.GONG_MCP"),
        ("USAGE", "CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"),
    }
    assert "alice@example.com" in users_of(emu, "MCP_USERS")  # who holds the roles is unchanged
    assert run_play(path).changed_tasks == []


ALL_TYPES_TOOLS = [
    {"name": "analyst", "type": "CORTEX_ANALYST_MESSAGE", "identifier": "AICOLLEGE.PUBLIC.SALES_VIEW"},
    {"name": "agent", "type": "CORTEX_AGENT_RUN", "identifier": "AICOLLEGE.PUBLIC.SALES_AGENT"},
    {"name": "sql", "type": "SYSTEM_EXECUTE_SQL", "config": {"warehouse": "COMPUTE_WH"}},
    {"name": "add-one", "type": "GENERIC", "identifier": "AICOLLEGE.PUBLIC.ADD_ONE", "arguments": ["NUMBER"],
     "config": {"type": "function", "warehouse": "COMPUTE_WH"}},
    {"name": "refresh", "type": "GENERIC", "identifier": "AICOLLEGE.PUBLIC.REFRESH_NOTES",
     "arguments": ["NUMBER", "VARCHAR"], "config": {"type": "procedure"}},
    {"name": "search", "type": "CORTEX_SEARCH_SERVICE_QUERY", "identifier": "AICOLLEGE.PUBLIC.DOCS_SEARCH"},
]  # fmt: skip
TOOL_ARGUMENTS = {
    "analyst": {"message": "revenue by region"}, "agent": {"message": "hi"}, "sql": {"sql": "SHOW ROLES"},
    "add-one": {"x": 1}, "refresh": {"days": 7, "tag": "x"}, "search": {"query": "SSO"},
}  # fmt: skip
ALL_TYPES_PATH = "/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/ALL_TYPES_MCP"


def all_types_inventory(emu: Emulator, inv_dir: Path, tools: list[dict[str, Any]], name: str) -> Path:
    variables = base_inventory(emu.port, emu.key_file)
    variables["snowflake_mcp_servers"] = [
        variables["snowflake_mcp_servers"][0],  # GONG_MCP, as before
        {"name": "DOCS_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "state": "absent"},
        {"name": "ALL_TYPES_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "tools": copy.deepcopy(tools),
         "roles": ["MCP_USERS"]},
    ]  # fmt: skip
    return write_inventory(inv_dir / name, variables)


def tool_grants_of(emu: Emulator, role: str) -> set[tuple[str, str, str]]:
    """The role's privileges of the kinds the play manages (an earlier test left a CREATE TABLE)."""
    return {g for g in grants_to(emu, role) if g[0] in ("USAGE", "SELECT") and g[1] != "ROLE"}


def call_tool(emu: Emulator, token: str, tool: str) -> dict[str, Any]:
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": TOOL_ARGUMENTS[tool]}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    return dict(httpx.post(emu.url + ALL_TYPES_PATH, json=body, headers=headers, timeout=10).json())


def test_every_tool_type_gets_its_grants_and_works_for_a_signed_in_user(emu: Emulator, inv_dir: Path) -> None:
    path = all_types_inventory(emu, inv_dir, ALL_TYPES_TOOLS, "all_types.yml")
    assert run_play(path).recap()["failed"] == 0
    held = tool_grants_of(emu, "MCP_USERS")
    assert {
        ("USAGE", "CORTEX_AGENT_SERVER", "AICOLLEGE.PUBLIC.ALL_TYPES_MCP"),
        ("SELECT", "SEMANTIC_VIEW", "AICOLLEGE.PUBLIC.SALES_VIEW"),
        ("USAGE", "AGENT", "AICOLLEGE.PUBLIC.SALES_AGENT"),
        ("USAGE", "WAREHOUSE", "COMPUTE_WH"),
        ("USAGE", "FUNCTION", 'AICOLLEGE.PUBLIC."ADD_ONE(X NUMBER):NUMBER"'),
        ("USAGE", "PROCEDURE", 'AICOLLEGE.PUBLIC."REFRESH_NOTES(DAYS NUMBER, TAG VARCHAR):VARCHAR"'),
        ("USAGE", "CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.DOCS_SEARCH"),
        ("USAGE", "DATABASE", "AICOLLEGE"),
        ("USAGE", "SCHEMA", "AICOLLEGE.PUBLIC"),
    } == held
    token = sign_in(emu, "alice@example.com", "alice-pass-1", "MCP_USERS", REDIRECT)["access_token"]
    for tool in TOOL_ARGUMENTS:
        answer = call_tool(emu, token, tool)
        assert "error" not in answer and answer["result"]["isError"] is False, (tool, answer)

    # A grant revoked by hand breaks that tool only; the next run restores it.
    emu.query("REVOKE SELECT ON SEMANTIC VIEW AICOLLEGE.PUBLIC.SALES_VIEW FROM ROLE MCP_USERS")
    assert "not authorized" in call_tool(emu, token, "analyst")["error"]["message"]
    assert "error" not in call_tool(emu, token, "agent")
    # Only the grants task changes: the first run left the server and everything else converged.
    restored = run_play(path)
    assert restored.recap()["changed"] == 1
    assert restored.changed_tasks == ["Converge every grant of the MCP roles (objects, roles, users) in one call"]
    assert "error" not in call_tool(emu, token, "analyst")

    # Removing a tool revokes what only it needed, nothing else.
    without_agent = [t for t in ALL_TYPES_TOOLS if t["name"] != "agent"]
    result = run_play(all_types_inventory(emu, inv_dir, without_agent, "no_agent.yml"))
    assert result.recap()["failed"] == 0
    assert tool_grants_of(emu, "MCP_USERS") == held - {("USAGE", "AGENT", "AICOLLEGE.PUBLIC.SALES_AGENT")}


def test_missing_tool_objects_are_named_with_their_tool(emu: Emulator, inv_dir: Path) -> None:
    tools = copy.deepcopy(ALL_TYPES_TOOLS)
    tools[0]["identifier"] = "AICOLLEGE.PUBLIC.NO_VIEW"
    tools[3]["arguments"] = ["VARCHAR"]  # ADD_ONE takes a NUMBER: no such signature
    before = snapshot(emu)
    result = run_play(all_types_inventory(emu, inv_dir, tools, "missing_tool_objects.yml"), check=False)
    assert result.rc != 0
    assert (
        "SEMANTIC VIEW AICOLLEGE.PUBLIC.NO_VIEW (named by MCP server AICOLLEGE.PUBLIC.ALL_TYPES_MCP, tool 'analyst')"
        in result.out
    )
    assert "FUNCTION AICOLLEGE.PUBLIC.ADD_ONE(VARCHAR) (named by MCP server AICOLLEGE.PUBLIC.ALL_TYPES_MCP, tool 'add-one')" in result.out
    assert snapshot(emu) == before
