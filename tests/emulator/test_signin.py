"""Key-pair (SNOWFLAKE_JWT) and programmatic-access-token sign-in through the real connector.

The keys are generated here (never committed). Each refused sign-in is checked
against what Snowflake answers (390144 for any bad JWT, 390100 for a bad
password or token) and the account is read back to show nothing changed.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from snowflake.connector import DatabaseError

from harness.procs import Emulator

SVC = "alice@example.com"  # any seeded user; ANALYST is her default role


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_body(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(base64.b64decode(public_body(key)))
    return "SHA256:" + base64.b64encode(digest.finalize()).decode()


def write_key(key: rsa.RSAPrivateKey, path: Path, passphrase: str | None = None) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.chmod(0o600)
    return path


def key_login(emu: Emulator, key_file: Path, user: str = SVC, **extra: Any) -> Any:
    return emu.connect(
        user=user, password=None, authenticator="SNOWFLAKE_JWT",
        private_key_file=str(key_file), **extra,
    )  # fmt: skip


def current(conn: Any) -> tuple[str, str]:
    cur = conn.cursor()
    cur.execute("SELECT CURRENT_USER(), CURRENT_ROLE()")
    user, role = cur.fetchone()
    conn.close()
    return user, role


def describe_user(emu: Emulator, user: str) -> dict[str, str]:
    rows = emu.query(f'DESCRIBE USER "{user}"')
    return {r["property"]: r["value"] for r in rows}


def raw_login(emu: Emulator, data: dict[str, Any]) -> dict[str, Any]:
    """A login-request as the connector sends it, for JWTs the connector would never build."""
    body = json.dumps({"data": {"ACCOUNT_NAME": "DEMO-ACCOUNT", **data}}).encode()
    url = emu.url + "/session/v1/login-request"
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return dict(json.load(resp))


def test_key_pair_sign_in_with_plain_and_encrypted_keys(emulator: Emulator, tmp_path: Path) -> None:
    key = new_key()
    emulator.query(f"ALTER USER \"{SVC}\" SET RSA_PUBLIC_KEY = '{public_body(key)}'")
    props = describe_user(emulator, SVC)
    assert props["RSA_PUBLIC_KEY_FP"] == fingerprint(key)
    assert props["RSA_PUBLIC_KEY_2_FP"] == "null"
    assert emulator.query(f"SHOW USERS LIKE '{SVC}'")[0]["has_rsa_public_key"] == "true"

    assert current(key_login(emulator, write_key(key, tmp_path / "plain.p8"))) == (SVC, "ANALYST")
    encrypted = write_key(key, tmp_path / "enc.p8", passphrase="correct horse")
    conn = key_login(emulator, encrypted, private_key_password="correct horse")
    assert current(conn) == (SVC, "ANALYST")
    assert emulator.stats()["logins"].get("ok", 0) >= 2


def test_wrong_key_and_removed_key_are_refused_with_390144(
    emulator: Emulator, tmp_path: Path
) -> None:
    key, other = new_key(), new_key()
    emulator.query(f"ALTER USER \"{SVC}\" SET RSA_PUBLIC_KEY = '{public_body(key)}'")
    with pytest.raises(DatabaseError) as info:
        key_login(emulator, write_key(other, tmp_path / "other.p8"))
    assert info.value.errno == 390144 and "JWT token is invalid" in str(info.value)
    # Rotation: the second slot signs in too; unsetting the first one locks that key out.
    emulator.query(f"ALTER USER \"{SVC}\" SET RSA_PUBLIC_KEY_2 = '{public_body(other)}'")
    assert current(key_login(emulator, tmp_path / "other.p8"))[0] == SVC
    emulator.query(f'ALTER USER "{SVC}" UNSET RSA_PUBLIC_KEY')
    assert describe_user(emulator, SVC)["RSA_PUBLIC_KEY_FP"] == "null"
    with pytest.raises(DatabaseError) as info:
        key_login(emulator, write_key(key, tmp_path / "key.p8"))
    assert info.value.errno == 390144
    assert emulator.stats()["logins"]["jwt_invalid"] == 2


def test_a_key_that_is_not_an_rsa_public_key_is_refused_and_nothing_changes(
    emulator: Emulator,
) -> None:
    conn = emulator.connect()
    with pytest.raises(Exception) as info:
        conn.cursor().execute(f"ALTER USER \"{SVC}\" SET RSA_PUBLIC_KEY = 'bm90IGEga2V5'")
    conn.close()
    assert "Invalid RSA public key" in str(info.value) and "bm90" not in str(info.value)
    assert describe_user(emulator, SVC)["RSA_PUBLIC_KEY"] == "null"


def _jwt(key: rsa.RSAPrivateKey, *, iat: float, exp: float, user: str = SVC.upper()) -> str:
    sub = f"DEMO-ACCOUNT.{user}"
    claims = {"iss": f"{sub}.{fingerprint(key)}", "sub": sub, "iat": int(iat), "exp": int(exp)}
    return jwt.encode(claims, key, algorithm="RS256")


def test_expired_too_long_or_foreign_jwts_are_refused(emulator: Emulator) -> None:
    key = new_key()
    emulator.query(f"ALTER USER \"{SVC}\" SET RSA_PUBLIC_KEY = '{public_body(key)}'")
    now = time.time()
    base = {"LOGIN_NAME": SVC, "AUTHENTICATOR": "SNOWFLAKE_JWT"}
    good = raw_login(emulator, {**base, "TOKEN": _jwt(key, iat=now, exp=now + 60)})
    assert good["success"] is True
    refused = [
        _jwt(key, iat=now - 600, exp=now - 300),  # expired
        _jwt(key, iat=now, exp=now + 2 * 3600),  # lives longer than an hour
        _jwt(key, iat=now, exp=now + 60, user="BOB@EXAMPLE.COM"),  # another user's subject
        _jwt(key, iat=now, exp=now + 60)[:-4] + "AAAA",  # signature tampered with
    ]
    for token in refused:
        answer = raw_login(emulator, {**base, "TOKEN": token})
        assert (answer["success"], answer["code"], answer["message"]) == (
            False, "390144", "JWT token is invalid.",
        )  # fmt: skip


def test_programmatic_access_token_as_password_and_as_token(emulator: Emulator) -> None:
    (row,) = emulator.query(
        f'ALTER USER "{SVC}" ADD PROGRAMMATIC ACCESS TOKEN ci_token DAYS_TO_EXPIRY = 2'
    )
    assert row["token_name"] == "CI_TOKEN" and len(row["token_secret"]) > 40
    secret = row["token_secret"]
    assert current(emulator.connect(user=SVC, password=secret)) == (SVC, "ANALYST")
    conn = emulator.connect(
        user=SVC, password=None, authenticator="PROGRAMMATIC_ACCESS_TOKEN", token=secret
    )
    assert current(conn) == (SVC, "ANALYST")
    # The secret is not kept: the state file holds only its hash.
    assert secret not in emulator.state_file.read_text()
    with pytest.raises(DatabaseError) as info:
        emulator.connect(user=SVC, password=secret + "x")
    assert info.value.errno == 390100


def test_role_restricted_token_and_removal(emulator: Emulator) -> None:
    emulator.query("CREATE ROLE IF NOT EXISTS PAT_ROLE")
    emulator.query(f'GRANT ROLE PAT_ROLE TO USER "{SVC}"')
    (row,) = emulator.query(f"ALTER USER \"{SVC}\" ADD PAT narrow ROLE_RESTRICTION = 'PAT_ROLE'")
    secret = row["token_secret"]
    assert current(emulator.connect(user=SVC, password=secret)) == (SVC, "PAT_ROLE")
    with pytest.raises(DatabaseError):
        emulator.connect(user=SVC, password=secret, role="ANALYST")
    emulator.query(f'ALTER USER "{SVC}" REMOVE PROGRAMMATIC ACCESS TOKEN narrow')
    with pytest.raises(DatabaseError) as info:
        emulator.connect(user=SVC, password=secret)
    assert info.value.errno == 390100


def test_expired_token_is_refused(emulator: Emulator) -> None:
    (row,) = emulator.query(f'ALTER USER "{SVC}" ADD PAT soon DAYS_TO_EXPIRY = 1')
    emulator.stop()
    state = json.loads(emulator.state_file.read_text())
    (token,) = state["access_tokens"]
    token["expires_on"] = (
        datetime.fromisoformat(token["expires_on"]) - timedelta(days=2)
    ).isoformat()
    emulator.state_file.write_text(json.dumps(state))
    emulator.start()
    with pytest.raises(DatabaseError) as info:
        emulator.connect(user=SVC, password=row["token_secret"])
    assert info.value.errno == 390100
