"""Non-interactive sign-in the way Snowflake checks it: key-pair JWTs and programmatic access tokens.

Key pair (authenticator SNOWFLAKE_JWT): the user holds up to two RSA public
keys (RSA_PUBLIC_KEY, RSA_PUBLIC_KEY_2, base64 DER without PEM lines). The
client signs an RS256 JWT with
    iss = <ACCOUNT>.<LOGIN NAME>.SHA256:<base64 sha256 of the public key's DER>
    sub = <ACCOUNT>.<LOGIN NAME>          (both upper-cased)
    iat, exp                              (exp at most one hour after iat)
The fingerprint in `iss` picks the key; the signature must verify with it.
Anything else is refused with 390144 "JWT token is invalid." (Snowflake gives
no more detail, so a client cannot probe which part was wrong).

Programmatic access tokens (ALTER USER ... ADD PROGRAMMATIC ACCESS TOKEN) are
random secrets shown once; only their SHA-256 is kept. They are used in place
of a password or with authenticator PROGRAMMATIC_ACCESS_TOKEN.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from snowmcp.emulator.model import AccessToken, Account, User, now

JWT_MAX_LIFETIME_S = 3600
PAT_DEFAULT_DAYS = 15
PAT_MAX_DAYS = 365


class InvalidPublicKey(ValueError):
    """The text is not a base64 DER RSA public key."""


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Parse RSA_PUBLIC_KEY's value: base64 DER (PEM lines and line breaks tolerated)."""
    body = "".join(
        line.strip() for line in text.strip().splitlines() if not line.startswith("-----")
    )
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except ValueError as exc:
        raise InvalidPublicKey(str(exc)) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPublicKey("not an RSA public key")
    return key


def normalise_public_key(text: str) -> str:
    """The stored form: base64 of the DER (one line), after checking it parses."""
    return base64.b64encode(_der(load_public_key(text))).decode()


def fingerprint(stored_key: str) -> str:
    """RSA_PUBLIC_KEY_FP as DESCRIBE USER shows it: SHA256:<base64 sha256 of the DER>."""
    digest = hashlib.sha256(base64.b64decode(stored_key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode()


def _der(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _account_part(name: str) -> str:
    # The connector sends the account identifier; a locator's region part is not in the JWT.
    return name.split(".")[0].upper()


def user_by_jwt(account: Account, login_name: str, token: str) -> User | None:
    """The user this JWT signs in, or None when any check fails (the caller answers 390144)."""
    user = account.user_by_login(login_name)
    if user is None:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    if header.get("alg") != "RS256":
        return None
    subject = f"{_account_part(account.name)}.{user.login_name.upper()}"
    issuer = str(claims.get("iss") or "")
    prefix = subject + "."
    if claims.get("sub") != subject or not issuer.startswith(prefix):
        return None
    wanted_fp = issuer[len(prefix) :]
    key = next(
        (
            k
            for k in (user.rsa_public_key, user.rsa_public_key_2)
            if k and secrets.compare_digest(fingerprint(k), wanted_fp)
        ),
        None,
    )
    if key is None:
        return None
    try:
        checked = jwt.decode(
            token,
            load_public_key(key),
            algorithms=["RS256"],
            options={"require": ["iss", "sub", "iat", "exp"], "verify_aud": False},
        )
    except jwt.PyJWTError:
        return None
    if int(checked["exp"]) - int(checked["iat"]) > JWT_MAX_LIFETIME_S:
        return None
    if int(checked["iat"]) > time.time() + 60:  # issued in the future beyond clock skew
        return None
    return user


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_access_token(
    user: User, name: str, role_restriction: str | None, days: int
) -> tuple[AccessToken, str]:
    """A new token record and its secret (shown to the caller once, never stored)."""
    secret = secrets.token_urlsafe(48)
    created = now()
    record = AccessToken(
        name=name,
        user=user.name,
        secret_sha256=hash_secret(secret),
        role_restriction=role_restriction,
        expires_on=created + timedelta(days=days),
        created_on=created,
    )
    return record, secret


def token_by_secret(account: Account, login_name: str, secret: str) -> AccessToken | None:
    """The unexpired access token `secret` of the user signing in as `login_name`, else None."""
    user = account.user_by_login(login_name)
    if user is None or not secret:
        return None
    digest = hash_secret(secret)
    moment = now()
    for token in account.access_tokens:
        if token.user == user.name and secrets.compare_digest(token.secret_sha256, digest):
            return token if token.expires_on > moment else None
    return None
