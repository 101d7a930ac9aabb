"""The one connection helper every Snowflake module uses.

Options (documented once in doc_fragments/snowflake.py) map 1:1 onto
`snowflake.connector.connect()`; each falls back to a `SNOWFLAKE_*`
environment variable, and every secret is `no_log`. Because the option names
equal the keys of the inventory's `snowflake_connection`, a play can pass the
whole dict through `module_defaults: {group/snowmcp.core.snowflake: ...}`.

Sign-in: a key pair (`private_key_file`, optional `private_key_passphrase`;
authenticator SNOWFLAKE_JWT is implied) is the normal way for an automation
user; a programmatic access token goes in `token` with authenticator
PROGRAMMATIC_ACCESS_TOKEN (or in `password`); `password` alone is legacy.
The key file is read here before connecting, so a wrong passphrase or a key
Snowflake does not know gives a message that says which, before any
statement runs.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import env_fallback

try:
    import snowflake.connector

    HAS_CONNECTOR = True
    CONNECTOR_IMPORT_ERROR: str | None = None
except ImportError as exc:  # reported by connect(); modules still render docs without it
    HAS_CONNECTOR = False
    CONNECTOR_IMPORT_ERROR = str(exc)

try:  # a dependency of the connector: present wherever the connector is
    from cryptography.hazmat.primitives import serialization

    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

# Snowflake's answer to a JWT it cannot verify against the user's public keys.
JWT_INVALID = 390144


def _env(*names: str) -> tuple[Any, list[str]]:
    return (env_fallback, list(names))


def connection_argument_spec() -> dict[str, Any]:
    return {
        "account": {"type": "str", "fallback": _env("SNOWFLAKE_ACCOUNT")},
        "user": {"type": "str", "fallback": _env("SNOWFLAKE_USER")},
        "password": {"type": "str", "no_log": True, "fallback": _env("SNOWFLAKE_PASSWORD")},
        "private_key_file": {"type": "path", "fallback": _env("SNOWFLAKE_PRIVATE_KEY_FILE")},
        "private_key_passphrase": {
            "type": "str", "no_log": True,
            "fallback": _env("SNOWFLAKE_PRIVATE_KEY_FILE_PWD", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"),
        },
        "authenticator": {"type": "str", "fallback": _env("SNOWFLAKE_AUTHENTICATOR")},
        "token": {"type": "str", "no_log": True, "fallback": _env("SNOWFLAKE_TOKEN")},
        "role": {"type": "str", "fallback": _env("SNOWFLAKE_ROLE")},
        "warehouse": {"type": "str", "fallback": _env("SNOWFLAKE_WAREHOUSE")},
        "connection_name": {
            "type": "str",
            "fallback": _env("SNOWFLAKE_CONNECTION_NAME", "SNOWFLAKE_DEFAULT_CONNECTION_NAME"),
        },
        "host": {"type": "str", "fallback": _env("SNOWFLAKE_HOST")},
        "port": {"type": "int", "fallback": _env("SNOWFLAKE_PORT")},
        "protocol": {"type": "str", "choices": ["https", "http"], "fallback": _env("SNOWFLAKE_PROTOCOL")},
        "login_timeout": {"type": "int", "default": 60},
    }


CONNECTION_KEYS = frozenset(connection_argument_spec())
# Options whose values must never reach output, errors or `queries`.
SECRET_KEYS = ("password", "private_key_passphrase", "token")


def connect_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """Translate module parameters into connector arguments (only those given)."""
    if not params.get("connection_name") and not params.get("account"):
        raise ValueError(
            "no Snowflake connection: set `account` (and user + password, private_key_file or token) "
            "or `connection_name` (a connection from ~/.snowflake/connections.toml)"
        )
    mapping = {
        "account": "account",
        "user": "user",
        "password": "password",
        "private_key_file": "private_key_file",
        "private_key_passphrase": "private_key_password",
        "authenticator": "authenticator",
        "token": "token",
        "role": "role",
        "warehouse": "warehouse",
        "connection_name": "connection_name",
        "host": "host",
        "port": "port",
        "protocol": "protocol",
        "login_timeout": "login_timeout",
    }
    out = {target: params[src] for src, target in mapping.items() if params.get(src) not in (None, "")}
    if out.get("private_key_file") and not out.get("authenticator"):
        out["authenticator"] = "SNOWFLAKE_JWT"
    if out.get("token") and not out.get("authenticator"):
        out["authenticator"] = "oauth"
    # The session's own statements are plain DDL: skip the connector's
    # telemetry and keep errors quick, so a module run costs only its queries.
    out.setdefault("client_session_keep_alive", False)
    out.setdefault("enable_server_session_keep_alive_auto_detection", False)
    return out


def connect(params: dict[str, Any]) -> Any:
    if not HAS_CONNECTOR:
        raise RuntimeError(
            "snowflake-connector-python is required on the host running the module "
            f"(pip install snowflake-connector-python): {CONNECTOR_IMPORT_ERROR}"
        )
    kwargs = connect_kwargs(params)
    key_fp = None
    if str(kwargs.get("authenticator", "")).upper() == "SNOWFLAKE_JWT" and kwargs.get("private_key_file"):
        key_fp = key_fingerprint(kwargs["private_key_file"], kwargs.get("private_key_password"))
    try:
        return snowflake.connector.connect(**kwargs)
    except Exception as exc:
        if key_fp is not None and getattr(exc, "errno", None) == JWT_INVALID:
            user = kwargs.get("user", "")
            raise RuntimeError(
                "Snowflake refused the key pair (390144 JWT token is invalid): the public key of "
                f"private_key_file {kwargs['private_key_file']} (fingerprint {key_fp}) is not "
                f"RSA_PUBLIC_KEY or RSA_PUBLIC_KEY_2 of user {user!r}; compare with RSA_PUBLIC_KEY_FP "
                f"in DESCRIBE USER and set it with ALTER USER ... SET RSA_PUBLIC_KEY = '<base64 DER>'"
            ) from None
        raise


def key_fingerprint(path: str, passphrase: Any) -> str:
    """Read the private key file; return its public key's fingerprint as DESCRIBE USER shows it.

    Fails with a message naming the problem (unreadable, encrypted without a
    passphrase, wrong passphrase, not a key) so nothing is attempted with it.
    """
    if not HAS_CRYPTOGRAPHY:
        raise RuntimeError("the cryptography package is required to read private_key_file")
    import base64
    import hashlib

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ValueError(f"private_key_file {path} cannot be read: {exc.strerror}") from None
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(data, password=secret or None)
    except TypeError:
        if secret:
            raise ValueError(f"private_key_file {path} is not encrypted: remove private_key_passphrase") from None
        raise ValueError(f"private_key_file {path} is encrypted: set private_key_passphrase") from None
    except ValueError:
        if secret:
            raise ValueError(
                f"private_key_file {path} could not be decrypted: wrong private_key_passphrase, "
                "or the file is not a PEM private key"
            ) from None
        raise ValueError(f"private_key_file {path} is not a PEM private key") from None
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
