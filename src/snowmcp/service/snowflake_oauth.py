"""Snowflake's OAuth endpoints, as a confidential client: authorize URL, code exchange, refresh.

Error classes follow Snowflake's token endpoint (docs/service.md, "Refresh"): `invalid_grant` and `invalid_client` are
permanent (the user must sign in again); everything else - 5xx, timeouts, connection
errors, odd bodies - is transient and retried with backoff by the caller. With two
client secrets configured (current and next), `invalid_client` on one is retried once
with the other, so rotating the Snowflake secret needs no downtime.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from snowmcp.service.config import Settings

PERMANENT_ERRORS = frozenset({"invalid_grant", "invalid_client"})


class OAuthError(Exception):
    """A failed token request. `permanent` is True for invalid_grant / invalid_client."""

    def __init__(self, error: str, status: int | None, permanent: bool) -> None:
        super().__init__(f"token request failed: {error} (HTTP {status})" if status else f"token request failed: {error}")
        self.error = error
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    expires_in: int
    refresh_token: str | None
    username: str | None


def _basic(client_id: str, secret: str) -> str:
    # Snowflake takes base64(client_id:client_secret) with neither part form-encoded; its
    # secrets contain '+', '/' and '=', which RFC 6749's form-encoding would change.
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _parse_success(data: Any) -> TokenResponse:
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise OAuthError("malformed_response", 200, permanent=False)
    try:
        # Snowflake has been seen sending expires_in as a string.
        expires_in = int(float(data.get("expires_in", 600)))
    except (TypeError, ValueError, OverflowError):  # OverflowError: "1e999", inf
        raise OAuthError("malformed_response", 200, permanent=False) from None
    refresh = data.get("refresh_token")
    username = data.get("username")
    return TokenResponse(
        access_token=data["access_token"],
        expires_in=max(1, expires_in),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        username=username if isinstance(username, str) and username else None,
    )


class SnowflakeOAuth:
    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        self.base = settings.snowflake_url.rstrip("/")
        self.client_id = settings.client_id
        self.secrets = list(settings.client_secrets)
        self.redirect_uri = settings.redirect_uri
        self.role = settings.role
        self.client = client
        self.timeout = settings.http_timeout
        self.refresh_timeout = settings.refresh_timeout
        self._preferred = 0  # index of the secret that last worked

    def authorize_url(self, state: str, code_challenge: str) -> str:
        query = urlencode({
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "state": state,
            "scope": f"refresh_token session:role:{self.role}",
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        })  # fmt: skip
        return f"{self.base}/oauth/authorize?{query}"

    async def exchange_code(self, code: str, code_verifier: str) -> TokenResponse:
        return await self._token_request({
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self.redirect_uri, "code_verifier": code_verifier,
        })  # fmt: skip

    async def refresh(self, refresh_token: str) -> TokenResponse:
        # Its own, longer timeout: giving up on a refresh Snowflake has performed loses a
        # single-use refresh token (the old one is dead, the new one never arrives).
        return await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token},
                                         self.refresh_timeout)  # fmt: skip

    async def _token_request(self, form: dict[str, str], timeout: float | None = None) -> TokenResponse:
        order = [self._preferred] + [i for i in range(len(self.secrets)) if i != self._preferred]
        last: OAuthError | None = None
        for index in order:
            try:
                return self._done(index, await self._post(form, self.secrets[index], timeout or self.timeout))
            except OAuthError as exc:
                last = exc
                if exc.error != "invalid_client":
                    raise
        assert last is not None
        raise last

    def _done(self, index: int, response: TokenResponse) -> TokenResponse:
        self._preferred = index
        return response

    async def _post(self, form: dict[str, str], secret: str, timeout: float) -> TokenResponse:
        try:
            # httpx's timeouts bound each connect/read; a server dripping bytes would hold the
            # user's lease (and every caller joined to the refresh) for ever: bound the total.
            async with asyncio.timeout(timeout):
                resp = await self.client.post(
                    f"{self.base}/oauth/token-request",
                    data=form,
                    timeout=httpx.Timeout(timeout, connect=min(5.0, self.timeout)),
                    headers={"Authorization": _basic(self.client_id, secret), "Accept": "application/json"},
                )
        except (httpx.TimeoutException, TimeoutError):
            raise OAuthError("timeout", None, permanent=False) from None
        except httpx.HTTPError as exc:
            raise OAuthError(f"connection_error:{type(exc).__name__}", None, permanent=False) from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code == 200:
            return _parse_success(data)
        error = data.get("error") if isinstance(data, dict) else None
        if resp.status_code in (400, 401) and isinstance(error, str):
            return self._raise(error, resp.status_code)
        raise OAuthError(f"http_{resp.status_code}", resp.status_code, permanent=False)

    @staticmethod
    def _raise(error: str, status: int) -> TokenResponse:
        raise OAuthError(error if error.isidentifier() else "unknown_error", status, permanent=error in PERMANENT_ERRORS)
