"""The MCP endpoint over real HTTP: Bearer auth, grants, Cortex Search, and the `mcp` SDK client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.procs import Emulator
from tests.emulator.oauth_flow import (
    Callback,
    Client,
    callback_server,
    create_integration,
    login_tokens,
    run_sql,
)

ALICE = ("alice@example.com", "alice-pass-1")
SERVER_PATH = "/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP"
SPEC = """
tools:
  - name: "call-search"
    type: "CORTEX_SEARCH_SERVICE_QUERY"
    identifier: "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
    title: "Gong Search"
    description: "cortex search for gong calls"
  - name: "docs-search"
    type: "CORTEX_SEARCH_SERVICE_QUERY"
    identifier: "AICOLLEGE.PUBLIC.DOCS_SEARCH"
    description: "onboarding documents"
"""


def setup_account(emu: Emulator, callback: Callback) -> Client:
    """An MCP server whose first tool ANALYST may use; the second tool's service is not granted."""
    run_sql(
        emu,
        f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP FROM SPECIFICATION $${SPEC}$$",
        "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST",
        "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST",
        "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE ANALYST",
        "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP TO ROLE ANALYST",
    )
    return create_integration(emu, "MCP_OAUTH", callback.uri)


@pytest.fixture(scope="module")
def callback() -> Iterator[Callback]:
    with callback_server() as cb:
        yield cb


@pytest.fixture(scope="module")
def access_token(shared_emulator: Emulator, callback: Callback) -> str:
    client = setup_account(shared_emulator, callback)
    tokens = login_tokens(
        shared_emulator, callback, client, *ALICE, scope="refresh_token session:role:ANALYST"
    )
    return str(tokens["access_token"])


def rpc(
    emu: Emulator,
    token: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    path: str = SERVER_PATH,
) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        body["params"] = params
    return httpx.post(emu.url + path, json=body, headers=headers, timeout=10)


def search(emu: Emulator, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    resp = rpc(emu, token, "tools/call", {"name": tool, "arguments": arguments})
    assert resp.status_code == 200
    return dict(resp.json())


def results(answer: dict[str, Any]) -> list[dict[str, Any]]:
    content = answer["result"]["content"]
    assert content[0]["type"] == "text"
    return list(json.loads(content[0]["text"])["results"])


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["missing", "invalid"])
def test_bad_tokens_get_401_with_challenge(
    shared_emulator: Emulator, access_token: str, token: str | None
) -> None:
    resp = rpc(shared_emulator, token, "tools/list")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")


def test_initialize_and_tools_list(shared_emulator: Emulator, access_token: str) -> None:
    init = rpc(
        shared_emulator,
        access_token,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}},
    )
    assert init.json()["result"]["protocolVersion"] == "2025-06-18"
    assert "tools" in init.json()["result"]["capabilities"]
    note = httpx.post(
        shared_emulator.url + SERVER_PATH,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    assert note.status_code == 202 and note.content == b""
    tools = rpc(shared_emulator, access_token, "tools/list").json()["result"]["tools"]
    assert [t["name"] for t in tools] == ["call-search", "docs-search"]
    assert tools[0]["title"] == "Gong Search"
    assert tools[0]["inputSchema"]["required"] == ["query"]


def test_cortex_search_matches_words_case_insensitively(
    shared_emulator: Emulator, access_token: str
) -> None:
    found = results(search(shared_emulator, access_token, "call-search", {"query": "DATABRICKS"}))
    assert [r["title"] for r in found] == ["Acme renewal call", "Initech QBR"]
    assert "databricks" in found[0]["text"]
    assert results(
        search(shared_emulator, access_token, "call-search", {"query": "snowflake databricks"})
    ) == [
        {
            "title": "Initech QBR",
            "text": "Initech is evaluating databricks and Snowflake side by side.",
        }
    ]
    assert (
        results(
            search(shared_emulator, access_token, "call-search", {"query": "nothing-like-this"})
        )
        == []
    )


def test_cortex_search_limit_and_columns(shared_emulator: Emulator, access_token: str) -> None:
    found = results(
        search(
            shared_emulator,
            access_token,
            "call-search",
            {"query": "databricks", "limit": 1, "columns": ["title"]},
        )
    )
    assert found == [{"title": "Acme renewal call"}]
    bad = search(shared_emulator, access_token, "call-search", {"query": "x", "limit": "ten"})
    assert bad["error"]["code"] == -32602


def test_tool_whose_object_the_role_cannot_use_fails(
    shared_emulator: Emulator, access_token: str
) -> None:
    answer = search(shared_emulator, access_token, "docs-search", {"query": "SSO"})
    assert "not authorized" in answer["error"]["message"]
    run_sql(
        shared_emulator,
        "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.DOCS_SEARCH TO ROLE ANALYST",
    )
    try:
        found = results(search(shared_emulator, access_token, "docs-search", {"query": "SSO"}))
        assert [r["title"] for r in found] == ["Onboarding guide"]
    finally:
        run_sql(
            shared_emulator,
            "REVOKE USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.DOCS_SEARCH FROM ROLE ANALYST",
        )


def test_cortex_search_filter_is_applied_and_checked(
    shared_emulator: Emulator, access_token: str
) -> None:
    spec = "tools:\n  - {name: notes, type: CORTEX_SEARCH_SERVICE_QUERY, identifier: AICOLLEGE.PUBLIC.CALL_NOTES_SEARCH}\n"
    run_sql(
        shared_emulator,
        f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.NOTES_MCP FROM SPECIFICATION $${spec}$$",
        "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.NOTES_MCP TO ROLE ANALYST",
        "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.CALL_NOTES_SEARCH TO ROLE ANALYST",
    )
    path = "/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/NOTES_MCP"

    def titles(flt: Any) -> list[str]:
        args = {"name": "notes", "arguments": {"query": "pricing", "filter": flt}}
        answer = rpc(shared_emulator, access_token, "tools/call", args, path=path).json()
        return [r["title"] for r in results(answer)]

    assert titles({"@eq": {"account": "Acme"}}) == ["Acme 2024 renewal", "Acme 2025 expansion"]
    assert titles({"@contains": {"tags": "renewal"}}) == ["Acme 2024 renewal", "Globex 2025 renewal"]
    assert titles({"@and": [{"@gte": {"year": 2025}}, {"@not": {"@eq": {"account": "Acme"}}}]}) == [
        "Globex 2025 renewal"
    ]
    assert titles({"@or": [{"@lte": {"year": 2024}}, {"@eq": {"account": "Globex"}}]}) == [
        "Acme 2024 renewal",
        "Globex 2025 renewal",
    ]
    # A filter the service cannot apply is an error, not silently ignored.
    for bad in ({"@like": {"account": "A%"}}, {"@eq": {"no_such_column": 1}}, {"@and": []}, []):
        args = {"name": "notes", "arguments": {"query": "pricing", "filter": bad}}
        answer = rpc(shared_emulator, access_token, "tools/call", args, path=path).json()
        assert answer["error"]["code"] == -32602, bad
        assert "invalid filter" in answer["error"]["message"]


def test_server_needs_usage_grant(shared_emulator: Emulator, access_token: str) -> None:
    run_sql(
        shared_emulator, "REVOKE USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP FROM ROLE ANALYST"
    )
    try:
        resp = rpc(shared_emulator, access_token, "tools/list")
        assert (
            resp.status_code == 404 and "does not exist or not authorized" in resp.json()["message"]
        )
    finally:
        run_sql(
            shared_emulator, "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP TO ROLE ANALYST"
        )
    assert rpc(shared_emulator, access_token, "tools/list").status_code == 200


def test_path_identifiers_follow_snowflake_case_rules(
    shared_emulator: Emulator, access_token: str
) -> None:
    lower = "/api/v2/databases/aicollege/schemas/public/mcp-servers/gong_mcp"
    assert rpc(shared_emulator, access_token, "tools/list", path=lower).status_code == 200
    quoted_wrong_case = '/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/"gong_mcp"'
    assert (
        rpc(shared_emulator, access_token, "tools/list", path=quoted_wrong_case).status_code == 404
    )
    quoted = '/api/v2/databases/"AICOLLEGE"/schemas/PUBLIC/mcp-servers/"GONG_MCP"'
    assert rpc(shared_emulator, access_token, "tools/list", path=quoted).status_code == 200


def test_unknown_method_and_unknown_tool(shared_emulator: Emulator, access_token: str) -> None:
    assert rpc(shared_emulator, access_token, "resources/list").json()["error"]["code"] == -32601
    assert (
        search(shared_emulator, access_token, "no-such-tool", {"query": "x"})["error"]["code"]
        == -32602
    )


def test_stats_count_mcp_calls_by_method(shared_emulator: Emulator, access_token: str) -> None:
    before = shared_emulator.stats().get("mcp_calls", {}).get("tools/list", 0)
    rpc(shared_emulator, access_token, "tools/list")
    assert shared_emulator.stats()["mcp_calls"]["tools/list"] == before + 1


def test_mcp_sdk_client_end_to_end(shared_emulator: Emulator, access_token: str) -> None:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> tuple[list[str], str]:
        headers = {"Authorization": f"Bearer {access_token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=10) as http,
            streamable_http_client(shared_emulator.url + SERVER_PATH, http_client=http) as (
                read,
                write,
            ),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            called = await session.call_tool("call-search", {"query": "globex"})
            text = called.content[0].text  # type: ignore[union-attr]
            return [t.name for t in listed.tools], text

    names, text = asyncio.run(run())
    assert names == ["call-search", "docs-search"]
    assert [r["title"] for r in json.loads(text)["results"]] == ["Globex discovery call"]


def test_expired_access_token_gets_401(tmp_path: Path) -> None:
    emu = Emulator(tmp_path / "emu", extra_args=["--access-token-ttl", "1"]).start()
    try:
        with callback_server() as cb:
            client = setup_account(emu, cb)
            tokens = login_tokens(
                emu, cb, client, *ALICE, scope="refresh_token session:role:ANALYST"
            )
        assert int(tokens["expires_in"]) == 1
        assert rpc(emu, tokens["access_token"], "tools/list").status_code == 200
        time.sleep(1.2)  # past the 1 s lifetime: expiry is checked against wall-clock time
        resp = rpc(emu, tokens["access_token"], "tools/list")
        assert resp.status_code == 401
        assert 'error="invalid_token"' in resp.headers["www-authenticate"]
        assert "expired" in resp.json()["message"]
    finally:
        emu.stop()


ALL_TYPES_SPEC = """
tools:
  - {name: analyst, type: CORTEX_ANALYST_MESSAGE, identifier: AICOLLEGE.PUBLIC.SALES_VIEW}
  - {name: agent, type: CORTEX_AGENT_RUN, identifier: AICOLLEGE.PUBLIC.SALES_AGENT}
  - {name: sql, type: SYSTEM_EXECUTE_SQL, config: {warehouse: COMPUTE_WH}}
  - {name: add-one, type: GENERIC, identifier: AICOLLEGE.PUBLIC.ADD_ONE,
     config: {type: function, warehouse: COMPUTE_WH}}
  - {name: refresh, type: GENERIC, identifier: AICOLLEGE.PUBLIC.REFRESH_NOTES,
     config: {type: procedure, warehouse: COMPUTE_WH}}
"""
# Each tool and the one grant it needs beyond database and schema usage.
TOOL_GRANTS = {
    "analyst": "SELECT ON SEMANTIC VIEW AICOLLEGE.PUBLIC.SALES_VIEW",
    "agent": "USAGE ON AGENT AICOLLEGE.PUBLIC.SALES_AGENT",
    "sql": "USAGE ON WAREHOUSE COMPUTE_WH",
    "add-one": "USAGE ON FUNCTION AICOLLEGE.PUBLIC.ADD_ONE(NUMBER)",
    "refresh": "USAGE ON PROCEDURE AICOLLEGE.PUBLIC.REFRESH_NOTES(NUMBER, VARCHAR)",
}
TOOL_ARGUMENTS = {
    "analyst": {"message": "revenue by region"},
    "agent": {"message": "how are sales?"},
    "sql": {"sql": "SELECT CURRENT_ROLE(), CURRENT_WAREHOUSE()"},
    "add-one": {"x": 41},
    "refresh": {"days": 7, "tag": "renewal"},
}


def test_every_tool_type_checks_its_privileges_and_answers(
    shared_emulator: Emulator, access_token: str
) -> None:
    path = "/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/ALL_TYPES_MCP"
    run_sql(
        shared_emulator,
        f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.ALL_TYPES_MCP FROM SPECIFICATION $${ALL_TYPES_SPEC}$$",
        "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.ALL_TYPES_MCP TO ROLE ANALYST",
    )

    def call(tool: str) -> dict[str, Any]:
        args = {"name": tool, "arguments": TOOL_ARGUMENTS[tool]}
        return dict(rpc(shared_emulator, access_token, "tools/call", args, path=path).json())

    def payload(answer: dict[str, Any]) -> dict[str, Any]:
        assert "error" not in answer, answer
        return dict(json.loads(answer["result"]["content"][0]["text"]))

    for tool in TOOL_GRANTS:  # nothing granted yet: every call is refused
        answer = call(tool)
        assert answer["error"]["code"] == -32000, tool
        assert "does not exist or not authorized" in answer["error"]["message"], tool
    run_sql(shared_emulator, *(f"GRANT {g} TO ROLE ANALYST" for g in TOOL_GRANTS.values()))
    try:
        analyst = payload(call("analyst"))["message"]["content"]
        assert analyst[1]["type"] == "sql" and "AICOLLEGE.PUBLIC.SALES_VIEW" in analyst[1]["statement"]
        agent = payload(call("agent"))
        assert agent["role"] == "assistant" and "how are sales?" in agent["content"][0]["text"]
        sql = payload(call("sql"))
        assert sql["data"] == [["ANALYST", "COMPUTE_WH"]]
        assert payload(call("add-one")) == {"result": 'ADD_ONE called with {"x": 41}'}
        assert "REFRESH_NOTES" in payload(call("refresh"))["result"]
        # Read-only SQL tools refuse anything that changes the account.
        args = {"name": "sql", "arguments": {"sql": "CREATE ROLE SNEAKY"}}
        refused = rpc(shared_emulator, access_token, "tools/call", args, path=path).json()
        assert "read-only" in refused["error"]["message"]
        assert "SNEAKY" not in {r["name"] for r in shared_emulator.query("SHOW ROLES")}
        # Each grant matters on its own: revoke one, only that tool fails.
        for tool, grant in TOOL_GRANTS.items():
            run_sql(shared_emulator, f"REVOKE {grant} FROM ROLE ANALYST")
            assert "not authorized" in call(tool)["error"]["message"], tool
            others = [t for t in TOOL_GRANTS if t != tool and not (tool == "sql" and t in ("add-one", "refresh"))]
            for other in others:
                assert "error" not in call(other), (tool, other)
            run_sql(shared_emulator, f"GRANT {grant} TO ROLE ANALYST")
    finally:
        run_sql(shared_emulator, *(f"REVOKE {g} FROM ROLE ANALYST" for g in TOOL_GRANTS.values()))
