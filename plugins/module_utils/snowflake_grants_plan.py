"""Pure planning for snowflake_grants: desired grants vs SHOW GRANTS rows, in memory.

Two kinds of edges, both keyed by stored names so comparison is exact:
- `Privilege(role, privilege, granted_on, name)`: a privilege a role holds on
  an object of a managed type (`granted_on` as SHOW GRANTS prints it, `name`
  canonical: `AICOLLEGE.PUBLIC."my svc"`).
- `Membership(role, grantee_kind, grantee)`: role `role` granted to a ROLE or
  USER.

Reads (one each, per role): `SHOW GRANTS TO ROLE r` gives r's privileges;
`SHOW GRANTS OF ROLE r` gives who holds r. `exact` revokes only edges of the
managed roles and only of the kinds above (privileges in PRIVILEGES, the ones
the input can list); OWNERSHIP is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    canonical_qualified,
    ident,
    normalize,
    parse_routine,
    qualified,
    routine_sql,
    split_qualified,
)

# input spelling -> (SQL keyword, SHOW GRANTS granted_on, name parts)
OBJECT_TYPES: dict[str, tuple[str, str, int]] = {
    "DATABASE": ("DATABASE", "DATABASE", 1),
    "SCHEMA": ("SCHEMA", "SCHEMA", 2),
    "WAREHOUSE": ("WAREHOUSE", "WAREHOUSE", 1),
    "CORTEX SEARCH SERVICE": ("CORTEX SEARCH SERVICE", "CORTEX_SEARCH_SERVICE", 3),
    "MCP SERVER": ("MCP SERVER", "CORTEX_AGENT_SERVER", 3),
    "SEMANTIC VIEW": ("SEMANTIC VIEW", "SEMANTIC_VIEW", 3),
    "AGENT": ("AGENT", "AGENT", 3),
    # Functions and procedures are named with their argument types: DB.S.F(NUMBER, VARCHAR).
    "FUNCTION": ("FUNCTION", "FUNCTION", 3),
    "PROCEDURE": ("PROCEDURE", "PROCEDURE", 3),
}
ROUTINE_GRANTED_ON = frozenset({"FUNCTION", "PROCEDURE"})
SQL_KEYWORD_BY_GRANTED_ON = {v[1]: v[0] for v in OBJECT_TYPES.values()}
PRIVILEGES = frozenset({"USAGE", "SELECT", "MONITOR", "OPERATE", "MODIFY", "CREATE SCHEMA", "CREATE MCP SERVER"})


def object_type(text: str) -> str:
    """Canonical input type from `mcp server`, `MCP_SERVER`, `CORTEX_AGENT_SERVER`, ..."""
    key = " ".join(str(text).replace("_", " ").upper().split())
    if key == "CORTEX AGENT SERVER":
        key = "MCP SERVER"
    if key not in OBJECT_TYPES:
        raise ValueError(f"unsupported object type {text!r} (one of: {', '.join(OBJECT_TYPES)})")
    return key


@dataclass(frozen=True, order=True)
class Privilege:
    role: str
    privilege: str
    granted_on: str
    name: str

    def describe(self) -> str:
        return f"{self.privilege} ON {SQL_KEYWORD_BY_GRANTED_ON[self.granted_on]} {self.name} TO ROLE {ident(self.role)}"

    def object_sql(self) -> str:
        if self.granted_on in ROUTINE_GRANTED_ON:
            return routine_sql(self.name)
        return qualified(split_qualified(self.name))

    def grant_sql(self) -> str:
        keyword = SQL_KEYWORD_BY_GRANTED_ON[self.granted_on]
        return f"GRANT {self.privilege} ON {keyword} {self.object_sql()} TO ROLE {ident(self.role)}"

    def revoke_sql(self) -> str:
        keyword = SQL_KEYWORD_BY_GRANTED_ON[self.granted_on]
        return f"REVOKE {self.privilege} ON {keyword} {self.object_sql()} FROM ROLE {ident(self.role)}"


@dataclass(frozen=True, order=True)
class Membership:
    role: str
    grantee_kind: str  # ROLE | USER
    grantee: str

    def describe(self) -> str:
        return f"ROLE {ident(self.role)} TO {self.grantee_kind} {ident(self.grantee)}"

    def grant_sql(self) -> str:
        return f"GRANT ROLE {ident(self.role)} TO {self.grantee_kind} {ident(self.grantee)}"

    def revoke_sql(self) -> str:
        return f"REVOKE ROLE {ident(self.role)} FROM {self.grantee_kind} {ident(self.grantee)}"


# typing.Union, not `|`: this alias is evaluated at import, and targets may run Python 3.9.
Edge = Union[Privilege, Membership]


@dataclass
class Desired:
    privileges: set[Privilege]
    memberships: set[Membership]
    managed: set[str]  # roles whose edges `exact` may revoke

    @property
    def edges(self) -> set[Edge]:
        return set(self.privileges) | set(self.memberships)

    def roles_to_read_to(self) -> set[str]:
        """Roles whose privileges we must read (SHOW GRANTS TO ROLE)."""
        return {p.role for p in self.privileges} | self.managed

    def roles_to_read_of(self) -> set[str]:
        """Roles whose holders we must read (SHOW GRANTS OF ROLE)."""
        return {m.role for m in self.memberships} | self.managed


def _names(value: Any, field: str, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if item in (None, ""):
            raise ValueError(f"{where}: `{field}` must not be empty")
        try:
            out.append(normalize(str(item)))
        except IdentifierError as exc:
            raise ValueError(f"{where}: bad {field} {item!r}: {exc}") from None
    return out


def build_desired(
    privileges: list[dict[str, Any]],
    role_grants: list[dict[str, Any]],
    user_grants: list[dict[str, Any]],
    roles: list[str] | None,
) -> Desired:
    """Validate the module input and expand it into edges. Raises ValueError listing the first problem."""
    privs: set[Privilege] = set()
    for i, item in enumerate(privileges):
        where = f"privileges[{i}]"
        kind = object_type(item["object_type"])
        keyword, granted_on, nparts = OBJECT_TYPES[kind]
        for role in _names(item["role"], "role", where):
            for priv in item["privileges"]:
                priv_norm = " ".join(str(priv).upper().split())
                if priv_norm not in PRIVILEGES:
                    raise ValueError(f"{where}: unsupported privilege {priv!r} (one of: {', '.join(sorted(PRIVILEGES))})")
                for obj in item["objects"]:
                    try:
                        if granted_on in ROUTINE_GRANTED_ON:
                            name = parse_routine(str(obj))
                            parts = split_qualified(name.partition("(")[0])
                        else:
                            parts = split_qualified(str(obj))
                            name = canonical_qualified(str(obj))
                    except IdentifierError as exc:
                        raise ValueError(f"{where}: bad {keyword.lower()} name {obj!r}: {exc}") from None
                    if len(parts) != nparts:
                        raise ValueError(f"{where}: {keyword} name {obj!r} needs {nparts} part(s) (db.schema.name style)")
                    privs.add(Privilege(role, priv_norm, granted_on, name))
    members: set[Membership] = set()
    for i, item in enumerate(role_grants):
        where = f"role_grants[{i}]"
        for role in _names(item["role"], "role", where):
            for grantee in _names(item["to_roles"], "to_roles", where):
                if grantee == role:
                    raise ValueError(f"{where}: role {role!r} cannot be granted to itself")
                members.add(Membership(role, "ROLE", grantee))
    for i, item in enumerate(user_grants):
        where = f"user_grants[{i}]"
        for role in _names(item["role"], "role", where):
            for user in _names(item["users"], "users", where):
                members.add(Membership(role, "USER", user))
    if roles is None:
        managed = {p.role for p in privs} | {m.role for m in members}
    else:
        managed = set(_names(roles, "roles", "roles")) if roles else set()
    return Desired(privs, members, managed)


def _unquote_grantee(name: str) -> str:
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def parse_grants_to(role: str, rows: list[dict[str, Any]]) -> set[Edge]:
    """Managed edges from `SHOW GRANTS TO ROLE role`.

    Only privileges this module can grant (PRIVILEGES) on the object types it knows:
    anything else (OWNERSHIP, CREATE TABLE on a schema, grants on tables, ...) is not
    listable in its input, so `exact` must never revoke it.
    """
    out: set[Edge] = set()
    for row in rows:
        granted_on = str(row.get("granted_on") or "").upper().replace(" ", "_")
        privilege = " ".join(str(row.get("privilege") or "").upper().split())
        if privilege not in PRIVILEGES or granted_on not in SQL_KEYWORD_BY_GRANTED_ON:
            continue
        try:
            if granted_on in ROUTINE_GRANTED_ON:
                name = parse_routine(str(row["name"]))
            else:
                name = canonical_qualified(str(row["name"]))
        except IdentifierError:
            name = str(row["name"])
        out.add(Privilege(role, privilege, granted_on, name))
    return out


def parse_grants_of(role: str, rows: list[dict[str, Any]]) -> set[Edge]:
    """Memberships from `SHOW GRANTS OF ROLE role` (who holds the role)."""
    out: set[Edge] = set()
    for row in rows:
        kind = str(row.get("granted_to") or "").upper()
        if kind not in ("ROLE", "USER"):
            continue
        out.add(Membership(role, kind, _unquote_grantee(str(row["grantee_name"]))))
    return out


@dataclass
class Plan:
    grant: list[Edge]
    revoke: list[Edge]

    def statements(self) -> list[str]:
        # Grants first: a role swapping one privilege for another never has a
        # moment with neither.
        return [e.grant_sql() for e in self.grant] + [e.revoke_sql() for e in self.revoke]


def _managed_edge(edge: Edge, managed: set[str]) -> bool:
    return edge.role in managed


def plan(desired: Desired, current: set[Edge], state: str) -> Plan:
    wanted = desired.edges
    if state == "absent":
        return Plan([], sorted(wanted & current, key=_sort_key))
    grant = sorted(wanted - current, key=_sort_key)
    revoke: list[Edge] = []
    if state == "exact":
        revoke = sorted((e for e in current - wanted if _managed_edge(e, desired.managed)), key=_sort_key)
    return Plan(grant, revoke)


def _sort_key(edge: Edge) -> tuple[str, ...]:
    if isinstance(edge, Privilege):
        return ("0", edge.role, edge.granted_on, edge.name, edge.privilege)
    return ("1", edge.role, edge.grantee_kind, edge.grantee)


def by_role(edges: set[Edge], roles: set[str]) -> dict[str, list[str]]:
    """Diff-friendly view: for each role, the sorted descriptions of its edges."""
    out: dict[str, list[str]] = {r: [] for r in sorted(roles)}
    for edge in sorted(edges, key=_sort_key):
        if edge.role in out:
            out[edge.role].append(edge.describe())
    return out
