"""Users from the identity provider, as Snowflake knows them: who holds the mapped roles.

Organisations provision Snowflake users and roles from Okta or Entra ID through
SCIM: each group becomes a role owned by the provisioner role
(`AAD_PROVISIONER`, `OKTA_PROVISIONER`, `GENERIC_SCIM_PROVISIONER`) and its
members are granted it. The inventory maps such roles to MCP roles
(`{"DATA_ANALYSTS": ["MCP_USERS"]}`); this module reads who holds them and
turns that into `mcp_users` entries.

A user holds a mapped role directly (`GRANT ROLE DATA_ANALYSTS TO USER u`) or
through a SCIM-provisioned role that holds it (`GRANT ROLE ANALYSTS TO ROLE
OKTA_EMEA_ANALYSTS`, the group role granted to u). Only SCIM-provisioned
roles are followed: custom roles are commonly granted to SYSADMIN, and every
SYSADMIN user would otherwise become an MCP user.

Reads, a constant number of requests however many users there are:
1. `SHOW USERS` and `SHOW ROLES` (login name, e-mail, disabled flag; which
   roles exist and which the provisioner owns),
2. `SHOW GRANTS OF ROLE` for each mapped role and each MCP role,
3. `SHOW GRANTS OF ROLE` for each SCIM-provisioned role found holding a mapped
   role, level by level (role nesting, not users, sets the number).
Reads of one step run in parallel over one connection.

Login names compare the Snowflake way: case-insensitive for ASCII letters
only (`snowflake_sql.login_key`), never Unicode case folding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    ident,
    login_key,
    normalize,
)

DEFAULT_PROVISIONERS = ("AAD_PROVISIONER", "OKTA_PROVISIONER", "GENERIC_SCIM_PROVISIONER")
# What a hand-written mcp_users entry may carry over a directory entry.
ENTRY_KEYS = ("login", "email", "roles", "host", "shell", "servers", "state")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_QUOTED = re.compile(r'^"(?:[^"\x00-\x1f]|"")+"$')


class DirectoryError(Exception):
    """The directory cannot be read as configured; the message says what to fix."""


def _role_name(value: Any, what: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not (_PLAIN.match(value) or _QUOTED.match(value)):
        problems.append(f"{what}: {value!r} is not a valid role name (an identifier, or written double-quoted)")
        return None
    try:
        return normalize(value)
    except IdentifierError as exc:
        problems.append(f"{what}: {exc}")
        return None


def parse_role_map(raw: Any) -> dict[str, list[str]]:
    """`{mapped role: [MCP roles]}` with stored names; raises DirectoryError listing every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict) or not raw:
        raise DirectoryError("roles must map at least one Snowflake role to a list of MCP roles, e.g. {DATA_ANALYSTS: [MCP_USERS]}")
    out: dict[str, list[str]] = {}
    for key, targets in raw.items():
        source = _role_name(key, "roles", problems)
        if not isinstance(targets, list) or not targets:
            problems.append(f"roles.{key}: must be a non-empty list of MCP roles")
            continue
        names = [_role_name(t, f"roles.{key}", problems) for t in targets]
        if source is None or None in names:
            continue
        if source in out:
            problems.append(f"roles: {source} is mapped twice")
            continue
        out[source] = sorted({n for n in names if n is not None})
    if problems:
        raise DirectoryError("; ".join(problems))
    return out


def parse_provisioners(raw: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(raw, list):
        raise DirectoryError("provisioner_roles must be a list of role names")
    names = [_role_name(r, "provisioner_roles", problems) for r in raw]
    if problems:
        raise DirectoryError("; ".join(problems))
    return [n for n in names if n is not None]


@dataclass
class DirectoryRead:
    """What the reads returned: SHOW USERS and SHOW ROLES rows, SHOW GRANTS OF ROLE rows by role."""

    users: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    grants_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    followed: list[str] = field(default_factory=list)  # SCIM-provisioned roles read because they hold a mapped role


def _grantees(rows: list[dict[str, Any]], kind: str) -> list[str]:
    """Grantee names of one kind (ROLE or USER) from SHOW GRANTS OF ROLE rows, as stored."""
    out = []
    for row in rows:
        if str(row.get("granted_to") or "").upper() != kind:
            continue
        name = str(row.get("grantee_name") or "")
        if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
            name = name[1:-1].replace('""', '"')
        if name:
            out.append(name)
    return out


def _grants_of(role: str) -> tuple[str, str]:
    return (f"SHOW GRANTS OF ROLE {ident(role)}", f"reading who holds role {role}")


def read_directory(runner: Any, role_map: dict[str, list[str]], provisioners: list[str]) -> DirectoryRead:
    """Run the reads (a snowflake_runner.Runner); raises DirectoryError when a mapped role is missing."""
    users, roles = runner.read_many([("SHOW USERS", "reading users"), ("SHOW ROLES", "reading roles")])
    existing = {str(r.get("name")) for r in roles}
    missing = [r for r in role_map if r not in existing]
    if missing:
        # Never read a missing role as "nobody holds it": a typo would offboard everyone.
        raise DirectoryError(
            f"mapped role(s) {', '.join(missing)} do not exist or are not visible to the connection's role "
            "(it needs MANAGE GRANTS, e.g. SECURITYADMIN or ACCOUNTADMIN)"
        )
    # MCP roles the account play has not created yet have no holders to read.
    targets = sorted({t for ts in role_map.values() for t in ts if t in existing} - set(role_map))
    first = list(role_map) + targets
    read = DirectoryRead(users=users, roles=roles)
    read.grants_of.update(zip(first, runner.read_many([_grants_of(r) for r in first])))

    scim = {str(r.get("name")) for r in roles if str(r.get("owner") or "") in provisioners}
    frontier = list(role_map)
    while frontier:
        nxt = sorted(
            {g for r in frontier for g in _grantees(read.grants_of[r], "ROLE") if g in scim} - set(read.grants_of)
        )
        if not nxt:
            break
        read.grants_of.update(zip(nxt, runner.read_many([_grants_of(r) for r in nxt])))
        read.followed.extend(nxt)
        frontier = nxt
    return read


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value)
    return None if text in ("", "null", "None") else text


def directory_entries(read: DirectoryRead, role_map: dict[str, list[str]]) -> list[dict[str, Any]]:
    """mcp_users entries: holders of mapped roles get the mapped MCP roles; disabled
    holders, and users who still hold an MCP role directly but no mapped role, get
    `state: absent` (so the plays revoke, remove their token and offboard them).
    Raises DirectoryError when a holder is missing from SHOW USERS (not visible).
    """
    # Which mapped roles each role read confers: a mapped role confers itself; a
    # SCIM role confers every mapped role it holds, directly or through other SCIM roles.
    confers: dict[str, set[str]] = {}
    followable = set(role_map) | set(read.followed)
    for key in role_map:
        stack = [key]
        while stack:
            role = stack.pop()
            if key in confers.setdefault(role, set()):
                continue
            confers[role].add(key)
            stack.extend(g for g in _grantees(read.grants_of.get(role, []), "ROLE") if g in followable)

    held: dict[str, set[str]] = {}
    for role, keys in confers.items():
        for user in _grantees(read.grants_of.get(role, []), "USER"):
            held.setdefault(user, set()).update(keys)
    targets = {t for ts in role_map.values() for t in ts}
    still_holding = {u for t in targets if t not in role_map for u in _grantees(read.grants_of.get(t, []), "USER")}

    by_name = {str(row.get("name")): row for row in read.users}
    invisible = sorted(u for u in set(held) | still_holding if u not in by_name)
    if invisible:
        raise DirectoryError(
            f"{len(invisible)} user(s) holding the mapped roles are not listed by SHOW USERS "
            f"(e.g. {invisible[0]!r}): the connection's role needs MANAGE GRANTS or ownership of the users"
        )

    entries = []
    for name in set(held) | still_holding:
        row = by_name[name]
        entry: dict[str, Any] = {"login": _text(row.get("login_name")) or name}
        email = _text(row.get("email"))
        if email:
            entry["email"] = email
        if name in held and not _truthy(row.get("disabled")):
            entry["roles"] = sorted({t for key in held[name] for t in role_map[key]})
        else:
            entry["state"] = "absent"
        entries.append(entry)
    return sorted(entries, key=lambda e: login_key(e["login"]))


def merge_users(hand: Any, directory: Any) -> list[dict[str, Any]]:
    """The effective mcp_users: hand-written entries win where both name a user.

    - A hand-written entry with `roles` is managed by hand: taken as written.
    - One without `roles` overlays the directory's entry for that login (its
      `host`, `shell`, `servers`, `state` win; `login` keeps the hand's spelling).
      When the directory does not list the login, the user no longer holds a
      mapped role: the entry becomes `state: absent` (offboarded) unless it says otherwise.
    - Directory entries no hand-written entry names follow, in the directory's order.
    With no directory (None) the hand-written list is returned unchanged.
    """
    hand_list = list(hand or [])
    if directory is None:
        return hand_list
    if not isinstance(directory, list):
        raise DirectoryError("mcp_directory_users must be a list (set by the snowmcp.core.snowflake_users inventory source)")
    by_key = {login_key(str(e["login"])): e for e in directory if isinstance(e, dict) and e.get("login")}
    used = set()
    out: list[dict[str, Any]] = []
    for entry in hand_list:
        if not isinstance(entry, dict) or not isinstance(entry.get("login"), str):
            out.append(entry)  # validate_inventory reports it
            continue
        key = login_key(entry["login"])
        used.add(key)
        if "roles" in entry:
            out.append(entry)
        elif key in by_key:
            out.append({**by_key[key], **entry})
        else:
            out.append({"state": "absent", **entry})
    out.extend(e for k, e in by_key.items() if k not in used)
    return out
