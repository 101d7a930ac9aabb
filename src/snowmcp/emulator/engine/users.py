"""Users and delegated authorizations: ALTER USER, SHOW DELEGATED AUTHORIZATIONS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.results import (
    StatementResult,
    columns,
    quote_display,
    shown_value,
    status,
)
from snowmcp.emulator.model import (
    User,
    qualified,
)
from snowmcp.emulator.sql_parser import (
    AlterUser,
    ShowDelegations,
    Statement,
)


class UserHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            AlterUser: self.alter_user,
            ShowDelegations: self.show_delegations,
        }

    _USER_TEXT = {
        "DEFAULT_WAREHOUSE": "default_warehouse",
        "DEFAULT_ROLE": "default_role",
        "DEFAULT_NAMESPACE": "default_namespace",
        "COMMENT": "comment",
        "DISPLAY_NAME": "display_name",
        "FIRST_NAME": "first_name",
        "LAST_NAME": "last_name",
        "EMAIL": "email",
        "PASSWORD": "password",
    }

    _SELF_SERVICE = ("DEFAULT_WAREHOUSE", "DEFAULT_ROLE", "DEFAULT_NAMESPACE")

    def alter_user(self, stmt: AlterUser) -> StatementResult:
        user = self.acct.users.get(stmt.name)
        if user is None:
            if stmt.if_exists:
                return status("")
            raise errors.does_not_exist("User", quote_display(stmt.name))
        is_self = stmt.name == self.session.user
        admin = self.access.inherits(user.owner) or self.access.manage_grants()
        if stmt.remove_delegations_from is not None:
            return self.remove_delegations(stmt, user, is_self)
        changes: dict[str, object] = {}
        touched = [p.name for p in stmt.set_props] + stmt.unset
        for prop_name in touched:
            if prop_name not in self._USER_TEXT and prop_name != "DISABLED":
                raise errors.invalid_value(f"invalid property '{prop_name}' for 'USER'")
        if not admin and not (is_self and all(p in self._SELF_SERVICE for p in touched)):
            raise errors.insufficient_privileges("user", quote_display(stmt.name))
        for prop in stmt.set_props:
            if prop.name == "DISABLED":
                if prop.kind != "bool":
                    raise errors.invalid_value(
                        f"invalid value [{shown_value(prop)}] for parameter 'DISABLED'"
                    )
                changes["disabled"] = prop.value
            elif prop.kind in ("string", "word", "ident"):
                changes[self._USER_TEXT[prop.name]] = prop.value
            else:
                raise errors.invalid_value(
                    f"invalid value [{shown_value(prop)}] for parameter '{prop.name}'"
                )
        for prop_name in stmt.unset:
            fld = "disabled" if prop_name == "DISABLED" else self._USER_TEXT[prop_name]
            changes[fld] = (
                False
                if fld == "disabled"
                else None
                if fld.startswith("default_") or fld == "password"
                else ""
            )
        for fld, value in changes.items():
            setattr(user, fld, value)
        self.access.mutated = True
        return status("")

    def remove_delegations(self, stmt: AlterUser, user: User, is_self: bool) -> StatementResult:
        name = str(stmt.remove_delegations_from)
        if name not in self.acct.integrations or not (
            is_self or self.access.any_privilege("INTEGRATION", qualified(name))
        ):
            raise errors.does_not_exist("Integration", quote_display(name))
        if not (is_self or self.access.owns("INTEGRATION", qualified(name))):
            raise errors.insufficient_privileges("integration", quote_display(name))
        self.acct.delegations = [
            d
            for d in self.acct.delegations
            if not (
                d.user == user.name
                and d.integration == name
                and (stmt.remove_delegation_role is None or d.role == stmt.remove_delegation_role)
            )
        ]
        self.access.mutated = True
        return status("")

    def show_delegations(self, stmt: ShowDelegations) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz user_name role_name integration_name integration_status"
        )
        items = self.acct.delegations
        if stmt.by_user is not None:
            user = self.acct.users.get(stmt.by_user)
            if user is None:
                raise errors.does_not_exist("User", quote_display(stmt.by_user))
            if not (
                stmt.by_user == self.session.user
                or self.access.inherits("ACCOUNTADMIN")
                or self.access.inherits(user.owner)
            ):
                raise errors.insufficient_privileges("user", quote_display(stmt.by_user))
            items = [d for d in items if d.user == stmt.by_user]
        elif stmt.to_integration is not None:
            self.access.integration_or_error(stmt.to_integration, owner=True)
            items = [d for d in items if d.integration == stmt.to_integration]
        else:
            self.access.require_role("ACCOUNTADMIN")
        rows: list[list[object]] = []
        for d in sorted(items, key=lambda d: (d.created_on, d.user)):
            integ = self.acct.integrations.get(d.integration)
            state = "ENABLED" if integ is not None and integ.enabled else "DISABLED"
            rows.append([d.created_on, d.user, d.role, d.integration, state])
        return StatementResult("", cols, rows)
