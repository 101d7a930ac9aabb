"""Pure planning for snowflake_oauth_integration: module options vs DESCRIBE rows.

An existing integration is only ever ALTERed: `CREATE OR REPLACE` would mint a
new client id and secrets and break the token service and every user's
refresh token. Options left unset are not managed. BLOCKED_ROLES_LIST as
DESCRIBE shows it includes the privileged roles Snowflake blocks implicitly;
those are ignored unless the user lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    boolean,
    ident,
    literal,
    name_list,
    normalize,
)

IMPLICITLY_BLOCKED = frozenset({"ACCOUNTADMIN", "ORGADMIN", "GLOBALORGADMIN", "SECURITYADMIN"})


@dataclass(frozen=True)
class Param:
    option: str
    prop: str
    kind: str  # bool | int | str | keyword | roles
    default: Any


PARAMS = (
    Param("enabled", "ENABLED", "bool", True),
    Param("client_type", "OAUTH_CLIENT_TYPE", "keyword_str", "CONFIDENTIAL"),
    Param("redirect_uri", "OAUTH_REDIRECT_URI", "str", ""),
    Param("allow_non_tls_redirect_uri", "OAUTH_ALLOW_NON_TLS_REDIRECT_URI", "bool", False),
    Param("enforce_pkce", "OAUTH_ENFORCE_PKCE", "bool", False),
    Param("use_secondary_roles", "OAUTH_USE_SECONDARY_ROLES", "keyword", "NONE"),
    Param("pre_authorized_roles", "PRE_AUTHORIZED_ROLES_LIST", "roles", []),
    Param("blocked_roles", "BLOCKED_ROLES_LIST", "roles", []),
    Param("allowed_roles", "ALLOWED_ROLES_LIST", "roles", []),
    Param("issue_refresh_tokens", "OAUTH_ISSUE_REFRESH_TOKENS", "bool", True),
    Param("refresh_token_validity", "OAUTH_REFRESH_TOKEN_VALIDITY", "int", 7776000),
    Param("access_token_validity", "OAUTH_ACCESS_TOKEN_VALIDITY", "int", 600),
    Param("single_use_refresh_tokens", "OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED", "bool", False),
    Param("network_policy", "NETWORK_POLICY", "str", ""),
    Param("comment", "COMMENT", "str", ""),
)
PARAM_BY_OPTION = {p.option: p for p in PARAMS}


def desired_values(params: dict[str, Any]) -> dict[str, Any]:
    """The managed options (those given), normalised for comparison."""
    out: dict[str, Any] = {}
    for p in PARAMS:
        value = params.get(p.option)
        if value is None:
            continue
        if p.kind == "roles":
            value = sorted({normalize(str(r)) for r in value})
        elif p.kind in ("keyword", "keyword_str"):
            value = str(value).upper()
        elif p.kind == "int":
            value = int(value)
        out[p.option] = value
    return out


def validate(params: dict[str, Any], exists: bool) -> list[str]:
    """Problems Snowflake would reject, caught before anything changes."""
    problems = []
    values = desired_values(params)
    if not exists and not values.get("redirect_uri"):
        problems.append("redirect_uri is required to create the integration")
    uri = values.get("redirect_uri")
    if uri:
        parsed = urlparse(uri)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            problems.append(f"redirect_uri {uri!r} must be an absolute http(s) URL")
        elif parsed.scheme == "http" and not values.get("allow_non_tls_redirect_uri"):
            problems.append(
                f"redirect_uri {uri!r} is not https: set allow_non_tls_redirect_uri: true (test setups only)"
            )
    rtv = values.get("refresh_token_validity")
    if rtv is not None and not 86400 <= rtv <= 7776000:
        problems.append(f"refresh_token_validity must be 86400..7776000 seconds (got {rtv})")
    atv = values.get("access_token_validity")
    if atv is not None and not 60 <= atv <= 3600:
        problems.append(f"access_token_validity must be 60..3600 seconds (got {atv})")
    if values.get("allowed_roles") and values.get("use_secondary_roles") == "IMPLICIT":
        problems.append("allowed_roles needs use_secondary_roles: NONE")
    if values.get("pre_authorized_roles") and values.get("client_type") == "PUBLIC":
        problems.append("pre_authorized_roles is only for CONFIDENTIAL clients")
    return problems


def _parse_list(text: Any) -> list[str]:
    raw = str(text or "").strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    return sorted({part.strip().strip('"') for part in raw.split(",") if part.strip()})


def current_values(describe_rows: list[dict[str, Any]], managed: set[str] | None = None) -> dict[str, Any]:
    """DESCRIBE rows -> option values (absent properties take their documented default)."""
    props = {str(r.get("property", "")).upper(): r.get("property_value") for r in describe_rows}
    out: dict[str, Any] = {}
    for p in PARAMS:
        raw = props.get(p.prop)
        if raw is None:
            out[p.option] = p.default
        elif p.kind == "bool":
            out[p.option] = str(raw).strip().lower() == "true"
        elif p.kind == "int":
            out[p.option] = int(str(raw).strip() or p.default)
        elif p.kind == "roles":
            out[p.option] = _parse_list(raw)
        elif p.kind in ("keyword", "keyword_str"):
            out[p.option] = str(raw).strip().upper() or p.default
        else:
            out[p.option] = "" if raw is None else str(raw)
    return out


def comparable_current(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Current values of the managed options, with implicit blocked roles dropped unless asked for."""
    out = {k: current[k] for k in desired}
    # A network policy is named like any object: whether DESCRIBE echoes the text given
    # or the stored (upper-cased) name is unconfirmed, so accept both spellings rather
    # than report a change on every run.
    policy = desired.get("network_policy")
    if policy and str(out.get("network_policy", "")).upper() == str(policy).upper():
        out["network_policy"] = policy
    if "blocked_roles" in out:
        wanted = set(desired["blocked_roles"])
        out["blocked_roles"] = sorted(r for r in current["blocked_roles"] if r not in IMPLICITLY_BLOCKED or r in wanted)
    return out


def _value_sql(p: Param, value: Any) -> str:
    if p.kind == "bool":
        return boolean(bool(value))
    if p.kind == "int":
        return str(int(value))
    if p.kind == "roles":
        return name_list(list(value))
    if p.kind == "keyword":
        return str(value)  # validated against choices by the module
    return literal(str(value))


def create_sql(name: str, desired: dict[str, Any]) -> str:
    parts = [
        f"CREATE SECURITY INTEGRATION {ident(name)}",
        "TYPE = OAUTH",
        "OAUTH_CLIENT = CUSTOM",
        f"OAUTH_CLIENT_TYPE = {literal(desired.get('client_type', 'CONFIDENTIAL'))}",
    ]
    for p in PARAMS:
        if p.option == "client_type" or p.option not in desired:
            continue
        if p.kind == "roles" and not desired[p.option]:
            continue
        if p.option == "network_policy" and not desired[p.option]:
            continue
        parts.append(f"{p.prop} = {_value_sql(p, desired[p.option])}")
    return "\n  ".join(parts)


def alter_sql(name: str, before: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """ALTER statements for the options that differ (never CREATE OR REPLACE)."""
    sets: list[str] = []
    unsets: list[str] = []
    for p in PARAMS:
        if p.option not in desired or before.get(p.option) == desired[p.option]:
            continue
        if p.option == "client_type":
            raise ValueError(
                f"OAUTH_CLIENT_TYPE of integration {name} is {before.get('client_type')}; Snowflake cannot change it "
                "in place: use a new integration name for the other client type (a new client id) and drop this "
                "one when nothing uses it"
            )
        value = desired[p.option]
        if p.option == "network_policy" and value == "":
            unsets.append("NETWORK_POLICY")
        elif p.kind == "roles" and not value:
            sets.append(f"{p.prop} = ()")
        else:
            sets.append(f"{p.prop} = {_value_sql(p, value)}")
    out = []
    if sets:
        out.append(f"ALTER SECURITY INTEGRATION {ident(name)} SET " + " ".join(sets))
    if unsets:
        out.append(f"ALTER SECURITY INTEGRATION {ident(name)} UNSET " + ", ".join(unsets))
    return out
