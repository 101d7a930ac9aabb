"""The native sign-in modules against the emulator: External OAuth integrations, the OAuth
parameters and PUBLIC clients of snowflake_oauth_integration.

One playbook run per test, several module calls each (check mode, apply, re-run,
change, refusal); every claim is then read back through the real connector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.procs import Emulator
from tests.ansible.snowflake_helpers import client_secrets, integration, run_play
from tests.ansible.test_snowflake_modules import play

IDP = {
    "name": "snowmcp_idp", "type": "okta", "issuer": "https://example.okta.com/oauth2/default",
    "jws_keys_url": ["https://example.okta.com/oauth2/default/v1/keys"], "audience_list": ["api://snowflake"],
    "user_mapping_claim": ["sub"], "snowflake_user_mapping_attribute": "login_name",
    "scope_mapping_attribute": "scp", "any_role_mode": "disable",
}  # fmt: skip


def _assert(*that: str) -> dict[str, Any]:
    return {"name": "Check", "ansible.builtin.assert": {"quiet": True, "that": list(that)}}


def test_external_oauth_integration_module(emu: Emulator, tmp_path: Path) -> None:
    mod = "snowmcp.core.snowflake_external_oauth_integration"
    tasks: list[dict[str, Any]] = [
        {"name": "Plan", "check_mode": True, "register": "planned", mod: IDP},
        _assert("planned is changed", "planned.action == 'create'",
                "planned.queries | select('match', '^CREATE') | list | length == 1"),
        {"name": "Create", "register": "created", mod: IDP},
        {"name": "Again", "register": "again", mod: IDP},
        _assert("created is changed", "again is not changed", "again.queries | length == 1",
                "again.queries[0] is match('DESCRIBE SECURITY INTEGRATION')"),
        {"name": "Change two options", "register": "altered",
         mod: {**IDP, "audience_list": ["api://snowflake", "api://mcp"], "any_role_mode": "ENABLE"}},
        _assert("altered.action == 'alter'", "altered.queries | length == 2",
                "'EXTERNAL_OAUTH_ANY_ROLE_MODE = ENABLE' in altered.queries[1]",
                "'ISSUER' not in altered.queries[1]"),
        {"name": "Another type is refused", "register": "refused", "ignore_errors": True,
         mod: {**IDP, "type": "azure"}},
        _assert("refused is failed", "'cannot change it in place' in refused.msg",
                "refused.queries | select('match', '^ALTER') | list | length == 0"),
        {"name": "Missing required options", "register": "incomplete", "ignore_errors": True,
         mod: {"name": "OTHER_IDP", "type": "custom"}},
        _assert("incomplete is failed", "'issuer, jws_keys_url, user_mapping_claim required' in incomplete.msg"),
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    run_play(inv, "--diff", playbook=book)
    props = integration(emu, "SNOWMCP_IDP")
    assert props["EXTERNAL_OAUTH_TYPE"] == "OKTA"
    assert props["EXTERNAL_OAUTH_ISSUER"] == IDP["issuer"]
    assert sorted(props["EXTERNAL_OAUTH_AUDIENCE_LIST"].split(",")) == [
        "api://mcp",
        "api://snowflake",
    ]
    assert props["EXTERNAL_OAUTH_ANY_ROLE_MODE"] == "ENABLE"
    assert props["EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE"] == "LOGIN_NAME"
    assert "OTHER_IDP" not in {r["name"] for r in emu.query("SHOW SECURITY INTEGRATIONS")}


def test_oauth_parameters_module(emu: Emulator, tmp_path: Path) -> None:
    emu.query(
        "CREATE SECURITY INTEGRATION IF NOT EXISTS PARAM_IDP TYPE = EXTERNAL_OAUTH ENABLED = TRUE "
        "EXTERNAL_OAUTH_TYPE = CUSTOM EXTERNAL_OAUTH_ISSUER = 'https://idp.example' "
        "EXTERNAL_OAUTH_JWS_KEYS_URL = 'https://idp.example/keys' "
        "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM = 'sub' EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE = 'LOGIN_NAME'"
    )
    mod = "snowmcp.core.snowflake_oauth_parameters"
    at_account = {"targets": [
        {"level": "account", "authorization_server": "param_idp", "scopes_supported": ["session:role:MCP_USERS"]},
        {"level": "schema", "database": "aicollege", "schema": "public"},
    ]}  # fmt: skip
    at_schema = {"targets": [
        {"level": "account"},
        {"level": "schema", "database": "aicollege", "schema": "public", "authorization_server": "PARAM_IDP",
         "scopes_supported": ["session:role:MCP_USERS", "session:role:MCP_SALES"]},
    ]}  # fmt: skip
    nothing = {
        "targets": [
            {"level": "account"},
            {"level": "schema", "database": "AICOLLEGE", "schema": "PUBLIC"},
        ]
    }
    tasks: list[dict[str, Any]] = [
        {"name": "Plan", "check_mode": True, "register": "planned", mod: at_account},
        _assert("planned is changed", "planned.changed_targets == ['account']"),
        {"name": "Set at the account", "register": "set1", mod: at_account},
        {"name": "Again", "register": "again", mod: at_account},
        _assert("set1 is changed", "again is not changed",
                "again.queries | select('match', 'SHOW PARAMETERS') | list | length == 2", "again.queries | length == 2"),
        {"name": "Move to the schema", "register": "moved", mod: at_schema},
        _assert("moved.changed_targets | sort == ['account', 'schema AICOLLEGE.PUBLIC']",
                "moved.queries[2] is match('ALTER SCHEMA AICOLLEGE.PUBLIC SET')",
                "moved.queries[3] is match('ALTER ACCOUNT UNSET')"),
        {"name": "Schema again", "register": "again2", mod: at_schema},
        _assert("again2 is not changed"),
        {"name": "A bad level is refused", "register": "bad", "ignore_errors": True,
         mod: {"targets": [{"level": "schema", "database": "AICOLLEGE"}]}},
        _assert("bad is failed", "'schema is required' in bad.msg"),
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    run_play(inv, "--diff", playbook=book)
    rows = emu.query("SHOW PARAMETERS LIKE 'OAUTH_%' IN SCHEMA AICOLLEGE.PUBLIC")
    assert {r["key"]: (r["value"], r["level"]) for r in rows} == {
        "OAUTH_AUTHORIZATION_SERVER": ("PARAM_IDP", "SCHEMA"),
        "OAUTH_SCOPES_SUPPORTED": ("session:role:MCP_USERS,session:role:MCP_SALES", "SCHEMA"),
    }
    assert all(r["level"] == "" for r in emu.query("SHOW PARAMETERS IN ACCOUNT"))
    # Back to nothing anywhere: what token_service mode converges.
    inv, book = play(tmp_path, emu, [{"name": "Unset", "register": "gone", mod: nothing},
                                     _assert("gone is changed")], name="unset.yml")  # fmt: skip
    run_play(inv, playbook=book)
    rows = emu.query("SHOW PARAMETERS LIKE 'OAUTH_%' IN SCHEMA AICOLLEGE.PUBLIC")
    assert [(r["value"], r["level"]) for r in rows] == [("", ""), ("", "")]


def test_public_client_has_no_secret_and_cannot_become_confidential(
    emu: Emulator, tmp_path: Path
) -> None:
    mod = "snowmcp.core.snowflake_oauth_integration"
    public = {"name": "SNOWMCP_CLAUDE_CODE", "client_type": "PUBLIC", "redirect_uri": "http://localhost:8765/callback",
              "allow_non_tls_redirect_uri": True, "enforce_pkce": True}  # fmt: skip
    tasks: list[dict[str, Any]] = [
        {"name": "Create", "register": "created", "no_log": True, mod: {**public, "return_credentials": True}},
        {"name": "Again", "register": "again", mod: public},
        _assert("created is changed", "again is not changed", "created.client_id | length > 20",
                "'client_secret' not in created", "'client_secret_2' not in created"),
        {"name": "Confidential refused", "register": "switch", "ignore_errors": True,
         mod: {**public, "client_type": "CONFIDENTIAL"}},
        {"name": "Rotate refused", "register": "rotate", "ignore_errors": True,
         mod: {"name": "SNOWMCP_CLAUDE_CODE", "rotate_secret": "OAUTH_CLIENT_SECRET"}},
        _assert("switch is failed", "'use a new integration name' in switch.msg",
                "rotate is failed", "'no secret to rotate' in rotate.msg"),
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    run_play(inv, playbook=book)
    props = integration(emu, "SNOWMCP_CLAUDE_CODE")
    assert (props["OAUTH_CLIENT_TYPE"], props["OAUTH_ENFORCE_PKCE"]) == ("PUBLIC", "true")
    assert set(client_secrets(emu, "SNOWMCP_CLAUDE_CODE")) == {"OAUTH_CLIENT_ID"}
