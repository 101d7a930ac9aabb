"""Session statements: USE <role|warehouse|database|schema> and SELECT <functions>."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.integrations import IntegrationHandler
from snowmcp.emulator.engine.results import (
    Column,
    StatementResult,
    quote_display,
    status,
)
from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.model import (
    qualified,
)
from snowmcp.emulator.sql_parser import (
    Select,
    Statement,
    Use,
)


class SessionHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            Use: self.use,
            Select: self.select,
        }

    def use(self, stmt: Use) -> StatementResult:
        s = self.session
        if stmt.what == "ROLE":
            role = stmt.name.parts[0]
            if role not in self.acct.roles or not self.acct.user_has_role(s.user, role):
                raise errors.does_not_exist("Role", quote_display(role))
            s.role = role
        elif stmt.what == "WAREHOUSE":
            wh = stmt.name.parts[0]
            if wh not in self.acct.warehouses or not self.access.any_privilege(
                "WAREHOUSE", qualified(wh)
            ):
                raise errors.does_not_exist()
            s.warehouse = wh
        elif stmt.what == "DATABASE":
            db = self.access.visible_database(stmt.name.parts[0])
            if db is None:
                raise errors.does_not_exist()
            s.database = db.name
            s.schema = "PUBLIC" if "PUBLIC" in db.schemas else None
        else:
            db_name, sch_name = self.access.resolve_schema_name(stmt.name, "USE SCHEMA")
            if self.access.visible_schema(db_name, sch_name) is None:
                raise errors.does_not_exist()
            s.database, s.schema = db_name, sch_name
        return status("")

    def select(self, stmt: Select) -> StatementResult:
        columns: list[Column] = []
        row: list[object] = []
        for item in stmt.items:
            value = self.select_value(item.function, item.args) if item.function else item.literal
            row.append(value)
            kind = (
                "boolean"
                if isinstance(value, bool)
                else "fixed"
                if isinstance(value, int)
                else "real"
                if isinstance(value, float)
                else "text"
            )
            columns.append(Column(item.label, kind))
        return StatementResult("", columns, [row])

    def select_value(self, function: str, args: list[object]) -> object:
        simple: dict[str, Callable[[], object]] = {
            "CURRENT_ROLE": lambda: self.session.role,
            "CURRENT_USER": lambda: self.session.user,
            "CURRENT_ACCOUNT": lambda: self.acct.name,
            "CURRENT_ACCOUNT_NAME": lambda: self.acct.name,
            "CURRENT_WAREHOUSE": lambda: self.session.warehouse,
            "CURRENT_DATABASE": lambda: self.session.database,
            "CURRENT_SCHEMA": lambda: self.session.schema,
            "CURRENT_VERSION": lambda: "9.0.0",
        }
        if function in simple:
            if args:
                raise errors.invalid_value(
                    f"Invalid argument count for function {function}: expected 0"
                )
            return simple[function]()
        if function == "SYSTEM$SHOW_OAUTH_CLIENT_SECRETS":
            if len(args) != 1 or not isinstance(args[0], str):
                raise errors.invalid_value(
                    "Invalid argument for function SYSTEM$SHOW_OAUTH_CLIENT_SECRETS: expected the integration name as a string"
                )
            return IntegrationHandler(self.access).show_client_secrets(args[0])
        raise SnowflakeError(2140, "42601", f"SQL compilation error:\nUnknown function {function}")
