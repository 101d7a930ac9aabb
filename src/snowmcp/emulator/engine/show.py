"""SHOW <objects>: roles, users, databases, schemas, warehouses, integrations, MCP servers, search services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snowmcp.emulator import errors
from snowmcp.emulator.engine.access import Handler
from snowmcp.emulator.engine.external_oauth import type_label
from snowmcp.emulator.engine.results import (
    StatementResult,
    bool_text,
    columns,
    like_matcher,
    quote_display,
)
from snowmcp.emulator.model import Database, Schema, qualified
from snowmcp.emulator.sql_parser import Show, Statement


class ShowHandler(Handler):
    def handlers(self) -> dict[type[Statement], Callable[[Any], StatementResult]]:
        return {
            Show: self.show,
        }

    def show(self, stmt: Show) -> StatementResult:
        match = like_matcher(stmt.like)
        handler = {
            "ROLES": self.show_roles,
            "USERS": self.show_users,
            "DATABASES": self.show_databases,
            "SCHEMAS": self.show_schemas,
            "WAREHOUSES": self.show_warehouses,
            "SECURITY INTEGRATIONS": self.show_integrations,
            "MCP SERVERS": self.show_mcp_servers,
            "CORTEX SEARCH SERVICES": self.show_search_services,
            "SEMANTIC VIEWS": self.show_semantic_views,
            "AGENTS": self.show_agents,
            "USER FUNCTIONS": self.show_functions,
            "PROCEDURES": self.show_procedures,
        }[stmt.what]
        return handler(stmt, match)

    def show_roles(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        user = self.acct.users.get(self.session.user)
        current = self.session.role
        inherited = self.access.roles
        rows = []
        for role in sorted(self.acct.roles.values(), key=lambda r: r.name):
            if not match(role.name):
                continue
            grants = self.acct.role_grants
            rows.append([
                role.created_on,
                role.name,
                "Y" if user is not None and user.default_role == role.name else "N",
                "Y" if role.name == current else "N",
                "Y" if role.name in inherited and role.name != current else "N",
                sum(1 for g in grants if g.role == role.name and g.granted_to == "USER"),
                sum(1 for g in grants if g.role == role.name and g.granted_to == "ROLE"),
                sum(1 for g in grants if g.grantee == role.name and g.granted_to == "ROLE"),
                self.access.owner_of("ROLE", qualified(role.name)),
                role.comment,
            ])  # fmt: skip
        cols = columns(
            "created_on:timestamp_ltz name is_default is_current is_inherited assigned_to_users:fixed "
            "granted_to_roles:fixed granted_roles:fixed owner comment"
        )
        return StatementResult("", cols, rows)

    def show_users(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "name created_on:timestamp_ltz login_name display_name first_name last_name email "
            "mins_to_unlock days_to_expiry comment disabled must_change_password snowflake_lock "
            "default_warehouse default_namespace default_role default_secondary_roles ext_authn_duo "
            "ext_authn_uid mins_to_bypass_mfa owner last_success_login:timestamp_ltz "
            "expires_at_time:timestamp_ltz locked_until_time:timestamp_ltz has_password has_rsa_public_key"
        )
        rows = []
        for u in sorted(self.acct.users.values(), key=lambda u: u.name):
            # A role sees the users it owns (USERADMIN and up) or all with MANAGE GRANTS.
            if not (self.access.manage_grants() or self.access.inherits(u.owner)) or not match(
                u.name
            ):
                continue
            rows.append([
                u.name, u.created_on, u.login_name, u.display_name or u.name, u.first_name or None,
                u.last_name or None, u.email or None, None, None, u.comment or None,
                bool_text(u.disabled), "false", "false",
                u.default_warehouse, u.default_namespace, u.default_role, None, "false",
                "", None, u.owner, None, None, None,
                bool_text(bool(u.password)), bool_text(bool(u.rsa_public_key or u.rsa_public_key_2)),
            ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_databases(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz name is_default is_current origin owner comment options "
            "retention_time kind owner_role_type"
        )
        rows = []
        for db in sorted(self.acct.databases.values(), key=lambda d: d.name):
            if match(db.name) and self.access.visible_database(db.name):
                rows.append([
                    db.created_on, db.name, "N", "Y" if db.name == self.session.database else "N", "",
                    self.access.owner_of("DATABASE", qualified(db.name)), db.comment, "", "1", "STANDARD", "ROLE",
                ])  # fmt: skip
        return StatementResult("", cols, rows)

    def scoped_schemas(self, stmt: Show) -> list[tuple[Database, Schema]]:
        """Schemas a SHOW covers: IN ACCOUNT / DATABASE d / SCHEMA d.s, default the current database."""
        if stmt.scope == "SCHEMA":
            assert stmt.scope_name is not None
            db_name, sch_name = self.access.resolve_schema_name(stmt.scope_name, "SHOW")
            return [(self.acct.databases[db_name], self.access.schema_or_error(db_name, sch_name))]
        if stmt.scope == "DATABASE" or (stmt.scope is None and self.session.database):
            db = stmt.scope_name.parts[0] if stmt.scope_name else str(self.session.database)
            database = self.access.visible_database(db)
            if database is None:
                raise errors.does_not_exist("Database", quote_display(db))
            dbs = [database]
        else:
            dbs = [d for d in self.acct.databases.values() if self.access.visible_database(d.name)]
        out = []
        for database in sorted(dbs, key=lambda d: d.name):
            for sch in sorted(database.schemas.values(), key=lambda s: s.name):
                if self.access.visible_schema(database.name, sch.name):
                    out.append((database, sch))
        return out

    def show_schemas(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz name is_default is_current database_name owner comment options "
            "retention_time owner_role_type"
        )
        rows = []
        for db, sch in self.scoped_schemas(stmt):
            if match(sch.name):
                current = db.name == self.session.database and sch.name == self.session.schema
                rows.append([
                    sch.created_on, sch.name, "N", "Y" if current else "N", db.name,
                    self.access.owner_of("SCHEMA", qualified(db.name, sch.name)), sch.comment, "", "1", "ROLE",
                ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_warehouses(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "name state type size min_cluster_count:fixed max_cluster_count:fixed started_clusters:fixed "
            "running:fixed queued:fixed is_default is_current auto_suspend:fixed auto_resume available "
            "provisioning quiescing other created_on:timestamp_ltz resumed_on:timestamp_ltz "
            "updated_on:timestamp_ltz owner comment"
        )
        rows = []
        for wh in sorted(self.acct.warehouses.values(), key=lambda w: w.name):
            if match(wh.name) and self.access.any_privilege("WAREHOUSE", qualified(wh.name)):
                user = self.acct.users.get(self.session.user)
                rows.append([
                    wh.name, "SUSPENDED", "STANDARD", "X-Small", 1, 1, 0, 0, 0,
                    "Y" if user is not None and user.default_warehouse == wh.name else "N",
                    "Y" if wh.name == self.session.warehouse else "N", 600, "true", "", "", "", "",
                    wh.created_on, wh.created_on, wh.created_on,
                    self.access.owner_of("WAREHOUSE", qualified(wh.name)), wh.comment,
                ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_integrations(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns("name type category enabled:boolean comment created_on:timestamp_ltz")
        found: list[tuple[str, str, bool, str, object]] = [
            (i.name, "OAUTH - CUSTOM", i.enabled, i.comment, i.created_on)
            for i in self.acct.integrations.values()
        ]
        found += [
            (i.name, type_label(i), i.enabled, i.comment, i.created_on)
            for i in self.acct.external_integrations.values()
        ]
        rows: list[list[object]] = [
            [name, kind, "SECURITY", enabled, comment or None, created]
            for name, kind, enabled, comment, created in sorted(found, key=lambda f: f[0])
            if match(name) and self.access.any_privilege("INTEGRATION", qualified(name))
        ]
        return StatementResult("", cols, rows)

    def show_mcp_servers(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns("created_on:timestamp_ltz name database_name schema_name owner comment")
        rows = []
        for db, sch in self.scoped_schemas(stmt):
            for m in sorted(sch.mcp_servers.values(), key=lambda m: m.name):
                full = qualified(db.name, sch.name, m.name)
                if match(m.name) and self.access.any_privilege("CORTEX_AGENT_SERVER", full):
                    owner = self.access.owner_of("CORTEX_AGENT_SERVER", full)
                    rows.append([m.created_on, m.name, db.name, sch.name, owner, m.comment])
        return StatementResult("", cols, rows)

    def show_search_services(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz name database_name schema_name target_lag warehouse search_column "
            "attribute_columns columns definition comment owner source_data_num_rows:fixed indexing_state"
        )
        rows = []
        for db, sch in self.scoped_schemas(stmt):
            for c in sorted(sch.cortex_search_services.values(), key=lambda c: c.name):
                full = qualified(db.name, sch.name, c.name)
                if match(c.name) and self.access.any_privilege("CORTEX_SEARCH_SERVICE", full):
                    keys = sorted({k.upper() for d in c.documents for k in d})
                    rows.append([
                        c.created_on, c.name, db.name, sch.name, "1 hour", None, "TEXT",
                        ",".join(k for k in keys if k != "TEXT"), ",".join(keys), None, c.comment,
                        self.access.owner_of("CORTEX_SEARCH_SERVICE", full), len(c.documents), "ACTIVE",
                    ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_semantic_views(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz name kind database_name schema_name comment owner "
            "owner_role_type extension"
        )
        rows: list[list[object]] = []
        for db, sch in self.scoped_schemas(stmt):
            for v in sorted(sch.semantic_views.values(), key=lambda v: v.name):
                full = qualified(db.name, sch.name, v.name)
                if match(v.name) and self.access.any_privilege("SEMANTIC_VIEW", full):
                    owner = self.access.owner_of("SEMANTIC_VIEW", full)
                    rows.append([v.created_on, v.name, "SEMANTIC_VIEW", db.name, sch.name,
                                 v.comment or None, owner, "ROLE", None])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_agents(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = columns(
            "created_on:timestamp_ltz name database_name schema_name owner comment profile"
        )
        rows: list[list[object]] = []
        for db, sch in self.scoped_schemas(stmt):
            for a in sorted(sch.agents.values(), key=lambda a: a.name):
                full = qualified(db.name, sch.name, a.name)
                if match(a.name) and self.access.any_privilege("AGENT", full):
                    owner = self.access.owner_of("AGENT", full)
                    rows.append(
                        [a.created_on, a.name, db.name, sch.name, owner, a.comment or None, None]
                    )
        return StatementResult("", cols, rows)

    def show_functions(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        return self.show_routines(stmt, match, "FUNCTION")

    def show_procedures(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        return self.show_routines(stmt, match, "PROCEDURE")

    def show_routines(
        self, stmt: Show, match: Callable[[str], bool], granted_on: str
    ) -> StatementResult:
        """SHOW USER FUNCTIONS / SHOW PROCEDURES: one row per signature the role can see."""
        cols = columns(
            "created_on:timestamp_ltz name schema_name is_builtin is_aggregate is_ansi "
            "min_num_arguments:fixed max_num_arguments:fixed arguments description catalog_name "
            "is_table_function valid_for_clustering is_secure"
        )
        rows: list[list[object]] = []
        for db, sch in self.scoped_schemas(stmt):
            pool = sch.functions if granted_on == "FUNCTION" else sch.procedures
            for r in sorted(pool.values(), key=lambda r: r.key()):
                if match(r.name) and self.access.any_privilege(
                    granted_on, r.grant_name(db.name, sch.name)
                ):
                    n = len(r.arguments)
                    rows.append([r.created_on, r.name, sch.name, "N", "N", "N", n, n,
                                 r.show_arguments(), r.comment or "user-defined", db.name, "N", "N", "N"])  # fmt: skip
        return StatementResult("", cols, rows)
