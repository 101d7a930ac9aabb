"""Verify access tokens issued by an identity provider for an EXTERNAL_OAUTH integration.

What Snowflake checks, in order (docs/emulator.md, "External OAuth"):
- the token is a signed JWT (RS256) whose key (`kid`) is in the JWKS at
  EXTERNAL_OAUTH_JWS_KEYS_URL;
- `iss` equals EXTERNAL_OAUTH_ISSUER exactly;
- `aud` is one of EXTERNAL_OAUTH_AUDIENCE_LIST or the account URL;
- `exp` is in the future;
- the first EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM present in the token
  names a user by LOGIN_NAME or EMAIL_ADDRESS
  (EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE), who is enabled;
- the role comes from the scope claim (`scp`: a list or a space-separated
  string; `scope`: a space-separated string): `session:role:<ROLE>`, or
  `session:role-any` when EXTERNAL_OAUTH_ANY_ROLE_MODE allows it (the
  user's default role); without a role scope the default role is used. The
  role must be granted to the user, not blocked and, if the integration has
  an allowed list, on it.

The signature, claim and JWKS handling are PyJWT's (PyJWKSet, jwt.decode);
this module only fetches the JWKS (bounded in size and time, cached, and
refetched for an unknown `kid` at most once per REFETCH_INTERVAL_S, so
tokens with made-up key ids cannot make the emulator hammer the IdP).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from snowmcp.emulator.model import Account, ExternalOAuthIntegration, User

MAX_TOKEN_BYTES = 16 * 1024
MAX_JWKS_BYTES = 256 * 1024
JWKS_TIMEOUT_S = 5.0
JWKS_TTL_S = 300.0
REFETCH_INTERVAL_S = 30.0
ROLE_SCOPE = "session:role:"
ANY_ROLE_SCOPE = "session:role-any"


class ExternalTokenError(Exception):
    """Why a token is refused (shown to the client as error_description)."""


@dataclass
class ExternalGrant:
    user: str  # User.name
    role: str
    integration: str
    expires_at: float


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def unverified_issuer(token: str) -> str | None:
    """The `iss` claim read without verification: only to pick which integration verifies it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


class JwksCache:
    """JWKS documents per URL, fetched with a timeout and a size bound, kept JWKS_TTL_S."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[float, jwt.PyJWKSet]] = {}
        self._last_fetch: dict[str, float] = {}

    def _fetch(self, url: str) -> jwt.PyJWKSet:
        # http(s) only: the integration check refuses other schemes at CREATE/ALTER.
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT_S) as response:  # noqa: S310
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ExternalTokenError("The JWKS document is too large.")
        return jwt.PyJWKSet.from_dict(json.loads(body))

    def key(self, urls: list[str], kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        for refresh in (False, True):
            for url in urls:
                with self._lock:
                    cached = self._sets.get(url)
                    stale = cached is None or now - cached[0] > JWKS_TTL_S
                    may_refetch = now - self._last_fetch.get(url, -1e9) > REFETCH_INTERVAL_S
                    fetch = stale or (refresh and may_refetch)
                    if fetch:
                        self._last_fetch[url] = now
                if fetch:
                    try:
                        keys = self._fetch(url)
                    except (OSError, ValueError, jwt.PyJWTError) as exc:
                        raise ExternalTokenError(f"Could not fetch the JWKS: {exc}") from None
                    with self._lock:
                        self._sets[url] = (now, keys)
                        cached = self._sets[url]
                if cached is None:
                    continue
                for k in cached[1].keys:
                    if kid is None or k.key_id == kid:
                        return k
        raise ExternalTokenError("No key in the JWKS matches the token's kid.")


def verify(
    account: Account,
    integ: ExternalOAuthIntegration,
    token: str,
    account_url: str,
    jwks: JwksCache,
) -> ExternalGrant:
    """The grant a token gives under `integ`, or ExternalTokenError. Call without the account lock
    (the JWKS may be fetched); the user/role checks take it."""
    if not integ.enabled:
        raise ExternalTokenError("The External OAuth integration is disabled.")
    if len(token) > MAX_TOKEN_BYTES:
        raise ExternalTokenError("The access token is too large.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ExternalTokenError(f"Malformed token: {exc}") from None
    if header.get("alg") != "RS256":
        raise ExternalTokenError("The token must be signed with RS256.")
    key = jwks.key(integ.jws_keys_url, header.get("kid"))
    audiences = [*integ.audience_list, account_url]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=["RS256"],
            audience=audiences,
            issuer=integ.issuer,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise ExternalTokenError("The access token has expired.") from None
    except jwt.PyJWTError as exc:
        raise ExternalTokenError(f"Invalid access token: {exc}") from None
    with account.lock:
        user = _user(account, integ, claims)
        role = _role(account, integ, user, claims)
    return ExternalGrant(user.name, role, integ.name, float(claims["exp"]))


def _user(account: Account, integ: ExternalOAuthIntegration, claims: dict[str, Any]) -> User:
    value = next(
        (claims[c] for c in integ.user_mapping_claim if isinstance(claims.get(c), str)), None
    )
    if value is None:
        raise ExternalTokenError("The token has none of the user mapping claims.")
    if integ.user_mapping_attribute == "LOGIN_NAME":
        user = account.user_by_login(value)
    else:
        wanted = value.lower()
        user = next((u for u in account.users.values() if u.email.lower() == wanted), None)
    if user is None or user.disabled:
        raise ExternalTokenError("The token's user does not exist or is disabled.")
    return user


def _scopes(integ: ExternalOAuthIntegration, claims: dict[str, Any]) -> list[str]:
    raw = claims.get(integ.scope_mapping_attribute)
    if isinstance(raw, list):
        return [str(s) for s in raw]
    if isinstance(raw, str):
        return raw.split()
    return []


def _role(
    account: Account, integ: ExternalOAuthIntegration, user: User, claims: dict[str, Any]
) -> str:
    scopes = _scopes(integ, claims)
    named = [s[len(ROLE_SCOPE) :] for s in scopes if s.startswith(ROLE_SCOPE)]
    if len(named) > 1:
        raise ExternalTokenError("At most one session:role scope is allowed.")
    if named:
        wanted = named[0]
        role = wanted if wanted in account.roles else wanted.upper()
    else:
        if ANY_ROLE_SCOPE in scopes and integ.any_role_mode == "DISABLE":
            raise ExternalTokenError("session:role-any needs EXTERNAL_OAUTH_ANY_ROLE_MODE.")
        role = user.default_role or "PUBLIC"
    if not account.user_has_role(user.name, role):
        raise ExternalTokenError(f"Role '{role}' is not granted to this user.")
    if role in integ.effective_blocked_roles():
        raise ExternalTokenError(f"Role '{role}' is blocked by the integration.")
    if integ.allowed_roles and role not in integ.allowed_roles:
        raise ExternalTokenError(f"Role '{role}' is not in the integration's allowed roles.")
    return role
