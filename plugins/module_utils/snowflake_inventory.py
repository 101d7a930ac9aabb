"""The account play's brain, as pure functions: validate the inventory, then plan module inputs.

`validate_inventory()` returns every problem at once (the play fails with the
whole list before any change). `account_plan()` turns the inventory plus the
resolved users into the exact arguments of each module task: whole lists, so
the play has no per-user loop. Used by roles/snowflake_account through its
filter plugin; kept here so it is unit-tested without Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from ansible_collections.snowmcp.core.plugins.module_utils.inventory_model import (
    mcp_role_names,
    token_service_role,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_connection import (
    CONNECTION_KEYS,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_integration_plan import (
    PARAM_BY_OPTION,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_integration_plan import (
    validate as validate_integration,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_native_plan import (
    auth_mode,
    native_plan,
    validate_native,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_mcp_spec import (
    spec_tools,
    tool_privileges,
    validate_tools,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    display,
    login_key,
    normalize,
    qualified_display,
)

INTEGRATION_KEYS = frozenset({"name", *PARAM_BY_OPTION}) - {"client_type"}
SERVER_KEYS = frozenset({"name", "database", "schema", "comment", "tools", "roles", "state"})
ROLE_KEYS = frozenset({"name", "comment", "grant_to_roles"})
USER_KEYS = frozenset({"login", "email", "roles", "host", "shell", "servers", "state", "unix_user"})
# Inventory names must be plain identifiers, or written double-quoted on purpose.
# Anything else (`X; DROP ROLE Y`) is refused rather than silently quoted.
PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
QUOTED = re.compile(r'^"(?:[^"\x00-\x1f]|"")+"$')
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _ident_problem(value: Any, what: str) -> str | None:
    if not isinstance(value, str) or not (PLAIN.match(value) or QUOTED.match(value)):
        return f"{what}: {value!r} is not a valid identifier (letters, digits, _ and $, not starting with a digit; or write it double-quoted)"
    return None


def _unknown(item: dict[str, Any], allowed: frozenset[str], what: str) -> list[str]:
    extra = sorted(set(item) - allowed)
    return [f"{what}: unknown keys {', '.join(map(str, extra))} (allowed: {', '.join(sorted(allowed))})"] if extra else []


def _as_list(value: Any, what: str, problems: list[str]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{what} must be a list")
        return []
    return value


def _mappings(
    value: Any, where: str, allowed: frozenset[str], problems: list[str]
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The mapping entries of the list `where` as (index, "where[index]", entry); other entries become problems."""
    for i, item in enumerate(_as_list(value, where, problems)):
        what = f"{where}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{what} must be a mapping")
            continue
        problems.extend(_unknown(item, allowed, what))
        yield i, what, item


def integration_params(inv: dict[str, Any]) -> dict[str, Any]:
    """Module options for snowflake_oauth_integration, with the agreed defaults filled in."""
    cfg = dict(inv.get("snowflake_oauth_integration") or {})
    ts = inv.get("token_service") or {}
    if not cfg.get("redirect_uri") and isinstance(ts, dict) and ts.get("url"):
        cfg["redirect_uri"] = str(ts["url"]).rstrip("/") + "/v1/oauth/callback"
    if cfg.get("allowed_roles") is None:
        cfg["allowed_roles"] = mcp_role_names(inv)
    cfg.setdefault("enforce_pkce", True)
    uri = str(cfg.get("redirect_uri") or "")
    parsed = urlparse(uri)
    if cfg.get("allow_non_tls_redirect_uri") is None and parsed.scheme == "http" and parsed.hostname in LOOPBACK:
        # A loopback token service (demo, tests) cannot have TLS; anything else must opt in explicitly.
        cfg["allow_non_tls_redirect_uri"] = True
    return cfg


BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})
KEYWORD_CHOICES = {"use_secondary_roles": ("IMPLICIT", "NONE")}


def _integration_type_problems(integ: dict[str, Any]) -> list[str]:
    """Each snowflake_oauth_integration value has the type its module option takes."""
    problems = []
    for key, value in integ.items():
        param = PARAM_BY_OPTION.get(key)
        if param is None or key == "client_type" or value is None:
            continue
        what = f"snowflake_oauth_integration.{key}"
        if param.kind == "bool":
            if not (isinstance(value, bool) or (isinstance(value, str) and value.lower() in BOOL_WORDS)):
                problems.append(f"{what} must be true or false (got {value!r})")
        elif param.kind == "int":
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
                problems.append(f"{what} must be a whole number of seconds (got {value!r})")
        elif param.kind == "roles":
            if not isinstance(value, list):
                problems.append(f"{what} must be a list of role names (got {value!r})")
            else:
                problems += [p for p in (_ident_problem(r, what) for r in value) if p]
        elif key in KEYWORD_CHOICES:
            if not isinstance(value, str) or value.upper() not in KEYWORD_CHOICES[key]:
                problems.append(f"{what} must be one of {', '.join(KEYWORD_CHOICES[key])} (got {value!r})")
        elif not isinstance(value, str):
            problems.append(f"{what} must be a string (got {value!r})")
    return problems


def validate_inventory(inv: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    conn = inv.get("snowflake_connection")
    if not isinstance(conn, dict):
        problems.append("snowflake_connection must be defined (a mapping: account, user, role, password or private_key_file, ...)")
    else:
        problems += _unknown(conn, CONNECTION_KEYS, "snowflake_connection")
        if not conn.get("account") and not conn.get("connection_name"):
            problems.append("snowflake_connection needs `account` or `connection_name`")
        if conn.get("protocol") not in (None, "http", "https"):
            problems.append("snowflake_connection.protocol must be http or https")

    roles_raw = inv.get("snowflake_mcp_roles")
    if not roles_raw:
        problems.append("snowflake_mcp_roles must list at least one role")
    role_names: set[str] = set()
    for _i, what, role in _mappings(roles_raw, "snowflake_mcp_roles", ROLE_KEYS, problems):
        p = _ident_problem(role.get("name"), f"{what}.name")
        if p:
            problems.append(p)
            continue
        name = normalize(role["name"])
        if name in role_names:
            problems.append(f"{what}: role {name} is listed twice")
        role_names.add(name)
        for target in _as_list(role.get("grant_to_roles"), f"{what}.grant_to_roles", problems):
            p = _ident_problem(target, f"{what}.grant_to_roles")
            if p:
                problems.append(p)

    server_names: set[str] = set()
    short_names: set[str] = set()
    for _i, what, server in _mappings(inv.get("snowflake_mcp_servers"), "snowflake_mcp_servers", SERVER_KEYS, problems):
        bad = False
        for key in ("name", "database", "schema"):
            p = _ident_problem(server.get(key), f"{what}.{key}")
            if p:
                problems.append(p)
                bad = True
        if not bad:
            fqn = qualified_display([normalize(server[k]) for k in ("database", "schema", "name")])
            what = f"MCP server {fqn}"
            if fqn in server_names:
                problems.append(f"{what} is listed twice")
            server_names.add(fqn)
            short_names.add(normalize(server["name"]))
        comment = server.get("comment")
        if comment is not None and not isinstance(comment, str):
            problems.append(f"{what}.comment must be a string")
        state = server.get("state", "present")
        if state not in ("present", "absent"):
            problems.append(f"{what}.state must be present or absent (got {state!r})")
            continue
        server_roles = _as_list(server.get("roles"), f"{what}.roles", problems)
        if state == "absent":
            # Dropped: tools and roles no longer matter (they may stay in the entry).
            continue
        problems += [f"{what}: {p}" for p in validate_tools(server.get("tools"))]
        if not server_roles:
            problems.append(f"{what}.roles must name at least one of snowflake_mcp_roles")
        for r in server_roles:
            if _ident_problem(r, "") or normalize(r) not in role_names:
                problems.append(f"{what}.roles: {r!r} is not one of snowflake_mcp_roles")

    logins: dict[str, int] = {}
    for i, what, user in _mappings(inv.get("mcp_users"), "mcp_users", USER_KEYS, problems):
        login = user.get("login")
        if not isinstance(login, str) or not login.strip():
            problems.append(f"{what}.login is required")
        elif any(ord(c) < 32 or ord(c) == 127 for c in login) or len(login) > 255:
            problems.append(f"{what}.login {login!r} contains control characters or is too long")
        else:
            what = f"mcp_users[{i}] ({login})"
            key = login_key(login)
            if key in logins:
                problems.append(
                    f"{what}: duplicate login (same as mcp_users[{logins[key]}]; logins compare ignoring the case of A-Z)"
                )
            logins.setdefault(key, i)
        if user.get("state", "present") not in ("present", "absent"):
            problems.append(f"{what}.state must be present or absent")
        user_roles = _as_list(user.get("roles"), f"{what}.roles", problems)
        if user.get("state", "present") == "present" and not user_roles:
            problems.append(f"{what}.roles must name at least one of snowflake_mcp_roles")
        for r in user_roles:
            if _ident_problem(r, "") or normalize(r) not in role_names:
                problems.append(f"{what}.roles: {r!r} is not one of snowflake_mcp_roles")
        for s in _as_list(user.get("servers"), f"{what}.servers", problems):
            if not isinstance(s, str) or _ident_problem(s, "") or normalize(s) not in short_names:
                problems.append(f"{what}.servers: {s!r} is not the name of one of snowflake_mcp_servers")
        for key in ("host", "shell", "unix_user"):
            if user.get(key) is not None and not isinstance(user[key], str):
                problems.append(f"{what}.{key} must be a string")

    problems += validate_native(inv)
    integ = inv.get("snowflake_oauth_integration")
    if auth_mode(inv) != "token_service":
        # Native modes only read its name (to drop the token service's integration).
        if isinstance(integ, dict):
            p = _ident_problem(integ.get("name"), "snowflake_oauth_integration.name")
            if p:
                problems.append(p)
        elif integ is not None:
            problems.append("snowflake_oauth_integration must be a mapping")
    elif not isinstance(integ, dict):
        problems.append("snowflake_oauth_integration must be defined (a mapping with at least `name`)")
    else:
        problems += _unknown(integ, INTEGRATION_KEYS, "snowflake_oauth_integration")
        p = _ident_problem(integ.get("name"), "snowflake_oauth_integration.name")
        if p:
            problems.append(p)
        type_problems = _integration_type_problems(integ)
        problems += type_problems
        params = integration_params(inv)
        if not type_problems:
            problems += [f"snowflake_oauth_integration: {p}" for p in validate_integration(params, exists=False)]
        ts_role = token_service_role(inv)
        allowed = params.get("allowed_roles") or []
        if not isinstance(allowed, list):
            allowed = []  # reported above
        try:
            allowed_norm = {normalize(str(r)) for r in allowed}
        except IdentifierError as exc:
            problems.append(f"snowflake_oauth_integration.allowed_roles: {exc}")
            allowed_norm = set()
        if ts_role and allowed_norm and ts_role not in allowed_norm:
            problems.append(
                f"snowflake_oauth_integration.allowed_roles must include {ts_role}, the role access tokens are scoped to"
            )

    ts = inv.get("token_service")
    if ts is not None:
        if not isinstance(ts, dict):
            problems.append("token_service must be a mapping")
        else:
            url = ts.get("url")
            if url is not None and (urlparse(str(url)).scheme not in ("http", "https") or not urlparse(str(url)).netloc):
                problems.append(f"token_service.url {url!r} must be an absolute http(s) URL")
            if ts.get("role") is not None:
                p = _ident_problem(ts["role"], "token_service.role")
                if p:
                    problems.append(p)
                elif normalize(ts["role"]) not in role_names:
                    problems.append(f"token_service.role {ts['role']!r} is not one of snowflake_mcp_roles")
    return problems


# snowflake_object_info option -> the object type word used in its `missing` entries.
REQUIRED_KINDS = {
    "roles": "ROLE",
    "databases": "DATABASE",
    "schemas": "SCHEMA",
    "cortex_search_services": "CORTEX SEARCH SERVICE",
    "warehouses": "WAREHOUSE",
    "semantic_views": "SEMANTIC VIEW",
    "agents": "AGENT",
    "functions": "FUNCTION",  # with argument types: DB.S.F(NUMBER, VARCHAR)
    "procedures": "PROCEDURE",
}
_KIND_BY_GRANT_TYPE = {v: k for k, v in REQUIRED_KINDS.items()}


def required_objects(inv: dict[str, Any]) -> dict[str, Any]:
    """Objects a validated inventory names that the play does not create, so they must already exist.

    Returns the snowflake_object_info options (`roles`, `databases`, `schemas`,
    `cortex_search_services`, `warehouses`, `semantic_views`, `agents`,
    `functions`, `procedures`: canonical names, as SHOW prints them; functions
    and procedures with their argument types)
    and `needed_by`: `"<TYPE> <name>"` (the form of snowflake_object_info's
    `missing`) -> where the inventory names it. The MCP roles are created by
    the play, so they are never required.
    """
    mcp_roles = set(mcp_role_names(inv))
    found: dict[str, dict[str, list[str]]] = {kind: {} for kind in REQUIRED_KINDS}

    def need(kind: str, name: str, where: str) -> None:
        places = found[kind].setdefault(name, [])
        if where not in places:
            places.append(where)

    def need_role(role: Any, where: str) -> None:
        try:
            stored = normalize(str(role))
        except IdentifierError:
            return  # reported by validate_inventory
        if stored not in mcp_roles:
            need("roles", display(stored), where)

    for i, role in enumerate(inv.get("snowflake_mcp_roles") or []):
        for target in role.get("grant_to_roles") or []:
            need_role(target, f"snowflake_mcp_roles[{i}] ({role['name']}).grant_to_roles")
    integ = inv.get("snowflake_oauth_integration") or {}
    for key in ("allowed_roles", "pre_authorized_roles", "blocked_roles"):
        for role in integ.get(key) or []:
            need_role(role, f"snowflake_oauth_integration.{key}")

    for server in inv.get("snowflake_mcp_servers") or []:
        if server.get("state", "present") == "absent":
            continue
        db, schema, name = (normalize(server[k]) for k in ("database", "schema", "name"))
        fqn = qualified_display([db, schema, name])
        need("databases", qualified_display([db]), f"MCP server {fqn}")
        need("schemas", qualified_display([db, schema]), f"MCP server {fqn}")
        for tool in server.get("tools") or []:
            for _privilege, object_type, obj in tool_privileges([tool]):
                need(_KIND_BY_GRANT_TYPE[object_type], obj, f"MCP server {fqn}, tool {tool.get('name')!r}")

    out: dict[str, Any] = {kind: sorted(names) for kind, names in found.items()}
    out["needed_by"] = {
        f"{REQUIRED_KINDS[kind]} {name}": places for kind, names in found.items() for name, places in names.items()
    }
    return out


def missing_objects_report(required: dict[str, Any], missing: list[str]) -> list[str]:
    """One line per missing object: what it is and where the inventory names it."""
    needed_by = required.get("needed_by") or {}
    return [f"{m} (named by {'; '.join(needed_by[m])})" if needed_by.get(m) else m for m in missing]


def _quoted(stored: str) -> str:
    """A resolved user name, written so the modules take it verbatim (no upper-casing)."""
    return '"' + stored.replace('"', '""') + '"'


def account_plan(inv: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """Arguments for every module task, from a validated inventory and snowflake_user_info's `users`."""
    roles = list(inv.get("snowflake_mcp_roles") or [])
    role_items = [{"name": r["name"], **({"comment": r["comment"]} if r.get("comment") is not None else {})} for r in roles]
    role_names = mcp_role_names(inv)

    privileges: dict[tuple[str, str, str], set[str]] = {}

    def need(role: str, privilege: str, object_type: str, name: str) -> None:
        privileges.setdefault((role, object_type, privilege), set()).add(name)

    servers = []
    for server in inv.get("snowflake_mcp_servers") or []:
        db, schema, name = (normalize(server[k]) for k in ("database", "schema", "name"))
        if server.get("state", "present") == "absent":
            # Dropped (with the grants on it); the grants its tools needed are no longer
            # wanted, so `exact` revokes those no other server needs.
            servers.append({"name": server["name"], "database": server["database"], "schema": server["schema"],
                            "state": "absent"})  # fmt: skip
            continue
        servers.append(
            {"name": server["name"], "database": server["database"], "schema": server["schema"],
             # An empty comment means "not managed", as an omitted one.
             "comment": server.get("comment") or None, "tools": spec_tools(server["tools"]), "state": "present"}
        )  # fmt: skip
        grants = [
            ("USAGE", "DATABASE", qualified_display([db])),
            ("USAGE", "SCHEMA", qualified_display([db, schema])),
            ("USAGE", "MCP SERVER", qualified_display([db, schema, name])),
            *tool_privileges(server["tools"]),
        ]
        for role in server["roles"]:
            for privilege, object_type, obj in grants:
                need(normalize(role), privilege, object_type, obj)

    present: dict[str, set[str]] = {}
    missing, offboard = [], []
    for user in inv.get("mcp_users") or []:
        info = resolved.get(user["login"]) or {}
        if not info.get("exists"):
            if user.get("state", "present") == "present":
                missing.append(user["login"])
            continue
        if user.get("state", "present") == "absent":
            offboard.append(_quoted(info["name"]))
            continue
        for role in user.get("roles") or []:
            present.setdefault(normalize(role), set()).add(_quoted(info["name"]))

    integration = integration_params(inv)
    return {
        "auth": native_plan(inv),
        "roles": role_items,
        "role_names": role_names,
        "integration": integration,
        "servers": servers,
        "grants": {
            "roles": role_names,
            "privileges": [
                {"role": role, "object_type": object_type, "privileges": [privilege], "objects": sorted(objs)}
                for (role, object_type, privilege), objs in sorted(privileges.items())
            ],
            "role_grants": [
                {"role": r["name"], "to_roles": list(r["grant_to_roles"])} for r in roles if r.get("grant_to_roles")
            ],
            "user_grants": [{"role": role, "users": sorted(users)} for role, users in sorted(present.items())],
        },
        "missing_logins": missing,
        "offboard_users": sorted(offboard),
    }
