"""Pure planning for snowflake_external_oauth_integration: module options vs DESCRIBE rows.

Same rules as snowflake_integration_plan: one DESCRIBE tells whether the
integration exists and what it holds; an existing one is only ALTERed (options
left unset are not managed); the privileged roles Snowflake blocks implicitly
are ignored in EXTERNAL_OAUTH_BLOCKED_ROLES_LIST unless listed.
EXTERNAL_OAUTH_TYPE cannot be altered: changing it is refused with a clear
error (drop the integration, or use a new name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_integration_plan import (
    IMPLICITLY_BLOCKED,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    boolean,
    ident,
    literal,
    name_list,
    normalize,
)

TYPES = ("OKTA", "AZURE", "PING_FEDERATE", "CUSTOM")
ANY_ROLE_MODES = ("DISABLE", "ENABLE", "ENABLE_FOR_PRIVILEGE")
MAPPING_ATTRIBUTES = ("LOGIN_NAME", "EMAIL_ADDRESS")
SCOPE_ATTRIBUTES = ("scp", "scope")


@dataclass(frozen=True)
class Param:
    option: str
    prop: str
    kind: str  # bool | str | upper (keyword, compared upper-case) | strings | roles
    default: Any
    choices: tuple[str, ...] = ()


PARAMS = (
    Param("enabled", "ENABLED", "bool", True),
    Param("type", "EXTERNAL_OAUTH_TYPE", "upper", "", TYPES),
    Param("issuer", "EXTERNAL_OAUTH_ISSUER", "str", ""),
    Param("jws_keys_url", "EXTERNAL_OAUTH_JWS_KEYS_URL", "strings", []),
    Param("audience_list", "EXTERNAL_OAUTH_AUDIENCE_LIST", "strings", []),
    Param("user_mapping_claim", "EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM", "strings", []),
    Param(
        "snowflake_user_mapping_attribute",
        "EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE",
        "upper",
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
    Param("any_role_mode", "EXTERNAL_OAUTH_ANY_ROLE_MODE", "upper", "DISABLE", ANY_ROLE_MODES),
    Param("blocked_roles", "EXTERNAL_OAUTH_BLOCKED_ROLES_LIST", "roles", []),
    Param("allowed_roles", "EXTERNAL_OAUTH_ALLOWED_ROLES_LIST", "roles", []),
    Param("network_policy", "NETWORK_POLICY", "str", ""),
    Param("comment", "COMMENT", "str", ""),
)
PARAM_BY_OPTION = {p.option: p for p in PARAMS}
REQUIRED_TO_CREATE = ("type", "issuer", "jws_keys_url", "user_mapping_claim")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def desired_values(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in PARAMS:
        value = params.get(p.option)
        if value is None:
            continue
        if p.kind == "roles":
            value = sorted({normalize(str(r)) for r in value})
        elif p.kind == "upper":
            value = str(value).upper()
        elif p.kind == "strings":
            value = _strings(value)
            if p.option == "audience_list":
                value = sorted(set(value))  # a set to Snowflake: order carries no meaning
        elif p.kind == "bool":
            value = bool(value)
        out[p.option] = value
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


def _parse_list(text: Any) -> list[str]:
    """`['a', 'b']` (properties that take one string or a list) or `a,b` (role and audience lists)."""
    raw = str(text or "").strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    return [part.strip().strip("'\"") for part in raw.split(",") if part.strip().strip("'\"")]


def current_values(describe_rows: list[dict[str, Any]]) -> dict[str, Any]:
    props = {str(r.get("property", "")).upper(): r.get("property_value") for r in describe_rows}
    out: dict[str, Any] = {}
    for p in PARAMS:
        raw = props.get(p.prop)
        if raw is None:
            out[p.option] = p.default
        elif p.kind == "bool":
            out[p.option] = str(raw).strip().lower() == "true"
        elif p.kind == "upper":
            out[p.option] = str(raw).strip().upper() or p.default
        elif p.kind == "roles":
            out[p.option] = sorted(set(_parse_list(raw)))
        elif p.kind == "strings":
            items = _parse_list(raw)
            out[p.option] = sorted(set(items)) if p.option == "audience_list" else items
        else:
            out[p.option] = str(raw)
    return out


def comparable_current(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    out = {k: current[k] for k in desired}
    if "blocked_roles" in out:
        wanted = set(desired["blocked_roles"])
        out["blocked_roles"] = sorted(
            r for r in current["blocked_roles"] if r not in IMPLICITLY_BLOCKED or r in wanted
        )
    return out


def _value_sql(p: Param, value: Any) -> str:
    if p.kind == "bool":
        return boolean(bool(value))
    if p.kind == "roles":
        return name_list(list(value))
    if p.kind == "strings":
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if p.kind == "upper" and p.option in ("type", "any_role_mode"):
        return str(value)  # keywords, validated against the choices first
    return literal(str(value))


def create_sql(name: str, desired: dict[str, Any]) -> str:
    parts = [f"CREATE SECURITY INTEGRATION {ident(name)}", "TYPE = EXTERNAL_OAUTH",
             f"ENABLED = {boolean(desired.get('enabled', True))}"]  # fmt: skip
    given = dict(desired)
    given.setdefault("snowflake_user_mapping_attribute", "LOGIN_NAME")  # required by Snowflake
    for p in PARAMS:
        if p.option == "enabled" or p.option not in given:
            continue
        value = given[p.option]
        if p.kind in ("roles", "strings") and not value:
            continue
        if p.option == "network_policy" and not value:
            continue
        parts.append(f"{p.prop} = {_value_sql(p, value)}")
    return "\n  ".join(parts)


def alter_sql(name: str, before: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    sets: list[str] = []
    unsets: list[str] = []
    for p in PARAMS:
        if p.option not in desired or before.get(p.option) == desired[p.option]:
            continue
        if p.option == "type":
            raise ValueError(
                f"EXTERNAL_OAUTH_TYPE of integration {name} is {before.get('type')}; Snowflake cannot change it "
                "in place: drop the integration (state: absent) or use a new name"
            )
        value = desired[p.option]
        if p.option == "network_policy" and value == "":
            unsets.append("NETWORK_POLICY")
        elif p.kind in ("roles", "strings") and not value:
            unsets.append(p.prop)
        else:
            sets.append(f"{p.prop} = {_value_sql(p, value)}")
    out = []
    if sets:
        out.append(f"ALTER SECURITY INTEGRATION {ident(name)} SET " + " ".join(sets))
    if unsets:
        out.append(f"ALTER SECURITY INTEGRATION {ident(name)} UNSET " + ", ".join(unsets))
    return out
