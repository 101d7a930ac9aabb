"""OAuth against the emulator over real HTTP: browser sign-in, redirects, token endpoint.

One emulator and one callback server for the module; each test creates its own
integration (unique name) so tests stay independent.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import httpx
import pytest
import snowflake.connector

from harness.procs import Emulator
from tests.emulator.oauth_flow import (
    Callback,
    Client,
    authorize_params,
    callback_server,
    create_integration,
    exchange,
    get_code,
    login_tokens,
    pkce_pair,
    run_sql,
    sign_in,
    token_request,
)

ALICE = ("alice@example.com", "alice-pass-1")
_names = itertools.count(1)


@pytest.fixture(scope="module")
def callback() -> Iterator[Callback]:
    with callback_server() as cb:
        yield cb


@pytest.fixture
def client(shared_emulator: Emulator, callback: Callback) -> Client:
    return create_integration(shared_emulator, f"OAUTH_T{next(_names)}", callback.uri)


def new_client(emu: Emulator, callback: Callback, extra: str) -> Client:
    return create_integration(emu, f"OAUTH_T{next(_names)}", callback.uri, extra)


def refresh(emu: Emulator, client: Client, token: str) -> httpx.Response:
    return token_request(emu, client, grant_type="refresh_token", refresh_token=token)


def oauth_role(emu: Emulator, access_token: str) -> str:
    """Log in with the connector's OAUTH authenticator and read the session's role."""
    conn = emu.connect(user="", password="", authenticator="oauth", token=access_token)
    try:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_ROLE(), CURRENT_USER()")
        row = cur.fetchone()
        assert row is not None and row[1] == "alice@example.com"
        return str(row[0])
    finally:
        conn.close()


def assert_token_dead(emu: Emulator, access_token: str) -> None:
    with pytest.raises(snowflake.connector.DatabaseError) as info:
        emu.connect(user="", password="", authenticator="oauth", token=access_token)
    assert info.value.errno in (390303, 390318)


def test_code_flow_with_pkce_and_role_scope(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    verifier, challenge = pkce_pair()
    params = authorize_params(
        client,
        scope="refresh_token session:role:ANALYST",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    code = get_code(shared_emulator, callback, params, *ALICE)
    resp = exchange(shared_emulator, client, code, code_verifier=verifier)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and int(body["expires_in"]) == 600
    assert body["username"] == "alice@example.com"
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]
    # The reference's answer has no refresh-token expiry: clients compute it themselves.
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "username"}
    assert oauth_role(shared_emulator, body["access_token"]) == "ANALYST"
    # The token decides the session role: asking the connector for another one is refused.
    with pytest.raises(snowflake.connector.DatabaseError) as info:
        shared_emulator.connect(
            user="", password="", authenticator="oauth", token=body["access_token"], role="PUBLIC"
        )
    assert info.value.errno == 390186

    # Reusable (default) refresh tokens: a refresh gives an access token only.
    again = refresh(shared_emulator, client, body["refresh_token"])
    assert again.status_code == 200, again.text
    assert "refresh_token" not in again.json() and "username" not in again.json()
    assert oauth_role(shared_emulator, again.json()["access_token"]) == "ANALYST"
    assert refresh(shared_emulator, client, body["refresh_token"]).status_code == 200

    delegations = shared_emulator.query(
        f"SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION {client.name}"
    )
    assert [(d["user_name"], d["integration_name"]) for d in delegations] == [
        ("alice@example.com", client.name)
    ]


def test_wrong_password_shows_the_form_again(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    before = len(callback.received)
    resp = sign_in(
        shared_emulator, authorize_params(client), "alice@example.com", "not-her-password"
    )
    assert resp.status_code == 401
    assert 'name="password"' in resp.text and "Incorrect username or password" in resp.text
    assert "not-her-password" not in resp.text
    assert len(callback.received) == before


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "http://127.0.0.1:1/elsewhere"},
        {"client_id": "NOT-A-CLIENT"},
        {"state": "x" * 2049},
    ],
    ids=["wrong-redirect-uri", "unknown-client", "state-too-long"],
)
def test_untrusted_requests_get_an_error_page_not_a_redirect(
    shared_emulator: Emulator, callback: Callback, client: Client, change: dict[str, str]
) -> None:
    before = len(callback.received)
    resp = sign_in(shared_emulator, {**authorize_params(client), **change}, *ALICE)
    assert resp.status_code == 400
    assert len(callback.received) == before


def authorize_error(
    emu: Emulator, callback: Callback, params: dict[str, str], user: tuple[str, str] = ALICE
) -> str:
    before = len(callback.received)
    sign_in(emu, params, *user)
    assert len(callback.received) == before + 1
    got = callback.received[-1]
    assert "code" not in got and got.get("state") == params["state"]
    return got["error"]


def test_blocked_roles_are_refused(shared_emulator: Emulator, callback: Callback) -> None:
    client = new_client(shared_emulator, callback, "BLOCKED_ROLES_LIST = ('ANALYST')")
    # Explicitly blocked, and ACCOUNTADMIN blocked implicitly.
    for role in ("ANALYST", "ACCOUNTADMIN"):
        params = authorize_params(client, scope=f"refresh_token session:role:{role}")
        assert authorize_error(shared_emulator, callback, params) == "invalid_scope"
    assert (
        shared_emulator.query(
            f"SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION {client.name}"
        )
        == []
    )


def test_role_the_user_lacks_is_refused(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    run_sql(shared_emulator, "CREATE ROLE IF NOT EXISTS NOT_ALICES")
    params = authorize_params(client, scope="session:role:NOT_ALICES")
    assert authorize_error(shared_emulator, callback, params) == "invalid_scope"


def test_two_role_scopes_are_refused(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    params = authorize_params(client, scope="session:role:ANALYST session:role:PUBLIC")
    assert authorize_error(shared_emulator, callback, params) == "invalid_scope"


def test_enforced_pkce(shared_emulator: Emulator, callback: Callback) -> None:
    client = new_client(shared_emulator, callback, "OAUTH_ENFORCE_PKCE = TRUE")
    assert authorize_error(shared_emulator, callback, authorize_params(client)) == "invalid_request"
    verifier, challenge = pkce_pair()
    params = authorize_params(client, code_challenge=challenge, code_challenge_method="S256")
    code = get_code(shared_emulator, callback, params, *ALICE)
    wrong = exchange(shared_emulator, client, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # A failed verifier burns nothing the attacker could use, and the right one still works.
    assert exchange(shared_emulator, client, code, code_verifier=verifier).status_code == 200


def test_code_is_single_use_and_replay_revokes_its_tokens(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    code = get_code(
        shared_emulator,
        callback,
        authorize_params(client, scope="refresh_token session:role:ANALYST"),
        *ALICE,
    )
    first = exchange(shared_emulator, client, code)
    assert first.status_code == 200
    replay = exchange(shared_emulator, client, code)
    assert replay.status_code == 400
    assert replay.json() == {
        "data": None,
        "message": replay.json()["message"],
        "code": None,
        "success": False,
        "error": "invalid_grant",
    }
    assert_token_dead(shared_emulator, first.json()["access_token"])
    assert (
        refresh(shared_emulator, client, first.json()["refresh_token"]).json()["error"]
        == "invalid_grant"
    )


def test_code_exchange_needs_the_same_redirect_uri(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    code = get_code(shared_emulator, callback, authorize_params(client), *ALICE)
    resp = token_request(
        shared_emulator,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri + "x",
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_client_secrets(shared_emulator: Emulator, callback: Callback, client: Client) -> None:
    tokens = login_tokens(shared_emulator, callback, client, *ALICE)
    bad = token_request(
        shared_emulator,
        client,
        secret="wrong",
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert "wrong" not in bad.text
    second = token_request(
        shared_emulator,
        client,
        secret=client.secret_2,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    assert second.status_code == 200, second.text
    # Rotating secret 2 retires the old one while secret 1 keeps working.
    run_sql(
        shared_emulator, f"ALTER SECURITY INTEGRATION {client.name} REFRESH OAUTH_CLIENT_SECRET_2"
    )
    old2 = token_request(
        shared_emulator,
        client,
        secret=client.secret_2,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    assert old2.status_code == 401
    assert refresh(shared_emulator, client, tokens["refresh_token"]).status_code == 200


def test_unsupported_grant_type(shared_emulator: Emulator, client: Client) -> None:
    resp = token_request(shared_emulator, client, grant_type="password", username="a", password="b")
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


def test_single_use_rotation_and_family_reuse_detection(
    shared_emulator: Emulator, callback: Callback
) -> None:
    client = new_client(
        shared_emulator, callback, "OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED = TRUE"
    )
    first = login_tokens(
        shared_emulator, callback, client, *ALICE, scope="refresh_token session:role:ANALYST"
    )
    second = refresh(shared_emulator, client, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    # The rotation killed the earlier access token; the new one works.
    assert_token_dead(shared_emulator, first["access_token"])
    assert oauth_role(shared_emulator, second["access_token"]) == "ANALYST"
    third = refresh(shared_emulator, client, second["refresh_token"]).json()
    assert set(third) == {"access_token", "token_type", "expires_in", "refresh_token"}
    # Replaying a rotated-out refresh token revokes the whole family.
    reuse = refresh(shared_emulator, client, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert (
        refresh(shared_emulator, client, third["refresh_token"]).json()["error"] == "invalid_grant"
    )
    assert_token_dead(shared_emulator, third["access_token"])


def test_single_use_refresh_invalidates_the_users_earlier_sign_ins(
    shared_emulator: Emulator, callback: Callback
) -> None:
    """A single-use refresh kills every earlier token of that user, not only its own family."""
    client = new_client(
        shared_emulator, callback, "OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED = TRUE"
    )
    scope = "refresh_token session:role:ANALYST"
    laptop = login_tokens(shared_emulator, callback, client, *ALICE, scope=scope)
    desktop = login_tokens(shared_emulator, callback, client, *ALICE, scope=scope)
    bob = login_tokens(
        shared_emulator, callback, client, "bob@example.com", "bob-pass-1", scope=scope
    )
    assert oauth_role(shared_emulator, laptop["access_token"]) == "ANALYST"

    rotated = refresh(shared_emulator, client, desktop["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert_token_dead(shared_emulator, laptop["access_token"])
    stale = refresh(shared_emulator, client, laptop["refresh_token"])
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
    assert oauth_role(shared_emulator, rotated.json()["access_token"]) == "ANALYST"
    # Another user's tokens are untouched.
    assert refresh(shared_emulator, client, bob["refresh_token"]).status_code == 200


def test_single_use_can_be_asked_on_the_code_exchange(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    first = login_tokens(
        shared_emulator, callback, client, *ALICE, enable_single_use_refresh_tokens="TRUE"
    )
    second = refresh(shared_emulator, client, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        refresh(shared_emulator, client, first["refresh_token"]).json()["error"] == "invalid_grant"
    )


def test_removing_the_delegation_revokes_every_token(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    tokens = login_tokens(
        shared_emulator, callback, client, *ALICE, scope="refresh_token session:role:ANALYST"
    )
    assert oauth_role(shared_emulator, tokens["access_token"]) == "ANALYST"
    run_sql(
        shared_emulator,
        f'ALTER USER "alice@example.com" REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION {client.name}',
    )
    assert (
        shared_emulator.query(
            f"SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION {client.name}"
        )
        == []
    )
    assert (
        refresh(shared_emulator, client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    )
    assert_token_dead(shared_emulator, tokens["access_token"])


def test_disabling_the_integration_stops_its_tokens(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    tokens = login_tokens(shared_emulator, callback, client, *ALICE)
    run_sql(shared_emulator, f"ALTER SECURITY INTEGRATION {client.name} SET ENABLED = FALSE")
    assert_token_dead(shared_emulator, tokens["access_token"])
    assert (
        refresh(shared_emulator, client, tokens["refresh_token"]).json()["error"]
        == "invalid_client"
    )


def test_replacing_the_integration_breaks_old_tokens(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    tokens = login_tokens(shared_emulator, callback, client, *ALICE)
    replaced = create_integration(shared_emulator, client.name, callback.uri)
    assert replaced.client_id != client.client_id
    assert_token_dead(shared_emulator, tokens["access_token"])
    assert (
        refresh(shared_emulator, replaced, tokens["refresh_token"]).json()["error"]
        == "invalid_grant"
    )


def test_token_endpoint_faults(
    shared_emulator: Emulator, callback: Callback, client: Client
) -> None:
    tokens = login_tokens(shared_emulator, callback, client, *ALICE)
    try:
        shared_emulator.set_faults(status=503)
        failed = refresh(shared_emulator, client, tokens["refresh_token"])
        assert failed.status_code == 503 and failed.json()["error"] == "server_error"
        assert shared_emulator.stats()["token_requests"]["refresh_token:fault"] >= 1

        shared_emulator.set_faults(outage_s=30)
        assert refresh(shared_emulator, client, tokens["refresh_token"]).status_code == 503
        faults = httpx.get(shared_emulator.url + "/__emulator/faults").json()
        assert faults["outage_remaining_s"] > 0

        shared_emulator.set_faults(delay_s=0.3)
        started = time.monotonic()
        assert refresh(shared_emulator, client, tokens["refresh_token"]).status_code == 200
        assert time.monotonic() - started >= 0.3  # a lower bound: the delay was applied
    finally:
        shared_emulator.set_faults()
    assert refresh(shared_emulator, client, tokens["refresh_token"]).status_code == 200


def test_fault_settings_are_validated(shared_emulator: Emulator) -> None:
    resp = httpx.post(shared_emulator.url + "/__emulator/faults", json={"status": "soon"})
    assert resp.status_code == 400
    resp = httpx.post(shared_emulator.url + "/__emulator/faults", json={"bogus": 1})
    assert resp.status_code == 400
    assert httpx.get(shared_emulator.url + "/__emulator/faults").json()["status"] is None
