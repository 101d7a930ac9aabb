"""The auth mode's account objects: validate `mcp_auth_mode` and plan which objects exist.

`mcp_auth_mode` is global (one mode for every MCP server of the inventory):
`token_service` (default), `snowflake_oauth` or `external_oauth`. Each mode owns
exactly these account objects; the account play creates the current mode's and
removes the others', so switching modes (either way) leaves one mode's objects:

| object                                   | token_service | snowflake_oauth        | external_oauth         |
|------------------------------------------|---------------|------------------------|------------------------|
| CONFIDENTIAL OAuth integration           | present       | dropped                | dropped                |
|   (snowflake_oauth_integration.name)     |               |                        |                        |
| PUBLIC OAuth integration                 | dropped       | present                | dropped                |
|   (mcp_native_oauth.integration)         |               |                        |                        |
| EXTERNAL_OAUTH integration               | dropped       | dropped                | present                |
|   (snowflake_external_oauth_integration) |               |                        |                        |
| OAUTH_AUTHORIZATION_SERVER               | unset         | unset                  | set at parameters_level|
| OAUTH_SCOPES_SUPPORTED                   | unset         | set at parameters_level| set at parameters_level|

The parameters are converged on the account and on the database and schema of
every present MCP server: set at `mcp_native_oauth.parameters_level`, unset at
the other two levels (a leftover schema value would override the account's).
An OAUTH_AUTHORIZATION_SERVER left set in token_service mode would make MCP
endpoints refuse the token service's Snowflake OAuth tokens, hence "unset".
Dropped integrations are those the inventory names (the PUBLIC one under its
default name SNOWMCP_CLAUDE_CODE unless `mcp_native_oauth.integration` says
otherwise); no other integration is touched. In token_service mode with
neither `mcp_native_oauth` nor `snowflake_external_oauth_integration` in the
inventory, the play skips the parameters and the drops (nothing native was
ever configured): keep those variables when switching back to token_service. Python 3.9 compatible (runs in filters).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from ansible_collections.snowmcp.core.plugins.module_utils.inventory_model import (
    mcp_role_names,
    token_service_role,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_external_oauth_plan import (
    validate as validate_external,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    normalize,
)

MODES = ("token_service", "snowflake_oauth", "external_oauth")
NATIVE_KEYS = frozenset({"callback_port", "client_id", "integration", "scopes", "parameters_level"})
EXTERNAL_KEYS = frozenset(
    {"name", "type", "issuer", "jws_keys_url", "audience_list", "user_mapping_claim",
     "snowflake_user_mapping_attribute", "scope_mapping_attribute", "any_role_mode", "comment"}
)  # fmt: skip
DEFAULT_CALLBACK_PORT = 8765
DEFAULT_PUBLIC_INTEGRATION = "SNOWMCP_CLAUDE_CODE"
LEVELS = ("account", "database", "schema")


def auth_mode(inv: dict[str, Any]) -> str:
    return str(inv.get("mcp_auth_mode") or "token_service")


def native_settings(inv: dict[str, Any]) -> dict[str, Any]:
    cfg = inv.get("mcp_native_oauth")
    return cfg if isinstance(cfg, dict) else {}


def callback_port(inv: dict[str, Any]) -> int:
    port = native_settings(inv).get("callback_port", DEFAULT_CALLBACK_PORT)
    try:
        return int(port)
    except (TypeError, ValueError):
        return DEFAULT_CALLBACK_PORT


def redirect_uri(inv: dict[str, Any]) -> str:
    """What Claude Code sends as redirect_uri with a fixed --callback-port."""
    return f"http://localhost:{callback_port(inv)}/callback"


def scopes(inv: dict[str, Any]) -> list[str]:
    given = native_settings(inv).get("scopes")
    if given:
        return [str(s) for s in given]
    role = token_service_role(inv)
    out = [f"session:role:{role}"] if role else []
    if auth_mode(inv) == "snowflake_oauth":
        out.append("refresh_token")
    return out


def _external(inv: dict[str, Any]) -> dict[str, Any]:
    cfg = inv.get("snowflake_external_oauth_integration")
    return cfg if isinstance(cfg, dict) else {}


def external_params(inv: dict[str, Any]) -> dict[str, Any]:
    """snowflake_external_oauth_integration's module options from the inventory entry."""
    cfg = dict(_external(inv))
    for key in ("jws_keys_url", "audience_list", "user_mapping_claim"):
        if isinstance(cfg.get(key), str):
            cfg[key] = [cfg[key]]
    return cfg


def validate_native(inv: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    mode = inv.get("mcp_auth_mode", "token_service")
    if mode not in MODES:
        return [f"mcp_auth_mode must be one of {', '.join(MODES)} (got {mode!r})"]
    raw = inv.get("mcp_native_oauth")
    if raw is not None and not isinstance(raw, dict):
        problems.append("mcp_native_oauth must be a mapping")
    cfg = native_settings(inv)
    extra = sorted(set(cfg) - NATIVE_KEYS)
    if extra:
        problems.append(f"mcp_native_oauth: unknown keys {', '.join(extra)} (allowed: {', '.join(sorted(NATIVE_KEYS))})")
    port = cfg.get("callback_port", DEFAULT_CALLBACK_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
        problems.append(f"mcp_native_oauth.callback_port must be a whole number 1024-65535 (got {port!r})")
    try:
        normalize(str(cfg.get("integration", DEFAULT_PUBLIC_INTEGRATION)))
    except IdentifierError as exc:
        problems.append(f"mcp_native_oauth.integration: {exc}")
    level = cfg.get("parameters_level", "account")
    if level not in LEVELS:
        problems.append(f"mcp_native_oauth.parameters_level must be one of {', '.join(LEVELS)} (got {level!r})")
    given_scopes = cfg.get("scopes")
    if given_scopes is not None and (
        not isinstance(given_scopes, list) or not all(isinstance(s, str) and s and "," not in s for s in given_scopes)
    ):
        problems.append("mcp_native_oauth.scopes must be a list of single scopes (no commas)")
    client_id = cfg.get("client_id") or ""
    if not isinstance(client_id, str):
        problems.append("mcp_native_oauth.client_id must be a string")
    if mode == "snowflake_oauth" and client_id:
        problems.append(
            "mcp_native_oauth.client_id must stay empty in snowflake_oauth mode: the play reads it from Snowflake"
        )
    if mode == "external_oauth":
        if not client_id:
            problems.append("mcp_native_oauth.client_id is required in external_oauth mode (the IdP app's client id)")
        ext = inv.get("snowflake_external_oauth_integration")
        if not isinstance(ext, dict):
            problems.append("snowflake_external_oauth_integration must be defined in external_oauth mode")
        else:
            extra = sorted(set(ext) - EXTERNAL_KEYS)
            if extra:
                problems.append(f"snowflake_external_oauth_integration: unknown keys {', '.join(extra)}")
            try:
                normalize(str(ext.get("name", "")))
            except IdentifierError as exc:
                problems.append(f"snowflake_external_oauth_integration.name: {exc}")
            problems += [f"snowflake_external_oauth_integration: {p}" for p in validate_external(external_params(inv), False)]
            issuer = str(ext.get("issuer") or "")
            if issuer and urlparse(issuer).scheme not in ("https", "http"):
                problems.append(f"snowflake_external_oauth_integration.issuer {issuer!r} must be an http(s) URL")
    return problems


def _name(value: Any) -> str | None:
    try:
        return normalize(str(value)) if value else None
    except IdentifierError:
        return None


def _server_objects(inv: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    databases: list[str] = []
    schemas: list[tuple[str, str]] = []
    for server in inv.get("snowflake_mcp_servers") or []:
        if not isinstance(server, dict) or server.get("state", "present") == "absent":
            continue
        db, schema = _name(server.get("database")), _name(server.get("schema"))
        if db is None or schema is None:
            continue
        if db not in databases:
            databases.append(db)
        if (db, schema) not in schemas:
            schemas.append((db, schema))
    return databases, schemas


def parameter_targets(inv: dict[str, Any]) -> list[dict[str, Any]]:
    """snowflake_oauth_parameters' targets: the account, and each server's database and schema, once."""
    mode = auth_mode(inv)
    level = native_settings(inv).get("parameters_level", "account")
    values: dict[str, Any] = {}
    if mode != "token_service":
        values["scopes_supported"] = scopes(inv)
    if mode == "external_oauth":
        values["authorization_server"] = _name(_external(inv).get("name"))
    databases, schemas = _server_objects(inv)
    targets: list[dict[str, Any]] = [{"level": "account", **(values if level == "account" else {})}]
    targets += [{"level": "database", "database": d, **(values if level == "database" else {})} for d in databases]
    targets += [
        {"level": "schema", "database": d, "schema": s, **(values if level == "schema" else {})} for d, s in schemas
    ]
    return targets


def native_plan(inv: dict[str, Any]) -> dict[str, Any]:
    """What the account play converges for the auth mode (see the table in the module docstring)."""
    mode = auth_mode(inv)
    public_name = _name(native_settings(inv).get("integration")) or DEFAULT_PUBLIC_INTEGRATION
    external_name = _name(_external(inv).get("name"))
    confidential = inv.get("snowflake_oauth_integration")
    confidential_name = _name(confidential.get("name")) if isinstance(confidential, dict) else None
    public: dict[str, Any] = {"name": public_name, "state": "present" if mode == "snowflake_oauth" else "absent"}
    if mode == "snowflake_oauth":
        public.update(
            client_type="PUBLIC", redirect_uri=redirect_uri(inv), allow_non_tls_redirect_uri=True,
            enforce_pkce=True, allowed_roles=mcp_role_names(inv),
            comment="snowmcp: Claude Code signs in by itself (native mode)",
        )  # fmt: skip
    external: dict[str, Any] = {"name": external_name, "state": "present" if mode == "external_oauth" else "absent"}
    if mode == "external_oauth":
        external.update({k: v for k, v in external_params(inv).items() if k != "name"})
    # An inventory that never mentions the native modes has nothing of theirs to remove:
    # token_service mode then skips the parameter reads and the drops (no extra request
    # for existing inventories). Keep `mcp_native_oauth` when switching back.
    touched = mode != "token_service" or any(
        inv.get(k) is not None for k in ("mcp_native_oauth", "snowflake_external_oauth_integration")
    )
    return {
        "mode": mode,
        "manage_native_objects": touched,
        # Integrations of the other modes to drop (only those the inventory names).
        "drop_confidential": confidential_name if mode != "token_service" else None,
        "public": public,
        "external": external,
        "parameter_targets": parameter_targets(inv),
        "client_id": native_settings(inv).get("client_id") or "",
        "callback_port": callback_port(inv),
    }


def native_oauth_client(inv: dict[str, Any], client_id_fact: Any = None) -> dict[str, Any] | None:
    """`{"client_id", "callback_port"}` of the MCP servers' `oauth` entry in a native mode; None in token_service.

    external_oauth: the IdP app's client id from the inventory. snowflake_oauth: the
    `snowmcp_native_client_id` fact (the PUBLIC integration's OAUTH_CLIENT_ID, read by
    the account play or by a workstation play with snowflake_oauth_integration); ""
    when the fact is missing, which the workstation play must refuse.
    """
    mode = auth_mode(inv)
    if mode not in ("snowflake_oauth", "external_oauth"):
        return None
    if mode == "external_oauth":
        client_id = str(native_settings(inv).get("client_id") or "")
    else:
        client_id = "" if client_id_fact is None else str(client_id_fact)
    return {"client_id": client_id, "callback_port": callback_port(inv)}
