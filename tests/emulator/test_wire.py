"""The connector wire protocol, driven by the real snowflake-connector-python over HTTP."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import httpx
import pytest
import snowflake.connector

from harness.procs import Emulator


def current(emu: Emulator, **kwargs: object) -> tuple[str, str]:
    conn = emu.connect(**kwargs)
    try:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_ROLE(), CURRENT_USER()")
        row = cur.fetchone()
        assert row is not None
        return str(row[0]), str(row[1])
    finally:
        conn.close()


def sql_error(
    emu: Emulator, sql: str, *, num_statements: int | None = None, **login: str
) -> tuple[int, str]:
    """(errno, sqlstate) of the ProgrammingError the connector raises for `sql`."""
    conn = emu.connect(**login)
    try:
        with pytest.raises(snowflake.connector.ProgrammingError) as info:
            conn.cursor().execute(sql, num_statements=num_statements)
        assert info.value.errno is not None and info.value.sqlstate is not None
        return info.value.errno, info.value.sqlstate
    finally:
        conn.close()


def test_password_login_uses_default_role(shared_emulator: Emulator) -> None:
    assert current(shared_emulator) == ("ACCOUNTADMIN", "ADMIN")


def test_login_name_is_case_insensitive_and_role_is_an_identifier(
    shared_emulator: Emulator,
) -> None:
    role, user = current(
        shared_emulator, user="ALICE@Example.com", password="alice-pass-1", role="analyst"
    )
    assert (role, user) == ("ANALYST", "alice@example.com")


def test_login_resolves_login_name_to_user_name(shared_emulator: Emulator) -> None:
    # bob's NAME is upper-cased (SCIM style) while he signs in with the login name.
    assert (
        current(shared_emulator, user="bob@example.com", password="bob-pass-1")[1]
        == "BOB@EXAMPLE.COM"
    )


def test_user_without_default_role_gets_public(shared_emulator: Emulator) -> None:
    assert (
        current(shared_emulator, user="carol@example.com", password="carol-pass-1")[0] == "PUBLIC"
    )


@pytest.mark.parametrize(
    ("user", "password", "kwargs", "errno"),
    [
        ("ADMIN", "wrong", {}, 390100),
        ("nobody@example.com", "whatever", {}, 390100),
        ("dave@example.com", "dave-pass-1", {}, 390101),
        ("alice@example.com", "alice-pass-1", {"role": "ACCOUNTADMIN"}, 390189),
    ],
    ids=["bad-password", "unknown-user", "disabled-user", "role-not-granted"],
)
def test_login_failures_carry_snowflake_codes(
    shared_emulator: Emulator, user: str, password: str, kwargs: dict[str, str], errno: int
) -> None:
    before = shared_emulator.stats().get("logins", {})
    with pytest.raises(snowflake.connector.DatabaseError) as info:
        shared_emulator.connect(user=user, password=password, **kwargs)
    assert info.value.errno == errno
    assert "wrong" not in str(info.value) and password not in str(info.value)
    after = shared_emulator.stats().get("logins", {})
    assert after.get("ok", 0) == before.get("ok", 0)


@pytest.mark.parametrize(
    ("sql", "errno", "sqlstate"),
    [
        ("SELEC 1", 1003, "42000"),
        ("DESCRIBE SECURITY INTEGRATION NO_SUCH_INTEGRATION", 2003, "02000"),
    ],
)
def test_sql_errors_surface_as_programming_error(
    shared_emulator: Emulator, sql: str, errno: int, sqlstate: str
) -> None:
    assert sql_error(shared_emulator, sql) == (errno, sqlstate)


def test_insufficient_privileges(shared_emulator: Emulator) -> None:
    assert sql_error(
        shared_emulator,
        "CREATE ROLE ALICE_SHOULD_NOT_CREATE",
        user="alice@example.com",
        password="alice-pass-1",
    ) == (3001, "42501")
    assert shared_emulator.query("SHOW ROLES LIKE 'ALICE_SHOULD_NOT_CREATE'") == []


def test_result_types_are_converted(shared_emulator: Emulator) -> None:
    rows = shared_emulator.query("SHOW USERS LIKE 'dave%'")
    assert len(rows) == 1
    assert rows[0]["disabled"] == "true"
    created = rows[0]["created_on"]
    assert isinstance(created, datetime) and created.tzinfo is not None


def test_multi_statement_runs_each_and_returns_each_result(shared_emulator: Emulator) -> None:
    conn = shared_emulator.connect()
    try:
        cur = conn.cursor()
        cur.execute(
            "CREATE ROLE IF NOT EXISTS WIRE_MULTI; USE ROLE SECURITYADMIN; SELECT CURRENT_ROLE()",
            num_statements=3,
        )
        first = cur.fetchall()
        assert first and "success" in str(first[0][0]).lower()
        assert cur.nextset() is not None
        cur.fetchall()
        assert cur.nextset() is not None
        assert cur.fetchall() == [("SECURITYADMIN",)]
        assert cur.nextset() is None
    finally:
        conn.close()
    assert [r["name"] for r in shared_emulator.query("SHOW ROLES LIKE 'WIRE_MULTI'")] == [
        "WIRE_MULTI"
    ]


def test_multi_statement_count_mismatch_is_refused_before_running(
    shared_emulator: Emulator,
) -> None:
    sql = "CREATE ROLE WIRE_NOT_RUN; SELECT CURRENT_ROLE()"
    assert sql_error(shared_emulator, sql) == (8, "0A000")
    assert shared_emulator.query("SHOW ROLES LIKE 'WIRE_NOT_RUN'") == []


def test_multi_statement_stops_at_first_error_keeping_earlier_ones(
    shared_emulator: Emulator,
) -> None:
    sql = "CREATE ROLE WIRE_KEPT; GRANT BOGUS; CREATE ROLE WIRE_NEVER"
    assert sql_error(shared_emulator, sql, num_statements=0) == (1003, "42000")
    assert [r["name"] for r in shared_emulator.query("SHOW ROLES LIKE 'WIRE_KEPT'")] == [
        "WIRE_KEPT"
    ]
    assert shared_emulator.query("SHOW ROLES LIKE 'WIRE_NEVER'") == []


def test_stats_count_requests_and_statement_kinds(shared_emulator: Emulator) -> None:
    before = shared_emulator.stats()
    shared_emulator.query("SHOW ROLES")
    after = shared_emulator.stats()
    assert after["query_requests"] == before["query_requests"] + 1
    assert (
        after["queries"].get("SHOW_ROLES", 0) == before.get("queries", {}).get("SHOW_ROLES", 0) + 1
    )


def _raw_login(emu: Emulator) -> str:
    body = {
        "data": {"LOGIN_NAME": "ADMIN", "PASSWORD": "admin-pass-1", "ACCOUNT_NAME": "DEMO-ACCOUNT"}
    }
    resp = httpx.post(emu.url + "/session/v1/login-request", json=body, timeout=10)
    data = resp.json()
    assert data["success"] is True
    assert data["data"]["sessionInfo"]["roleName"] == "ACCOUNTADMIN"
    return str(data["data"]["token"])


def test_session_lifecycle_over_raw_http(shared_emulator: Emulator) -> None:
    """Gzipped query, heartbeat, telemetry, logout; then the token is dead."""
    url = shared_emulator.url
    token = _raw_login(shared_emulator)
    headers = {"Authorization": f'Snowflake Token="{token}"', "Content-Encoding": "gzip"}
    query = gzip.compress(json.dumps({"sqlText": "SELECT CURRENT_USER()"}).encode())
    resp = httpx.post(url + "/queries/v1/query-request", content=query, headers=headers).json()
    assert resp["success"] and resp["data"]["rowset"] == [["ADMIN"]]
    assert resp["data"]["rowtype"][0]["type"] == "text"
    auth = {"Authorization": f'Snowflake Token="{token}"'}
    assert httpx.post(url + "/session/heartbeat", headers=auth).json()["success"]
    assert httpx.post(url + "/telemetry/send", headers=auth, json={"logs": []}).json()["success"]
    assert httpx.post(url + "/session?delete=true", headers=auth).json()["success"]
    gone = httpx.post(url + "/queries/v1/query-request", content=query, headers=headers).json()
    assert gone["success"] is False and gone["code"] == "390111"


def test_query_without_session_is_refused(shared_emulator: Emulator) -> None:
    resp = httpx.post(
        shared_emulator.url + "/queries/v1/query-request",
        json={"sqlText": "SHOW ROLES"},
        headers={"Authorization": 'Snowflake Token="made-up"'},
    ).json()
    assert resp["success"] is False and resp["code"] == "390111"


def test_session_token_renewal_with_the_master_token(shared_emulator: Emulator) -> None:
    url = shared_emulator.url
    body = {"data": {"LOGIN_NAME": "ADMIN", "PASSWORD": "admin-pass-1"}}
    login = httpx.post(url + "/session/v1/login-request", json=body).json()["data"]
    renewed = httpx.post(
        url + "/session/token-request",
        json={"oldSessionToken": login["token"], "requestType": "RENEW"},
        headers={"Authorization": f'Snowflake Token="{login["masterToken"]}"'},
    ).json()
    assert renewed["success"] is True
    new_token = renewed["data"]["sessionToken"]
    assert new_token != login["token"]
    query = {"sqlText": "SELECT CURRENT_USER()"}
    old = httpx.post(
        url + "/queries/v1/query-request",
        json=query,
        headers={"Authorization": f'Snowflake Token="{login["token"]}"'},
    )
    assert old.json()["success"] is False
    new = httpx.post(
        url + "/queries/v1/query-request",
        json=query,
        headers={"Authorization": f'Snowflake Token="{new_token}"'},
    )
    assert new.json()["data"]["rowset"] == [["ADMIN"]]
    # A wrong master token renews nothing.
    bad = httpx.post(
        url + "/session/token-request",
        json={"oldSessionToken": new_token, "requestType": "RENEW"},
        headers={"Authorization": 'Snowflake Token="not-the-master"'},
    ).json()
    assert bad["success"] is False
