"""The SQL engine run directly (no HTTP): semantics, validation, access control, state.

Every test builds a fresh account from tests/data/seed.yml (milliseconds) and
asserts on the model and on what later SHOW/DESCRIBE statements read back.
The same behaviour through the real connector is in test_sql_connector.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.engine import Engine, Session, StatementResult, like_matcher
from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.model import Account, Delegation
from snowmcp.emulator.seed import load_seed

SEED = Path(__file__).resolve().parent.parent / "data" / "seed.yml"

INTEGRATION = (
    "CREATE SECURITY INTEGRATION MCP_OAUTH TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
    "OAUTH_CLIENT_TYPE = 'CONFIDENTIAL' OAUTH_REDIRECT_URI = 'https://svc.example.com/cb' {extra}"
)
SPEC = """$$
tools:
  - name: "call-search"
    type: "CORTEX_SEARCH_SERVICE_QUERY"
    identifier: "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
    title: "Gong Search"
$$"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.ctx = EmulatorContext(load_seed(SEED), state_file=tmp_path / "state.json")
        self.engine = Engine(self.ctx)
        self.admin = Session(user="ADMIN", role="ACCOUNTADMIN")
        self.alice = Session(user="alice@example.com", role="ANALYST")
        self.secadmin = Session(user="SECADMIN", role="SECURITYADMIN")

    @property
    def account(self) -> Account:
        return self.ctx.account

    def run(self, sql: str, session: Session | None = None) -> list[StatementResult]:
        return self.engine.execute(session or self.admin, sql)

    def rows(self, sql: str, session: Session | None = None) -> list[dict[str, Any]]:
        (result,) = self.run(sql, session)
        names = [c.name for c in result.columns]
        return [dict(zip(names, row, strict=True)) for row in result.rows]

    def error(self, sql: str, session: Session | None = None) -> SnowflakeError:
        with pytest.raises(SnowflakeError) as info:
            self.run(sql, session)
        return info.value


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def describe(h: Harness, name: str) -> dict[str, str]:
    return {
        r["property"]: r["property_value"] for r in h.rows(f"DESCRIBE SECURITY INTEGRATION {name}")
    }


# ---- security integrations -------------------------------------------------


def test_create_integration_defaults_describe_and_secrets(h: Harness):
    h.run(INTEGRATION.format(extra=""))
    props = describe(h, "mcp_oauth")
    assert props["ENABLED"] == "true"
    assert props["OAUTH_REFRESH_TOKEN_VALIDITY"] == "7776000"
    assert props["OAUTH_USE_SECONDARY_ROLES"] == "NONE"
    assert props["PRE_AUTHORIZED_ROLES_LIST"] == ""
    # Privileged roles are blocked implicitly and shown although nobody asked.
    assert props["BLOCKED_ROLES_LIST"].split(",")[:1] == ["ACCOUNTADMIN"]
    assert "SECURITYADMIN" in props["BLOCKED_ROLES_LIST"].split(",")
    assert "OAUTH_CLIENT_SECRET" not in props
    (secrets,) = h.rows("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('MCP_OAUTH')")[0].values()
    data = json.loads(str(secrets))
    assert list(data) == ["OAUTH_CLIENT_SECRET_2", "OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_ID"]
    assert (
        data["OAUTH_CLIENT_ID"] == props["OAUTH_CLIENT_ID"] and len(data["OAUTH_CLIENT_ID"]) == 28
    )
    assert data["OAUTH_CLIENT_SECRET"] != data["OAUTH_CLIENT_SECRET_2"]
    (row,) = h.rows("SHOW SECURITY INTEGRATIONS LIKE 'mcp\\_%'")
    assert (row["name"], row["type"], row["category"], row["enabled"]) == (
        "MCP_OAUTH",
        "OAUTH - CUSTOM",
        "SECURITY",
        True,
    )
    assert h.rows("SHOW GRANTS ON INTEGRATION MCP_OAUTH")[0]["privilege"] == "OWNERSHIP"


def test_secret_function_takes_the_name_as_stored(h: Harness):
    h.run(INTEGRATION.format(extra=""))
    err = h.error("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('mcp_oauth')")
    assert err.code == 2003 and "Integration '\"mcp_oauth\"'" in err.message


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        ("OAUTH_REFRESH_TOKEN_VALIDITY = 86399", 1008, "between 86400 and 7776000"),
        ("OAUTH_REFRESH_TOKEN_VALIDITY = 7776001", 1008, "between 86400 and 7776000"),
        ("OAUTH_ACCESS_TOKEN_VALIDITY = 59", 1008, "between 60 and 3600"),
        ("OAUTH_ACCESS_TOKEN_VALIDITY = 3601", 1008, "between 60 and 3600"),
        ("ENABLED = 'yes'", 1008, "ENABLED"),
        ("OAUTH_USE_SECONDARY_ROLES = ALL", 1008, "OAUTH_USE_SECONDARY_ROLES"),
        (
            "OAUTH_USE_SECONDARY_ROLES = IMPLICIT ALLOWED_ROLES_LIST = ('ANALYST')",
            2029,
            "ALLOWED_ROLES_LIST",
        ),
        ("BLOCKED_ROLES_LIST = ('NO_SUCH_ROLE')", 2003, "Role 'NO_SUCH_ROLE'"),
        ("PRE_AUTHORIZED_ROLES_LIST = ('ACCOUNTADMIN')", 1008, "pre-authorized"),
        ("ENABLED = TRUE ENABLED = FALSE", 2029, "duplicate"),
        ("FOO = 1", 1008, "FOO"),
    ],
)
def test_integration_parameter_validation_changes_nothing(
    h: Harness, extra: str, code: int, text: str
):
    err = h.error(INTEGRATION.format(extra=extra))
    assert err.code == code and text in err.message
    assert h.account.integrations == {}


def test_public_clients_cannot_pre_authorize_and_http_needs_non_tls_flag(h: Harness):
    public = INTEGRATION.replace("'CONFIDENTIAL'", "'PUBLIC'")
    assert (
        "CONFIDENTIAL"
        in h.error(public.format(extra="PRE_AUTHORIZED_ROLES_LIST = ('ANALYST')")).message
    )
    http = INTEGRATION.replace("https://svc", "http://svc")
    assert "OAUTH_ALLOW_NON_TLS_REDIRECT_URI" in h.error(http.format(extra="")).message
    h.run(http.format(extra="OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE"))
    missing = "CREATE SECURITY INTEGRATION X TYPE = OAUTH OAUTH_CLIENT = CUSTOM OAUTH_CLIENT_TYPE = 'PUBLIC'"
    assert "OAUTH_REDIRECT_URI" in h.error(missing).message


def test_or_replace_and_if_not_exists(h: Harness):
    h.run(INTEGRATION.format(extra=""))
    old = h.account.integrations["MCP_OAUTH"]
    h.account.delegations.append(Delegation("d1", "alice@example.com", "MCP_OAUTH", "ANALYST"))
    both = INTEGRATION.replace("CREATE", "CREATE OR REPLACE").replace(
        "INTEGRATION MCP", "INTEGRATION IF NOT EXISTS MCP"
    )
    assert h.error(both.format(extra="")).code == 2029
    assert h.error(INTEGRATION.format(extra="")).code == 2002
    (res,) = h.run(
        INTEGRATION.replace("INTEGRATION MCP", "INTEGRATION IF NOT EXISTS MCP").format(extra="")
    )
    assert "already exists" in str(res.rows[0][0])
    assert h.account.integrations["MCP_OAUTH"] is old and h.account.delegations
    h.run(INTEGRATION.replace("CREATE", "CREATE OR REPLACE").format(extra=""))
    new = h.account.integrations["MCP_OAUTH"]
    assert new.client_id != old.client_id and new.client_secret != old.client_secret
    assert h.account.delegations == []


def test_alter_set_unset_refresh_keep_client_id(h: Harness):
    h.run(INTEGRATION.format(extra="COMMENT = 'c' NETWORK_POLICY = 'np'"))
    before = h.account.integrations["MCP_OAUTH"]
    h.run(
        "ALTER SECURITY INTEGRATION MCP_OAUTH SET OAUTH_REFRESH_TOKEN_VALIDITY = 86400 "
        "BLOCKED_ROLES_LIST = ('analyst') ALLOWED_ROLES_LIST = ('PUBLIC') ENABLED = FALSE"
    )
    props = describe(h, "MCP_OAUTH")
    assert props["OAUTH_REFRESH_TOKEN_VALIDITY"] == "86400"
    assert props["BLOCKED_ROLES_LIST"].startswith("ANALYST,ACCOUNTADMIN")
    assert props["ALLOWED_ROLES_LIST"] == "PUBLIC" and props["ENABLED"] == "false"
    h.run("ALTER SECURITY INTEGRATION MCP_OAUTH UNSET ENABLED, NETWORK_POLICY, COMMENT")
    props = describe(h, "MCP_OAUTH")
    assert (props["ENABLED"], props["NETWORK_POLICY"], props["COMMENT"]) == ("true", "", "")
    # A bad ALTER leaves everything as it was.
    assert (
        h.error(
            "ALTER SECURITY INTEGRATION MCP_OAUTH SET OAUTH_USE_SECONDARY_ROLES = IMPLICIT"
        ).code
        == 2029
    )
    assert describe(h, "MCP_OAUTH")["OAUTH_USE_SECONDARY_ROLES"] == "NONE"
    assert (
        h.error("ALTER SECURITY INTEGRATION MCP_OAUTH SET OAUTH_CLIENT_TYPE = 'PUBLIC'").code
        == 2029
    )
    s1 = h.account.integrations["MCP_OAUTH"].client_secret
    h.run("ALTER SECURITY INTEGRATION MCP_OAUTH REFRESH OAUTH_CLIENT_SECRET_2")
    after = h.account.integrations["MCP_OAUTH"]
    assert after.client_secret == s1 and after.client_secret_2 != before.client_secret_2
    assert after.client_id == before.client_id
    h.run("ALTER SECURITY INTEGRATION MCP_OAUTH REFRESH OAUTH_CLIENT_SECRET")
    assert h.account.integrations["MCP_OAUTH"].client_secret != s1


def test_drop_integration_removes_delegations_and_grants(h: Harness):
    h.run(INTEGRATION.format(extra=""))
    h.account.delegations.append(Delegation("d1", "alice@example.com", "MCP_OAUTH", "ANALYST"))
    h.run("DROP SECURITY INTEGRATION MCP_OAUTH")
    assert h.account.integrations == {} and h.account.delegations == []
    assert not [g for g in h.account.privilege_grants if g.granted_on == "INTEGRATION"]
    assert "already dropped" in str(
        h.run("DROP SECURITY INTEGRATION IF EXISTS MCP_OAUTH")[0].rows[0][0]
    )
    assert h.error("DROP SECURITY INTEGRATION MCP_OAUTH").code == 2003


def test_integration_ddl_needs_accountadmin(h: Harness):
    err = h.error(INTEGRATION.format(extra=""), h.secadmin)
    assert (err.code, err.sqlstate) == (3001, "42501")
    h.run(INTEGRATION.format(extra=""))
    for sql in ("DESCRIBE SECURITY INTEGRATION MCP_OAUTH", "ALTER SECURITY INTEGRATION MCP_OAUTH SET ENABLED = FALSE",
                "DROP SECURITY INTEGRATION MCP_OAUTH"):  # fmt: skip
        assert h.error(sql, h.alice).code == 2003
    assert h.error("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('MCP_OAUTH')", h.secadmin).code == 3001
    assert h.rows("SHOW SECURITY INTEGRATIONS", h.alice) == []
    assert h.account.integrations["MCP_OAUTH"].enabled


# ---- delegated authorizations ----------------------------------------------


def test_show_and_remove_delegated_authorizations(h: Harness):
    h.run(INTEGRATION.format(extra=""))
    h.account.delegations += [
        Delegation("d1", "alice@example.com", "MCP_OAUTH", "ANALYST"),
        Delegation("d2", "BOB@EXAMPLE.COM", "MCP_OAUTH", "ANALYST"),
    ]
    rows = h.rows("SHOW DELEGATED AUTHORIZATIONS")
    assert [
        (r["user_name"], r["role_name"], r["integration_name"], r["integration_status"])
        for r in rows
    ] == [
        ("alice@example.com", "ANALYST", "MCP_OAUTH", "ENABLED"),
        ("BOB@EXAMPLE.COM", "ANALYST", "MCP_OAUTH", "ENABLED"),
    ]
    assert len(h.rows('SHOW DELEGATED AUTHORIZATIONS BY USER "alice@example.com"', h.alice)) == 1
    assert h.error("SHOW DELEGATED AUTHORIZATIONS", h.alice).code == 3001
    assert h.error('SHOW DELEGATED AUTHORIZATIONS BY USER "BOB@EXAMPLE.COM"', h.alice).code == 3001
    h.run(
        'ALTER USER "alice@example.com" REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION MCP_OAUTH'
    )
    assert [d.id for d in h.account.delegations] == ["d2"]
    assert (
        h.rows("SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION MCP_OAUTH")[0]["user_name"]
        == "BOB@EXAMPLE.COM"
    )
    assert (
        h.error(
            "ALTER USER NOBODY REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION MCP_OAUTH"
        ).code
        == 2003
    )


# ---- MCP servers -----------------------------------------------------------


def test_mcp_server_create_describe_show_with_session_namespace(h: Harness):
    assert h.error(f"CREATE MCP SERVER gong FROM SPECIFICATION {SPEC}").code == 90105
    h.run(
        f"USE DATABASE AICOLLEGE; CREATE MCP SERVER gong COMMENT = 'calls' FROM SPECIFICATION {SPEC}"
    )
    (row,) = h.rows("DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.GONG")
    spec = json.loads(str(row["server_spec"]))
    assert (
        spec["version"] == 1
        and spec["tools"][0]["identifier"] == "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
    )
    assert (row["owner"], row["comment"]) == ("ACCOUNTADMIN", "calls")
    assert "version" not in h.account.mcp_server("AICOLLEGE", "PUBLIC", "GONG").spec  # type: ignore[union-attr]
    assert [r["name"] for r in h.rows("SHOW MCP SERVERS LIKE 'g%' IN SCHEMA AICOLLEGE.PUBLIC")] == [
        "GONG"
    ]
    assert h.rows("SHOW MCP SERVERS LIKE 'x%' IN ACCOUNT") == []
    assert h.error("SHOW MCP SERVERS IN DATABASE NOPE").code == 2003


def test_mcp_or_replace_drops_grants_and_ownership_is_recorded(h: Harness):
    h.run(f"CREATE MCP SERVER AICOLLEGE.PUBLIC.GONG FROM SPECIFICATION {SPEC};"
          "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG TO ROLE ANALYST")  # fmt: skip
    grants = h.rows("SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.GONG")
    assert {(g["privilege"], g["grantee_name"], g["granted_on"]) for g in grants} == {
        ("OWNERSHIP", "ACCOUNTADMIN", "CORTEX_AGENT_SERVER"), ("USAGE", "ANALYST", "CORTEX_AGENT_SERVER")}  # fmt: skip
    assert h.account.role_has_privilege(
        "ANALYST", "USAGE", "CORTEX_AGENT_SERVER", "AICOLLEGE.PUBLIC.GONG"
    )
    assert (
        h.error(f"CREATE MCP SERVER AICOLLEGE.PUBLIC.GONG FROM SPECIFICATION {SPEC}").code == 2002
    )
    h.run(f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.GONG FROM SPECIFICATION {SPEC}")
    grants = h.rows("SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.GONG")
    assert [(g["privilege"], g["grantee_name"]) for g in grants] == [("OWNERSHIP", "ACCOUNTADMIN")]
    assert not h.account.role_has_privilege(
        "ANALYST", "USAGE", "CORTEX_AGENT_SERVER", "AICOLLEGE.PUBLIC.GONG"
    )
    h.run("DROP MCP SERVER AICOLLEGE.PUBLIC.GONG")
    assert h.account.mcp_server("AICOLLEGE", "PUBLIC", "GONG") is None
    assert not [g for g in h.account.privilege_grants if g.granted_on == "CORTEX_AGENT_SERVER"]


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("tools: []", "non-empty"),
        ("tools:\n  - {name: a, type: NOPE, identifier: x}", "'type' must be one of"),
        ("tools:\n  - {name: a, type: CORTEX_SEARCH_SERVICE_QUERY}", "'identifier' is required"),
        (
            "tools:\n  - {name: a, type: SYSTEM_EXECUTE_SQL}\n  - {name: a, type: SYSTEM_EXECUTE_SQL}",
            "more than once",
        ),
        (
            "tools:\n  - {name: a, type: SYSTEM_EXECUTE_SQL, config: {read_only: maybe}}",
            "read_only",
        ),
        ("tools: [unclosed", "not valid YAML"),
        (
            "\n".join(
                ["tools:"] + [f"  - {{name: t{i}, type: SYSTEM_EXECUTE_SQL}}" for i in range(51)]
            ),
            "at most 50",
        ),
    ],
)
def test_mcp_spec_validation(h: Harness, spec: str, text: str):
    err = h.error(f"CREATE MCP SERVER AICOLLEGE.PUBLIC.BAD FROM SPECIFICATION $${spec}$$")
    assert err.code == 1008 and text in err.message
    assert h.account.mcp_server("AICOLLEGE", "PUBLIC", "BAD") is None


def test_fifty_tools_and_sql_tool_without_identifier_are_fine(h: Harness):
    spec = "\n".join(
        ["tools:"] + [f"  - {{name: t{i}, type: SYSTEM_EXECUTE_SQL}}" for i in range(50)]
    )
    h.run(f"CREATE MCP SERVER AICOLLEGE.PUBLIC.MANY FROM SPECIFICATION $${spec}$$")
    assert len(h.account.mcp_server("AICOLLEGE", "PUBLIC", "MANY").spec["tools"]) == 50  # type: ignore[union-attr]


def test_mcp_ddl_needs_schema_ownership_or_create_privilege(h: Harness):
    sql = f"CREATE MCP SERVER AICOLLEGE.PUBLIC.GONG FROM SPECIFICATION {SPEC}"
    # ANALYST cannot even see the database.
    assert h.error(sql, h.alice).code == 2003
    h.run(
        "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST; GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST"
    )
    err = h.error(sql, h.alice)
    assert (err.code, err.sqlstate) == (
        3001,
        "42501",
    ) and "schema 'AICOLLEGE.PUBLIC'" in err.message
    h.run("GRANT CREATE MCP SERVER ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST")
    h.run(sql, h.alice)
    assert h.rows("SHOW MCP SERVERS IN ACCOUNT", h.alice)[0]["owner"] == "ANALYST"
    # SYSADMIN owns the schema but not this server: it can see it (inherits nothing from ANALYST) -> no.
    assert (
        h.error("DROP MCP SERVER AICOLLEGE.PUBLIC.GONG", Session("ADMIN", "SYSADMIN")).code == 2003
    )
    h.run("DROP MCP SERVER AICOLLEGE.PUBLIC.GONG", h.alice)


# ---- roles and grants ------------------------------------------------------


def test_role_ddl_privileges_and_ownership(h: Harness):
    err = h.error("CREATE ROLE MCP_USERS", h.alice)
    assert (err.code, err.sqlstate) == (3001, "42501")
    h.run("CREATE ROLE MCP_USERS COMMENT = 'mcp'", h.secadmin)
    (row,) = h.rows("SHOW ROLES LIKE 'mcp_users'")
    assert (row["owner"], row["comment"]) == ("SECURITYADMIN", "mcp")
    assert "already exists" in str(h.run("CREATE ROLE IF NOT EXISTS MCP_USERS")[0].rows[0][0])
    assert h.error("CREATE ROLE MCP_USERS").code == 2002
    assert h.error("DROP ROLE ACCOUNTADMIN").code == 3001
    assert h.error("DROP ROLE NOPE").code == 2003
    h.run("DROP ROLE IF EXISTS NOPE")


def test_grant_and_revoke_privileges_read_back(h: Harness):
    h.run("CREATE ROLE MCP_USERS", h.secadmin)
    h.run(
        "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE MCP_USERS;"
        "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE MCP_USERS;"
        "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE MCP_USERS;"
        "GRANT USAGE ON WAREHOUSE COMPUTE_WH TO ROLE MCP_USERS;"
        "GRANT USAGE ON WAREHOUSE COMPUTE_WH TO ROLE MCP_USERS;",  # a repeat adds nothing
        h.secadmin,
    )
    rows = h.rows("SHOW GRANTS TO ROLE MCP_USERS")
    assert sorted((r["privilege"], r["granted_on"], r["name"]) for r in rows) == [
        ("USAGE", "CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"),
        ("USAGE", "DATABASE", "AICOLLEGE"),
        ("USAGE", "SCHEMA", "AICOLLEGE.PUBLIC"),
        ("USAGE", "WAREHOUSE", "COMPUTE_WH"),
    ]
    assert {r["granted_by"] for r in rows} == {"SECURITYADMIN"}
    assert {(r["granted_to"], r["grant_option"]) for r in rows} == {("ROLE", "false")}
    h.run(
        "REVOKE USAGE ON WAREHOUSE COMPUTE_WH FROM ROLE MCP_USERS; REVOKE USAGE ON WAREHOUSE COMPUTE_WH FROM ROLE MCP_USERS"
    )
    assert len(h.rows("SHOW GRANTS TO ROLE MCP_USERS")) == 3
    assert h.error("GRANT USAGE ON DATABASE NOPE TO ROLE MCP_USERS").code == 2003
    assert h.error("GRANT USAGE ON DATABASE AICOLLEGE TO ROLE NOPE").code == 2003
    assert h.error("GRANT OPERATE ON DATABASE AICOLLEGE TO ROLE MCP_USERS").code == 1008
    # ANALYST sees nothing of AICOLLEGE, so for it the database does not exist.
    assert h.error("GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST", h.alice).code == 2003


def test_role_grants_users_and_hierarchy(h: Harness):
    h.run(
        'CREATE ROLE MCP_USERS; GRANT ROLE MCP_USERS TO ROLE ANALYST; GRANT ROLE MCP_USERS TO USER "alice@example.com"'
    )
    of = h.rows("SHOW GRANTS OF ROLE MCP_USERS")
    assert [(r["role"], r["granted_to"], r["grantee_name"]) for r in of] == [
        ("MCP_USERS", "ROLE", "ANALYST"), ("MCP_USERS", "USER", "alice@example.com")]  # fmt: skip
    to_user = h.rows('SHOW GRANTS TO USER "alice@example.com"')
    assert sorted(r["role"] for r in to_user) == ["ANALYST", "MCP_USERS"]
    to_role = h.rows("SHOW GRANTS TO ROLE ANALYST")
    assert ("USAGE", "ROLE", "MCP_USERS") in [
        (r["privilege"], r["granted_on"], r["name"]) for r in to_role
    ]
    assert h.account.user_has_role("BOB@EXAMPLE.COM", "MCP_USERS")  # through ANALYST
    err = h.error("GRANT ROLE ANALYST TO ROLE MCP_USERS")
    assert err.code == 2029 and "cycle" in err.message
    assert h.error('GRANT ROLE MCP_USERS TO USER "nobody@example.com"').code == 2003
    # The user NAME is an identifier: unquoted it is upper-cased and does not match.
    assert h.error("GRANT ROLE MCP_USERS TO USER alice@example.com").code == 1003
    assert h.error("GRANT ROLE MCP_USERS TO USER BOB", h.alice).code == 2003
    assert h.error('GRANT ROLE MCP_USERS TO USER "BOB@EXAMPLE.COM"', h.alice).code == 3001
    h.run(
        'REVOKE ROLE MCP_USERS FROM USER "alice@example.com"; REVOKE ROLE MCP_USERS FROM ROLE ANALYST'
    )
    assert h.rows("SHOW GRANTS OF ROLE MCP_USERS") == []


def test_drop_role_transfers_ownership_and_removes_its_grants(h: Harness):
    h.run("CREATE ROLE OWNER_R; GRANT ROLE OWNER_R TO USER ADMIN; GRANT ROLE OWNER_R TO ROLE SYSADMIN;"
          "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE OWNER_R; GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE OWNER_R;"
          "GRANT CREATE MCP SERVER ON SCHEMA AICOLLEGE.PUBLIC TO ROLE OWNER_R")  # fmt: skip
    h.run(f"USE ROLE OWNER_R; CREATE MCP SERVER AICOLLEGE.PUBLIC.S FROM SPECIFICATION {SPEC}")
    assert h.admin.role == "OWNER_R"
    h.run("USE ROLE ACCOUNTADMIN; DROP ROLE OWNER_R")
    assert "OWNER_R" not in h.account.roles
    assert not [g for g in h.account.role_grants if "OWNER_R" in (g.role, g.grantee)]
    assert h.rows("DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.S")[0]["owner"] == "ACCOUNTADMIN"


def test_each_statement_is_checked_as_the_role_current_at_that_statement(h: Harness):
    # SHOW ROLES first: it reads the session role's inherited roles before the USE ROLE.
    assert h.error("SHOW ROLES; USE ROLE PUBLIC; CREATE ROLE PER_STMT_DENIED").code == 3001
    assert "PER_STMT_DENIED" not in h.account.roles
    h.run("SHOW ROLES; USE ROLE ACCOUNTADMIN; CREATE ROLE PER_STMT_ALLOWED")
    assert h.account.roles["PER_STMT_ALLOWED"].owner == "ACCOUNTADMIN"


def test_quoted_mixed_case_and_quote_containing_names(h: Harness):
    h.run(
        'CREATE ROLE "Mixed Role"; CREATE ROLE "it""s"; GRANT ROLE "it""s" TO USER "o\'brien@example.com"'
    )
    assert {"Mixed Role", 'it"s'} <= set(h.account.roles)
    assert h.error("DROP ROLE mixed_role").code == 2003
    assert [r["name"] for r in h.rows("SHOW ROLES LIKE 'mixed%'")] == ["Mixed Role"]
    (row,) = h.rows('SHOW GRANTS OF ROLE "it""s"')
    assert row["grantee_name"] == "o'brien@example.com"
    h.run('GRANT USAGE ON DATABASE AICOLLEGE TO ROLE "Mixed Role"')
    assert h.rows('SHOW GRANTS ON ROLE "Mixed Role"')[0]["name"] == '"Mixed Role"'
    assert h.rows("SHOW USERS LIKE 'o''brien%'")[0]["login_name"] == "o'brien@example.com"


# ---- users, SHOW, USE, SELECT -----------------------------------------------


def test_show_users_formats_and_alter_user(h: Harness):
    rows = {r["name"]: r for r in h.rows("SHOW USERS")}
    assert rows["BOB@EXAMPLE.COM"]["login_name"] == "bob@example.com"
    assert rows["dave@example.com"]["disabled"] == "true" and rows["ADMIN"]["disabled"] == "false"
    assert rows["alice@example.com"]["default_warehouse"] == "COMPUTE_WH"
    h.run(
        'ALTER USER "carol@example.com" SET DEFAULT_WAREHOUSE = COMPUTE_WH DEFAULT_ROLE = ANALYST'
    )
    carol = h.account.users["carol@example.com"]
    assert (carol.default_warehouse, carol.default_role) == ("COMPUTE_WH", "ANALYST")
    h.run('ALTER USER "carol@example.com" UNSET DEFAULT_ROLE')
    assert carol.default_role is None
    assert h.rows("SHOW USERS", h.alice) == []  # ANALYST owns no users
    assert (
        h.error('ALTER USER "carol@example.com" SET DEFAULT_ROLE = ANALYST', h.alice).code == 3001
    )
    h.run(
        'ALTER USER "alice@example.com" SET DEFAULT_WAREHOUSE = COMPUTE_WH', h.alice
    )  # own defaults: fine
    assert h.error('ALTER USER "alice@example.com" SET DISABLED = TRUE', h.alice).code == 3001
    assert h.error("ALTER USER NOBODY SET DEFAULT_ROLE = X").code == 2003


def test_use_statements_mutate_the_session_and_select_reads_it(h: Harness):
    s = Session(user="alice@example.com", role="ANALYST")
    assert h.error("USE WAREHOUSE COMPUTE_WH", s).code == 2003
    assert h.error("USE ROLE ACCOUNTADMIN", s).code == 2003
    assert h.error("USE DATABASE AICOLLEGE", s).code == 2003
    assert s.role == "ANALYST" and s.database is None
    h.run("GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST; GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST;"
          "GRANT USAGE ON WAREHOUSE COMPUTE_WH TO ROLE ANALYST")  # fmt: skip
    h.run("USE DATABASE AICOLLEGE; USE WAREHOUSE COMPUTE_WH; USE ROLE PUBLIC; USE ROLE ANALYST", s)
    (row,) = h.rows(
        "SELECT CURRENT_ROLE(), CURRENT_USER(), CURRENT_ACCOUNT(), CURRENT_DATABASE(), CURRENT_SCHEMA(), CURRENT_WAREHOUSE()",
        s,
    )
    assert list(row.values()) == [
        "ANALYST",
        "alice@example.com",
        "DEMO-ACCOUNT",
        "AICOLLEGE",
        "PUBLIC",
        "COMPUTE_WH",
    ]
    assert h.error("SELECT NO_SUCH_FUNCTION()").code == 2140


def test_show_databases_schemas_warehouses_search_services_respect_privileges(h: Harness):
    assert [r["name"] for r in h.rows("SHOW DATABASES")] == ["AICOLLEGE"]
    assert [r["name"] for r in h.rows("SHOW SCHEMAS IN DATABASE AICOLLEGE")] == ["PUBLIC"]
    assert [r["name"] for r in h.rows("SHOW CORTEX SEARCH SERVICES LIKE 'GONG%' IN ACCOUNT")] == [
        "GONG_CALLS_SEARCH_ENRICHED"]  # fmt: skip
    assert h.rows("SHOW WAREHOUSES")[0]["owner"] == "SYSADMIN"
    assert h.rows("SHOW DATABASES", h.alice) == []
    assert h.rows("SHOW CORTEX SEARCH SERVICES IN ACCOUNT", h.alice) == []
    assert h.rows("SHOW WAREHOUSES", h.alice) == []


def test_like_matcher():
    m = like_matcher("a_c%")
    assert m("ABC") and m("abcdef") and not m("ac") and not m("xabc")
    assert like_matcher("a\\_b")("A_B") and not like_matcher("a\\_b")("AXB")


# ---- statements, stats, persistence ----------------------------------------


def test_multi_statement_stops_at_first_error_and_keeps_earlier_work(h: Harness, tmp_path: Path):
    with pytest.raises(SnowflakeError) as info:
        h.run("CREATE ROLE R1; CREATE ROLE R1; CREATE ROLE R2")
    assert info.value.code == 2002
    assert "R1" in h.account.roles and "R2" not in h.account.roles
    # The first statement's change was saved although the request failed.
    state = json.loads((tmp_path / "state.json").read_text())
    assert "R1" in [r["name"] for r in state["roles"]]
    assert h.engine.count_statements("SHOW ROLES; SELECT ';'; -- c\n") == 2
    assert h.error("-- nothing").code == 900


def test_stats_count_statement_kinds(h: Harness):
    h.run(
        "SHOW ROLES; SHOW GRANTS TO ROLE ANALYST; CREATE ROLE R; GRANT USAGE ON DATABASE AICOLLEGE TO ROLE R"
    )
    with pytest.raises(SnowflakeError):
        h.run("BOGUS")
    queries = h.ctx.stats.snapshot()["queries"]
    assert queries == {
        "SHOW_ROLES": 1,
        "SHOW_GRANTS": 1,
        "CREATE_ROLE": 1,
        "GRANT": 1,
        "SYNTAX_ERROR": 1,
    }


def test_state_round_trip_keeps_everything(h: Harness):
    h.run(
        INTEGRATION.format(extra="")
        + f"; CREATE MCP SERVER AICOLLEGE.PUBLIC.G FROM SPECIFICATION {SPEC}"
    )
    restored = Account.from_state(json.loads(json.dumps(h.account.to_state())))
    again = EmulatorContext(restored)
    rows = Engine(again).execute(
        Session("ADMIN", "ACCOUNTADMIN"), "DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.G"
    )
    assert rows[0].rows[0][0] == "G"
    assert (
        restored.integrations["MCP_OAUTH"].client_id
        == h.account.integrations["MCP_OAUTH"].client_id
    )


def test_alter_role_comment_needs_ownership(h: Harness):
    h.run("CREATE ROLE COMMENTED COMMENT = 'old'", h.secadmin)
    h.run("ALTER ROLE COMMENTED SET COMMENT = 'it''s new'", h.secadmin)
    assert h.rows("SHOW ROLES LIKE 'COMMENTED'")[0]["comment"] == "it's new"
    assert h.error("ALTER ROLE COMMENTED SET COMMENT = 'x'", h.alice).code == 3001
    h.run("ALTER ROLE COMMENTED UNSET COMMENT")
    assert h.account.roles["COMMENTED"].comment == ""
    assert h.error("ALTER ROLE NOPE SET COMMENT = 'x'").code == 2003
    h.run("ALTER ROLE IF EXISTS NOPE SET COMMENT = 'x'")


def test_role_grant_cycles_versus_redundant_grants(h: Harness):
    h.run("CREATE ROLE LEAF; GRANT ROLE LEAF TO ROLE SYSADMIN")
    # ACCOUNTADMIN already inherits LEAF through SYSADMIN: a second path is no cycle.
    h.run("GRANT ROLE LEAF TO ROLE ACCOUNTADMIN")
    assert h.error("GRANT ROLE LEAF TO ROLE LEAF").code == 2029
    assert h.error("GRANT ROLE ACCOUNTADMIN TO ROLE LEAF").code == 2029
    h.run("GRANT ROLE LEAF TO ROLE PUBLIC")
    assert ("LEAF", "ROLE", "PUBLIC") in [
        (g.role, g.granted_to, g.grantee) for g in h.account.role_grants
    ]


def test_grant_indexes_follow_grants_revokes_drops_and_reload(h: Harness):
    """The model's grant indexes (what GRANT and access checks look up) agree with the
    grant lists after every kind of change and after a reload from the saved state."""

    def agrees(acct: Account) -> None:
        rebuilt = Account.from_state(acct.to_state())
        for g in acct.role_grants:
            assert acct.role_grant(g.role, g.granted_to, g.grantee) is not None
        for g in acct.privilege_grants:
            assert g in acct.privilege_grants_on(g.granted_on, g.name)
        assert [(g.role, g.granted_to, g.grantee) for g in rebuilt.role_grants] == [
            (g.role, g.granted_to, g.grantee) for g in acct.role_grants
        ]
        for user in ("alice@example.com", "ADMIN"):
            assert acct.roles_granted_to_user(user) == rebuilt.roles_granted_to_user(user)
        assert acct.inherited_roles("ACCOUNTADMIN") == rebuilt.inherited_roles("ACCOUNTADMIN")

    h.run("CREATE ROLE IDX_A; CREATE ROLE IDX_B; GRANT ROLE IDX_A TO ROLE IDX_B")
    h.run('GRANT ROLE IDX_B TO USER "alice@example.com"')
    h.run('GRANT ROLE IDX_B TO USER "alice@example.com"')  # a repeat adds no second row
    h.run("GRANT USAGE ON WAREHOUSE COMPUTE_WH TO ROLE IDX_A")
    h.run("GRANT USAGE ON WAREHOUSE COMPUTE_WH TO ROLE IDX_A")
    agrees(h.account)
    assert [g.role for g in h.account.role_grants].count("IDX_B") == 1
    assert h.account.user_has_role("alice@example.com", "IDX_A")  # through IDX_B
    usage = [
        g for g in h.account.privilege_grants_on("WAREHOUSE", "COMPUTE_WH") if g.grantee == "IDX_A"
    ]
    assert [g.privilege for g in usage] == ["USAGE"]

    h.run('REVOKE ROLE IDX_B FROM USER "alice@example.com"')
    h.run("REVOKE USAGE ON WAREHOUSE COMPUTE_WH FROM ROLE IDX_A")
    agrees(h.account)
    assert h.account.role_grant("IDX_B", "USER", "alice@example.com") is None
    assert "IDX_B" not in h.account.roles_granted_to_user("alice@example.com")
    assert not [
        g for g in h.account.privilege_grants_on("WAREHOUSE", "COMPUTE_WH") if g.grantee == "IDX_A"
    ]

    h.run("DROP ROLE IDX_A")
    agrees(h.account)
    assert h.account.role_grant("IDX_A", "ROLE", "IDX_B") is None
    assert h.account.inherited_roles("IDX_B") == {"IDX_B", "PUBLIC"}
    assert not h.account.privilege_grants_on("ROLE", "IDX_A")


def test_grant_on_schema_name_forms(h: Harness):
    h.run("CREATE ROLE S_ROLE")
    assert h.error("GRANT USAGE ON SCHEMA PUBLIC TO ROLE S_ROLE").code == 90105
    h.run("USE DATABASE AICOLLEGE; GRANT USAGE ON SCHEMA PUBLIC TO ROLE S_ROLE")
    assert h.error("GRANT USAGE ON SCHEMA A.B.C TO ROLE S_ROLE").code == 2003
    assert [r["name"] for r in h.rows("SHOW GRANTS TO ROLE S_ROLE")] == ["AICOLLEGE.PUBLIC"]


def test_if_exists_treats_invisible_objects_as_missing(h: Harness):
    h.run(
        INTEGRATION.format(extra="")
        + f"; CREATE MCP SERVER AICOLLEGE.PUBLIC.HIDDEN FROM SPECIFICATION {SPEC}"
    )
    h.run(
        "DROP MCP SERVER IF EXISTS AICOLLEGE.PUBLIC.HIDDEN; DROP SECURITY INTEGRATION IF EXISTS MCP_OAUTH",
        h.alice,
    )
    assert h.account.mcp_server("AICOLLEGE", "PUBLIC", "HIDDEN") is not None
    assert "MCP_OAUTH" in h.account.integrations
    assert h.error("DROP MCP SERVER AICOLLEGE.PUBLIC.HIDDEN", h.alice).code == 2003


def test_every_statement_class_has_exactly_one_handler(tmp_path: Path) -> None:
    from snowmcp.emulator import sql_parser
    from snowmcp.emulator.engine import _dispatch_table
    from snowmcp.emulator.engine.access import Access

    h = Harness(tmp_path)
    table = _dispatch_table(Access(h.ctx, h.admin))  # asserts no class has two handlers
    parsed = {
        cls
        for cls in vars(sql_parser).values()
        if isinstance(cls, type) and issubclass(cls, sql_parser.Statement)
    } - {sql_parser.Statement}
    assert set(table) == parsed
