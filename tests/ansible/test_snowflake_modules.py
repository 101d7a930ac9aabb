"""The Snowflake modules one by one: hostile input, secrets, rotation, diff/check mode, refusals.

Playbooks are written to a temporary folder and run with the real
ansible-playbook against a real emulator; results are read back through the
connector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from harness.procs import AUTOMATION_KEY_PASSPHRASE, Emulator
from tests.ansible.snowflake_helpers import (
    base_inventory,
    client_secrets,
    mcp_servers,
    role_names,
    run_play,
    snapshot,
    write_inventory,
)


def play(tmp_path: Path, emu: Emulator, tasks: list[dict[str, Any]], name: str = "play.yml") -> tuple[Path, Path]:
    inv = write_inventory(tmp_path / "inv.yml", base_inventory(emu.port, emu.key_file))
    book = tmp_path / name
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Modules under test",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "module_defaults": {"group/snowmcp.core.snowflake": "{{ snowflake_connection }}"},
                    "tasks": tasks,
                }
            ],
            sort_keys=False,
        )
    )
    return inv, book


def test_inventory_problems_are_all_listed_before_any_change(emu: Emulator, tmp_path: Path) -> None:
    # Every kind of problem in one inventory: each is named, and the play stops before any change.
    variables = base_inventory(emu.port, emu.key_file)
    variables["snowflake_mcp_roles"].append({"name": "X; DROP ROLE MCP_USERS", "colour": "red"})
    variables["snowflake_mcp_roles"].append({"name": "MCP_NEW_TEAM"})
    variables["snowflake_mcp_servers"][0]["tools"][0]["description"] = "ends the spec $$ DROP ROLE ANALYST"
    variables["snowflake_mcp_servers"].append({"name": "OLD_MCP", "database": "AICOLLEGE", "schema": "PUBLIC",
                                               "state": "gone"})  # fmt: skip
    variables["snowflake_mcp_servers"][1]["tools"].append({"name": "bad", "type": "CORTEX_MAGIC"})
    variables["mcp_users"].append({"login": "ALICE@example.com", "roles": ["MCP_USERS"]})
    variables["mcp_users"].append({"login": "eve@example.com", "roles": ["NOT_A_ROLE"], "shel": "zsh"})
    # Integration values of the wrong type.
    variables["snowflake_oauth_integration"].update(enabled="maybe", access_token_validity="ten minutes",
                                                    allowed_roles="MCP_USERS")  # fmt: skip
    before = snapshot(emu)
    result = run_play(write_inventory(tmp_path / "bad.yml", variables), check=False)
    assert result.rc != 0
    for expected in (
        "'X; DROP ROLE MCP_USERS' is not a valid identifier",
        "unknown keys colour",
        "must not contain '$$'",
        "MCP server AICOLLEGE.PUBLIC.OLD_MCP.state must be present or absent",
        "unknown type 'CORTEX_MAGIC'",
        "duplicate login",
        "'NOT_A_ROLE' is not one of snowflake_mcp_roles",
        "unknown keys shel",
        "snowflake_oauth_integration.enabled must be true or false (got 'maybe')",
        "snowflake_oauth_integration.access_token_validity must be a whole number of seconds",
        "snowflake_oauth_integration.allowed_roles must be a list of role names",
    ):
        assert expected in result.out, expected
    assert "nothing was changed" in result.out
    assert result.tasks.get("Converge the MCP roles") is None  # never reached
    assert "MCP_NEW_TEAM" not in role_names(emu)
    assert snapshot(emu) == before


def test_hostile_names_are_quoted_not_executed(emu: Emulator, tmp_path: Path) -> None:
    emu.query("CREATE ROLE IF NOT EXISTS VICTIM")
    tasks: list[dict[str, Any]] = [
        {"name": "Role with an injection attempt as its name",
         "snowmcp.core.snowflake_role": {"name": "X; DROP ROLE VICTIM", "comment": "it's -- a 'comment' $$"}},
        {"name": "Server whose comment holds $$ and quotes",
         "snowmcp.core.snowflake_mcp_server": {
             "name": "HOSTILE_MCP", "database": "AICOLLEGE", "schema": "PUBLIC",
             "comment": "a $$ b ' c \\ d",
             "tools": [{"name": "s", "type": "CORTEX_SEARCH_SERVICE_QUERY",
                        "identifier": "AICOLLEGE.PUBLIC.DOCS_SEARCH", "description": 'say "hi"\nnew: line'}]}},
        {"name": "Grant the hostile role to a login with a quote",
         "snowmcp.core.snowflake_grants": {"user_grants": [{"role": '"X; DROP ROLE VICTIM"', "users": ["o'brien@example.com"]}]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    run_play(inv, playbook=book)
    assert {"VICTIM", "X; DROP ROLE VICTIM"} <= role_names(emu)
    role = next(r for r in emu.query("SHOW ROLES LIKE 'X;%'"))
    assert role["comment"] == "it's -- a 'comment' $$"
    server = mcp_servers(emu)["HOSTILE_MCP"]
    assert server["comment"] == "a $$ b ' c \\ d"
    spec = json.loads(emu.query("DESCRIBE MCP SERVER AICOLLEGE.PUBLIC.HOSTILE_MCP")[0]["server_spec"])
    assert spec["tools"][0]["description"] == 'say "hi"\nnew: line'
    holders = {r["grantee_name"] for r in emu.query('SHOW GRANTS OF ROLE "X; DROP ROLE VICTIM"')}
    assert holders == {"o'brien@example.com"}
    # Idempotent with hostile names too.
    assert run_play(inv, playbook=book).changed_tasks == []


def test_spec_with_dollars_is_refused_without_change(emu: Emulator, tmp_path: Path) -> None:
    tasks: list[dict[str, Any]] = [{"name": "Server whose spec would end early",
              "snowmcp.core.snowflake_mcp_server": {
                  "name": "DOLLAR_MCP", "database": "AICOLLEGE", "schema": "PUBLIC",
                  "tools": [{"name": "s", "type": "CORTEX_SEARCH_SERVICE_QUERY",
                             "identifier": "AICOLLEGE.PUBLIC.DOCS_SEARCH", "description": "x $$ DROP ROLE VICTIM"}]}}]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    before = snapshot(emu)
    result = run_play(inv, playbook=book, check=False)
    assert result.rc != 0
    assert "MCP server AICOLLEGE.PUBLIC.DOLLAR_MCP" in result.out and "'$$'" in result.out
    assert snapshot(emu) == before


def test_grants_fail_clearly_on_missing_role_before_any_change(emu: Emulator, tmp_path: Path) -> None:
    tasks: list[dict[str, Any]] = [{"name": "Grants naming a role that does not exist",
              "snowmcp.core.snowflake_grants": {
                  "privileges": [{"role": "ANALYST", "object_type": "WAREHOUSE", "objects": ["COMPUTE_WH"]},
                                 {"role": "NO_SUCH_ROLE", "object_type": "DATABASE", "objects": ["AICOLLEGE"]}]}}]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    result = run_play(inv, playbook=book, check=False)
    assert result.rc != 0 and "roles do not exist: NO_SUCH_ROLE" in result.out
    rows = emu.query("SHOW GRANTS TO ROLE ANALYST")
    assert not any(r["granted_on"] == "WAREHOUSE" for r in rows)


def test_credentials_rotation_and_no_secret_in_vvv_output(emu: Emulator, tmp_path: Path) -> None:
    account_inv = write_inventory(tmp_path / "account.yml", base_inventory(emu.port, emu.key_file))
    converge = run_play(account_inv, "-vvv")
    before = client_secrets(emu)
    tasks: list[dict[str, Any]] = [
        {"name": "Read the client credentials", "no_log": True, "register": "creds",
         "snowmcp.core.snowflake_oauth_integration": {"name": "snowmcp_oauth", "return_credentials": True}},
        {"name": "Rotate the second secret slot", "no_log": True, "register": "rotated",
         "snowmcp.core.snowflake_oauth_integration": {"name": "SNOWMCP_OAUTH", "rotate_secret": "OAUTH_CLIENT_SECRET_2",
                                                      "return_credentials": True}},
        {"name": "The module returned the real values",
         "ansible.builtin.assert": {"quiet": True, "that": [
             f"creds.client_id == '{before['OAUTH_CLIENT_ID']}'",
             f"creds.client_secret == '{before['OAUTH_CLIENT_SECRET']}'",
             f"creds.client_secret_2 == '{before['OAUTH_CLIENT_SECRET_2']}'",
             "rotated.client_secret_2 != creds.client_secret_2",
             "rotated.client_secret == creds.client_secret",
             "rotated is changed", "creds is not changed",
             "rotated.queries | select('search', 'REFRESH OAUTH_CLIENT_SECRET_2') | list | length == 1"]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    result = run_play(inv, "-vvv", playbook=book)
    after = client_secrets(emu)
    assert after["OAUTH_CLIENT_ID"] == before["OAUTH_CLIENT_ID"]
    assert after["OAUTH_CLIENT_SECRET"] == before["OAUTH_CLIENT_SECRET"]
    assert after["OAUTH_CLIENT_SECRET_2"] != before["OAUTH_CLIENT_SECRET_2"]
    secrets = [
        AUTOMATION_KEY_PASSPHRASE,
        before["OAUTH_CLIENT_SECRET"], before["OAUTH_CLIENT_SECRET_2"], after["OAUTH_CLIENT_SECRET_2"],
    ]  # fmt: skip
    for output in (converge.out, result.out):
        for secret in secrets:
            assert secret not in output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in converge.out  # the key passphrase was passed, and masked


def test_check_and_diff_mode_of_grants_module(emu: Emulator, tmp_path: Path) -> None:
    emu.query("CREATE ROLE IF NOT EXISTS DIFF_ROLE")
    tasks: list[dict[str, Any]] = [{"name": "Grant in check mode", "check_mode": True, "register": "planned",
              "snowmcp.core.snowflake_grants": {
                  "state": "exact",
                  "privileges": [{"role": "diff_role", "object_type": "cortex search service",
                                  "objects": ["aicollege.public.docs_search"]}],
                  "user_grants": [{"role": "DIFF_ROLE", "users": ["BOB@EXAMPLE.COM"]}]}},
             {"name": "Check the plan", "ansible.builtin.assert": {"quiet": True, "that": [
                 "planned is changed",
                 "planned.granted | length == 2",
                 "'USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.DOCS_SEARCH TO ROLE DIFF_ROLE' in planned.granted",
                 "planned.queries | select('match', '^GRANT') | list | length == 2"]}}]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    result = run_play(inv, "--diff", playbook=book)
    assert 'ROLE DIFF_ROLE TO USER "BOB@EXAMPLE.COM"' in result.out  # the diff shows the planned grant
    assert emu.query("SHOW GRANTS TO ROLE DIFF_ROLE") == [] or all(
        r["privilege"] == "OWNERSHIP" for r in emu.query("SHOW GRANTS TO ROLE DIFF_ROLE")
    )
    assert emu.query("SHOW GRANTS OF ROLE DIFF_ROLE") == []


def test_writes_are_batched_into_one_request(emu: Emulator, tmp_path: Path) -> None:
    emu.query("CREATE ROLE IF NOT EXISTS BATCH_ROLE")
    users = ["alice@example.com", "BOB@EXAMPLE.COM", "carol@example.com", "dave@example.com", "o'brien@example.com"]
    tasks: list[dict[str, Any]] = [
        {"name": "Five user grants and two privileges", "register": "out",
         "snowmcp.core.snowflake_grants": {
             "user_grants": [{"role": "BATCH_ROLE", "users": users}],
             "privileges": [{"role": "BATCH_ROLE", "object_type": "DATABASE", "objects": ["AICOLLEGE"]},
                            {"role": "BATCH_ROLE", "object_type": "SCHEMA", "objects": ["AICOLLEGE.PUBLIC"]}]}},
        {"name": "Seven grants in the plan", "ansible.builtin.assert": {"that": ["out.granted | length == 7"]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    before = emu.stats()
    run_play(inv, playbook=book)
    after = emu.stats()
    requests = after["query_requests"] - before["query_requests"]
    # Reads: SHOW ROLES, SHOW GRANTS TO/OF ROLE, SHOW USERS; writes: 7 statements in one request.
    assert requests == 5
    assert after["queries"].get("GRANT_ROLE", 0) - before["queries"].get("GRANT_ROLE", 0) == 5
    assert {r["grantee_name"] for r in emu.query("SHOW GRANTS OF ROLE BATCH_ROLE")} == set(users)


def test_user_info_errors_and_absent_states(emu: Emulator, tmp_path: Path) -> None:
    tasks: list[dict[str, Any]] = [
        {"name": "Preflight", "register": "info",
         "snowmcp.core.snowflake_user_info": {"logins": ["BOB@example.com", "dave@example.com", "ghost@example.com"]}},
        {"name": "Preflight answers", "ansible.builtin.assert": {"quiet": True, "that": [
            "info.users['BOB@example.com'].name == 'BOB@EXAMPLE.COM'",
            "info.users['BOB@example.com'].default_warehouse == 'COMPUTE_WH'",
            "info.disabled == ['dave@example.com']",
            "info.missing == ['ghost@example.com']",
            "info is not changed"]}},
        {"name": "Server in a schema that does not exist", "register": "nowhere", "ignore_errors": True,
         "snowmcp.core.snowflake_mcp_server": {"name": "LOST", "database": "AICOLLEGE", "schema": "NOPE",
                                               "tools": [{"name": "q", "type": "SYSTEM_EXECUTE_SQL"}]}},
        {"name": "The error names the server", "ansible.builtin.assert": {"quiet": True, "that": [
            "nowhere is failed", "'AICOLLEGE.NOPE.LOST' in nowhere.msg"]}},
        {"name": "A server to drop", "snowmcp.core.snowflake_mcp_server": {
            "name": "TEMP_MCP", "database": "AICOLLEGE", "schema": "PUBLIC",
            "tools": [{"name": "q", "type": "SYSTEM_EXECUTE_SQL"}]}},
        {"name": "Drop it", "register": "dropped", "snowmcp.core.snowflake_mcp_server": {
            "name": "TEMP_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "state": "absent"}},
        {"name": "A role to drop", "snowmcp.core.snowflake_role": {"roles": [{"name": "temp_role"}]}},
        {"name": "Drop the role", "register": "role_dropped",
         "snowmcp.core.snowflake_role": {"name": "TEMP_ROLE", "state": "absent"}},
        {"name": "Drops reported", "ansible.builtin.assert": {"quiet": True, "that": [
            "dropped.action == 'drop'", "role_dropped.dropped == ['TEMP_ROLE']"]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    run_play(inv, playbook=book)
    assert "TEMP_MCP" not in mcp_servers(emu)
    assert "TEMP_ROLE" not in role_names(emu)


def test_key_pair_sign_in_and_clear_refusals_before_any_change(emu: Emulator, tmp_path: Path) -> None:
    from harness.keypair import generate

    generate(tmp_path / "stranger.p8")  # a valid key Snowflake does not know
    good = {"private_key_file": str(emu.key_file), "private_key_passphrase": AUTOMATION_KEY_PASSPHRASE}
    cases = {
        "unknown key": {"private_key_file": str(tmp_path / "stranger.p8"), "private_key_passphrase": None},
        "wrong passphrase": {**good, "private_key_passphrase": "not-the-passphrase"},
        "no passphrase": {"private_key_file": str(emu.key_file), "private_key_passphrase": None},
        "missing file": {"private_key_file": str(tmp_path / "absent.p8")},
    }
    tasks: list[dict[str, Any]] = [
        {"name": f"Sign in with {label}", "ignore_errors": True,
         "snowmcp.core.snowflake_role": {"name": "KEY_PAIR_ROLE", "comment": label,
                                         "password": None, **creds}}
        for label, creds in cases.items()
    ]  # fmt: skip
    tasks.append(
        {"name": "Sign in with the right encrypted key", "register": "created",
         "snowmcp.core.snowflake_role": {"name": "KEY_PAIR_ROLE", "comment": "right key", "password": None, **good}}
    )  # fmt: skip
    inv, book = play(tmp_path, emu, tasks)
    before = snapshot(emu)
    assert "KEY_PAIR_ROLE" not in before["roles"]
    refusals_before = emu.stats()["logins"].get("jwt_invalid", 0)
    result = run_play(inv, playbook=book)
    assert result.recap()["failed"] == 0 and result.recap()["ignored"] == 4
    for message in (
        "Snowflake refused the key pair (390144 JWT token is invalid)",
        "could not be decrypted: wrong private_key_passphrase",
        "is encrypted: set private_key_passphrase",
        "absent.p8 cannot be read",
    ):
        assert message in result.out, message
    # Only the unknown key reached Snowflake; the others failed before connecting.
    assert emu.stats()["logins"]["jwt_invalid"] == refusals_before + 1
    assert AUTOMATION_KEY_PASSPHRASE not in result.out
    rows = [r for r in emu.query("SHOW ROLES LIKE 'KEY_PAIR_ROLE'")]
    assert [r["comment"] for r in rows] == ["right key"]  # created once, by the right key


def test_mcp_servers_list_creates_replaces_drops_with_one_sign_in(emu: Emulator, tmp_path: Path) -> None:
    sql_tool = [{"name": "q", "type": "SYSTEM_EXECUTE_SQL"}]
    setup: list[dict[str, Any]] = [
        {"name": "Servers before", "snowmcp.core.snowflake_mcp_server": {"servers": [
            {"name": "LIST_KEEP", "database": "AICOLLEGE", "schema": "PUBLIC", "tools": sql_tool},
            {"name": "LIST_OLD", "database": "AICOLLEGE", "schema": "PUBLIC", "tools": sql_tool}]}},
        {"name": "A role that uses one", "snowmcp.core.snowflake_role": {"roles": [{"name": "LIST_ROLE"}]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, setup, "setup.yml")
    run_play(inv, playbook=book)
    emu.query("GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.LIST_KEEP TO ROLE LIST_ROLE")

    bad: list[dict[str, Any]] = [
        {"name": "One bad entry", "snowmcp.core.snowflake_mcp_server": {"servers": [
            {"name": "LIST_NEW", "database": "AICOLLEGE", "schema": "PUBLIC", "tools": sql_tool},
            {"name": "LIST_BAD", "database": "AICOLLEGE", "schema": "PUBLIC"}]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, bad, "bad.yml")
    refused = run_play(inv, playbook=book, check=False)
    assert refused.rc != 0 and "AICOLLEGE.PUBLIC.LIST_BAD: tools is required with state present" in refused.out
    assert "LIST_NEW" not in mcp_servers(emu)  # validated before anything changed

    wanted = [
        {"name": "LIST_NEW", "database": "AICOLLEGE", "schema": "PUBLIC", "tools": sql_tool},
        {"name": "list_keep", "database": "AICOLLEGE", "schema": "PUBLIC", "comment": "now with a comment",
         "tools": [{"name": "q2", "type": "SYSTEM_EXECUTE_SQL"}]},
        {"name": "LIST_OLD", "database": "AICOLLEGE", "schema": "PUBLIC", "state": "absent"},
    ]  # fmt: skip
    tasks: list[dict[str, Any]] = [
        {"name": "All servers in one run", "register": "converged",
         "snowmcp.core.snowflake_mcp_server": {"servers": wanted}},
        {"name": "Per-server results in order", "ansible.builtin.assert": {"quiet": True, "that": [
            "converged is changed",
            "converged.servers | map(attribute='action') | list == ['create', 'replace', 'drop']",
            "converged.servers[1].reapplied_grants == ['USAGE TO ROLE LIST_ROLE']",
            "converged.diff.after['AICOLLEGE.PUBLIC.LIST_KEEP'].comment == 'now with a comment'"]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, tasks, "converge.yml")
    logins_before = emu.stats()["logins"]["ok"]
    run_play(inv, playbook=book)
    assert emu.stats()["logins"]["ok"] - logins_before == 1  # one sign-in for the three servers
    servers = mcp_servers(emu)
    assert "LIST_NEW" in servers and "LIST_OLD" not in servers
    assert servers["LIST_KEEP"]["comment"] == "now with a comment"
    grants = emu.query("SHOW GRANTS ON MCP SERVER AICOLLEGE.PUBLIC.LIST_KEEP")
    assert ("USAGE", "LIST_ROLE") in {(g["privilege"], g["grantee_name"]) for g in grants}

    again: list[dict[str, Any]] = [
        {"name": "Again", "register": "again", "snowmcp.core.snowflake_mcp_server": {"servers": wanted}},
        {"name": "Nothing to do", "ansible.builtin.assert": {"quiet": True, "that": [
            "again is not changed", "again.servers | map(attribute='action') | list == ['none', 'none', 'none']",
            "again.queries | length == 3"]}},
    ]  # fmt: skip
    inv, book = play(tmp_path, emu, again, "again.yml")
    run_play(inv, playbook=book)
