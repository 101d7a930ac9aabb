"""Object parameters: ALTER ACCOUNT | DATABASE | SCHEMA ... SET | UNSET and SHOW PARAMETERS.

Only the parameters the MCP servers' OAuth discovery reads are emulated:
OAUTH_AUTHORIZATION_SERVER (the name of an EXTERNAL_OAUTH integration) and
OAUTH_SCOPES_SUPPORTED (comma-separated scopes). As in Snowflake a value set
on a schema overrides the database's, which overrides the account's;
SHOW PARAMETERS IN <object> shows the value in effect there and in `level`
where it was set (empty: the default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.results import (
    StatementResult,
    columns,
    like_matcher,
    quote_display,
    shown_value,
    status,
)
from snowmcp.emulator.model import Account, qualified
from snowmcp.emulator.sql_parser import AlterParameters, ShowParameters, Statement


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    default: str = ""
    type: str = "STRING"


PARAMETERS = {
    p.name: p
    for p in (
        Parameter(
            "OAUTH_AUTHORIZATION_SERVER",
            "Name of the External OAuth security integration whose issuer MCP servers "
            "advertise and accept tokens from.",
        ),
        Parameter(
            "OAUTH_SCOPES_SUPPORTED",
            "Comma-separated scopes advertised to MCP clients in the protected resource metadata.",
        ),
    )
}


def effective(account: Account, db: str, schema: str, name: str) -> tuple[str, str]:
    """(value, level) of a parameter for objects in db.schema: schema over database over account."""
    database = account.databases.get(db)
    sch = database.schemas.get(schema) if database else None
    if sch is not None and name in sch.parameters:
        return sch.parameters[name], "SCHEMA"
    if database is not None and name in database.parameters:
        return database.parameters[name], "DATABASE"
    if name in account.parameters:
        return account.parameters[name], "ACCOUNT"
    return PARAMETERS[name].default, ""


def scopes(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


class ParameterHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {AlterParameters: self.alter, ShowParameters: self.show}

    def _target(self, level: str, name: Any, *, change: bool) -> tuple[dict[str, str], str, str]:
        """(parameters dict, database, schema) of the object; privilege checks included."""
        if level == "ACCOUNT":
            if change:
                self.access.require_role("ACCOUNTADMIN")
            return self.acct.parameters, "", ""
        if level == "DATABASE":
            db = name.parts[0]
            database = self.access.visible_database(db)
            if database is None:
                raise errors.does_not_exist("Database", quote_display(db))
            if change and not (
                self.access.inherits("ACCOUNTADMIN") or self.access.owns("DATABASE", qualified(db))
            ):
                raise errors.insufficient_privileges("database", quote_display(db))
            return database.parameters, db, ""
        db, sch = self.access.resolve_schema_name(name, "ALTER SCHEMA")
        schema = self.access.schema_or_error(db, sch)
        if change and not (
            self.access.inherits("ACCOUNTADMIN") or self.access.owns("SCHEMA", qualified(db, sch))
        ):
            raise errors.insufficient_privileges("schema", qualified(db, sch))
        return schema.parameters, db, sch

    def _value(self, prop: Any) -> str:
        if prop.name not in PARAMETERS:
            raise errors.invalid_value(f"invalid parameter '{prop.name}'")
        if prop.kind != "string":
            raise errors.invalid_value(
                f"invalid value [{shown_value(prop)}] for parameter '{prop.name}'"
            )
        value = str(prop.value)
        if prop.name == "OAUTH_AUTHORIZATION_SERVER" and value:
            # Must name an existing External OAuth integration (stored name, or as unquoted).
            for candidate in (value, value.upper()):
                if candidate in self.acct.external_integrations:
                    return candidate
            raise errors.does_not_exist("Integration", quote_display(value))
        return value

    def alter(self, stmt: AlterParameters) -> StatementResult:
        values = {p.name: self._value(p) for p in stmt.set_props}
        for name in stmt.unset:
            if name not in PARAMETERS:
                raise errors.invalid_value(f"invalid parameter '{name}'")
        if stmt.if_exists:
            try:
                target, _db, _sch = self._target(stmt.level, stmt.name, change=True)
            except errors.SnowflakeError:
                return status("")
        else:
            target, _db, _sch = self._target(stmt.level, stmt.name, change=True)
        for name, value in values.items():
            if value == "":
                target.pop(name, None)
            else:
                target[name] = value
        for name in stmt.unset:
            target.pop(name, None)
        self.access.mutated = True
        return status("")

    def show(self, stmt: ShowParameters) -> StatementResult:
        cols = columns("key value default level description type")
        match = like_matcher(stmt.like)
        rows: list[list[object]] = []
        if stmt.level is None:
            # SHOW PARAMETERS without IN lists session parameters; these two are object ones.
            return StatementResult("", cols, rows)
        _target, db, sch = self._target(stmt.level, stmt.name, change=False)
        for param in PARAMETERS.values():
            if not match(param.name):
                continue
            if stmt.level == "ACCOUNT":
                value = self.acct.parameters.get(param.name, param.default)
                level = "ACCOUNT" if param.name in self.acct.parameters else ""
            elif stmt.level == "DATABASE":
                value, level = effective(self.acct, db, "\x00", param.name)
            else:
                value, level = effective(self.acct, db, sch, param.name)
            rows.append([param.name, value, param.default, level, param.description, param.type])
        return StatementResult("", cols, rows)
