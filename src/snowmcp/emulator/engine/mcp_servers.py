"""MCP servers: CREATE/DROP/DESCRIBE MCP SERVER."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.results import (
    StatementResult,
    columns,
    status,
)
from snowmcp.emulator.mcp_spec import describe_json, parse_spec
from snowmcp.emulator.model import (
    McpServer,
    qualified,
)
from snowmcp.emulator.sql_parser import (
    CreateMcpServer,
    DescribeMcpServer,
    DropMcpServer,
    Name,
    Statement,
)


class McpServerHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            CreateMcpServer: self.create_mcp_server,
            DropMcpServer: self.drop_mcp_server,
            DescribeMcpServer: self.describe_mcp_server,
        }

    def create_mcp_server(self, stmt: CreateMcpServer) -> StatementResult:
        if stmt.or_replace and stmt.if_not_exists:
            raise errors.invalid_options("Options IF NOT EXISTS and OR REPLACE are incompatible.")
        db, sch, name = self.access.resolve_object_name(stmt.name, "CREATE MCP SERVER")
        spec = parse_spec(stmt.spec)
        schema = self.access.schema_or_error(db, sch)
        if not self.access.has_privilege("SCHEMA", qualified(db, sch), "CREATE MCP SERVER"):
            raise errors.insufficient_privileges("schema", qualified(db, sch))
        full = qualified(db, sch, name)
        existing = schema.mcp_servers.get(name)
        if existing is not None:
            if stmt.if_not_exists:
                return status("", f"{name} already exists, statement succeeded.")
            if not stmt.or_replace:
                raise errors.already_exists("Object", full)
            if not self.access.owns("CORTEX_AGENT_SERVER", full):
                raise errors.insufficient_privileges("MCP server", full)
            # OR REPLACE makes a new object: every grant on the old one is gone.
            self.access.drop_grants_on("CORTEX_AGENT_SERVER", full)
        schema.mcp_servers[name] = McpServer(
            name=name, database=db, schema=sch, spec=spec,
            owner=self.access.current_role(), comment=stmt.comment or "",
        )  # fmt: skip
        self.access.set_owner("CORTEX_AGENT_SERVER", full, self.access.current_role())
        self.access.mutated = True
        return status("", f"MCP Server {name} successfully created.")

    def mcp_server_visible(self, db: str, sch: str, name: str) -> bool:
        return (
            self.acct.mcp_server(db, sch, name) is not None
            and self.access.visible_schema(db, sch) is not None
            and self.access.any_privilege("CORTEX_AGENT_SERVER", qualified(db, sch, name))
        )

    def mcp_server_or_error(self, name: Name, what: str) -> McpServer:
        db, sch, short = self.access.resolve_object_name(name, what)
        server = self.acct.mcp_server(db, sch, short)
        full = qualified(db, sch, short)
        if (
            server is None
            or self.access.visible_schema(db, sch) is None
            or not self.access.any_privilege("CORTEX_AGENT_SERVER", full)
        ):
            raise errors.does_not_exist("MCP server", full)
        return server

    def drop_mcp_server(self, stmt: DropMcpServer) -> StatementResult:
        db, sch, short = self.access.resolve_object_name(stmt.name, "DROP MCP SERVER")
        if stmt.if_exists and not self.mcp_server_visible(db, sch, short):
            return status("", f"Drop statement executed successfully ({short} already dropped).")
        server = self.mcp_server_or_error(stmt.name, "DROP MCP SERVER")
        full = qualified(db, sch, short)
        if not self.access.owns("CORTEX_AGENT_SERVER", full):
            raise errors.insufficient_privileges("MCP server", full)
        del self.acct.databases[server.database].schemas[server.schema].mcp_servers[server.name]
        self.access.drop_grants_on("CORTEX_AGENT_SERVER", full)
        self.access.mutated = True
        return status("", f"{short} successfully dropped.")

    def describe_mcp_server(self, stmt: DescribeMcpServer) -> StatementResult:
        s = self.mcp_server_or_error(stmt.name, "DESCRIBE MCP SERVER")
        cols = columns(
            "name database_name schema_name owner comment server_spec created_on:timestamp_ltz"
        )
        owner = self.access.owner_of("CORTEX_AGENT_SERVER", qualified(s.database, s.schema, s.name))
        return StatementResult(
            "",
            cols,
            [[s.name, s.database, s.schema, owner, s.comment, describe_json(s.spec), s.created_on]],
        )
