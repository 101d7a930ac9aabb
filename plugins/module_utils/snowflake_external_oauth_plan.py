"""Pure planning for snowflake_external_oauth_integration: module options vs DESCRIBE rows.

Same rules as snowflake_integration_plan: one DESCRIBE tells whether the
integration exists and what it holds; an existing one is only ALTERed (options
left unset are not managed); the privileged roles Snowflake blocks implicitly
are ignored in EXTERNAL_OAUTH_BLOCKED_ROLES_LIST unless listed.
EXTERNAL_OAUTH_TYPE cannot be altered: changing it is refused with a clear
error (drop the integration, or use a new name).
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
    boolean,
    ident,
)

TYPES = ("OKTA", "AZURE", "PING_FEDERATE", "CUSTOM")
ANY_ROLE_MODES = ("DISABLE", "ENABLE", "ENABLE_FOR_PRIVILEGE")
MAPPING_ATTRIBUTES = ("LOGIN_NAME", "EMAIL_ADDRESS")
SCOPE_ATTRIBUTES = ("scp", "scope")


PARAMS = (
    Param("enabled", "ENABLED", "bool", True),
    Param("type", "EXTERNAL_OAUTH_TYPE", "keyword", "", TYPES),
    Param("issuer", "EXTERNAL_OAUTH_ISSUER", "str", ""),
    Param("jws_keys_url", "EXTERNAL_OAUTH_JWS_KEYS_URL", "strings", []),
    Param("audience_list", "EXTERNAL_OAUTH_AUDIENCE_LIST", "strings", []),
    Param("user_mapping_claim", "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM", "strings", []),
    Param(
        "snowflake_user_mapping_attribute",
        "EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE",
        "keyword_str",
        "LOGIN_NAME",
        MAPPING_ATTRIBUTES,
    ),
    Param(
        "scope_mapping_attribute",
        "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE",
        "str",
        "scp",
        SCOPE_ATTRIBUTES,
    ),
    Param("any_role_mode", "EXTERNAL_OAUTH_ANY_ROLE_MODE", "keyword", "DISABLE", ANY_ROLE_MODES),
    Param("blocked_roles", "EXTERNAL_OAUTH_BLOCKED_ROLES_LIST", "roles", []),
    Param("allowed_roles", "EXTERNAL_OAUTH_ALLOWED_ROLES_LIST", "roles", []),
    Param("network_policy", "NETWORK_POLICY", "str", ""),
    Param("comment", "COMMENT", "str", ""),
)
PARAM_BY_OPTION = {p.option: p for p in PARAMS}
REQUIRED_TO_CREATE = ("type", "issuer", "jws_keys_url", "user_mapping_claim")


def desired_values(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in PARAMS:
        value = params.get(p.option)
        if value is None:
            continue
        out[p.option] = bool(value) if p.kind == "bool" else desired_value(p, value)
    if "audience_list" in out:  # a set to Snowflake: order carries no meaning
        out["audience_list"] = sorted(set(out["audience_list"]))
    return out


def validate(params: dict[str, Any], exists: bool) -> list[str]:
    """Problems Snowflake would reject, caught before anything changes."""
    values = desired_values(params)
    problems = []
    if not exists:
        missing = [o for o in REQUIRED_TO_CREATE if not values.get(o)]
        if missing:
            problems.append(f"{', '.join(missing)} required to create the integration")
    for p in PARAMS:
        if p.choices and p.option in values and values[p.option] not in p.choices:
            problems.append(
                f"{p.option} must be one of {', '.join(p.choices)} (got {values[p.option]!r})"
            )
    for url in values.get("jws_keys_url", []):
        parsed = urlparse(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            problems.append(f"jws_keys_url {url!r} must be an absolute http(s) URL")
    for option in ("jws_keys_url", "user_mapping_claim"):
        if option in values and not values[option]:
            problems.append(f"{option} must not be empty")
    issuer = values.get("issuer")
    if issuer is not None and not issuer:
        problems.append("issuer must not be empty")
    if values.get("allowed_roles") and values.get("blocked_roles"):
        problems.append("allowed_roles and blocked_roles cannot both be set")
    return problems


def current_values(describe_rows: list[dict[str, Any]]) -> dict[str, Any]:
    # `['a', 'b']` (properties that take one string or a list) or `a,b` (role and audience lists).
    out = described_values(PARAMS, describe_rows, quotes="'\"")
    out["audience_list"] = sorted(set(out["audience_list"]))
    return out


def comparable_current(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    return managed_current(current, desired)


def create_sql(name: str, desired: dict[str, Any]) -> str:
    parts = [f"CREATE SECURITY INTEGRATION {ident(name)}", "TYPE = EXTERNAL_OAUTH",
             f"ENABLED = {boolean(desired.get('enabled', True))}"]  # fmt: skip
    given = dict(desired)
    given.setdefault("snowflake_user_mapping_attribute", "LOGIN_NAME")  # required by Snowflake
    parts += create_clauses(PARAMS, given, skip=("enabled",))
    return "\n  ".join(parts)


def alter_sql(name: str, before: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    fixed_error = (
        f"EXTERNAL_OAUTH_TYPE of integration {name} is {before.get('type')}; Snowflake cannot change it "
        "in place: drop the integration (state: absent) or use a new name"
    )
    return alter_properties_sql(
        name, PARAMS, before, desired, fixed=("type", fixed_error), unset_empty_lists=True
    )
