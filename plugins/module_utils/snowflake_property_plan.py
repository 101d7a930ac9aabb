"""Planning shared by the security-integration modules: module options vs DESCRIBE rows.

snowflake_integration_plan (OAUTH) and snowflake_external_oauth_plan (EXTERNAL_OAUTH)
describe their options as a table of Param; reading DESCRIBE, comparing with what the
task asks for and writing the CREATE / ALTER ... SET | UNSET clauses are the same for
both, so they live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    # bool | int | str | keyword (a bare word in SQL) | keyword_str (quoted in SQL); both
    # keyword kinds compare upper-case | roles | strings (one string or a list)
    kind: str
    default: Any
    choices: tuple[str, ...] = ()


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def desired_value(p: Param, value: Any) -> Any:
    """One option as the task gives it, normalised for comparison."""
    if p.kind == "roles":
        return sorted({normalize(str(r)) for r in value})
    if p.kind in ("keyword", "keyword_str"):
        return str(value).upper()
    if p.kind == "int":
        return int(value)
    if p.kind == "strings":
        return strings(value)
    return value


def list_items(text: Any, quotes: str) -> list[str]:
    """`['a', 'b']` or `a,b` -> the items, without the surrounding `quotes` characters."""
    raw = str(text or "").strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    return [part.strip().strip(quotes) for part in raw.split(",") if part.strip().strip(quotes)]


def described_values(
    params: tuple[Param, ...], describe_rows: list[dict[str, Any]], quotes: str
) -> dict[str, Any]:
    """DESCRIBE rows -> option values (absent properties take their documented default)."""
    props = {str(r.get("property", "")).upper(): r.get("property_value") for r in describe_rows}
    out: dict[str, Any] = {}
    for p in params:
        raw = props.get(p.prop)
        if raw is None:
            out[p.option] = p.default
        elif p.kind == "bool":
            out[p.option] = str(raw).strip().lower() == "true"
        elif p.kind == "int":
            out[p.option] = int(str(raw).strip() or p.default)
        elif p.kind == "roles":
            out[p.option] = sorted(set(list_items(raw, quotes)))
        elif p.kind == "strings":
            out[p.option] = list_items(raw, quotes)
        elif p.kind in ("keyword", "keyword_str"):
            out[p.option] = str(raw).strip().upper() or p.default
        else:
            out[p.option] = str(raw)
    return out


def managed_current(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Current values of the managed options, with implicit blocked roles dropped unless asked for."""
    out = {k: current[k] for k in desired}
    if "blocked_roles" in out:
        wanted = set(desired["blocked_roles"])
        out["blocked_roles"] = sorted(
            r for r in current["blocked_roles"] if r not in IMPLICITLY_BLOCKED or r in wanted
        )
    return out


def value_sql(p: Param, value: Any) -> str:
    if p.kind == "bool":
        return boolean(bool(value))
    if p.kind == "int":
        return str(int(value))
    if p.kind == "roles":
        return name_list(list(value))
    if p.kind == "strings":
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if p.kind == "keyword":
        return str(value)  # validated against the choices first
    return literal(str(value))


def create_clauses(
    params: tuple[Param, ...], given: dict[str, Any], skip: tuple[str, ...]
) -> list[str]:
    """`PROP = value` for each given option (empty lists and an empty network policy left out)."""
    out = []
    for p in params:
        if p.option in skip or p.option not in given:
            continue
        value = given[p.option]
        if p.kind in ("roles", "strings") and not value:
            continue
        if p.option == "network_policy" and not value:
            continue
        out.append(f"{p.prop} = {value_sql(p, value)}")
    return out


def alter_sql(
    name: str,
    params: tuple[Param, ...],
    before: dict[str, Any],
    desired: dict[str, Any],
    *,
    fixed: tuple[str, str],
    unset_empty_lists: bool,
) -> list[str]:
    """ALTER ... SET / UNSET for the options that differ (never CREATE OR REPLACE).

    fixed: (option, error) for the one option Snowflake cannot alter in place.
    unset_empty_lists: an empty list UNSETs the property rather than SETting `()`.
    """
    sets: list[str] = []
    unsets: list[str] = []
    for p in params:
        if p.option not in desired or before.get(p.option) == desired[p.option]:
            continue
        if p.option == fixed[0]:
            raise ValueError(fixed[1])
        value = desired[p.option]
        if p.option == "network_policy" and value == "":
            unsets.append("NETWORK_POLICY")
        elif p.kind in ("roles", "strings") and not value:
            if unset_empty_lists:
                unsets.append(p.prop)
            else:
                sets.append(f"{p.prop} = ()")
        else:
            sets.append(f"{p.prop} = {value_sql(p, value)}")
    out = []
    if sets:
        out.append(f"ALTER SECURITY INTEGRATION {ident(name)} SET " + " ".join(sets))
    if unsets:
        out.append(f"ALTER SECURITY INTEGRATION {ident(name)} UNSET " + ", ".join(unsets))
    return out


def plan_present(
    plan: Any, name: str, params: dict[str, Any], described: list[dict[str, Any]] | None
) -> tuple[list[str], dict[str, Any]]:
    """state=present: CREATE when DESCRIBE found nothing, else ALTER what differs.

    plan: the integration kind's plan module (validate, desired_values, current_values,
    comparable_current, create_sql, alter_sql). Returns the statements and the result's
    action and diff (nothing when there is nothing to change).
    """
    exists = described is not None
    problems = plan.validate(params, exists)
    if problems:
        raise ValueError(f"security integration {name}: " + "; ".join(problems))
    desired = plan.desired_values(params)
    if not exists:
        return [plan.create_sql(name, desired)], {
            "action": "create",
            "diff": {"before": {}, "after": desired},
        }
    before = plan.comparable_current(plan.current_values(described or []), desired)
    statements: list[str] = plan.alter_sql(name, before, desired)
    if not statements:
        return [], {}
    keys = sorted(k for k in desired if before.get(k) != desired[k])
    diff = {"before": {k: before[k] for k in keys}, "after": {k: desired[k] for k in keys}}
    return statements, {"action": "alter", "diff": diff}
