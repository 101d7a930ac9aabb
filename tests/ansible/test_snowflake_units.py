"""Pure planning code of the Snowflake modules: quoting, spec comparison, grant and integration plans, inventory rules."""

from __future__ import annotations

import pytest
from ansible_collections.snowmcp.core.plugins.module_utils import snowflake_sql as sql
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_grants_plan import (
    Membership,
    Privilege,
    build_desired,
    parse_grants_of,
    parse_grants_to,
    plan,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_integration_plan import (
    alter_sql,
    comparable_current,
    current_values,
    desired_values,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_inventory import (
    account_plan,
    missing_objects_report,
    required_objects,
    validate_inventory,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_mcp_spec import (
    render_spec,
    same_spec,
    tool_privileges,
    validate_tools,
)
from ansible_collections.snowmcp.core.plugins.modules.snowflake_object_info import (
    check as check_objects,
)

from tests.ansible.snowflake_helpers import base_inventory


@pytest.mark.parametrize(
    ("given", "stored", "rendered"),
    [
        ("mcp_users", "MCP_USERS", "MCP_USERS"),
        ('"Mixed"', "Mixed", '"Mixed"'),
        ("alice@example.com", "alice@example.com", '"alice@example.com"'),
        ("X; DROP ROLE Y", "X; DROP ROLE Y", '"X; DROP ROLE Y"'),
        ('"a""b"', 'a"b', '"a""b"'),
        ("select", "SELECT", '"SELECT"'),  # a keyword is quoted even when plain
    ],
)
def test_identifiers_normalise_and_render(given: str, stored: str, rendered: str) -> None:
    assert sql.normalize(given) == stored
    assert sql.ident(stored) == rendered


def test_bad_identifiers_are_refused() -> None:
    for bad in ("", '"a"b"', "x\ny"):
        with pytest.raises(sql.IdentifierError):
            sql.normalize(bad)


def test_literals_and_qualified_names() -> None:
    assert sql.literal("it's \\ here") == "'it''s \\\\ here'"
    assert sql.split_qualified('aicollege.public."my ""svc"""') == ["AICOLLEGE", "PUBLIC", 'my "svc"']
    assert sql.canonical_qualified('AICOLLEGE.PUBLIC."my svc"') == 'AICOLLEGE.PUBLIC."my svc"'
    with pytest.raises(sql.IdentifierError):
        sql.split_qualified("a.b c.d")
    with pytest.raises(ValueError, match=r"\$\$"):
        sql.dollar_quoted("x $$ y")


def test_spec_compares_semantically_not_as_text() -> None:
    tools = [{"name": "s", "type": "CORTEX_SEARCH_SERVICE_QUERY", "identifier": "aicollege.public.gong", "title": None}]
    described = '{"version":1,"tools":[{"type":"CORTEX_SEARCH_SERVICE_QUERY","identifier":"AICOLLEGE.PUBLIC.GONG","name":"s"}]}'
    assert same_spec(tools, described)
    assert not same_spec([{**tools[0], "title": "T"}], described)
    assert 'identifier: "AICOLLEGE.PUBLIC.GONG"' in render_spec(tools)


def test_tool_validation_lists_every_problem() -> None:
    problems = validate_tools(
        [
            {"name": "a", "type": "CORTEX_SEARCH_SERVICE_QUERY"},
            {"name": "a", "type": "NOPE"},
            {"name": "q", "type": "SYSTEM_EXECUTE_SQL", "config": {"read_only": "yes", "colour": 1}},
        ]
        + [{"name": f"t{i}", "type": "SYSTEM_EXECUTE_SQL"} for i in range(50)]
    )
    text = "\n".join(problems)
    for expected in ("at most 50", "needs an `identifier`", "duplicate tool name", "unknown type 'NOPE'",
                     "config.read_only must be bool", "unknown config key 'colour'"):  # fmt: skip
        assert expected in text


def test_tool_privileges_cover_every_tool_type() -> None:
    grants = tool_privileges(
        [
            {"name": "s", "type": "CORTEX_SEARCH_SERVICE_QUERY", "identifier": "DB.S.SVC"},
            {"name": "q", "type": "SYSTEM_EXECUTE_SQL", "config": {"warehouse": "wh"}},
            {"name": "a", "type": "CORTEX_ANALYST_MESSAGE", "identifier": "db.s.view"},
            {"name": "g", "type": "CORTEX_AGENT_RUN", "identifier": "DB.S2.AGENT"},
            {"name": "f", "type": "GENERIC", "identifier": "db.s.f", "arguments": ["int", "string"],
             "config": {"type": "function", "warehouse": "WH"}},
            {"name": "p", "type": "GENERIC", "identifier": "db.s.p", "config": {"type": "procedure"}},
        ]
    )  # fmt: skip
    assert grants == [
        ("USAGE", "DATABASE", "DB"), ("USAGE", "SCHEMA", "DB.S"), ("USAGE", "CORTEX SEARCH SERVICE", "DB.S.SVC"),
        ("USAGE", "WAREHOUSE", "WH"), ("SELECT", "SEMANTIC VIEW", "DB.S.VIEW"),
        ("USAGE", "SCHEMA", "DB.S2"), ("USAGE", "AGENT", "DB.S2.AGENT"),
        ("USAGE", "FUNCTION", "DB.S.F(NUMBER, VARCHAR)"), ("USAGE", "PROCEDURE", "DB.S.P()"),
    ]  # fmt: skip


def test_routine_names_compare_across_input_grant_and_show_forms() -> None:
    key = "DB.S.F(NUMBER, VARCHAR)"
    assert sql.parse_routine("db.s.f(integer, string)") == key
    assert sql.parse_routine('DB.S."F(X NUMBER, Y VARCHAR):VARCHAR(16777216)"') == key
    assert sql.parse_routine('DB.S."F(X NUMBER(38,0), Y VARCHAR(10)):NUMBER(38,0)"') == key
    desired = build_desired(
        [{"role": "R", "privileges": ["USAGE"], "object_type": "function", "objects": ["db.s.f(int, text)"]}],
        [], [], ["R"],
    )  # fmt: skip
    current = parse_grants_to(
        "R", [{"privilege": "USAGE", "granted_on": "FUNCTION", "name": 'DB.S."F(A NUMBER, B VARCHAR):VARCHAR"'}]
    )
    assert plan(desired, current, "exact").statements() == []
    (grant,) = plan(desired, set(), "exact").statements()
    assert grant == "GRANT USAGE ON FUNCTION DB.S.F(NUMBER, VARCHAR) TO ROLE R"


def test_grant_plan_exact_touches_only_managed_roles_and_kinds() -> None:
    desired = build_desired(
        [{"role": "R", "privileges": ["usage"], "object_type": "mcp_server", "objects": ["db.s.m"]}],
        [],
        [{"role": "R", "users": ["alice@example.com"]}],
        ["R"],
    )
    current = parse_grants_to(
        "R",
        [
            {"privilege": "USAGE", "granted_on": "CORTEX_AGENT_SERVER", "name": "DB.S.M"},
            {"privilege": "USAGE", "granted_on": "DATABASE", "name": "OLD"},
            {"privilege": "OWNERSHIP", "granted_on": "DATABASE", "name": "MINE"},  # never revoked
            {"privilege": "SELECT", "granted_on": "TABLE", "name": "DB.S.T"},  # unmanaged kind
            {"privilege": "CREATE TABLE", "granted_on": "SCHEMA", "name": "DB.S"},  # not listable: unmanaged
            {"privilege": "USAGE", "granted_on": "ROLE", "name": "OTHER"},  # a role R holds: not R's edge
        ],
    ) | parse_grants_of("R", [{"granted_to": "USER", "grantee_name": "bob"}, {"granted_to": "ROLE", "grantee_name": "SYSADMIN"}])
    current |= parse_grants_of("OTHER", [{"granted_to": "USER", "grantee_name": "carol"}])  # unmanaged role
    todo = plan(desired, current, "exact")
    assert todo.grant == [Membership("R", "USER", "alice@example.com")]
    assert set(todo.revoke) == {
        Privilege("R", "USAGE", "DATABASE", "OLD"),
        Membership("R", "USER", "bob"),
        Membership("R", "ROLE", "SYSADMIN"),
    }
    assert plan(desired, current, "present").revoke == []
    assert todo.statements()[0] == 'GRANT ROLE R TO USER "alice@example.com"'
    assert "REVOKE USAGE ON DATABASE OLD FROM ROLE R" in todo.statements()


def test_integration_ignores_implicitly_blocked_roles() -> None:
    rows = [
        {"property": "BLOCKED_ROLES_LIST", "property_value": "ACCOUNTADMIN,SECURITYADMIN,ORGADMIN,GLOBALORGADMIN"},
        {"property": "ALLOWED_ROLES_LIST", "property_value": "MCP_USERS"},
        {"property": "OAUTH_REFRESH_TOKEN_VALIDITY", "property_value": "7776000"},
        {"property": "ENABLED", "property_value": "true"},
    ]
    desired = desired_values({"blocked_roles": [], "allowed_roles": ["mcp_users"], "refresh_token_validity": 7776000})
    assert alter_sql("I", comparable_current(current_values(rows), desired), desired) == []
    desired = desired_values({"blocked_roles": ["SYSADMIN"], "refresh_token_validity": 86400})
    statements = alter_sql("I", comparable_current(current_values(rows), desired), desired)
    assert statements == ["ALTER SECURITY INTEGRATION I SET BLOCKED_ROLES_LIST = ('SYSADMIN') OAUTH_REFRESH_TOKEN_VALIDITY = 86400"]
    with pytest.raises(ValueError, match="cannot change it"):
        alter_sql("I", {"client_type": "PUBLIC"}, {"client_type": "CONFIDENTIAL"})


def test_network_policy_compares_as_a_name_either_spelling() -> None:
    rows = [{"property": "NETWORK_POLICY", "property_value": "CORP_VPN"}]
    desired = desired_values({"network_policy": "corp_vpn"})
    assert alter_sql("I", comparable_current(current_values(rows), desired), desired) == []
    desired = desired_values({"network_policy": "other_policy"})
    assert alter_sql("I", comparable_current(current_values(rows), desired), desired) == [
        "ALTER SECURITY INTEGRATION I SET NETWORK_POLICY = 'other_policy'"
    ]
    desired = desired_values({"network_policy": ""})
    assert alter_sql("I", comparable_current(current_values(rows), desired), desired) == [
        "ALTER SECURITY INTEGRATION I UNSET NETWORK_POLICY"
    ]


def test_inventory_validation_and_plan() -> None:
    inv = base_inventory(1)
    assert validate_inventory(inv) == []
    inv["token_service"] = {"url": "https://snowmcp.example.com", "role": "MCP_SALES"}
    inv["snowflake_oauth_integration"]["allowed_roles"] = ["MCP_USERS"]
    assert validate_inventory(inv) == [
        "snowflake_oauth_integration.allowed_roles must include MCP_SALES, the role access tokens are scoped to"
    ]
    resolved = {
        "alice@example.com": {"exists": True, "name": "alice@example.com"},
        "BOB@example.com": {"exists": True, "name": "BOB@EXAMPLE.COM"},
        "carol@example.com": {"exists": False},
    }
    inv["mcp_users"][0]["state"] = "absent"
    result = account_plan(inv, resolved)
    assert result["offboard_users"] == ['"alice@example.com"']
    assert result["grants"]["user_grants"] == [{"role": "MCP_USERS", "users": ['"BOB@EXAMPLE.COM"']}]
    assert "carol@example.com" in result["missing_logins"]
    assert result["integration"]["redirect_uri"] == "https://snowmcp.example.com/v1/oauth/callback"
    assert "allow_non_tls_redirect_uri" not in result["integration"]


def test_logins_compare_like_snowflake_ascii_case_only() -> None:
    inv = base_inventory(1)
    first = inv["mcp_users"][0]["login"]
    inv["mcp_users"].append({"login": first.upper(), "roles": ["MCP_USERS"]})
    assert [p for p in validate_inventory(inv) if "duplicate login" in p], "ASCII case folds"
    inv = base_inventory(1)
    inv["mcp_users"] += [{"login": "kate@example.com", "roles": ["MCP_USERS"]},
                         {"login": "\u212aate@example.com", "roles": ["MCP_USERS"]}]  # KELVIN SIGN  # fmt: skip
    assert validate_inventory(inv) == [], "U+212A is not k to Snowflake: two different logins"
    assert sql.login_key("\u212aATE@Example.com") == "\u212aate@example.com"


def test_list_entries_that_are_not_mappings_are_named_and_skipped() -> None:
    inv = base_inventory(1)
    inv["snowflake_mcp_roles"].insert(0, "MCP_USERS")
    inv["snowflake_mcp_servers"].append(None)
    inv["mcp_users"].append(["alice@example.com"])
    assert validate_inventory(inv) == [
        "snowflake_mcp_roles[0] must be a mapping",
        f"snowflake_mcp_servers[{len(inv['snowflake_mcp_servers']) - 1}] must be a mapping",
        f"mcp_users[{len(inv['mcp_users']) - 1}] must be a mapping",
    ]


def test_absent_server_needs_no_tools_or_roles_and_grants_nothing() -> None:
    inv = base_inventory(1)
    inv["snowflake_mcp_servers"][1] = {"name": "DOCS_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "state": "absent"}
    assert validate_inventory(inv) == []
    plan_ = account_plan(inv, {})
    assert plan_["servers"][1] == {"name": "DOCS_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "state": "absent"}
    objects = {o for p in plan_["grants"]["privileges"] for o in p["objects"]}
    assert "AICOLLEGE.PUBLIC.DOCS_MCP" not in objects and "COMPUTE_WH" not in objects
    inv["snowflake_mcp_servers"][1]["state"] = "dropped"
    assert validate_inventory(inv) == [
        "MCP server AICOLLEGE.PUBLIC.DOCS_MCP.state must be present or absent (got 'dropped')"
    ]


def test_required_objects_are_what_the_play_does_not_create() -> None:
    inv = base_inventory(1)
    inv["snowflake_mcp_roles"][0]["grant_to_roles"] = ["sysadmin", "MCP_SALES", '"Odd Role"']
    inv["snowflake_oauth_integration"]["blocked_roles"] = ["ACCOUNTADMIN"]
    inv["snowflake_mcp_servers"].append(
        {"name": "OLD_MCP", "database": "GONE_DB", "schema": "PUBLIC", "state": "absent"}
    )
    assert validate_inventory(inv) == []
    req = required_objects(inv)
    # The MCP roles are created by the play; an absent server needs nothing; names as SHOW prints them.
    assert req["roles"] == ['"Odd Role"', "ACCOUNTADMIN", "SYSADMIN"]
    assert req["databases"] == ["AICOLLEGE"]
    assert req["schemas"] == ["AICOLLEGE.PUBLIC"]
    assert req["cortex_search_services"] == ["AICOLLEGE.PUBLIC.DOCS_SEARCH", "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"]
    assert req["warehouses"] == ["COMPUTE_WH"]
    assert req["needed_by"]["WAREHOUSE COMPUTE_WH"] == ["MCP server AICOLLEGE.PUBLIC.DOCS_MCP, tool 'sql'"]

    rows = {
        "roles": [{"name": "SYSADMIN"}, {"name": "ACCOUNTADMIN"}, {"name": "odd role"}],
        "schemas": [{"database_name": "AICOLLEGE", "name": "PUBLIC"}],
        "cortex_search_services": [
            {"database_name": "AICOLLEGE", "schema_name": "PUBLIC", "name": "DOCS_SEARCH"},
        ],
        "warehouses": [{"name": "COMPUTE_WH"}],
    }
    result = check_objects({k: req[k] for k in rows} | {"databases": ["aicollege"]}, rows)
    assert result["missing"] == [
        'ROLE "Odd Role"',  # quoted names keep their case: "odd role" is another role
        "CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED",
        "DATABASE AICOLLEGE",  # no SHOW DATABASES rows given
    ]
    assert result["exists"]["roles"]["SYSADMIN"] is True
    assert missing_objects_report(req, ["ROLE SYSADMIN", "ROLE OTHER"]) == [
        "ROLE SYSADMIN (named by snowflake_mcp_roles[0] (MCP_USERS).grant_to_roles)",
        "ROLE OTHER",
    ]
