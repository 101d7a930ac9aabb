"""Seed YAML -> account: what the tests' seed builds, and clear errors for bad seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from snowmcp.emulator.model import SYSTEM_ROLES
from snowmcp.emulator.seed import SeedError, build_account, load_seed

SEED = Path(__file__).resolve().parent.parent / "data" / "seed.yml"


def test_the_test_seed_builds_users_roles_objects_and_ownership():
    acct = load_seed(SEED)
    assert acct.name == "DEMO-ACCOUNT"
    assert set(SYSTEM_ROLES) | {"ANALYST"} == set(acct.roles)
    assert acct.inherited_roles("ACCOUNTADMIN") >= {
        "SECURITYADMIN",
        "USERADMIN",
        "SYSADMIN",
        "PUBLIC",
    }
    bob = acct.users["BOB@EXAMPLE.COM"]  # name differs from the login
    assert bob.login_name == "bob@example.com" and acct.user_by_login("BOB@example.com") is bob
    assert acct.users["alice@example.com"].name == "alice@example.com"  # name defaults to login
    assert acct.users["dave@example.com"].disabled
    assert acct.user_has_role("alice@example.com", "ANALYST")
    assert not acct.user_has_role("carol@example.com", "ANALYST")
    assert acct.user_has_role("ADMIN", "SYSADMIN")  # through ACCOUNTADMIN
    owners = {
        (g.granted_on, g.name): g.grantee
        for g in acct.privilege_grants
        if g.privilege == "OWNERSHIP"
    }
    assert owners[("DATABASE", "AICOLLEGE")] == "SYSADMIN"
    assert owners[("SCHEMA", "AICOLLEGE.PUBLIC")] == "SYSADMIN"
    assert (
        owners[("CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED")]
        == "SYSADMIN"
    )
    assert owners[("WAREHOUSE", "COMPUTE_WH")] == "SYSADMIN"
    assert owners[("ROLE", "ANALYST")] == "USERADMIN"
    svc = acct.cortex_search_service("AICOLLEGE", "PUBLIC", "GONG_CALLS_SEARCH_ENRICHED")
    assert svc is not None and len(svc.documents) == 3


def test_roles_can_be_mappings_with_parents():
    acct = build_account(
        {"roles": ["A", {"name": "B", "comment": "b", "granted_to_roles": ["A", "SYSADMIN"]}]}
    )
    assert acct.roles["B"].comment == "b"
    assert "B" in acct.inherited_roles("A") and "B" in acct.inherited_roles("ACCOUNTADMIN")


def test_logins_match_like_snowflake_ascii_case_only():
    acct = build_account({"users": [{"login_name": "kate@example.com"}, {"login_name": "\u212aate@example.com"}]})
    assert acct.user_by_login("KATE@Example.com").login_name == "kate@example.com"
    # U+212A KELVIN SIGN is not "k" to Snowflake (casefold() would say it is): another user.
    assert acct.user_by_login("\u212aATE@example.com").login_name == "\u212aate@example.com"


@pytest.mark.parametrize(
    ("seed", "where"),
    [
        ({"users": [{"password": "x"}]}, "users[0].login_name"),
        (
            {"users": [{"login_name": "a", "roles": ["NOPE"]}]},
            "users[0].roles: unknown role 'NOPE'",
        ),
        (
            {"users": [{"login_name": "a"}, {"login_name": "A"}]},
            "users[1]: login_name A is used twice",
        ),
        ({"users": [{"login_name": "a", "disabled": "yes"}]}, "users[0].disabled"),
        ({"users": [{"login_name": "a", "default_warehouse": "WH"}]}, "users[0].default_warehouse"),
        ({"users": [{"login_name": "a", "pasword": "typo"}]}, "users[0]: unknown key(s) pasword"),
        ({"roles": ["ACCOUNTADMIN"]}, "roles[0]: role ACCOUNTADMIN is defined twice"),
        (
            {"roles": [{"name": "A", "granted_to_roles": ["Z"]}]},
            "roles[0].granted_to_roles: unknown role Z",
        ),
        ({"databases": {"DB": {"S": {"tables": {}}}}}, "databases.DB.S: unknown key(s) tables"),
        (
            {"databases": {"DB": {"S": {"cortex_search_services": {"C": {"documents": ["x"]}}}}}},
            "documents[0]",
        ),
        ({"databases": ["DB"]}, "databases: expected a mapping"),
        ({"accounts": "X"}, "unknown key(s) accounts"),
        ("just text", "seed: expected a mapping"),
    ],
)
def test_bad_seeds_fail_with_their_location(seed: Any, where: str):
    with pytest.raises(SeedError) as info:
        build_account(seed)
    assert where in str(info.value)


def test_unreadable_seed_file_names_the_file(tmp_path: Path):
    bad = tmp_path / "seed.yml"
    bad.write_text("users: [unclosed\n")
    with pytest.raises(SeedError) as info:
        load_seed(bad)
    assert str(bad) in str(info.value)
