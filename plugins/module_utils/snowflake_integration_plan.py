"""Pure planning for snowflake_oauth_integration: module options vs DESCRIBE rows.

An existing integration is only ever ALTERed: `CREATE OR REPLACE` would mint a
new client id and secrets and break the token service and every user's
refresh token. Options left unset are not managed. BLOCKED_ROLES_LIST as
DESCRIBE shows it includes the privileged roles Snowflake blocks implicitly;
those are ignored unless the user lists them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_property_plan import (
    Param,
    create_clauses,
    desired_value,
    described_values,
    managed_current,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_property_plan import (
    alter_sql as alter_properties_sql,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    ident,
    literal,
)

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
    return {p.option: desired_value(p, params[p.option]) for p in PARAMS if params.get(p.option) is not None}


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


def current_values(describe_rows: list[dict[str, Any]], managed: set[str] | None = None) -> dict[str, Any]:
    """DESCRIBE rows -> option values (absent properties take their documented default)."""
    return described_values(PARAMS, describe_rows, quotes='"')


def comparable_current(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Current values of the managed options, with implicit blocked roles dropped unless asked for."""
    out = managed_current(current, desired)
    # A network policy is named like any object: whether DESCRIBE echoes the text given
    # or the stored (upper-cased) name is unconfirmed, so accept both spellings rather
    # than report a change on every run.
    policy = desired.get("network_policy")
    if policy and str(out.get("network_policy", "")).upper() == str(policy).upper():
        out["network_policy"] = policy
    return out


def create_sql(name: str, desired: dict[str, Any]) -> str:
    parts = [
        f"CREATE SECURITY INTEGRATION {ident(name)}",
        "TYPE = OAUTH",
        "OAUTH_CLIENT = CUSTOM",
        f"OAUTH_CLIENT_TYPE = {literal(desired.get('client_type', 'CONFIDENTIAL'))}",
    ]
    parts += create_clauses(PARAMS, desired, skip=("client_type",))
    return "\n  ".join(parts)


def alter_sql(name: str, before: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """ALTER statements for the options that differ (never CREATE OR REPLACE)."""
    fixed_error = (
        f"OAUTH_CLIENT_TYPE of integration {name} is {before.get('client_type')}; Snowflake cannot change it "
        "in place: use a new integration name for the other client type (a new client id) and drop this "
        "one when nothing uses it"
    )
    return alter_properties_sql(
        name, PARAMS, before, desired, fixed=("client_type", fixed_error), unset_empty_lists=False
    )
