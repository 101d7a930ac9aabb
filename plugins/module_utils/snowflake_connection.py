"""The one connection helper every Snowflake module uses.

Options (documented once in doc_fragments/snowflake.py) map 1:1 onto
`snowflake.connector.connect()`; each falls back to a `SNOWFLAKE_*`
environment variable, and every secret is `no_log`. Because the option names
equal the keys of the inventory's `snowflake_connection`, a play can pass the
whole dict through `module_defaults: {group/snowmcp.core.snowflake: ...}`.
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
        "private_key_passphrase": "private_key_file_pwd",
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
    return snowflake.connector.connect(**kwargs)
