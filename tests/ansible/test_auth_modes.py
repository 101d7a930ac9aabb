"""`mcp_auth_mode` through the real account play: each mode's objects, idempotence, switching back.

One emulator for the module; the tests run in file order and build on each other:
token_service (its integration made with SQL) -> snowflake_oauth (re-run: changed=0) ->
external_oauth -> token_service. After each switch the account holds exactly the
objects of the mode (docs/auth-modes.md), read back through the real connector.
The validation rules and the filter are unit tests (no play) at the end.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_inventory import (
    account_plan,
    validate_inventory,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_native_plan import (
    native_oauth_client,
)

from harness.procs import Emulator
from tests.ansible.snowflake_helpers import base_inventory, run_play, write_inventory

EXTERNAL = {
    "name": "SNOWMCP_IDP", "type": "okta", "issuer": "https://example.okta.com/oauth2/default",
    "jws_keys_url": "https://example.okta.com/oauth2/default/v1/keys", "audience_list": ["api://snowflake"],
    "user_mapping_claim": "sub", "snowflake_user_mapping_attribute": "login_name",
    "scope_mapping_attribute": "scp", "any_role_mode": "disable",
}  # fmt: skip
FACT_TASK = "Publish the client id MCP clients sign in with (none in token_service mode)"


def inventory(emu: Emulator, mode: str, **native: Any) -> dict[str, Any]:
    inv = base_inventory(emu.port, emu.key_file)
    inv["mcp_auth_mode"] = mode
    inv["mcp_native_oauth"] = {"callback_port": 8765, **native}
    inv["snowflake_external_oauth_integration"] = copy.deepcopy(EXTERNAL)
    return inv


def converge(emu: Emulator, tmp_path: Path, inv: dict[str, Any], *args: str) -> Any:
    path = write_inventory(tmp_path / "inv.yml", inv)
    return run_play(path, *args)


def objects(emu: Emulator) -> dict[str, Any]:
    integrations = {r["name"]: r["type"] for r in emu.query("SHOW SECURITY INTEGRATIONS")}
    params: dict[str, Any] = {}
    for where in ("ACCOUNT", "DATABASE AICOLLEGE", "SCHEMA AICOLLEGE.PUBLIC"):
        for row in emu.query(f"SHOW PARAMETERS LIKE 'OAUTH_%' IN {where}"):
            if row["level"] and row["level"] == where.split()[0]:
                params[f"{where}: {row['key']}"] = row["value"]
    return {"integrations": integrations, "parameters": params}


def test_a_token_service_account_to_start_from(emu: Emulator) -> None:
    # What a token_service deployment leaves, made with SQL to save a play run (~10 CPU s): the
    # CONFIDENTIAL integration. The play's own token_service objects are proven at the end.
    emu.query(
        "CREATE SECURITY INTEGRATION SNOWMCP_OAUTH TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
        "OAUTH_CLIENT_TYPE = 'CONFIDENTIAL' OAUTH_REDIRECT_URI = 'https://svc.example.com/v1/oauth/callback'"
    )
    assert objects(emu) == {"integrations": {"SNOWMCP_OAUTH": "OAUTH - CUSTOM"}, "parameters": {}}


def test_snowflake_oauth_mode_then_a_rerun_changes_nothing(emu: Emulator, tmp_path: Path) -> None:
    inv = inventory(emu, "snowflake_oauth")
    first = converge(emu, tmp_path, inv, "-v")
    assert objects(emu) == {
        "integrations": {"SNOWMCP_CLAUDE_CODE": "OAUTH - CUSTOM"},
        "parameters": {"ACCOUNT: OAUTH_SCOPES_SUPPORTED": "session:role:MCP_USERS,refresh_token"},
    }
    props = {
        r["property"]: r["property_value"]
        for r in emu.query("DESC SECURITY INTEGRATION SNOWMCP_CLAUDE_CODE")
    }
    assert props["OAUTH_CLIENT_TYPE"] == "PUBLIC"
    assert props["OAUTH_ENFORCE_PKCE"] == "true"
    assert props["OAUTH_REDIRECT_URI"] == "http://localhost:8765/callback"
    assert sorted(props["ALLOWED_ROLES_LIST"].split(",")) == ["MCP_SALES", "MCP_USERS"]
    # The fact holds the integration's client id (read back from Snowflake, not guessed).
    assert props["OAUTH_CLIENT_ID"] in first.out.split(FACT_TASK, 1)[1].split("TASK [", 1)[0]
    again = converge(emu, tmp_path, inv)
    assert again.recap()["changed"] == 0, again.changed_tasks


def test_external_oauth_mode_owns_only_its_objects(emu: Emulator, tmp_path: Path) -> None:
    # No re-run here (each play run costs ~20 s on the shared CI machine): the role's re-run
    # is proven above, the external module's and the parameters module's in test_native_modules.py.
    inv = inventory(emu, "external_oauth", client_id="0oa-claude-code", parameters_level="schema")
    converge(emu, tmp_path, inv)
    assert objects(emu) == {
        "integrations": {"SNOWMCP_IDP": "EXTERNAL_OAUTH - OKTA"},
        "parameters": {
            "SCHEMA AICOLLEGE.PUBLIC: OAUTH_AUTHORIZATION_SERVER": "SNOWMCP_IDP",
            "SCHEMA AICOLLEGE.PUBLIC: OAUTH_SCOPES_SUPPORTED": "session:role:MCP_USERS",
        },
    }


def test_back_to_token_service_leaves_only_its_objects(emu: Emulator, tmp_path: Path) -> None:
    converge(emu, tmp_path, inventory(emu, "token_service"))
    assert objects(emu) == {"integrations": {"SNOWMCP_OAUTH": "OAUTH - CUSTOM"}, "parameters": {}}


# ---- validation and the filter (no play) ------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"mcp_auth_mode": "sso"}, "mcp_auth_mode must be one of"),
        (
            {"mcp_native_oauth": {"callback_port": 80}},
            "callback_port must be a whole number 1024-65535",
        ),
        ({"mcp_native_oauth": {"parameters_level": "table"}}, "parameters_level must be one of"),
        ({"mcp_native_oauth": {"colour": "x"}}, "mcp_native_oauth: unknown keys colour"),
        ({"mcp_native_oauth": {"client_id": "abc"}}, "must stay empty in snowflake_oauth mode"),
        ({"mcp_native_oauth": {"scopes": ["a,b"]}}, "list of single scopes"),
        ({"mcp_auth_mode": "external_oauth"}, "client_id is required in external_oauth mode"),
        (
            {
                "mcp_auth_mode": "external_oauth",
                "snowflake_external_oauth_integration": {"name": "X", "type": "gitlab"},
            },
            "type must be one of OKTA",
        ),
    ],
)
def test_bad_native_settings_are_listed_before_any_change(
    changes: dict[str, Any], problem: str
) -> None:
    inv = base_inventory(1)
    inv["mcp_auth_mode"] = "snowflake_oauth"
    inv.update(changes)
    problems = validate_inventory(inv)
    assert any(problem in p for p in problems), problems


def test_native_modes_need_no_token_service_integration_and_plan_the_filter_values() -> None:
    inv = base_inventory(1)
    del inv["snowflake_oauth_integration"]
    inv["mcp_auth_mode"] = "external_oauth"
    inv["mcp_native_oauth"] = {
        "client_id": "0oa-app",
        "callback_port": 9876,
        "parameters_level": "database",
    }
    inv["snowflake_external_oauth_integration"] = EXTERNAL
    assert validate_inventory(inv) == []
    plan = account_plan(inv, {})["auth"]
    assert plan["drop_confidential"] is None
    assert plan["parameter_targets"] == [
        {"level": "account"},
        {
            "level": "database",
            "database": "AICOLLEGE",
            "authorization_server": "SNOWMCP_IDP",
            "scopes_supported": ["session:role:MCP_USERS"],
        },
        {"level": "schema", "database": "AICOLLEGE", "schema": "PUBLIC"},
    ]  # fmt: skip  (two servers in one schema: one target each, never one per server)
    assert native_oauth_client(inv, "ignored") == {"client_id": "0oa-app", "callback_port": 9876}
    inv["mcp_auth_mode"] = "snowflake_oauth"
    assert native_oauth_client(inv, "from-snowflake") == {
        "client_id": "from-snowflake",
        "callback_port": 9876,
    }
    inv["mcp_auth_mode"] = "token_service"
    assert native_oauth_client(inv, "x") is None
    assert (
        account_plan(inv, {})["auth"]["manage_native_objects"] is True
    )  # native settings still there
    # An inventory that never mentions native sign-in pays nothing for it.
    assert account_plan(base_inventory(1), {})["auth"]["manage_native_objects"] is False
