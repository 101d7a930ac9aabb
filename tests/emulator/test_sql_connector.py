"""The SQL engine through the real snowflake-connector-python and a real emulator process.

One emulator serves the whole module (read-mostly tests use their own object
names so they do not interfere); the restart test gets its own process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from snowflake.connector import ProgrammingError
from snowflake.connector.constants import FIELD_ID_TO_NAME

ALICE = {"user": "alice@example.com", "password": "alice-pass-1"}

STEP_1 = """
-- This integration will use your existing Snowflake SSO configuration
CREATE OR REPLACE SECURITY INTEGRATION claude_code_mcp_oauth
  TYPE = OAUTH
  OAUTH_CLIENT = CUSTOM
  ENABLED = TRUE
  OAUTH_CLIENT_TYPE = 'CONFIDENTIAL'
  OAUTH_REDIRECT_URI = 'http://127.0.0.1:3000/oauth/callback'
  OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE
  OAUTH_ISSUE_REFRESH_TOKENS = TRUE
  OAUTH_REFRESH_TOKEN_VALIDITY = 7776000;  -- 90 days

-- Get OAuth credentials (share with IT/Admin only)
SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('CLAUDE_CODE_MCP_OAUTH');

USE DATABASE AICOLLEGE;
USE SCHEMA PUBLIC;

CREATE OR REPLACE MCP SERVER gong_mcp
  FROM SPECIFICATION {quote}
    tools:
      - name: "call-search"
        type: "CORTEX_SEARCH_SERVICE_QUERY"
        identifier: "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
        description: "cortex search for gong calls"
        title: "Gong Search" {quote};

-- Create role for MCP users
CREATE ROLE IF NOT EXISTS MCP_USERS;

-- Grant permissions
GRANT USAGE ON DATABASE AICOLLEGE TO ROLE MCP_USERS;
GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE MCP_USERS;
GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED
  TO ROLE MCP_USERS;

-- Grant role to users (or their existing roles)
GRANT ROLE MCP_USERS TO ROLE ANALYST;
"""


@pytest.fixture(scope="module")
def admin(shared_emulator: Any) -> Iterator[Any]:
    conn = shared_emulator.connect()
    try:
        yield conn
    finally:
        conn.close()


def rows(conn: Any, sql: str) -> list[dict[str, Any]]:
    cur = conn.cursor()
    cur.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def failure(conn: Any, sql: str) -> ProgrammingError:
    with pytest.raises(ProgrammingError) as info:
        conn.cursor().execute(sql)
    return info.value


def column_types(conn: Any, sql: str) -> dict[str, str]:
    cur = conn.cursor()
    cur.execute(sql)
    return {d.name: FIELD_ID_TO_NAME[d.type_code] for d in cur.description}


def test_seed_guide_step_1_runs_as_written_with_double_dollars(shared_emulator: Any):
    sql = STEP_1.format(quote="$$")
    conn = shared_emulator.connect()
    try:
        cur = conn.cursor()
        cur.execute(sql, num_statements=10)
        statuses = [cur.fetchall()]
        while cur.nextset():
            statuses.append(cur.fetchall())
        assert len(statuses) == 10
        secrets = json.loads(statuses[1][0][0])
        assert set(secrets) == {"OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_SECRET_2"}
        # Read everything back in a new session.
        (server,) = rows(conn, "DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP")
        spec = json.loads(server["server_spec"])
        assert spec["version"] == 1
        assert spec["tools"][0] == {
            "name": "call-search",
            "type": "CORTEX_SEARCH_SERVICE_QUERY",
            "identifier": "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED",
            "description": "cortex search for gong calls",
            "title": "Gong Search",
        }
        grants = rows(conn, "SHOW GRANTS TO ROLE MCP_USERS")
        assert sorted((g["privilege"], g["granted_on"], g["name"]) for g in grants) == [
            ("USAGE", "CORTEX_SEARCH_SERVICE", "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"),
            ("USAGE", "DATABASE", "AICOLLEGE"),
            ("USAGE", "SCHEMA", "AICOLLEGE.PUBLIC"),
        ]
        of_role = rows(conn, "SHOW GRANTS OF ROLE MCP_USERS")
        assert [(g["granted_to"], g["grantee_name"]) for g in of_role] == [("ROLE", "ANALYST")]
        props = {
            r["property"]: r["property_value"]
            for r in rows(conn, "DESC SECURITY INTEGRATION CLAUDE_CODE_MCP_OAUTH")
        }
        assert props["OAUTH_CLIENT_ID"] == secrets["OAUTH_CLIENT_ID"]
        assert props["OAUTH_REDIRECT_URI"] == "http://127.0.0.1:3000/oauth/callback"
        assert props["OAUTH_AUTHORIZATION_ENDPOINT"] == shared_emulator.url + "/oauth/authorize"
    finally:
        conn.close()


def test_seed_guides_single_dollar_is_rejected_and_creates_nothing(admin: Any):
    sql = (
        "USE DATABASE AICOLLEGE; USE SCHEMA PUBLIC;"
        + STEP_1.format(quote="$").split("USE SCHEMA PUBLIC;")[1]
    )
    sql = sql.replace("gong_mcp", "typo_mcp").split("-- Create role")[0]
    with pytest.raises(ProgrammingError) as info:
        admin.cursor().execute(sql, num_statements=3)
    assert (info.value.errno, info.value.sqlstate) == (1003, "42000")
    assert "unexpected '$'" in info.value.msg
    assert rows(admin, "SHOW MCP SERVERS LIKE 'TYPO%' IN ACCOUNT") == []


def test_show_grants_columns_and_value_formats(admin: Any):
    admin.cursor().execute("CREATE ROLE IF NOT EXISTS FMT_ROLE")
    admin.cursor().execute("GRANT USAGE ON WAREHOUSE COMPUTE_WH TO ROLE FMT_ROLE")
    types = column_types(admin, "SHOW GRANTS TO ROLE FMT_ROLE")
    assert list(types) == [
        "created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name", "grant_option", "granted_by",
    ]  # fmt: skip
    assert types["created_on"] == "TIMESTAMP_LTZ" and types["grant_option"] == "TEXT"
    (grant,) = rows(admin, "SHOW GRANTS TO ROLE FMT_ROLE")
    assert isinstance(grant["created_on"], datetime) and grant["created_on"].tzinfo is not None
    assert (grant["grant_option"], grant["granted_by"], grant["granted_to"]) == (
        "false",
        "ACCOUNTADMIN",
        "ROLE",
    )
    assert list(column_types(admin, "SHOW GRANTS OF ROLE FMT_ROLE")) == [
        "created_on", "role", "granted_to", "grantee_name", "granted_by"]  # fmt: skip
    roles_types = column_types(admin, "SHOW ROLES LIKE 'fmt_role'")
    assert list(roles_types) == [
        "created_on", "name", "is_default", "is_current", "is_inherited", "assigned_to_users",
        "granted_to_roles", "granted_roles", "owner", "comment",
    ]  # fmt: skip
    assert roles_types["assigned_to_users"] == "FIXED"
    (role,) = rows(admin, "SHOW ROLES LIKE 'fmt_role'")
    assert (role["is_current"], role["owner"], role["assigned_to_users"]) == (
        "N",
        "ACCOUNTADMIN",
        0,
    )


def test_show_integrations_mcp_servers_and_delegations_columns(admin: Any):
    assert column_types(admin, "SHOW SECURITY INTEGRATIONS") == {
        "name": "TEXT", "type": "TEXT", "category": "TEXT", "enabled": "BOOLEAN",
        "comment": "TEXT", "created_on": "TIMESTAMP_LTZ",
    }  # fmt: skip
    assert list(column_types(admin, "SHOW MCP SERVERS IN ACCOUNT")) == [
        "created_on", "name", "database_name", "schema_name", "owner", "comment"]  # fmt: skip
    assert list(column_types(admin, "SHOW DELEGATED AUTHORIZATIONS")) == [
        "created_on", "user_name", "role_name", "integration_name", "integration_status"]  # fmt: skip
    assert list(column_types(admin, "SHOW CORTEX SEARCH SERVICES IN ACCOUNT"))[:4] == [
        "created_on", "name", "database_name", "schema_name"]  # fmt: skip


def test_show_users_logins_names_and_disabled_strings(admin: Any, shared_emulator: Any):
    users = {u["name"]: u for u in rows(admin, "SHOW USERS")}
    assert users["BOB@EXAMPLE.COM"]["login_name"] == "bob@example.com"
    assert users["dave@example.com"]["disabled"] == "true"
    assert users["alice@example.com"]["disabled"] == "false"
    assert users["alice@example.com"]["default_role"] == "ANALYST"
    assert [u["name"] for u in rows(admin, "SHOW USERS LIKE 'O''BRIEN%'")] == [
        "o'brien@example.com"
    ]
    # Sign-in takes the login name case-insensitively; CURRENT_USER() is the NAME.
    who = shared_emulator.query(
        "SELECT CURRENT_USER(), CURRENT_ROLE()", user="Bob@Example.com", password="bob-pass-1"
    )
    assert list(who[0].values()) == ["BOB@EXAMPLE.COM", "ANALYST"]


def test_privilege_errors_as_alice(shared_emulator: Any):
    conn = shared_emulator.connect(**ALICE)
    try:
        cases = {
            "CREATE ROLE ALICE_ROLE": (3001, "42501"),
            "GRANT ROLE ANALYST TO USER ADMIN": (3001, "42501"),
            "DESCRIBE SECURITY INTEGRATION CLAUDE_CODE_MCP_OAUTH": (2003, "02000"),
            "SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('CLAUDE_CODE_MCP_OAUTH')": (3001, "42501"),
            "USE ROLE ACCOUNTADMIN": (2003, "02000"),
            "SHOW GRANTS TO ROLE ACCOUNTADMIN": (2003, "02000"),
            "DROP MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP": (2003, "02000"),
            "CREATE SECURITY INTEGRATION X TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
            "OAUTH_CLIENT_TYPE = 'PUBLIC' OAUTH_REDIRECT_URI = 'https://x'": (3001, "42501"),
        }
        for sql, expected in cases.items():
            err = failure(conn, sql)
            assert (err.errno, err.sqlstate) == expected, sql
        role_err = failure(conn, "USE ROLE ACCOUNTADMIN")
        assert "Role 'ACCOUNTADMIN' does not exist or not authorized." in role_err.msg
        assert rows(conn, "SELECT CURRENT_ROLE()")[0]["CURRENT_ROLE()"] == "ANALYST"
    finally:
        conn.close()
    assert "ALICE_ROLE" not in [r["name"] for r in shared_emulator.query("SHOW ROLES")]


def test_error_codes_for_syntax_existence_and_values(admin: Any):
    cases = {
        "SELEC 1": (1003, "42000"),
        "DELETE FROM T": (1003, "42000"),
        "CREATE ROLE ANALYST": (2002, "42710"),
        "DROP ROLE NO_SUCH_ROLE": (2003, "02000"),
        "ALTER SECURITY INTEGRATION CLAUDE_CODE_MCP_OAUTH SET OAUTH_ACCESS_TOKEN_VALIDITY = 30": (
            1008,
            "22023",
        ),
        "CREATE OR REPLACE ROLE IF NOT EXISTS X": (2029, "42601"),
    }
    for sql, expected in cases.items():
        err = failure(admin, sql)
        assert (err.errno, err.sqlstate) == expected, sql
    assert (
        "Role 'NO_SUCH_ROLE' does not exist or not authorized."
        in failure(admin, "DROP ROLE NO_SUCH_ROLE").msg
    )


def test_quoted_names_and_email_users_through_the_connector(admin: Any):
    cur = admin.cursor()
    cur.execute('CREATE ROLE IF NOT EXISTS "Quote""Role"', num_statements=1)
    cur.execute('GRANT ROLE "Quote""Role" TO USER "carol@example.com"')
    cur.execute("CREATE ROLE IF NOT EXISTS quote_role_upper")
    names = {r["name"] for r in rows(admin, "SHOW ROLES LIKE 'quote%'")}
    assert names == {'Quote"Role', "QUOTE_ROLE_UPPER"}
    (grant,) = rows(admin, 'SHOW GRANTS TO USER "carol@example.com"')
    assert (grant["role"], grant["granted_to"], grant["grantee_name"]) == (
        'Quote"Role',
        "USER",
        "carol@example.com",
    )
    cur.execute('GRANT USAGE ON DATABASE AICOLLEGE TO ROLE "Quote""Role"')
    on_role = rows(admin, 'SHOW GRANTS TO ROLE "Quote""Role"')
    assert [(g["name"], g["grantee_name"]) for g in on_role] == [("AICOLLEGE", 'Quote"Role')]
    assert failure(admin, "GRANT ROLE QUOTE_ROLE_UPPER TO USER carol").errno == 2003


def test_multi_statement_request_keeps_earlier_statements(admin: Any):
    with pytest.raises(ProgrammingError) as info:
        admin.cursor().execute(
            "CREATE ROLE MULTI_A; CREATE ROLE MULTI_A; CREATE ROLE MULTI_B", num_statements=3
        )
    assert info.value.errno == 2002
    names = {r["name"] for r in rows(admin, "SHOW ROLES LIKE 'MULTI%'")}
    assert names == {"MULTI_A"}


def test_mcp_grants_and_replace_through_the_connector(admin: Any, shared_emulator: Any):
    cur = admin.cursor()
    spec = "$$tools:\n  - {name: sql, type: SYSTEM_EXECUTE_SQL}\n$$"
    cur.execute(f"CREATE MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME FROM SPECIFICATION {spec}")
    cur.execute("GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME TO ROLE ANALYST")
    assert [g["privilege"] for g in rows(admin, "SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME")] == [
        "OWNERSHIP", "USAGE"]  # fmt: skip
    cur.execute("GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST")
    cur.execute("GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST")
    show = "SHOW MCP SERVERS LIKE 'REPLACE%' IN ACCOUNT"
    assert [s["name"] for s in shared_emulator.query(show, **ALICE)] == ["REPLACE_ME"]
    cur.execute(
        f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME FROM SPECIFICATION {spec}"
    )
    # The replaced server lost its USAGE grant, so ANALYST no longer sees it.
    assert shared_emulator.query(show, **ALICE) == []
    assert [g["privilege"] for g in rows(admin, "SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME")] == [
        "OWNERSHIP"]  # fmt: skip
    cur.execute("DROP MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME")
    assert failure(admin, "DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.REPLACE_ME").errno == 2003


def test_sql_changes_survive_a_restart(emulator: Any):
    conn = emulator.connect()
    try:
        cur = conn.cursor()
        cur.execute("CREATE ROLE KEEP_ME")
        cur.execute('GRANT ROLE KEEP_ME TO USER "alice@example.com"')
        cur.execute(
            "CREATE SECURITY INTEGRATION KEEP_INT TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
            "OAUTH_CLIENT_TYPE = 'CONFIDENTIAL' OAUTH_REDIRECT_URI = 'https://keep.example.com/cb'"
        )
        client_id = json.loads(
            rows(conn, "SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('KEEP_INT')")[0].popitem()[1]
        )
    finally:
        conn.close()
    emulator.restart()
    conn = emulator.connect()
    try:
        assert [g["role"] for g in rows(conn, 'SHOW GRANTS TO USER "alice@example.com"')] == [
            "ANALYST",
            "KEEP_ME",
        ]
        again = json.loads(
            rows(conn, "SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('KEEP_INT')")[0].popitem()[1]
        )
        assert again == client_id
    finally:
        conn.close()


def test_integration_unset_takes_only_snowflakes_unsettable_properties(admin: Any):
    cur = admin.cursor()
    cur.execute(
        "CREATE SECURITY INTEGRATION UNSET_INT TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
        "OAUTH_CLIENT_TYPE = 'CONFIDENTIAL' OAUTH_REDIRECT_URI = 'https://unset.example.com/cb' "
        "OAUTH_REFRESH_TOKEN_VALIDITY = 86400 OAUTH_ENFORCE_PKCE = TRUE COMMENT = 'c'"
    )

    def props() -> dict[str, str]:
        described = rows(admin, "DESCRIBE SECURITY INTEGRATION UNSET_INT")
        return {r["property"]: r["property_value"] for r in described}

    # Snowflake's UNSET grammar has ENABLED, NETWORK_POLICY, OAUTH_USE_SECONDARY_ROLES, COMMENT.
    for prop in ("OAUTH_REFRESH_TOKEN_VALIDITY", "OAUTH_ENFORCE_PKCE", "OAUTH_REDIRECT_URI"):
        err = failure(admin, f"ALTER SECURITY INTEGRATION UNSET_INT UNSET COMMENT, {prop}")
        assert (err.errno, err.sqlstate) == (1003, "42000"), prop
        assert f"unexpected '{prop}'" in err.msg
    after = props()
    assert (after["OAUTH_REFRESH_TOKEN_VALIDITY"], after["OAUTH_ENFORCE_PKCE"]) == ("86400", "true")
    assert after["COMMENT"] == "c", "a rejected statement changes nothing"
    cur.execute("ALTER SECURITY INTEGRATION UNSET_INT UNSET COMMENT, OAUTH_USE_SECONDARY_ROLES")
    assert props()["COMMENT"] == ""
