"""The inventory model (plugins/module_utils/inventory_model.py): the values every play derives from the inventory."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.snowmcp.core.plugins.module_utils import inventory_model as model
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_inventory import (
    validate_inventory,
)
from ansible_collections.snowmcp.core.plugins.modules.snowflake_user_info import resolve

from tests.ansible.snowflake_helpers import base_inventory

SERVERS = [
    {"name": "gong_mcp", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_USERS"], "tools": []},
    {"name": "docs_mcp", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["mcp_docs"], "tools": []},
    {"name": "admin_mcp", "database": "OPS", "schema": "PUBLIC", "roles": ["ADMINS"], "tools": []},
]
USERS = [
    {"login": "alice@example.com", "roles": ["MCP_USERS", "MCP_DOCS"], "shell": "/bin/bash"},
    {"login": "bob@example.com", "roles": ["MCP_USERS"], "host": "bob-laptop", "shell": "zsh", "servers": ["gong_mcp"]},
    {"login": "carol@example.com", "roles": ["mcp_users", "admins"], "host": "bob-laptop", "state": "absent"},
    {"login": "dave@example.com", "roles": ["MCP_DOCS"], "host": "bob-laptop"},
]
ACCOUNT = "http://127.0.0.1:8"


def inventory(**changes: Any) -> dict[str, Any]:
    inv: dict[str, Any] = {
        "snowflake_connection": {"account": "DEMO-ACCOUNT", "host": "127.0.0.1", "port": 8, "protocol": "http"},
        "token_service": {"url": "http://127.0.0.1:9/"},
        "snowflake_mcp_roles": [{"name": "mcp_users"}, {"name": "MCP_DOCS"}, {"name": "ADMINS"}],
        "snowflake_mcp_servers": copy.deepcopy(SERVERS),
        "mcp_users": copy.deepcopy(USERS),
    }
    inv.update(changes)
    return inv


def server_names(servers: list[Any]) -> list[str]:
    return [s.name if isinstance(s, model.McpServer) else s["name"] for s in servers]


# --- logins -----------------------------------------------------------------------------------


def test_logins_compare_ignoring_the_case_of_ascii_letters_only() -> None:
    assert model.login_key("Bob@Example.COM") == "bob@example.com"
    assert model.same_login("BOB@EXAMPLE.COM", "bob@example.com")
    # Snowflake folds A-Z only: these are different logins to it, and so to the model,
    # though str.lower()/casefold() would merge them.
    for upper, lower in (("ÉLISE@x.com", "élise@x.com"), ("\u212a@x.com", "k@x.com"), ("STRASSE@x.com", "straße@x.com")):
        assert not model.same_login(upper, lower), upper
    assert model.login_key("ÉLISE@X.COM") == "Élise@x.com"


def test_duplicate_logins_are_the_ascii_folded_ones() -> None:
    inv = base_inventory(1)
    inv["mcp_users"] = [
        {"login": "élise@example.com", "roles": ["MCP_USERS"]},
        {"login": "ÉLISE@example.com", "roles": ["MCP_USERS"]},  # another login for Snowflake
        {"login": "Bob@Example.com", "roles": ["MCP_USERS"]},
        {"login": "bob@example.COM", "roles": ["MCP_USERS"]},
    ]
    assert validate_inventory(inv) == [
        "mcp_users[3] (bob@example.COM): duplicate login (same as mcp_users[2]; logins compare ignoring the case of A-Z)"
    ]


def test_logins_resolve_to_snowflake_users_by_the_same_rule() -> None:
    rows = [
        {"name": "BOB@EXAMPLE.COM", "login_name": "BOB@EXAMPLE.COM"},
        {"name": "ÉLISE", "login_name": "ÉLISE@EXAMPLE.COM"},
    ]
    found = resolve(["bob@example.com", "Élise@example.com", "élise@example.com"], rows)
    assert found["users"]["bob@example.com"]["name"] == "BOB@EXAMPLE.COM"
    assert found["users"]["Élise@example.com"]["name"] == "ÉLISE"
    assert found["missing"] == ["élise@example.com"]  # é is not É to Snowflake


def test_a_user_is_found_by_login_the_same_way_everywhere() -> None:
    inv = inventory()
    assert [u.login for u in model.users_with_login(inv, "ALICE@example.com")] == ["alice@example.com"]
    assert model.users_with_login(inv, "alice@example.co") == []
    assert model.users_with_login(inv, "alice@example.com.") == []
    assert model.users_with_login(inv, ".*") == []  # not a pattern


# --- the account URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "url"),
    [
        # The account identifier, lower-cased, `_` written `-` (a host name cannot hold `_`).
        ({"snowflake_connection": {"account": "MYORG-MY_ACCOUNT"}}, "https://myorg-my-account.snowflakecomputing.com"),
        ({"snowflake_connection": {"account": "xy12345.us-east-2.aws"}}, "https://xy12345.us-east-2.aws.snowflakecomputing.com"),
        # The emulator: protocol, host and port as given; no port invented.
        ({"snowflake_connection": {"account": "A", "host": "127.0.0.1", "port": 8, "protocol": "http"}}, "http://127.0.0.1:8"),
        ({"snowflake_connection": {"account": "A", "host": "snowflake.internal"}}, "https://snowflake.internal"),
        # snowflake_account_url wins (private link, custom domain).
        ({"snowflake_account_url": "https://myorg-acct.privatelink.snowflakecomputing.com/",
          "snowflake_connection": {"account": "MYORG-ACCT", "host": "127.0.0.1"}},
         "https://myorg-acct.privatelink.snowflakecomputing.com"),
        # Only a connections.toml name: the plays must be told the URL.
        ({"snowflake_connection": {"connection_name": "prod"}}, ""),
        ({}, ""),
    ],
)  # fmt: skip
def test_account_url_has_one_rule(variables: dict[str, Any], url: str) -> None:
    assert model.account_url(variables) == url


def test_account_url_is_what_both_plays_used_to_disagree_on() -> None:
    # The workstation play wrote `myorg-my-account` without a port; the token service
    # `myorg-my_account` and `:443` after an explicit host. Both now read this one value.
    assert model.account_url({"snowflake_connection": {"account": "MyOrg-My_Account"}}) == (
        "https://myorg-my-account.snowflakecomputing.com"
    )
    assert ":443" not in model.account_url({"snowflake_connection": {"account": "A", "host": "sf.internal"}})


def test_service_url_drops_trailing_slashes() -> None:
    assert model.service_url(inventory()) == "http://127.0.0.1:9"
    assert model.service_url({"token_service": {"url": "https://svc.example.com/base//"}}) == "https://svc.example.com/base"
    assert model.service_url({}) == ""


# --- users and their servers ------------------------------------------------------------------


def test_a_users_servers_are_those_its_roles_reach_narrowed_by_its_list() -> None:
    inv = inventory()
    alice, bob, carol, dave = model.mcp_users(inv)
    # Role names compare as Snowflake stores them: `mcp_docs` is MCP_DOCS.
    assert server_names(model.user_servers(inv, alice)) == ["gong_mcp", "docs_mcp"]
    assert server_names(model.user_servers(inv, bob)) == ["gong_mcp"]  # narrowed by `servers`
    # An absent user still "reaches" servers: the workstation role's state override may keep them.
    assert server_names(model.user_servers(inv, carol)) == ["gong_mcp", "admin_mcp"]
    assert server_names(model.user_servers(inv, dave)) == ["docs_mcp"]


def test_a_users_servers_list_names_servers_as_the_validation_does() -> None:
    # The account play accepted `servers: [GONG_MCP]` for a server named gong_mcp (names
    # compare as stored) while the workstation play compared strings and configured nothing.
    inv = inventory()
    inv["mcp_users"][1]["servers"] = ["GONG_MCP"]
    bob = model.users_with_login(inv, "bob@example.com")[0]
    assert server_names(model.user_servers(inv, bob)) == ["gong_mcp"]


def test_dropped_servers_and_malformed_entries_reach_nobody() -> None:
    inv = inventory()
    inv["snowflake_mcp_servers"][0]["state"] = "absent"
    inv["snowflake_mcp_servers"].append({"name": "half_mcp", "roles": ["MCP_USERS"]})  # no database/schema
    inv["snowflake_mcp_servers"].append("not a mapping")
    inv["mcp_users"].append({"roles": ["MCP_USERS"]})  # no login
    inv["mcp_users"].append({"login": "eve@example.com", "roles": "MCP_USERS"})  # roles not a list
    alice = model.mcp_users(inv)[0]
    assert server_names(model.user_servers(inv, alice)) == ["docs_mcp"]
    assert [u.login for u in model.mcp_users(inv)][-1] == "eve@example.com"
    assert model.user_servers(inv, model.mcp_users(inv)[-1]) == []


def test_user_record_has_defaults_shells_and_server_urls() -> None:
    inv = inventory()
    alice, bob = (model.user_record(inv, u) for u in model.mcp_users(inv)[:2])
    assert alice == {
        "login": "alice@example.com",
        "roles": ["MCP_USERS", "MCP_DOCS"],
        "state": "present",
        "host": None,
        "unix_user": None,  # no local account named: the role works in the session's HOME (user mode)
        "shell": "/bin/bash",
        "shells": ["bash"],
        "servers": [
            {"name": "gong_mcp", "database": "AICOLLEGE", "schema": "PUBLIC",
             "url": f"{ACCOUNT}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp"},
            {"name": "docs_mcp", "database": "AICOLLEGE", "schema": "PUBLIC",
             "url": f"{ACCOUNT}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/docs_mcp"},
        ],
    }  # fmt: skip
    assert bob["shells"] == ["zsh"] and bob["host"] == "bob-laptop"
    assert model.user_record(inv, model.McpUser("x@example.com", ()))["shells"] == ["bash"]


def test_the_users_of_a_host() -> None:
    inv = inventory()
    assert [u.login for u in model.host_users(inv, "bob-laptop")] == [
        "bob@example.com", "carol@example.com", "dave@example.com",
    ]  # fmt: skip
    assert model.host_users(inv, "other-host") == []
    # Named: the user when they live here or nowhere in particular, or when the play runs locally.
    assert [u.login for u in model.host_users(inv, "other-host", "ALICE@example.com")] == ["alice@example.com"]
    assert model.host_users(inv, "other-host", "bob@example.com") == []
    assert [u.login for u in model.host_users(inv, "bob-laptop", "bob@example.com")] == ["bob@example.com"]
    assert [u.login for u in model.host_users(inv, "localhost", "bob@example.com")] == ["bob@example.com"]
    assert model.host_users(inv, "localhost") == []  # nobody's `host` is localhost


def test_the_servers_of_a_host_are_the_union_of_its_present_users() -> None:
    inv = inventory()
    # bob: gong; dave: docs; carol (absent) would add admin_mcp but is offboarded.
    assert server_names(model.host_servers(inv, "bob-laptop")) == ["gong_mcp", "docs_mcp"]
    inv["mcp_users"][3]["state"] = "absent"
    assert server_names(model.host_servers(inv, "bob-laptop")) == ["gong_mcp"]
    assert model.host_servers(inv, "nobody-here") == []


def test_a_machine_serves_its_present_users_and_the_user_being_configured() -> None:
    inv = inventory()
    logins = [u.login for u in model.machine_users(inv, "bob-laptop", "BOB@example.com")]
    assert logins == ["bob@example.com", "dave@example.com"]  # bob lives there: not twice
    # alice has no host: onboarded on another machine, that machine serves her too.
    assert [u.login for u in model.machine_users(inv, "other-host", "alice@example.com")] == ["alice@example.com"]
    assert server_names(model.host_servers(inv, "other-host", "alice@example.com")) == ["gong_mcp", "docs_mcp"]
    # Being offboarded there (the role's state for her): the machine serves nobody.
    assert model.machine_users(inv, "other-host", "alice@example.com", present=False) == []
    assert model.host_servers(inv, "other-host", "alice@example.com", present=False) == []
    # The role's state may override the inventory's: carol kept present adds her servers.
    assert server_names(model.host_servers(inv, "bob-laptop", "carol@example.com")) == ["gong_mcp", "docs_mcp", "admin_mcp"]


# --- the token service ------------------------------------------------------------------------


def test_token_service_role_is_normalised_like_the_validation() -> None:
    # The service role used to take the first MCP role as written (`mcp_users`), while the
    # account play granted and allowed the stored name MCP_USERS.
    assert model.token_service_role(inventory()) == "MCP_USERS"
    assert model.token_service_role(inventory(token_service={"role": "mcp_docs"})) == "MCP_DOCS"
    assert model.token_service_role(inventory(token_service={"role": '"bad"quote"'})) is None
    assert model.token_service_role({"snowflake_mcp_roles": []}) is None


def test_allowed_users_are_the_present_users_unless_given() -> None:
    inv = inventory()
    inv["mcp_users"][0]["state"] = "present"
    assert model.token_service_allowed_users(inv) == ["alice@example.com", "bob@example.com", "dave@example.com"]
    inv["token_service"] = {"allowed_users": ["only@example.com"]}
    assert model.token_service_allowed_users(inv) == ["only@example.com"]
    inv["token_service"] = {"allowed_users": []}  # as given (the role refuses it unless allow_any_user)
    assert model.token_service_allowed_users(inv) == []


def test_offboarded_logins_are_the_absent_users() -> None:
    assert model.offboarded_logins(inventory()) == ["carol@example.com"]
    assert model.offboarded_logins({}) == []


def test_records_to_remove_are_absent_users_and_those_off_the_allow_list() -> None:
    inv = inventory()  # carol is absent; alice, bob, dave present (the default allow-list)
    held = ["Alice@Example.com", "CAROL@example.com", "mallory@example.com", "carol@example.com"]
    # carol (absent) once; mallory is on no allow-list; alice stays.
    assert model.records_to_remove(inv, held) == ["carol@example.com", "mallory@example.com"]
    inv["token_service"] = {"allowed_users": [], "allow_any_user": True}  # an empty list removes nobody extra
    assert model.records_to_remove(inv, held) == ["carol@example.com"]
    assert model.records_to_remove(inv, []) == []
