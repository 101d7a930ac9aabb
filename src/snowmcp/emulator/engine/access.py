"""Access control and name resolution shared by every statement handler.

Access control in brief (why each check is where it is is noted inline):
- a session acts as its current role plus every role that role inherits;
- an object the role holds no privilege on is reported as "does not exist or
  not authorized" (002003), exactly like a missing one, so nothing leaks;
- a visible object the role may not change gives 003001;
- MANAGE GRANTS is modelled as "inherits SECURITYADMIN", CREATE ROLE as
  "inherits USERADMIN", CREATE INTEGRATION as "inherits ACCOUNTADMIN".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.results import Session, StatementResult, quote_display
from snowmcp.emulator.model import (
    Account,
    Database,
    OAuthIntegration,
    PrivilegeGrant,
    Role,
    Schema,
    qualified,
)
from snowmcp.emulator.sql_parser import Name, Statement

if TYPE_CHECKING:
    from snowmcp.emulator.context import EmulatorContext


class Access:
    """One statement run's view of the account as the session's role.

    `mutated` tells the engine to save the state after the request.
    """

    def __init__(self, ctx: EmulatorContext, session: Session) -> None:
        self.ctx = ctx
        self.acct = ctx.account
        self.session = session
        self.mutated = False
        # The session role's inherited roles, derived once per statement: SHOW checks
        # them per listed object. No handler changes the role graph or the session
        # role and then checks privileges again in the same statement.
        self._roles: set[str] | None = None

    def new_statement(self) -> None:
        self._roles = None

    @property
    def roles(self) -> set[str]:
        if self._roles is None:
            role = self.session.role
            self._roles = self.acct.inherited_roles(role) if role else {"PUBLIC"}
        return self._roles

    def inherits(self, role: str) -> bool:
        return role in self.roles

    def manage_grants(self) -> bool:
        return self.inherits("SECURITYADMIN")

    def grants_on(self, granted_on: str, name: str) -> list[PrivilegeGrant]:
        return self.acct.privilege_grants_on(granted_on, name)

    def any_privilege(self, granted_on: str, name: str) -> bool:
        roles = self.roles
        return any(g.grantee in roles for g in self.grants_on(granted_on, name))

    def has_privilege(
        self, granted_on: str, name: str, privilege: str, *, grant_option: bool = False
    ) -> bool:
        roles = self.roles
        for g in self.grants_on(granted_on, name):
            if g.grantee not in roles:
                continue
            if g.privilege == "OWNERSHIP":
                return True
            if g.privilege == privilege and (g.grant_option or not grant_option):
                return True
        return False

    def owns(self, granted_on: str, name: str) -> bool:
        return self.has_privilege(granted_on, name, "OWNERSHIP")

    def owner_of(self, granted_on: str, name: str) -> str:
        for g in self.grants_on(granted_on, name):
            if g.privilege == "OWNERSHIP":
                return g.grantee
        return ""

    def set_owner(self, granted_on: str, name: str, role: str) -> None:
        self.drop_grants_on(granted_on, name, only="OWNERSHIP")
        self.acct.add_privilege_grant(
            PrivilegeGrant("OWNERSHIP", granted_on, name, role, grant_option=True, granted_by=role)
        )

    def drop_grants_on(self, granted_on: str, name: str, only: str | None = None) -> None:
        self.acct.remove_privilege_grants(
            [g for g in self.grants_on(granted_on, name) if only is None or g.privilege == only]
        )

    def current_role(self) -> str:
        return self.session.role or "PUBLIC"

    def require_role(self, role: str) -> None:
        if not self.inherits(role):
            raise errors.insufficient_privileges("account", self.acct.name)

    def resolve_schema_name(self, name: Name, what: str) -> tuple[str, str]:
        if len(name.parts) == 2:
            return name.parts[0], name.parts[1]
        if self.session.database is None:
            raise errors.no_current_namespace(what)
        return self.session.database, name.parts[0]

    def resolve_object_name(self, name: Name, what: str) -> tuple[str, str, str]:
        parts = name.parts
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        if len(parts) == 2:
            if self.session.database is None:
                raise errors.no_current_namespace(what)
            return self.session.database, parts[0], parts[1]
        if self.session.database is None or self.session.schema is None:
            raise errors.no_current_namespace(what)
        return self.session.database, self.session.schema, parts[0]

    def visible_database(self, db: str) -> Database | None:
        found = self.acct.databases.get(db)
        if found is None or not self.any_privilege("DATABASE", qualified(db)):
            return None
        return found

    def visible_schema(self, db: str, schema: str) -> Schema | None:
        database = self.acct.databases.get(db)
        found = database.schemas.get(schema) if database else None
        if found is None:
            return None
        if not (
            self.any_privilege("DATABASE", qualified(db))
            and self.any_privilege("SCHEMA", qualified(db, schema))
        ):
            return None
        return found

    def schema_or_error(self, db: str, schema: str) -> Schema:
        found = self.visible_schema(db, schema)
        if found is None:
            if self.visible_database(db) is None:
                raise errors.does_not_exist("Database", quote_display(db))
            raise errors.does_not_exist("Schema", qualified(db, schema))
        return found

    def integration_or_error(self, name: str, *, owner: bool = False) -> OAuthIntegration:
        found = self.acct.integrations.get(name)
        visible = found is not None and (
            self.owns("INTEGRATION", qualified(name))
            if owner
            else self.any_privilege("INTEGRATION", qualified(name))
        )
        if found is None or not visible:
            raise errors.does_not_exist("Integration", quote_display(name))
        return found

    def integration_visible(self, name: str) -> bool:
        return name in self.acct.integration_names() and self.any_privilege(
            "INTEGRATION", qualified(name)
        )

    def role_or_error(self, name: str) -> Role:
        found = self.acct.roles.get(name)
        if found is None:
            raise errors.does_not_exist("Role", quote_display(name))
        return found


class Handler:
    """A family of statements (one object type); `handlers()` maps statement classes to methods."""

    def __init__(self, access: Access) -> None:
        self.access = access

    @property
    def acct(self) -> Account:
        return self.access.acct

    @property
    def session(self) -> Session:
        return self.access.session

    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        raise NotImplementedError
