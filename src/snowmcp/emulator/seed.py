"""Seed YAML -> model.Account (format documented in docs/emulator.md, "Seed file").

Names in the seed are taken as stored names (what SHOW prints): `ANALYST`,
`alice@example.com`. Every problem is reported with its place in the file
(`users[2].roles: ...`) before an account is built, so a bad seed never
starts a half-configured emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from snowmcp.emulator import signin
from snowmcp.emulator.model import (
    SYSTEM_ROLE_GRANTS,
    SYSTEM_ROLES,
    Account,
    Agent,
    CortexSearchService,
    Database,
    PrivilegeGrant,
    Role,
    RoleGrant,
    Routine,
    Schema,
    SemanticView,
    User,
    Warehouse,
    login_key,
    qualified,
)


class SeedError(ValueError):
    """The seed file is malformed; the message says where and why."""


_USER_KEYS = {
    "name", "login_name", "password", "display_name", "first_name", "last_name", "email",
    "comment", "disabled", "default_role", "default_warehouse", "default_namespace", "roles",
    "rsa_public_key", "rsa_public_key_2", "owner",
}  # fmt: skip
_TOP_KEYS = {"account", "users", "roles", "warehouses", "databases"}
_ROLE_KEYS = {"name", "comment", "granted_to_roles", "owner"}
_SCHEMA_KEYS = {
    "cortex_search_services", "comment", "semantic_views", "agents", "functions", "procedures",
}  # fmt: skip
_ROUTINE_KEYS = {"arguments", "returns", "comment"}
_SERVICE_KEYS = {"documents", "comment"}


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SeedError(f"{where}: expected a non-empty name, got {value!r}")
    return value


def _mapping(value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        unknown = sorted(str(k) for k in set(value) - allowed)
        if unknown:
            raise SeedError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def load_seed(path: Path) -> Account:
    """Read and validate a seed file."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SeedError(f"{path}: cannot read seed: {exc}") from None
    except yaml.YAMLError as exc:
        # Never str(exc): PyYAML quotes the offending line, which may hold a password.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SeedError(f"{path}: not valid YAML{where}: {problem}") from None
    try:
        return build_account(data)
    except SeedError as exc:
        raise SeedError(f"{path}: {exc}") from None


def build_account(data: Any) -> Account:
    """Build an Account from parsed seed data (see load_seed)."""
    top = _mapping(data, "seed", _TOP_KEYS)
    acct = Account(name=_name(top.get("account", "DEMO-ACCOUNT"), "account"))

    def own(granted_on: str, name: str, role: str) -> None:
        acct.add_privilege_grant(
            PrivilegeGrant("OWNERSHIP", granted_on, name, role, grant_option=True, granted_by=role)
        )

    # System roles and their fixed hierarchy; Snowflake shows them without an owner.
    for role_name in SYSTEM_ROLES:
        acct.roles[role_name] = Role(role_name, owner="")
    for role_name, grantee in SYSTEM_ROLE_GRANTS:
        acct.add_role_grant(RoleGrant(role_name, "ROLE", grantee, granted_by=""))

    # Custom roles: a bare name or {name, comment, granted_to_roles, owner}. A role SCIM
    # provisioned is owned by the provisioner role (e.g. AAD_PROVISIONER), itself seeded here.
    parents: list[tuple[str, str, str]] = []
    owners: list[tuple[str, str, str]] = []
    for i, item in enumerate(_list(top.get("roles"), "roles")):
        where = f"roles[{i}]"
        spec = {"name": item} if isinstance(item, str) else _mapping(item, where, _ROLE_KEYS)
        name = _name(spec.get("name"), where + ".name")
        if name in acct.roles:
            raise SeedError(f"{where}: role {name} is defined twice (or is a system role)")
        owner = _name(spec.get("owner", "USERADMIN"), where + ".owner")
        acct.roles[name] = Role(name, comment=str(spec.get("comment") or ""), owner=owner)
        owners.append((name, owner, where))
        for parent in _list(spec.get("granted_to_roles"), where + ".granted_to_roles"):
            parents.append((name, _name(parent, where + ".granted_to_roles"), where))
    for role_name, owner, where in owners:
        if owner not in acct.roles:
            raise SeedError(f"{where}.owner: unknown role {owner}")
        own("ROLE", qualified(role_name), owner)
    for role_name, parent, where in parents:
        if parent not in acct.roles:
            raise SeedError(f"{where}.granted_to_roles: unknown role {parent}")
        acct.add_role_grant(
            RoleGrant(role_name, "ROLE", parent, granted_by=acct.roles[role_name].owner)
        )

    for i, item in enumerate(_list(top.get("warehouses"), "warehouses")):
        name = _name(item, f"warehouses[{i}]")
        if name in acct.warehouses:
            raise SeedError(f"warehouses[{i}]: warehouse {name} is defined twice")
        acct.warehouses[name] = Warehouse(name)
        own("WAREHOUSE", qualified(name), "SYSADMIN")

    for db_name, schemas in _mapping(top.get("databases"), "databases").items():
        db_name = _name(db_name, "databases")
        db = acct.databases[db_name] = Database(db_name)
        own("DATABASE", qualified(db_name), "SYSADMIN")
        for sch_name, body in _mapping(schemas, f"databases.{db_name}").items():
            where = f"databases.{db_name}.{sch_name}"
            sch_name = _name(sch_name, where)
            spec = _mapping(body, where, _SCHEMA_KEYS)
            sch = db.schemas[sch_name] = Schema(sch_name, comment=str(spec.get("comment") or ""))
            own("SCHEMA", qualified(db_name, sch_name), "SYSADMIN")
            services = _mapping(
                spec.get("cortex_search_services"), where + ".cortex_search_services"
            )
            for svc_name, svc_body in services.items():
                svc_where = f"{where}.cortex_search_services.{svc_name}"
                svc_name = _name(svc_name, svc_where)
                svc = _mapping(svc_body, svc_where, _SERVICE_KEYS)
                docs = _list(svc.get("documents"), svc_where + ".documents")
                for j, doc in enumerate(docs):
                    doc_map = _mapping(doc, f"{svc_where}.documents[{j}]")
                    if not doc_map or not all(isinstance(k, str) for k in doc_map):
                        raise SeedError(
                            f"{svc_where}.documents[{j}]: expected a mapping of column -> value"
                        )
                sch.cortex_search_services[svc_name] = CortexSearchService(
                    svc_name,
                    documents=[dict(d) for d in docs],
                    comment=str(svc.get("comment") or ""),
                )
                own("CORTEX_SEARCH_SERVICE", qualified(db_name, sch_name, svc_name), "SYSADMIN")
            _seed_tool_objects(sch, spec, where, db_name, own)

    logins: set[str] = set()
    for i, item in enumerate(_list(top.get("users"), "users")):
        where = f"users[{i}]"
        spec = _mapping(item, where, _USER_KEYS)
        login = _name(spec.get("login_name"), where + ".login_name")
        name = _name(spec.get("name", login), where + ".name")
        if login_key(login) in logins:
            raise SeedError(
                f"{where}: login_name {login} is used twice (logins are case-insensitive)"
            )
        if name in acct.users:
            raise SeedError(f"{where}: user name {name} is used twice")
        logins.add(login_key(login))
        disabled = spec.get("disabled", False)
        if not isinstance(disabled, bool):
            raise SeedError(f"{where}.disabled: expected true or false")
        password = spec.get("password")
        if password is not None and not isinstance(password, str):
            raise SeedError(f"{where}.password: expected a string")
        text = {
            k: spec.get(k) for k in ("display_name", "first_name", "last_name", "email", "comment")
        }
        for key, value in text.items():
            if value is not None and not isinstance(value, str):
                raise SeedError(f"{where}.{key}: expected a string")
        default_role = spec.get("default_role")
        if default_role is not None and default_role not in acct.roles:
            raise SeedError(f"{where}.default_role: unknown role {default_role}")
        # SCIM-created users are owned by the provisioner role, which also grants their roles.
        owner = _name(spec.get("owner", "USERADMIN"), where + ".owner")
        if owner not in acct.roles:
            raise SeedError(f"{where}.owner: unknown role {owner}")
        default_wh = spec.get("default_warehouse")
        if default_wh is not None and default_wh not in acct.warehouses:
            raise SeedError(f"{where}.default_warehouse: unknown warehouse {default_wh}")
        acct.users[name] = User(
            name=name,
            login_name=login,
            password=password,
            disabled=disabled,
            default_role=default_role,
            default_warehouse=default_wh,
            default_namespace=spec.get("default_namespace"),
            display_name=text["display_name"] or "",
            first_name=text["first_name"] or "",
            last_name=text["last_name"] or "",
            email=text["email"] or "",
            comment=text["comment"] or "",
            rsa_public_key=_public_key(spec, "rsa_public_key", where),
            rsa_public_key_2=_public_key(spec, "rsa_public_key_2", where),
            owner=owner,
        )
        for role in _list(spec.get("roles"), where + ".roles"):
            if role not in acct.roles:
                raise SeedError(f"{where}.roles: unknown role {role!r}")
            if role != "PUBLIC":
                acct.add_role_grant(RoleGrant(role, "USER", name, granted_by=owner))
    return acct


def _public_key(spec: dict[str, Any], key: str, where: str) -> str | None:
    """A user's RSA public key as ALTER USER ... SET RSA_PUBLIC_KEY takes it (base64 DER)."""
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SeedError(f"{where}.{key}: expected a string")
    try:
        return signin.normalise_public_key(value)
    except signin.InvalidPublicKey:
        raise SeedError(f"{where}.{key}: not the base64 DER body of an RSA public key") from None


def _seed_tool_objects(
    sch: Schema,
    spec: dict[str, Any],
    where: str,
    db_name: str,
    own: Callable[[str, str, str], None],
) -> None:
    """Semantic views, agents, functions and procedures of one schema (owned by SYSADMIN).

    Views and agents: `NAME: {comment}`. Routines: `NAME: {arguments: "X NUMBER, Y VARCHAR",
    returns: VARCHAR}`; one signature per name.
    """
    for key, kind, granted_on in (
        ("semantic_views", SemanticView, "SEMANTIC_VIEW"),
        ("agents", Agent, "AGENT"),
    ):
        for obj_name, body in _mapping(spec.get(key), f"{where}.{key}").items():
            obj_where = f"{where}.{key}.{obj_name}"
            obj_name = _name(obj_name, obj_where)
            body_map = _mapping(body, obj_where, {"comment"}) if body is not None else {}
            pool = sch.semantic_views if key == "semantic_views" else sch.agents
            pool[obj_name] = kind(obj_name, comment=str(body_map.get("comment") or ""))  # type: ignore[assignment]
            own(granted_on, qualified(db_name, sch.name, obj_name), "SYSADMIN")
    for key, granted_on in (("functions", "FUNCTION"), ("procedures", "PROCEDURE")):
        for obj_name, body in _mapping(spec.get(key), f"{where}.{key}").items():
            obj_where = f"{where}.{key}.{obj_name}"
            obj_name = _name(obj_name, obj_where)
            body_map = _mapping(body, obj_where, _ROUTINE_KEYS) if body is not None else {}
            routine = Routine(
                obj_name,
                arguments=_routine_arguments(body_map.get("arguments"), obj_where + ".arguments"),
                returns=str(body_map.get("returns") or "VARCHAR").upper(),
                comment=str(body_map.get("comment") or ""),
            )
            (sch.functions if key == "functions" else sch.procedures)[routine.key()] = routine
            own(granted_on, routine.grant_name(db_name, sch.name), "SYSADMIN")


def _routine_arguments(value: Any, where: str) -> list[list[str]]:
    """`"X NUMBER, Y VARCHAR"` -> [["X", "NUMBER"], ["Y", "VARCHAR"]]."""
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise SeedError(f"{where}: expected a string such as 'X NUMBER, Y VARCHAR'")
    out = []
    for item in value.split(","):
        words = item.split()
        if len(words) != 2:
            raise SeedError(f"{where}: {item.strip()!r} is not '<name> <type>'")
        out.append([words[0].upper(), words[1].upper()])
    return out
