"""Pure planning for snowflake_oauth_parameters: OAUTH_AUTHORIZATION_SERVER / OAUTH_SCOPES_SUPPORTED per object.

Each target (the account, a database or a schema) states both parameters'
wanted value at its own level; an empty value means "not set here" (UNSET when
SHOW PARAMETERS says it is set at that level). SHOW PARAMETERS IN <object>
shows the value in effect and the `level` it was set at: only a row whose level
is the object's own counts as set there (a database's value seen from a schema
is inherited, not the schema's). One read per target, never per MCP server.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    ident,
    literal,
    normalize,
    qualified,
)

PARAMETERS = ("OAUTH_AUTHORIZATION_SERVER", "OAUTH_SCOPES_SUPPORTED")
LEVELS = ("account", "database", "schema")


def target_key(target: dict[str, Any]) -> tuple[str, ...]:
    level = str(target.get("level", "")).lower()
    if level == "account":
        return ("ACCOUNT",)
    if level == "database":
        return ("DATABASE", normalize(str(target["database"])))
    return ("SCHEMA", normalize(str(target["database"])), normalize(str(target["schema"])))


def object_sql(key: tuple[str, ...]) -> str:
    """`ACCOUNT`, `DATABASE "D"`, `SCHEMA "D"."S"` as the statements name them."""
    if key[0] == "ACCOUNT":
        return "ACCOUNT"
    if key[0] == "DATABASE":
        return f"DATABASE {ident(key[1])}"
    return f"SCHEMA {qualified(list(key[1:]))}"


def label(key: tuple[str, ...]) -> str:
    return key[0].lower() if len(key) == 1 else f"{key[0].lower()} {'.'.join(key[1:])}"


def validate(targets: list[dict[str, Any]]) -> list[str]:
    problems = []
    seen: set[tuple[str, ...]] = set()
    for i, t in enumerate(targets):
        what = f"targets[{i}]"
        level = str(t.get("level", "")).lower()
        if level not in LEVELS:
            problems.append(
                f"{what}.level must be one of {', '.join(LEVELS)} (got {t.get('level')!r})"
            )
            continue
        if level in ("database", "schema") and not t.get("database"):
            problems.append(f"{what}: database is required at level {level}")
            continue
        if level == "schema" and not t.get("schema"):
            problems.append(f"{what}: schema is required at level schema")
            continue
        key = target_key(t)
        if key in seen:
            problems.append(f"{what}: {label(key)} is listed twice")
        seen.add(key)
        for scope in t.get("scopes_supported") or []:
            if "," in str(scope) or not str(scope).strip():
                problems.append(f"{what}.scopes_supported: {scope!r} is not a single scope")
    return problems


def desired(target: dict[str, Any]) -> dict[str, str]:
    server = target.get("authorization_server") or ""
    scopes = [str(s).strip() for s in (target.get("scopes_supported") or [])]
    return {
        "OAUTH_AUTHORIZATION_SERVER": normalize(str(server)) if server else "",
        "OAUTH_SCOPES_SUPPORTED": ",".join(scopes),
    }


def read_sql(key: tuple[str, ...]) -> str:
    return f"SHOW PARAMETERS LIKE 'OAUTH_%' IN {object_sql(key)}"


def current(key: tuple[str, ...], rows: list[dict[str, Any]]) -> dict[str, str]:
    """The values set at this object's own level ('' when inherited or unset)."""
    out = dict.fromkeys(PARAMETERS, "")
    for row in rows:
        name = str(row.get("key", "")).upper()
        if name in out and str(row.get("level", "")).upper() == key[0]:
            out[name] = str(row.get("value") or "")
    return out


def _same(name: str, a: str, b: str) -> bool:
    if name == "OAUTH_SCOPES_SUPPORTED":
        return [s.strip() for s in a.split(",") if s.strip()] == [
            s.strip() for s in b.split(",") if s.strip()
        ]
    return a == b


def statements(key: tuple[str, ...], before: dict[str, str], after: dict[str, str]) -> list[str]:
    sets = [
        f"{n} = {literal(after[n])}"
        for n in PARAMETERS
        if after[n] and not _same(n, before[n], after[n])
    ]
    unsets = [n for n in PARAMETERS if before[n] and not after[n]]
    out = []
    if sets:
        out.append(f"ALTER {object_sql(key)} SET " + " ".join(sets))
    if unsets:
        out.append(f"ALTER {object_sql(key)} UNSET " + ", ".join(unsets))
    return out
