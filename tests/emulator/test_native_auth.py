"""Native sign-in against the emulator: discovery, PUBLIC Snowflake OAuth clients, External OAuth.

One emulator and one test IdP for the module; the tests build on each other in file
order (token_service-style account -> snowflake_oauth -> external_oauth). The proof is
the official MCP SDK's OAuth client given only a `~/.claude.json` entry, signing in
through harness/browser.py; refusals are checked with plain HTTP and read back
through SQL and the emulator's counters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.idp import IdpConfig, IdpUser, TestIdp
from harness.procs import Emulator, free_port
from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.engine import Engine, Session
from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.seed import load_seed
from tests.emulator.native_client import SignIn, connect, redirect_uri, results
from tests.emulator.oauth_flow import run_sql

SEED = Path(__file__).resolve().parent.parent / "data" / "seed.yml"
SERVER_PATH = "/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP"
PRM_PREFIX = "/.well-known/oauth-protected-resource"
ALICE = SignIn("alice@example.com", "alice-pass-1")
SPEC = """
tools:
  - name: "call-search"
    type: "CORTEX_SEARCH_SERVICE_QUERY"
    identifier: "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
    title: "Gong Search"
"""
CALLBACK_PORT = free_port()


@pytest.fixture(scope="module")
def emu(shared_emulator: Emulator) -> Emulator:
    run_sql(
        shared_emulator,
        f"CREATE OR REPLACE MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP FROM SPECIFICATION $${SPEC}$$",
        "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE ANALYST",
        "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE ANALYST",
        "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE ANALYST",
        "GRANT USAGE ON MCP SERVER AICOLLEGE.PUBLIC.GONG_MCP TO ROLE ANALYST",
    )
    return shared_emulator


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdp]:
    config = IdpConfig(
        audience="api://snowflake",
        users={"alice": IdpUser("alice-idp-pass", {"sub": "alice@example.com"})},
        clients={"claude-code-app": [f"http://localhost:{CALLBACK_PORT}/callback"]},
    )
    with TestIdp(config) as provider:
        yield provider


def entry(emu: Emulator, client_id: str) -> dict[str, Any]:
    """The `~/.claude.json` entry the workstation role writes in a native mode (the contract)."""
    return {"type": "http", "url": emu.url + SERVER_PATH,
            "oauth": {"clientId": client_id, "callbackPort": CALLBACK_PORT}}  # fmt: skip


def rpc(emu: Emulator, token: str | None, path: str = SERVER_PATH) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    return httpx.post(emu.url + path, json=body, headers=headers, timeout=10)


def prm(emu: Emulator, path: str = SERVER_PATH) -> dict[str, Any]:
    resp = httpx.get(emu.url + PRM_PREFIX + path, timeout=10)
    assert resp.status_code == 200
    return dict(resp.json())


# ---- discovery ------------------------------------------------------------------------


def test_401_points_at_the_protected_resource_metadata(emu: Emulator) -> None:
    resp = rpc(emu, None)
    assert resp.status_code == 401
    expected = emu.url + PRM_PREFIX + SERVER_PATH
    assert resp.headers["www-authenticate"] == f'Bearer resource_metadata="{expected}"'
    bad = rpc(emu, "not-a-token")
    assert bad.status_code == 401
    assert f'resource_metadata="{expected}"' in bad.headers["www-authenticate"]
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_metadata_defaults_to_snowflake_oauth(emu: Emulator) -> None:
    doc = prm(emu)
    assert doc == {"resource": emu.url + SERVER_PATH, "authorization_servers": [emu.url],
                   "bearer_methods_supported": ["header"]}  # fmt: skip
    # Same answer for a server that does not exist: unauthenticated callers learn nothing.
    other = SERVER_PATH.replace("GONG_MCP", "NOPE")
    assert prm(emu, other)["resource"] == emu.url + other
    asm = httpx.get(emu.url + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert asm["issuer"] == emu.url
    assert asm["authorization_endpoint"] == emu.url + "/oauth/authorize"
    assert asm["token_endpoint"] == emu.url + "/oauth/token-request"
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert "registration_endpoint" not in asm


# ---- snowflake_oauth: a PUBLIC client ------------------------------------------------


@pytest.fixture(scope="module")
def public_client_id(emu: Emulator) -> str:
    run_sql(
        emu,
        "CREATE SECURITY INTEGRATION SNOWMCP_CLAUDE_CODE TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
        f"OAUTH_CLIENT_TYPE = 'PUBLIC' OAUTH_REDIRECT_URI = 'http://localhost:{CALLBACK_PORT}/callback' "
        "OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE OAUTH_ENFORCE_PKCE = TRUE ALLOWED_ROLES_LIST = ('ANALYST')",
        "ALTER ACCOUNT SET OAUTH_SCOPES_SUPPORTED = 'session:role:ANALYST,refresh_token'",
    )
    row = emu.query("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('SNOWMCP_CLAUDE_CODE')")[0]
    shown = json.loads(next(iter(row.values())))
    assert set(shown) == {"OAUTH_CLIENT_ID"}  # a PUBLIC client has no secret to show
    return str(shown["OAUTH_CLIENT_ID"])


def test_sdk_signs_in_with_snowflake_oauth_public_client(
    emu: Emulator, public_client_id: str
) -> None:
    before = emu.stats().get("token_requests", {}).get("authorization_code:ok", 0)
    person = SignIn(ALICE.username, ALICE.password)
    outcome = connect(entry(emu, public_client_id), person, "call-search", {"query": "globex"})
    assert outcome.tools == ["call-search"]
    assert [r["title"] for r in results(outcome)] == ["Globex discovery call"]
    # Discovery led the SDK to Snowflake's own endpoint with the advertised scopes and PKCE.
    assert person.urls[0].startswith(emu.url + "/oauth/authorize?")
    assert outcome.scope_asked == "session:role:ANALYST refresh_token"
    assert "code_challenge_method=S256" in person.urls[0]
    assert emu.stats()["token_requests"]["authorization_code:ok"] == before + 1
    delegations = emu.query(
        "SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION SNOWMCP_CLAUDE_CODE"
    )
    assert [(d["user_name"], d["role_name"]) for d in delegations] == [
        ("alice@example.com", "ANALYST")
    ]


def test_public_client_without_pkce_or_with_another_redirect_is_refused(
    emu: Emulator, public_client_id: str
) -> None:
    query = {"client_id": public_client_id, "response_type": "code", "redirect_uri": redirect_uri(
        entry(emu, public_client_id)), "state": "s1", "scope": "session:role:ANALYST"}  # fmt: skip
    no_pkce = httpx.get(emu.url + "/oauth/authorize", params=query, timeout=10)
    assert no_pkce.status_code == 302
    assert "error=invalid_request" in no_pkce.headers["location"]
    other = httpx.get(emu.url + "/oauth/authorize", timeout=10,
                      params={**query, "redirect_uri": "http://localhost:1/callback"})  # fmt: skip
    assert other.status_code == 400  # shown, never redirected to an unregistered URI
    token = httpx.post(emu.url + "/oauth/token-request", timeout=10, data={
        "grant_type": "authorization_code", "code": "x", "client_id": "not-a-client"})  # fmt: skip
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"


# ---- external_oauth ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def snowflake_token(emu: Emulator, public_client_id: str) -> str:
    """A valid Snowflake OAuth access token (the PUBLIC client, code + PKCE by hand)."""
    from tests.emulator.oauth_flow import pkce_pair

    verifier, challenge = pkce_pair()
    uri = redirect_uri(entry(emu, public_client_id))
    params = {"client_id": public_client_id, "response_type": "code", "redirect_uri": uri,
              "state": "s", "scope": "session:role:ANALYST", "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    from harness.browser import sign_in

    landed = sign_in(emu.url + "/oauth/authorize?" + httpx.QueryParams(params).__str__(),
                     ALICE.username, ALICE.password, stop_at_loopback=True)  # fmt: skip
    code = httpx.URL(landed).params["code"]
    resp = httpx.post(emu.url + "/oauth/token-request", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": uri,
        "client_id": public_client_id, "code_verifier": verifier})  # fmt: skip
    assert resp.status_code == 200, resp.text
    token = str(resp.json()["access_token"])
    assert rpc(emu, token).status_code == 200  # accepted while no authorization server is named
    return token


@pytest.fixture(scope="module")
def external(emu: Emulator, idp: TestIdp, snowflake_token: str) -> TestIdp:
    run_sql(
        emu,
        "CREATE SECURITY INTEGRATION SNOWMCP_IDP TYPE = EXTERNAL_OAUTH ENABLED = TRUE "
        f"EXTERNAL_OAUTH_TYPE = OKTA EXTERNAL_OAUTH_ISSUER = '{idp.issuer}' "
        f"EXTERNAL_OAUTH_JWS_KEYS_URL = '{idp.jwks_url}' EXTERNAL_OAUTH_AUDIENCE_LIST = ('api://snowflake') "
        "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM = 'sub' "
        "EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE = 'LOGIN_NAME' "
        "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE = 'scp'",
        "ALTER ACCOUNT SET OAUTH_AUTHORIZATION_SERVER = 'SNOWMCP_IDP' "
        "OAUTH_SCOPES_SUPPORTED = 'session:role:ANALYST'",
    )
    return idp


def test_external_oauth_metadata_and_sdk_sign_in(emu: Emulator, external: TestIdp) -> None:
    doc = prm(emu)
    assert doc["authorization_servers"] == [external.issuer]
    assert doc["scopes_supported"] == ["session:role:ANALYST"]
    person = SignIn("alice", "alice-idp-pass")
    outcome = connect(entry(emu, "claude-code-app"), person, "call-search", {"query": "globex"})
    assert person.urls[0].startswith(external.issuer + "/authorize?")
    assert outcome.scope_asked == "session:role:ANALYST"
    assert [r["title"] for r in results(outcome)] == ["Globex discovery call"]
    assert emu.stats()["external_tokens"]["ok"] >= 2  # list and call, each verified


def test_snowflake_oauth_token_refused_once_an_authorization_server_is_named(
    emu: Emulator, external: TestIdp, snowflake_token: str
) -> None:
    resp = rpc(emu, snowflake_token)
    assert resp.status_code == 401
    assert "not issued by this MCP server's authorization server" in resp.json()["message"]
    # ... on MCP endpoints only: the same token still opens a SQL session.
    assert emu.stats()["mcp_calls"]["unauthorized"] >= 1


def _forged_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("claims", "mint", "reason"),
    [
        ({"sub": "alice@example.com", "scp": ["session:role:ANALYST"]}, {}, None),
        ({"sub": "alice@example.com", "aud": "api://other"}, {}, "Audience"),
        ({"sub": "alice@example.com", "exp": int(time.time()) - 60}, {}, "expired"),
        ({"sub": "nobody@example.com"}, {}, "does not exist"),
        ({"sub": "dave@example.com"}, {}, "does not exist or is disabled"),
        ({"sub": "alice@example.com", "scp": ["session:role:ACCOUNTADMIN"]}, {}, "not granted"),
        ({"sub": "alice@example.com"}, {"key": "forged"}, "Signature"),
        ({"sub": "alice@example.com"}, {"kid": "unknown-kid"}, "kid"),
        ({"upn": "alice@example.com", "sub": None}, {}, "user mapping"),
    ],
)
def test_external_tokens_are_checked_like_snowflake(
    emu: Emulator,
    external: TestIdp,
    claims: dict[str, Any],
    mint: dict[str, Any],
    reason: str | None,
) -> None:
    kwargs: dict[str, Any] = dict(mint)
    if kwargs.get("key") == "forged":
        kwargs["key"] = _forged_key()
    resp = rpc(emu, external.mint(claims, **kwargs))
    if reason is None:
        assert resp.status_code == 200
        assert [t["name"] for t in resp.json()["result"]["tools"]] == ["call-search"]
    else:
        assert resp.status_code == 401
        assert reason.lower() in resp.json()["message"].lower()


def test_made_up_key_ids_and_huge_tokens_do_not_reach_the_idp(
    emu: Emulator, external: TestIdp
) -> None:
    before = external.jwks_requests
    for n in range(5):
        assert (
            rpc(emu, external.mint({"sub": "alice@example.com"}, kid=f"made-up-{n}")).status_code
            == 401
        )
    # An unknown kid refetches the JWKS at most once per 30 s, however many tokens carry one.
    assert external.jwks_requests - before <= 1
    huge = external.mint({"sub": "alice@example.com", "pad": "x" * 20_000})
    resp = rpc(emu, huge)
    assert resp.status_code == 401
    assert "too large" in resp.json()["message"]


def test_test_idp_refreshes_with_rotation_and_bounds_its_inputs(
    emu: Emulator, external: TestIdp
) -> None:
    from harness.browser import sign_in
    from tests.emulator.oauth_flow import pkce_pair

    uri = f"http://localhost:{CALLBACK_PORT}/callback"
    verifier, challenge = pkce_pair()
    params = {"client_id": "claude-code-app", "response_type": "code", "redirect_uri": uri,
              "state": "s", "scope": "session:role:ANALYST", "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    landed = sign_in(external.issuer + "/authorize?" + str(httpx.QueryParams(params)),
                     "alice", "alice-idp-pass", stop_at_loopback=True)  # fmt: skip
    code = httpx.URL(landed).params["code"]
    token = external.issuer + "/token"
    base = {"client_id": "claude-code-app", "redirect_uri": uri}
    wrong = httpx.post(token, data={**base, "grant_type": "authorization_code", "code": code,
                                    "code_verifier": "not-the-verifier"}, timeout=10)  # fmt: skip
    assert wrong.json() == {"error": "invalid_grant"}  # and the code is spent
    verifier, challenge = pkce_pair()
    params["code_challenge"] = challenge
    landed = sign_in(external.issuer + "/authorize?" + str(httpx.QueryParams(params)),
                     "alice", "alice-idp-pass", stop_at_loopback=True)  # fmt: skip
    first = httpx.post(token, timeout=10, data={**base, "grant_type": "authorization_code",
                       "code": httpx.URL(landed).params["code"], "code_verifier": verifier}).json()  # fmt: skip
    refreshed = httpx.post(token, timeout=10, data={"client_id": "claude-code-app",
                           "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).json()  # fmt: skip
    assert rpc(emu, refreshed["access_token"]).status_code == 200
    reused = httpx.post(token, timeout=10, data={"client_id": "claude-code-app",
                        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})  # fmt: skip
    assert reused.json() == {"error": "invalid_grant"}  # rotated: the old refresh token is spent
    # Bounds of the unauthenticated endpoints: state length, form size, unregistered redirect URIs.
    long_state = httpx.get(
        external.issuer + "/authorize", params={**params, "state": "x" * 3000}, timeout=10
    )
    assert long_state.status_code == 400
    big = httpx.post(token, content=b"a=" + b"x" * 10_000, timeout=10,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert big.status_code == 413
    elsewhere = httpx.get(external.issuer + "/authorize", timeout=10,
                          params={**params, "redirect_uri": "http://localhost:1/callback"})  # fmt: skip
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers


def test_token_of_another_issuer_is_refused(emu: Emulator, external: TestIdp) -> None:
    config = IdpConfig(users=external.config.users, clients=external.config.clients)
    with TestIdp(config) as impostor:
        resp = rpc(emu, impostor.mint({"sub": "alice@example.com"}))
    assert resp.status_code == 401
    assert "not issued by this MCP server's authorization server" in resp.json()["message"]


def test_schema_parameter_overrides_the_account(
    emu: Emulator, external: TestIdp, snowflake_token: str
) -> None:
    run_sql(emu, "ALTER SCHEMA AICOLLEGE.PUBLIC SET OAUTH_AUTHORIZATION_SERVER = ''")
    # '' at the schema level clears only the schema's value: the account's still applies.
    assert prm(emu)["authorization_servers"] == [external.issuer]
    run_sql(emu, "ALTER ACCOUNT UNSET OAUTH_AUTHORIZATION_SERVER")
    assert prm(emu)["authorization_servers"] == [emu.url]
    assert rpc(emu, snowflake_token).status_code == 200
    run_sql(emu, "ALTER DATABASE AICOLLEGE SET OAUTH_AUTHORIZATION_SERVER = 'SNOWMCP_IDP'")
    assert prm(emu)["authorization_servers"] == [external.issuer]
    assert rpc(emu, snowflake_token).status_code == 401
    rows = emu.query("SHOW PARAMETERS LIKE 'OAUTH_%' IN SCHEMA AICOLLEGE.PUBLIC")
    assert {r["key"]: (r["value"], r["level"]) for r in rows} == {
        "OAUTH_AUTHORIZATION_SERVER": ("SNOWMCP_IDP", "DATABASE"),
        "OAUTH_SCOPES_SUPPORTED": ("session:role:ANALYST", "ACCOUNT"),
    }
    assert [c for c in rows[0]] == ["key", "value", "default", "level", "description", "type"]


# ---- SQL: the engine alone (no HTTP) -------------------------------------------------------


@pytest.fixture
def engine() -> tuple[Engine, Session]:
    ctx = EmulatorContext(load_seed(SEED))
    return Engine(ctx), Session(user="ADMIN", role="ACCOUNTADMIN")


EXTERNAL = (
    "CREATE SECURITY INTEGRATION IDP TYPE = EXTERNAL_OAUTH ENABLED = TRUE EXTERNAL_OAUTH_TYPE = AZURE "
    "EXTERNAL_OAUTH_ISSUER = 'https://sts.windows.net/t/' "
    "EXTERNAL_OAUTH_JWS_KEYS_URL = 'https://login.microsoftonline.com/t/discovery/v2.0/keys' "
    "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM = 'upn' "
    "EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE = 'EMAIL_ADDRESS' {extra}"
)


def _rows(engine: tuple[Engine, Session], sql: str) -> list[dict[str, Any]]:
    eng, session = engine
    (result,) = eng.execute(session, sql)
    names = [c.name for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def test_external_integration_sql_round_trip(engine: tuple[Engine, Session]) -> None:
    _rows(engine, EXTERNAL.format(extra="EXTERNAL_OAUTH_AUDIENCE_LIST = ('api://a', 'api://b')"))
    shown = _rows(engine, "SHOW SECURITY INTEGRATIONS LIKE 'IDP'")
    assert [(r["name"], r["type"], r["category"]) for r in shown] == [
        ("IDP", "EXTERNAL_OAUTH - AZURE", "SECURITY")
    ]
    props = {
        r["property"]: r["property_value"] for r in _rows(engine, "DESC SECURITY INTEGRATION idp")
    }
    assert props["EXTERNAL_OAUTH_AUDIENCE_LIST"] == "api://a,api://b"
    assert props["EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM"] == "['upn']"
    assert props["EXTERNAL_OAUTH_ANY_ROLE_MODE"] == "DISABLE"
    _rows(engine, "ALTER SECURITY INTEGRATION IDP SET EXTERNAL_OAUTH_ANY_ROLE_MODE = ENABLE "
                  "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE = 'scope'")  # fmt: skip
    _rows(engine, "ALTER SECURITY INTEGRATION IDP UNSET EXTERNAL_OAUTH_AUDIENCE_LIST")
    props = {
        r["property"]: r["property_value"] for r in _rows(engine, "DESC SECURITY INTEGRATION IDP")
    }
    assert (props["EXTERNAL_OAUTH_ANY_ROLE_MODE"], props["EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE"],
            props["EXTERNAL_OAUTH_AUDIENCE_LIST"]) == ("ENABLE", "scope", "")  # fmt: skip


def test_or_replace_across_kinds_keeps_the_old_integration_when_the_new_one_is_invalid(
    engine: tuple[Engine, Session],
) -> None:
    _rows(engine, EXTERNAL.format(extra=""))
    eng, session = engine
    # An OAuth integration over the External OAuth one, with a redirect URI Snowflake refuses:
    # the statement fails and the External OAuth integration is still there, unchanged.
    with pytest.raises(SnowflakeError, match="https"):
        eng.execute(session, "CREATE OR REPLACE SECURITY INTEGRATION IDP TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
                             "OAUTH_CLIENT_TYPE = 'PUBLIC' OAUTH_REDIRECT_URI = 'http://localhost:8765/callback'")  # fmt: skip
    shown = _rows(engine, "SHOW SECURITY INTEGRATIONS LIKE 'IDP'")
    assert [(r["name"], r["type"]) for r in shown] == [("IDP", "EXTERNAL_OAUTH - AZURE")]
    # A valid one replaces it, and only one integration of that name is left.
    _rows(engine, "CREATE OR REPLACE SECURITY INTEGRATION IDP TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
                  "OAUTH_CLIENT_TYPE = 'PUBLIC' OAUTH_REDIRECT_URI = 'http://localhost:8765/callback' "
                  "OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE")  # fmt: skip
    shown = _rows(engine, "SHOW SECURITY INTEGRATIONS LIKE 'IDP'")
    assert [(r["name"], r["type"]) for r in shown] == [("IDP", "OAUTH - CUSTOM")]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (EXTERNAL.replace("EXTERNAL_OAUTH_TYPE = AZURE ", "").format(extra=""), "Missing option"),
        (EXTERNAL.format(extra="EXTERNAL_OAUTH_ANY_ROLE_MODE = SOMETIMES"), "invalid value"),
        (
            EXTERNAL.format(extra="EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE = 'roles'"),
            "invalid value",
        ),
        (EXTERNAL.format(extra="EXTERNAL_OAUTH_SCOPE_DELIMITER = ' '"), "only supported"),
        ("ALTER ACCOUNT SET OAUTH_AUTHORIZATION_SERVER = 'NO_SUCH'", "does not exist"),
        ("ALTER ACCOUNT SET OAUTH_NOT_A_PARAMETER = 'x'", "invalid parameter"),
        ("ALTER ACCOUNT SET OAUTH_SCOPES_SUPPORTED = 5", "invalid value"),
    ],
)
def test_bad_sql_is_refused_before_any_change(
    engine: tuple[Engine, Session], sql: str, message: str
) -> None:
    with pytest.raises(SnowflakeError) as info:
        _rows(engine, sql)
    assert message.lower() in str(info.value).lower()
    assert _rows(engine, "SHOW SECURITY INTEGRATIONS") == []
    assert all(r["level"] == "" for r in _rows(engine, "SHOW PARAMETERS IN ACCOUNT"))


def test_parameters_need_the_right_role(engine: tuple[Engine, Session]) -> None:
    eng, _admin = engine
    with pytest.raises(SnowflakeError):
        eng.execute(Session(user="alice@example.com", role="ANALYST"),
                    "ALTER ACCOUNT SET OAUTH_SCOPES_SUPPORTED = 'x'")  # fmt: skip
    assert _rows(engine, "SHOW PARAMETERS LIKE 'OAUTH_SCOPES%' IN ACCOUNT")[0]["value"] == ""


def test_public_client_has_no_secret_to_rotate(engine: tuple[Engine, Session]) -> None:
    _rows(engine, "CREATE SECURITY INTEGRATION P TYPE = OAUTH OAUTH_CLIENT = CUSTOM OAUTH_CLIENT_TYPE = 'PUBLIC' "
                  "OAUTH_REDIRECT_URI = 'https://x.example/cb'")  # fmt: skip
    with pytest.raises(SnowflakeError, match="PUBLIC client has no secret"):
        _rows(engine, "ALTER SECURITY INTEGRATION P REFRESH OAUTH_CLIENT_SECRET")


def test_state_file_keeps_external_integrations_and_parameters(
    engine: tuple[Engine, Session],
) -> None:
    from snowmcp.emulator.model import Account

    eng, _session = engine
    _rows(engine, EXTERNAL.format(extra=""))
    _rows(engine, "ALTER ACCOUNT SET OAUTH_AUTHORIZATION_SERVER = 'IDP'")
    _rows(engine, "ALTER SCHEMA AICOLLEGE.PUBLIC SET OAUTH_SCOPES_SUPPORTED = 'a,b'")
    restored = Account.from_state(json.loads(json.dumps(eng.ctx.account.to_state())))
    assert restored.external_integrations["IDP"] == eng.ctx.account.external_integrations["IDP"]
    assert restored.parameters == {"OAUTH_AUTHORIZATION_SERVER": "IDP"}
    assert restored.databases["AICOLLEGE"].schemas["PUBLIC"].parameters == {
        "OAUTH_SCOPES_SUPPORTED": "a,b"
    }
