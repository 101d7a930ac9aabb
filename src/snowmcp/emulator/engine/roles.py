"""Roles and grants: CREATE/ALTER/DROP ROLE, GRANT/REVOKE (privileges and roles), SHOW GRANTS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.results import (
    Column,
    StatementResult,
    bool_text,
    quote_display,
    status,
)
from snowmcp.emulator.model import (
    SYSTEM_ROLES,
    PrivilegeGrant,
    Role,
    RoleGrant,
    canonical_type,
    qualified,
)
from snowmcp.emulator.sql_parser import (
    AlterRole,
    CreateRole,
    DropRole,
    GrantPrivileges,
    GrantRole,
    Name,
    ShowGrants,
    Statement,
)

# GRANT ... ON <type>: SQL object type -> (granted_on as SHOW GRANTS prints it, allowed privileges).
GRANTABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "DATABASE": (
        "DATABASE",
        ("USAGE", "MONITOR", "MODIFY", "CREATE SCHEMA", "CREATE DATABASE ROLE"),
    ),
    "SCHEMA": (
        "SCHEMA",
        (
            "USAGE",
            "MONITOR",
            "MODIFY",
            "CREATE MCP SERVER",
            "CREATE CORTEX SEARCH SERVICE",
            "CREATE TABLE",
            "CREATE VIEW",
            "CREATE FUNCTION",
            "CREATE PROCEDURE",
            "CREATE STAGE",
        ),
    ),
    "WAREHOUSE": ("WAREHOUSE", ("USAGE", "OPERATE", "MONITOR", "MODIFY")),
    "CORTEX SEARCH SERVICE": ("CORTEX_SEARCH_SERVICE", ("USAGE", "MONITOR", "OPERATE")),
    "MCP SERVER": ("CORTEX_AGENT_SERVER", ("USAGE", "MODIFY", "MONITOR")),
    "SEMANTIC VIEW": ("SEMANTIC_VIEW", ("SELECT", "REFERENCES", "MONITOR")),
    "AGENT": ("AGENT", ("USAGE", "MONITOR", "MODIFY")),
    "FUNCTION": ("FUNCTION", ("USAGE",)),
    "PROCEDURE": ("PROCEDURE", ("USAGE",)),
    "INTEGRATION": ("INTEGRATION", ("USAGE", "USE_ANY_ROLE")),
}

_GRANT_COLUMNS = [
    Column("created_on", "timestamp_ltz"),
    Column("privilege", "text"),
    Column("granted_on", "text"),
    Column("name", "text"),
    Column("granted_to", "text"),
    Column("grantee_name", "text"),
    Column("grant_option", "text"),
    Column("granted_by", "text"),
]
_ROLE_GRANT_COLUMNS = [
    Column("created_on", "timestamp_ltz"),
    Column("role", "text"),
    Column("granted_to", "text"),
    Column("grantee_name", "text"),
    Column("granted_by", "text"),
]


class RoleGrantHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            CreateRole: self.create_role,
            AlterRole: self.alter_role,
            DropRole: self.drop_role,
            GrantPrivileges: self.grant_privileges,
            GrantRole: self.grant_role,
            ShowGrants: self.show_grants,
        }

    def create_role(self, stmt: CreateRole) -> StatementResult:
        if stmt.or_replace and stmt.if_not_exists:
            raise errors.invalid_options("Options IF NOT EXISTS and OR REPLACE are incompatible.")
        self.access.require_role("USERADMIN")
        if stmt.name in self.acct.roles:
            if stmt.if_not_exists:
                return status("", f"{stmt.name} already exists, statement succeeded.")
            if not stmt.or_replace:
                raise errors.already_exists("Object", quote_display(stmt.name))
            self.remove_role(stmt.name)
        role = self.access.current_role()
        self.acct.roles[stmt.name] = Role(stmt.name, comment=stmt.comment or "", owner=role)
        self.access.set_owner("ROLE", qualified(stmt.name), role)
        self.access.mutated = True
        return status("", f"Role {stmt.name} successfully created.")

    def remove_role(self, name: str) -> None:
        if name in SYSTEM_ROLES:
            raise errors.insufficient_privileges("role", quote_display(name))
        if not self.access.owns("ROLE", qualified(name)):
            raise errors.insufficient_privileges("role", quote_display(name))
        heir = self.access.current_role()
        kept: list[PrivilegeGrant] = []
        for g in self.acct.privilege_grants:
            if g.granted_on == "ROLE" and g.name == qualified(name):
                continue
            if g.grantee == name:
                if g.privilege != "OWNERSHIP":
                    continue
                # Snowflake hands a dropped role's objects to the role that dropped it.
                g.grantee = heir
                self._sync_owner(g.granted_on, g.name, heir)
            kept.append(g)
        self.acct.privilege_grants = kept  # remove_role_grants() reindexes both lists
        self.acct.remove_role_grants(
            lambda g: g.role == name or (g.granted_to == "ROLE" and g.grantee == name)
        )
        del self.acct.roles[name]
        self.access.mutated = True

    def _sync_owner(self, granted_on: str, name: str, role: str) -> None:
        """Keep the model's `owner` fields in line with OWNERSHIP grants."""
        if granted_on == "ROLE":
            for r in self.acct.roles.values():
                if qualified(r.name) == name:
                    r.owner = role
        elif granted_on == "INTEGRATION":
            for integ in self.acct.integrations.values():
                if qualified(integ.name) == name:
                    integ.owner = role
            for ext in self.acct.external_integrations.values():
                if qualified(ext.name) == name:
                    ext.owner = role
        elif granted_on == "CORTEX_AGENT_SERVER":
            for db in self.acct.databases.values():
                for sch in db.schemas.values():
                    for m in sch.mcp_servers.values():
                        if qualified(db.name, sch.name, m.name) == name:
                            m.owner = role

    def alter_role(self, stmt: AlterRole) -> StatementResult:
        if stmt.name not in self.acct.roles:
            if stmt.if_exists:
                return status("")
            raise errors.does_not_exist("Role", quote_display(stmt.name))
        if not self.access.owns("ROLE", qualified(stmt.name)):
            raise errors.insufficient_privileges("role", quote_display(stmt.name))
        self.acct.roles[stmt.name].comment = stmt.comment or ""
        self.access.mutated = True
        return status("")

    def drop_role(self, stmt: DropRole) -> StatementResult:
        if stmt.name not in self.acct.roles:
            if stmt.if_exists:
                return status(
                    "", f"Drop statement executed successfully ({stmt.name} already dropped)."
                )
            raise errors.does_not_exist("Role", quote_display(stmt.name))
        self.remove_role(stmt.name)
        return status("", f"{stmt.name} successfully dropped.")

    def grant_target(
        self, object_type: str, name: Name, arg_types: list[str] | None = None
    ) -> tuple[str, str, str]:
        """(granted_on, qualified name, display kind) of an existing object; else 002003.

        Functions and procedures are found by name and argument types; their
        name in SHOW GRANTS carries argument names and the return type.
        """
        granted_on = GRANTABLE[object_type][0]
        kind = object_type.title().replace("Mcp", "MCP")
        if object_type == "DATABASE":
            if len(name.parts) != 1:
                raise errors.does_not_exist("Database", str(name))
            db = name.parts[0]
            exists = db in self.acct.databases
            full = qualified(db)
        elif object_type == "SCHEMA":
            if len(name.parts) > 2:
                raise errors.does_not_exist("Schema", str(name))
            db, sch = self.access.resolve_schema_name(name, "GRANT")
            exists = db in self.acct.databases and sch in self.acct.databases[db].schemas
            full = qualified(db, sch)
        elif object_type in ("WAREHOUSE", "INTEGRATION"):
            if len(name.parts) != 1:
                raise errors.does_not_exist(kind, str(name))
            full = qualified(name.parts[0])
            pool: set[str] | dict[str, Any] = (
                self.acct.warehouses
                if object_type == "WAREHOUSE"
                else self.acct.integration_names()
            )
            exists = name.parts[0] in pool
        else:
            db, sch, short = self.access.resolve_object_name(name, "GRANT")
            full = qualified(db, sch, short)
            schema = self.acct.schema(db, sch)
            if object_type == "MCP SERVER":
                exists = self.acct.mcp_server(db, sch, short) is not None
            elif object_type == "CORTEX SEARCH SERVICE":
                exists = self.acct.cortex_search_service(db, sch, short) is not None
            elif object_type == "SEMANTIC VIEW":
                exists = schema is not None and short in schema.semantic_views
            elif object_type == "AGENT":
                exists = schema is not None and short in schema.agents
            else:
                pool = (
                    {}
                    if schema is None
                    else (schema.functions if object_type == "FUNCTION" else schema.procedures)
                )
                key = f"{short}({', '.join(canonical_type(t) for t in arg_types or [])})"
                routine = pool.get(key)
                exists = routine is not None
                full = (
                    routine.grant_name(db, sch) if routine is not None else full + key[len(short) :]
                )
        # Without MANAGE GRANTS, an object the role holds nothing on does not exist for it.
        if not exists or not (
            self.access.manage_grants() or self.access.any_privilege(granted_on, full)
        ):
            raise errors.does_not_exist(kind, full)
        return granted_on, full, kind

    def grant_privileges(self, stmt: GrantPrivileges) -> StatementResult:
        granted_on_type, allowed = GRANTABLE[stmt.object_type]
        privileges: list[str] = []
        for priv in stmt.privileges:
            if priv in ("ALL", "ALL PRIVILEGES"):
                privileges += [p for p in allowed if p not in privileges]
            elif priv in allowed:
                if priv not in privileges:
                    privileges.append(priv)
            else:
                raise errors.invalid_value(
                    f"Invalid privilege {priv} for object type {stmt.object_type}."
                )
        granted_on, full, kind = self.grant_target(
            stmt.object_type, stmt.object_name, stmt.arg_types
        )
        assert granted_on == granted_on_type
        self.access.role_or_error(stmt.role)
        if not (self.access.manage_grants() or self.access.owns(granted_on, full)) and not all(
            self.access.has_privilege(granted_on, full, p, grant_option=True) for p in privileges
        ):
            raise errors.insufficient_privileges(
                kind.lower() if kind != "MCP Server" else "MCP server", full
            )
        for priv in privileges:
            existing = [
                g for g in self.acct.privilege_grants_on(granted_on, full)
                if g.grantee == stmt.role and g.privilege == priv
            ]  # fmt: skip
            if stmt.revoke:
                if stmt.grant_option:
                    for g in existing:
                        g.grant_option = False
                else:
                    self.acct.remove_privilege_grants(existing)
            elif existing:
                existing[0].grant_option = existing[0].grant_option or stmt.grant_option
            else:
                self.acct.add_privilege_grant(
                    PrivilegeGrant(
                        priv,
                        granted_on,
                        full,
                        stmt.role,
                        stmt.grant_option,
                        self.access.current_role(),
                    )
                )
        self.access.mutated = True
        return status("")

    def grant_role(self, stmt: GrantRole) -> StatementResult:
        self.access.role_or_error(stmt.role)
        if stmt.grantee_type == "ROLE":
            self.access.role_or_error(stmt.grantee)
        elif stmt.grantee not in self.acct.users:
            raise errors.does_not_exist("User", quote_display(stmt.grantee))
        if not (self.access.manage_grants() or self.access.owns("ROLE", qualified(stmt.role))):
            raise errors.insufficient_privileges("role", quote_display(stmt.role))
        match = self.acct.role_grant(stmt.role, stmt.grantee_type, stmt.grantee)
        if stmt.revoke:
            if match is not None:
                self.acct.remove_role_grants(
                    lambda g: (
                        (g.role, g.granted_to, g.grantee)
                        == (stmt.role, stmt.grantee_type, stmt.grantee)
                    )
                )
        elif match is None:
            # Refuse a cycle: the granted role must not already inherit the grantee.
            # (Every role inherits PUBLIC, so granting a role to PUBLIC is no cycle.)
            if stmt.grantee_type == "ROLE" and (
                stmt.grantee == stmt.role
                or (
                    stmt.grantee != "PUBLIC"
                    and stmt.grantee in self.acct.inherited_roles(stmt.role)
                )
            ):
                raise errors.invalid_options(
                    f"Cannot grant role '{stmt.role}' to role '{stmt.grantee}': "
                    f"'{stmt.grantee}' is already granted to '{stmt.role}' (a cycle)."
                )
            self.acct.add_role_grant(
                RoleGrant(stmt.role, stmt.grantee_type, stmt.grantee, self.access.current_role())
            )
        self.access.mutated = True
        return status("")

    def can_inspect_role(self, role: str) -> bool:
        return (
            role in self.access.roles
            or self.access.manage_grants()
            or self.access.owns("ROLE", qualified(role))
        )

    def show_grants(self, stmt: ShowGrants) -> StatementResult:
        if stmt.mode in ("TO_USER", "CURRENT_USER"):
            user = stmt.name.parts[0] if stmt.name else self.session.user
            if user not in self.acct.users:
                raise errors.does_not_exist("User", quote_display(user))
            if not (
                user == self.session.user
                or self.access.manage_grants()
                or self.access.inherits(self.acct.users[user].owner)
            ):
                raise errors.insufficient_privileges("user", quote_display(user))
            rows = [
                [g.created_on, g.role, "USER", g.grantee, g.granted_by]
                for g in self.acct.role_grants
                if g.granted_to == "USER" and g.grantee == user
            ]
            return StatementResult("", list(_ROLE_GRANT_COLUMNS), rows)
        if stmt.mode == "OF_ROLE":
            assert stmt.name is not None
            role = stmt.name.parts[0]
            if role not in self.acct.roles or not self.can_inspect_role(role):
                raise errors.does_not_exist("Role", quote_display(role))
            rows = [
                [g.created_on, g.role, g.granted_to, g.grantee, g.granted_by]
                for g in self.acct.role_grants
                if g.role == role
            ]
            return StatementResult("", list(_ROLE_GRANT_COLUMNS), rows)
        if stmt.mode == "TO_ROLE":
            assert stmt.name is not None
            role = stmt.name.parts[0]
            if role not in self.acct.roles or not self.can_inspect_role(role):
                raise errors.does_not_exist("Role", quote_display(role))
            rows = [self.grant_row(g) for g in self.acct.privilege_grants if g.grantee == role]
            # Roles granted to this role show as USAGE on ROLE, as in Snowflake.
            rows += [
                [
                    g.created_on,
                    "USAGE",
                    "ROLE",
                    qualified(g.role),
                    "ROLE",
                    role,
                    "false",
                    g.granted_by,
                ]
                for g in self.acct.role_grants
                if g.granted_to == "ROLE" and g.grantee == role
            ]
            return StatementResult("", list(_GRANT_COLUMNS), rows)
        # SHOW GRANTS ON <object>
        assert stmt.object_type is not None
        if stmt.object_type == "ACCOUNT":
            return StatementResult("", list(_GRANT_COLUMNS), [])
        assert stmt.name is not None
        if stmt.object_type in ("ROLE", "USER"):
            target = stmt.name.parts[-1]
            if stmt.object_type == "ROLE":
                if target not in self.acct.roles or not self.can_inspect_role(target):
                    raise errors.does_not_exist("Role", quote_display(target))
            elif target not in self.acct.users or not (
                self.access.manage_grants() or self.access.inherits("USERADMIN")
            ):
                raise errors.does_not_exist("User", quote_display(target))
            granted_on, full = stmt.object_type, qualified(target)
        else:
            granted_on, full, _kind = self.grant_target(stmt.object_type, stmt.name, stmt.arg_types)
        rows = [self.grant_row(g) for g in self.access.grants_on(granted_on, full)]
        return StatementResult("", list(_GRANT_COLUMNS), rows)

    @staticmethod
    def grant_row(g: PrivilegeGrant) -> list[object]:
        return [
            g.created_on,
            g.privilege,
            g.granted_on,
            g.name,
            "ROLE",
            g.grantee,
            bool_text(g.grant_option),
            g.granted_by,
        ]
