"""The emulator's SQL engine: runs parsed statements against model.Account as a session's role.

Engine.execute() is the one entry point the HTTP side uses. Statements run in
order; the first failure raises SnowflakeError and earlier statements stay
applied (DDL/DCL commit immediately in Snowflake). Output columns, value
formats and error codes follow Snowflake's; docs/emulator.md lists what is
supported.

Layout: `access` holds the privilege checks and name resolution every
statement shares; one handler class per object family (`integrations`,
`roles` for roles and grants, `mcp_servers`, `users`, `show` for SHOW
<objects>, `session` for USE and SELECT) maps the statement classes it runs
to its methods. Dispatch is by the parsed statement's class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Access, Handler
from snowmcp.emulator.engine.integrations import IntegrationHandler
from snowmcp.emulator.engine.mcp_servers import McpServerHandler
from snowmcp.emulator.engine.parameters import ParameterHandler
from snowmcp.emulator.engine.results import Column, Session, StatementResult, like_matcher
from snowmcp.emulator.engine.roles import RoleGrantHandler
from snowmcp.emulator.engine.session import SessionHandler
from snowmcp.emulator.engine.show import ShowHandler
from snowmcp.emulator.engine.users import UserHandler
from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.model import now
from snowmcp.emulator.sql_parser import Statement, parse_tokens, stats_kind
from snowmcp.emulator.sql_tokens import split_statements, tokenize

if TYPE_CHECKING:
    from snowmcp.emulator.context import EmulatorContext

HANDLER_FAMILIES: tuple[type[Handler], ...] = (
    IntegrationHandler,
    RoleGrantHandler,
    McpServerHandler,
    ParameterHandler,
    UserHandler,
    ShowHandler,
    SessionHandler,
)


class Engine:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx

    def count_statements(self, sql: str) -> int:
        """How many statements `sql` holds (for the connector's MULTI_STATEMENT_COUNT check)."""
        return len(split_statements(tokenize(sql)))

    def execute(self, session: Session, sql: str) -> list[StatementResult]:
        pieces = split_statements(tokenize(sql))
        if not pieces:
            raise errors.empty_statement()
        results: list[StatementResult] = []
        access = Access(self.ctx, session)
        dispatch = _dispatch_table(access)
        with self.ctx.account.lock:
            try:
                for tokens in pieces:
                    try:
                        stmt = parse_tokens(tokens)
                    except SnowflakeError:
                        self.ctx.stats.incr("queries", "SYNTAX_ERROR")
                        raise
                    self.ctx.stats.incr("queries", stats_kind(stmt))
                    access.new_statement()
                    result = dispatch[type(stmt)](stmt)
                    result.kind = stats_kind(stmt)
                    results.append(result)
            finally:
                if access.mutated:
                    self.ctx.save()
        return results


def _dispatch_table(access: Access) -> dict[type[Statement], Callable[[Any], StatementResult]]:
    table: dict[type[Statement], Callable[[Any], StatementResult]] = {}
    for family in HANDLER_FAMILIES:
        for stmt_type, method in family(access).handlers().items():
            assert stmt_type not in table, f"{stmt_type.__name__} has two handlers"
            table[stmt_type] = method
    return table


__all__ = ["Column", "Engine", "Session", "StatementResult", "like_matcher", "now"]
