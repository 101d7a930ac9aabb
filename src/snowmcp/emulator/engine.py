"""The emulator's SQL engine: runs parsed statements against model.Account as a session's role.

Engine.execute() is the one entry point the HTTP side uses. Statements run in
order; the first failure raises SnowflakeError and earlier statements stay
applied (DDL/DCL commit immediately in Snowflake). Output columns, value
formats and error codes follow reference/snowflake.md; docs/emulator.md lists
what is supported.

Access control in brief (why each check is where it is is noted inline):
- a session acts as its current role plus every role that role inherits;
- an object the role holds no privilege on is reported as "does not exist or
  not authorized" (002003), exactly like a missing one, so nothing leaks;
- a visible object the role may not change gives 003001;
- MANAGE GRANTS is modelled as "inherits SECURITYADMIN", CREATE ROLE as
  "inherits USERADMIN", CREATE INTEGRATION as "inherits ACCOUNTADMIN".
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from snowmcp.emulator import errors
from snowmcp.emulator.errors import SnowflakeError
from snowmcp.emulator.mcp_spec import describe_json, parse_spec
from snowmcp.emulator.model import (
    SYSTEM_ROLES,
    Account,
    Database,
    McpServer,
    OAuthIntegration,
    PrivilegeGrant,
    Role,
    RoleGrant,
    Schema,
    User,
    now,
    qualified,
)
from snowmcp.emulator.sql_parser import (
    AlterIntegration,
    AlterRole,
    AlterUser,
    CreateIntegration,
    CreateMcpServer,
    CreateRole,
    DescribeIntegration,
    DescribeMcpServer,
    DropIntegration,
    DropMcpServer,
    DropRole,
    GrantPrivileges,
    GrantRole,
    Name,
    Prop,
    Select,
    Show,
    ShowDelegations,
    ShowGrants,
    Statement,
    Use,
    parse_tokens,
    stats_kind,
)
from snowmcp.emulator.sql_tokens import split_statements, tokenize

if TYPE_CHECKING:
    from snowmcp.emulator.context import EmulatorContext

SUCCESS = "Statement executed successfully."


@dataclass
class Session:
    """One per connector session; the HTTP side creates and keeps it."""

    user: str  # model.User.name
    role: str | None  # current role (None if the user has no usable role)
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None


@dataclass
class Column:
    name: str
    type: str  # Snowflake rowtype type: text, fixed, boolean, timestamp_ltz, variant
    nullable: bool = True


@dataclass
class StatementResult:
    kind: str
    columns: list[Column]
    rows: list[list[object]]


def status(kind: str, message: str = SUCCESS) -> StatementResult:
    return StatementResult(kind, [Column("status", "text", False)], [[message]])


def new_client_id() -> str:
    # 20 random bytes in base64: 28 characters ending in "=", like Snowflake's ids.
    return base64.b64encode(secrets.token_bytes(20)).decode()


def new_client_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def like_matcher(pattern: str | None) -> Callable[[str], bool]:
    """SHOW ... LIKE: case-insensitive, `%` any run, `_` one character, `\\` escapes."""
    if pattern is None:
        return lambda _name: True
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex = re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


# ---------------------------------------------------------------------------
# Integration properties: SQL name -> (field, type, default). Types: bool,
# (lo, hi) integer range, str, list (role names), or a tuple of allowed words.
# ---------------------------------------------------------------------------
_SECONDARY = ("IMPLICIT", "NONE")
_CLIENT_TYPES = ("CONFIDENTIAL", "PUBLIC")
INTEGRATION_PROPS: dict[str, tuple[str, object, object]] = {
    "OAUTH_CLIENT_TYPE": ("client_type", _CLIENT_TYPES, None),
    "OAUTH_REDIRECT_URI": ("redirect_uri", str, None),
    "ENABLED": ("enabled", bool, True),
    "OAUTH_ALLOW_NON_TLS_REDIRECT_URI": ("allow_non_tls_redirect_uri", bool, False),
    "OAUTH_ENFORCE_PKCE": ("enforce_pkce", bool, False),
    "OAUTH_USE_SECONDARY_ROLES": ("use_secondary_roles", _SECONDARY, "NONE"),
    "PRE_AUTHORIZED_ROLES_LIST": ("pre_authorized_roles", list, []),
    "BLOCKED_ROLES_LIST": ("blocked_roles", list, []),
    "ALLOWED_ROLES_LIST": ("allowed_roles", list, []),
    "OAUTH_ISSUE_REFRESH_TOKENS": ("issue_refresh_tokens", bool, True),
    "OAUTH_REFRESH_TOKEN_VALIDITY": ("refresh_token_validity", (86400, 7776000), 7776000),
    "OAUTH_ACCESS_TOKEN_VALIDITY": ("access_token_validity", (60, 3600), 600),
    "OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED": ("single_use_refresh_tokens", bool, False),
    "NETWORK_POLICY": ("network_policy", str, ""),
    "COMMENT": ("comment", str, ""),
}
_CREATE_ONLY = ("TYPE", "OAUTH_CLIENT", "OAUTH_CLIENT_TYPE")
_REQUIRED = ("OAUTH_CLIENT_TYPE", "OAUTH_REDIRECT_URI")

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


def _columns(spec: str) -> list[Column]:
    """Columns from "name:type name2 ..." (type defaults to text)."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append(Column(name, kind or "text"))
    return out


class Engine:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx

    @property
    def account(self) -> Account:
        return self.ctx.account

    def count_statements(self, sql: str) -> int:
        """How many statements `sql` holds (for the connector's MULTI_STATEMENT_COUNT check)."""
        return len(split_statements(tokenize(sql)))

    def execute(self, session: Session, sql: str) -> list[StatementResult]:
        pieces = split_statements(tokenize(sql))
        if not pieces:
            raise errors.empty_statement()
        results: list[StatementResult] = []
        run = _Run(self.ctx, session)
        with self.account.lock:
            try:
                for tokens in pieces:
                    try:
                        stmt = parse_tokens(tokens)
                    except SnowflakeError:
                        self.ctx.stats.incr("queries", "SYNTAX_ERROR")
                        raise
                    self.ctx.stats.incr("queries", stats_kind(stmt))
                    results.append(run.statement(stmt))
            finally:
                if run.mutated:
                    self.ctx.save()
        return results


class _Run:
    """Executes statements for one session; `mutated` tells the engine to save."""

    def __init__(self, ctx: EmulatorContext, session: Session) -> None:
        self.ctx = ctx
        self.acct = ctx.account
        self.session = session
        self.mutated = False
        # The session role's inherited roles, derived once per statement: SHOW checks
        # them per listed object. No handler changes the role graph or the session
        # role and then checks privileges again in the same statement.
        self._roles: set[str] | None = None

    # ---- dispatch ----------------------------------------------------------
    def statement(self, stmt: Statement) -> StatementResult:
        self._roles = None
        handler = getattr(self, "do_" + type(stmt).__name__)
        result: StatementResult = handler(stmt)
        result.kind = stats_kind(stmt)
        return result

    # ---- roles and privileges ----------------------------------------------
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
        return [
            g for g in self.acct.privilege_grants if g.granted_on == granted_on and g.name == name
        ]

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
        self.acct.privilege_grants.append(
            PrivilegeGrant("OWNERSHIP", granted_on, name, role, grant_option=True, granted_by=role)
        )

    def drop_grants_on(self, granted_on: str, name: str, only: str | None = None) -> None:
        self.acct.privilege_grants = [
            g
            for g in self.acct.privilege_grants
            if not (
                g.granted_on == granted_on
                and g.name == name
                and (only is None or g.privilege == only)
            )
        ]

    def current_role(self) -> str:
        return self.session.role or "PUBLIC"

    def require_role(self, role: str) -> None:
        if not self.inherits(role):
            raise errors.insufficient_privileges("account", self.acct.name)

    # ---- name resolution ---------------------------------------------------
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

    # =======================================================================
    # Security integrations
    # =======================================================================
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
        return name in self.acct.integrations and self.any_privilege("INTEGRATION", qualified(name))

    def integration_values(self, props: list[Prop], *, create: bool) -> dict[str, object]:
        """Validate `NAME = value` pairs; returns model field -> value. Nothing is changed here."""
        seen: set[str] = set()
        values: dict[str, object] = {}
        for prop in props:
            if prop.name in seen:
                raise errors.invalid_options(f"duplicate property '{prop.name}'")
            seen.add(prop.name)
            if prop.name in ("TYPE", "OAUTH_CLIENT"):
                if not create:
                    raise errors.invalid_options(f"property '{prop.name}' cannot be altered")
                expected = "OAUTH" if prop.name == "TYPE" else "CUSTOM"
                if str(prop.value).upper() != expected or prop.kind not in ("word", "string"):
                    raise errors.invalid_value(
                        f"invalid value [{prop.value}] for property '{prop.name}'; "
                        f"the emulator supports only {prop.name} = {expected}"
                    )
                continue
            if prop.name not in INTEGRATION_PROPS:
                raise errors.invalid_value(f"invalid property '{prop.name}' for 'INTEGRATION'")
            if not create and prop.name in _CREATE_ONLY:
                raise errors.invalid_options(f"property '{prop.name}' cannot be altered")
            fld, kind, _default = INTEGRATION_PROPS[prop.name]
            values[fld] = self.integration_value(prop, kind)
        if create:
            missing = [p for p in (*_REQUIRED, "TYPE", "OAUTH_CLIENT") if p not in seen]
            if missing:
                raise errors.invalid_options(f"Missing option(s): [{', '.join(missing)}]")
        return values

    def integration_value(self, prop: Prop, kind: object) -> object:
        bad = errors.invalid_value(
            f"invalid value [{_shown_value(prop)}] for parameter '{prop.name}'"
        )
        if kind is bool:
            if prop.kind != "bool":
                raise bad
            return prop.value
        if kind is str:
            if prop.kind != "string":
                raise bad
            return prop.value
        if kind is list:
            if prop.kind != "list":
                raise bad
            return [self.role_in_list(str(r)) for r in prop.value]  # type: ignore[attr-defined]
        if isinstance(kind, tuple) and len(kind) == 2 and isinstance(kind[0], int):
            lo, hi = kind
            if prop.kind != "number" or not (lo <= int(prop.value) <= hi):  # type: ignore[call-overload]
                raise errors.invalid_value(
                    f"invalid value [{_shown_value(prop)}] for parameter '{prop.name}': "
                    f"must be an integer between {lo} and {hi}"
                )
            return int(prop.value)  # type: ignore[call-overload]
        assert isinstance(kind, tuple)  # allowed words
        word = str(prop.value).upper() if prop.kind in ("word", "string") else None
        if word not in kind:
            raise bad
        return word

    def role_in_list(self, name: str) -> str:
        # Role lists hold strings naming roles; an unquoted-style name matches upper-cased.
        for candidate in (name, name.upper()):
            if candidate in self.acct.roles:
                return candidate
        raise errors.does_not_exist("Role", quote_display(name))

    @staticmethod
    def check_integration(integ: OAuthIntegration) -> None:
        """Cross-property rules, checked on the would-be result before anything is stored."""
        if integ.allowed_roles and integ.use_secondary_roles != "NONE":
            raise errors.invalid_options(
                "ALLOWED_ROLES_LIST can only be set when OAUTH_USE_SECONDARY_ROLES = NONE."
            )
        if integ.pre_authorized_roles and integ.client_type != "CONFIDENTIAL":
            raise errors.invalid_options(
                "PRE_AUTHORIZED_ROLES_LIST is only supported for OAUTH_CLIENT_TYPE = 'CONFIDENTIAL'."
            )
        privileged = set(integ.effective_blocked_roles())
        bad = [r for r in integ.pre_authorized_roles if r in privileged]
        if bad:
            raise errors.invalid_value(
                f"Blocked role(s) cannot be pre-authorized: {', '.join(bad)}"
            )
        uri = integ.redirect_uri
        if not uri or any(ch.isspace() for ch in uri):
            raise errors.invalid_value(
                f"invalid value ['{uri}'] for parameter 'OAUTH_REDIRECT_URI'"
            )
        if uri.lower().startswith("http://") and not integ.allow_non_tls_redirect_uri:
            raise errors.invalid_value(
                "OAUTH_REDIRECT_URI must use https unless OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE."
            )

    def do_CreateIntegration(self, stmt: CreateIntegration) -> StatementResult:
        if stmt.or_replace and stmt.if_not_exists:
            raise errors.invalid_options("Options IF NOT EXISTS and OR REPLACE are incompatible.")
        values = self.integration_values(stmt.props, create=True)
        self.require_role("ACCOUNTADMIN")
        existing = self.acct.integrations.get(stmt.name)
        if existing is not None:
            if stmt.if_not_exists:
                return status("", f"{stmt.name} already exists, statement succeeded.")
            if not stmt.or_replace:
                raise errors.already_exists("Object", quote_display(stmt.name))
            if not self.owns("INTEGRATION", qualified(stmt.name)):
                raise errors.insufficient_privileges("integration", quote_display(stmt.name))
        integ = OAuthIntegration(
            name=stmt.name,
            client_type=str(values.pop("client_type")),
            redirect_uri=str(values.pop("redirect_uri")),
            client_id=new_client_id(),
            client_secret=new_client_secret(),
            client_secret_2=new_client_secret(),
            owner=self.current_role(),
            **values,  # type: ignore[arg-type]
        )
        self.check_integration(integ)
        if existing is not None:
            # OR REPLACE: a new client id and secrets; every consent (and so every token) is gone.
            self.remove_integration(stmt.name)
        self.acct.integrations[stmt.name] = integ
        self.set_owner("INTEGRATION", qualified(stmt.name), self.current_role())
        self.mutated = True
        return status("", f"Integration {stmt.name} successfully created.")

    def remove_integration(self, name: str) -> None:
        self.acct.integrations.pop(name, None)
        self.acct.delegations = [d for d in self.acct.delegations if d.integration != name]
        self.drop_grants_on("INTEGRATION", qualified(name))

    def do_AlterIntegration(self, stmt: AlterIntegration) -> StatementResult:
        values = self.integration_values(stmt.set_props, create=False) if stmt.set_props else {}
        # IF EXISTS: an integration this role cannot see counts as missing, as in Snowflake.
        if stmt.if_exists and not self.integration_visible(stmt.name):
            return status("")
        integ = self.integration_or_error(stmt.name, owner=True)
        if stmt.refresh:
            if stmt.refresh == "OAUTH_CLIENT_SECRET":
                integ.client_secret = new_client_secret()
            else:
                integ.client_secret_2 = new_client_secret()
            self.mutated = True
            return status("")
        for prop_name in stmt.unset:  # the parser admits only INTEGRATION_UNSETTABLE
            fld, _kind, default = INTEGRATION_PROPS[prop_name]
            values[fld] = list(default) if isinstance(default, list) else default
        updated = replace(integ, **values)  # type: ignore[arg-type]
        self.check_integration(updated)
        self.acct.integrations[stmt.name] = updated
        self.mutated = True
        return status("")

    def do_DropIntegration(self, stmt: DropIntegration) -> StatementResult:
        # IF EXISTS: an integration this role cannot see counts as missing, as in Snowflake.
        if stmt.if_exists and not self.integration_visible(stmt.name):
            return status(
                "", f"Drop statement executed successfully ({stmt.name} already dropped)."
            )
        self.integration_or_error(stmt.name, owner=True)
        self.remove_integration(stmt.name)
        self.mutated = True
        return status("", f"{stmt.name} successfully dropped.")

    def do_DescribeIntegration(self, stmt: DescribeIntegration) -> StatementResult:
        integ = self.integration_or_error(stmt.name)
        base = self.ctx.base_url.rstrip("/")

        def row(prop: str, ptype: str, value: str, default: str) -> list[object]:
            return [prop, ptype, value, default]

        lists = lambda items: ",".join(items)  # noqa: E731 - comma-separated, no spaces
        rows = [
            row("ENABLED", "Boolean", _bool_text(integ.enabled), "true"),
            row("OAUTH_ISSUE_REFRESH_TOKENS", "Boolean", _bool_text(integ.issue_refresh_tokens), "true"),
            row("OAUTH_REFRESH_TOKEN_VALIDITY", "Long", str(integ.refresh_token_validity), "7776000"),
            row("OAUTH_ACCESS_TOKEN_VALIDITY", "Long", str(integ.access_token_validity), "600"),
            row("OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED", "Boolean",
                _bool_text(integ.single_use_refresh_tokens), "false"),
            row("OAUTH_USE_SECONDARY_ROLES", "String", integ.use_secondary_roles, "NONE"),
            row("PRE_AUTHORIZED_ROLES_LIST", "List", lists(integ.pre_authorized_roles), "[]"),
            row("BLOCKED_ROLES_LIST", "List", lists(integ.effective_blocked_roles()), "[]"),
            row("ALLOWED_ROLES_LIST", "List", lists(integ.allowed_roles), "[]"),
            row("NETWORK_POLICY", "String", integ.network_policy, ""),
            row("OAUTH_ALLOW_NON_TLS_REDIRECT_URI", "Boolean", _bool_text(integ.allow_non_tls_redirect_uri), "false"),
            row("OAUTH_CLIENT_TYPE", "String", integ.client_type, "CONFIDENTIAL"),
            row("OAUTH_ENFORCE_PKCE", "Boolean", _bool_text(integ.enforce_pkce), "false"),
            row("OAUTH_REDIRECT_URI", "String", integ.redirect_uri, ""),
            row("OAUTH_CLIENT_ID", "String", integ.client_id, ""),
            row("OAUTH_AUTHORIZATION_ENDPOINT", "String", base + "/oauth/authorize", ""),
            row("OAUTH_TOKEN_ENDPOINT", "String", base + "/oauth/token-request", ""),
            row("COMMENT", "String", integ.comment, ""),
        ]  # fmt: skip
        return StatementResult(
            "", _columns("property property_type property_value property_default"), rows
        )

    # =======================================================================
    # SELECT <functions>
    # =======================================================================
    def do_Select(self, stmt: Select) -> StatementResult:
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
            return self.show_client_secrets(args[0])
        raise SnowflakeError(2140, "42601", f"SQL compilation error:\nUnknown function {function}")

    def show_client_secrets(self, name: str) -> str:
        # Only ACCOUNTADMIN (or the integration's owner) may read secrets; the name is as stored.
        if not (self.inherits("ACCOUNTADMIN") or self.owns("INTEGRATION", qualified(name))):
            raise errors.insufficient_privileges("integration", quote_display(name))
        integ = self.acct.integrations.get(name)
        if integ is None:
            raise errors.does_not_exist("Integration", quote_display(name))
        return json.dumps(
            {
                "OAUTH_CLIENT_SECRET_2": integ.client_secret_2,
                "OAUTH_CLIENT_SECRET": integ.client_secret,
                "OAUTH_CLIENT_ID": integ.client_id,
            },
            separators=(",", ":"),
        )

    # =======================================================================
    # MCP servers
    # =======================================================================
    def do_CreateMcpServer(self, stmt: CreateMcpServer) -> StatementResult:
        if stmt.or_replace and stmt.if_not_exists:
            raise errors.invalid_options("Options IF NOT EXISTS and OR REPLACE are incompatible.")
        db, sch, name = self.resolve_object_name(stmt.name, "CREATE MCP SERVER")
        spec = parse_spec(stmt.spec)
        schema = self.schema_or_error(db, sch)
        if not self.has_privilege("SCHEMA", qualified(db, sch), "CREATE MCP SERVER"):
            raise errors.insufficient_privileges("schema", qualified(db, sch))
        full = qualified(db, sch, name)
        existing = schema.mcp_servers.get(name)
        if existing is not None:
            if stmt.if_not_exists:
                return status("", f"{name} already exists, statement succeeded.")
            if not stmt.or_replace:
                raise errors.already_exists("Object", full)
            if not self.owns("CORTEX_AGENT_SERVER", full):
                raise errors.insufficient_privileges("MCP server", full)
            # OR REPLACE makes a new object: every grant on the old one is gone.
            self.drop_grants_on("CORTEX_AGENT_SERVER", full)
        schema.mcp_servers[name] = McpServer(
            name=name, database=db, schema=sch, spec=spec,
            owner=self.current_role(), comment=stmt.comment or "",
        )  # fmt: skip
        self.set_owner("CORTEX_AGENT_SERVER", full, self.current_role())
        self.mutated = True
        return status("", f"MCP Server {name} successfully created.")

    def mcp_server_visible(self, db: str, sch: str, name: str) -> bool:
        return (
            self.acct.mcp_server(db, sch, name) is not None
            and self.visible_schema(db, sch) is not None
            and self.any_privilege("CORTEX_AGENT_SERVER", qualified(db, sch, name))
        )

    def mcp_server_or_error(self, name: Name, what: str) -> McpServer:
        db, sch, short = self.resolve_object_name(name, what)
        server = self.acct.mcp_server(db, sch, short)
        full = qualified(db, sch, short)
        if (
            server is None
            or self.visible_schema(db, sch) is None
            or not self.any_privilege("CORTEX_AGENT_SERVER", full)
        ):
            raise errors.does_not_exist("MCP server", full)
        return server

    def do_DropMcpServer(self, stmt: DropMcpServer) -> StatementResult:
        db, sch, short = self.resolve_object_name(stmt.name, "DROP MCP SERVER")
        if stmt.if_exists and not self.mcp_server_visible(db, sch, short):
            return status("", f"Drop statement executed successfully ({short} already dropped).")
        server = self.mcp_server_or_error(stmt.name, "DROP MCP SERVER")
        full = qualified(db, sch, short)
        if not self.owns("CORTEX_AGENT_SERVER", full):
            raise errors.insufficient_privileges("MCP server", full)
        del self.acct.databases[server.database].schemas[server.schema].mcp_servers[server.name]
        self.drop_grants_on("CORTEX_AGENT_SERVER", full)
        self.mutated = True
        return status("", f"{short} successfully dropped.")

    def do_DescribeMcpServer(self, stmt: DescribeMcpServer) -> StatementResult:
        s = self.mcp_server_or_error(stmt.name, "DESCRIBE MCP SERVER")
        cols = _columns(
            "name database_name schema_name owner comment server_spec created_on:timestamp_ltz"
        )
        owner = self.owner_of("CORTEX_AGENT_SERVER", qualified(s.database, s.schema, s.name))
        return StatementResult(
            "",
            cols,
            [[s.name, s.database, s.schema, owner, s.comment, describe_json(s.spec), s.created_on]],
        )

    # =======================================================================
    # Roles
    # =======================================================================
    def role_or_error(self, name: str) -> Role:
        found = self.acct.roles.get(name)
        if found is None:
            raise errors.does_not_exist("Role", quote_display(name))
        return found

    def do_CreateRole(self, stmt: CreateRole) -> StatementResult:
        if stmt.or_replace and stmt.if_not_exists:
            raise errors.invalid_options("Options IF NOT EXISTS and OR REPLACE are incompatible.")
        self.require_role("USERADMIN")
        if stmt.name in self.acct.roles:
            if stmt.if_not_exists:
                return status("", f"{stmt.name} already exists, statement succeeded.")
            if not stmt.or_replace:
                raise errors.already_exists("Object", quote_display(stmt.name))
            self.drop_role(stmt.name)
        role = self.current_role()
        self.acct.roles[stmt.name] = Role(stmt.name, comment=stmt.comment or "", owner=role)
        self.set_owner("ROLE", qualified(stmt.name), role)
        self.mutated = True
        return status("", f"Role {stmt.name} successfully created.")

    def drop_role(self, name: str) -> None:
        if name in SYSTEM_ROLES:
            raise errors.insufficient_privileges("role", quote_display(name))
        if not self.owns("ROLE", qualified(name)):
            raise errors.insufficient_privileges("role", quote_display(name))
        heir = self.current_role()
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
        self.acct.privilege_grants = kept
        self.acct.role_grants = [
            g
            for g in self.acct.role_grants
            if g.role != name and not (g.granted_to == "ROLE" and g.grantee == name)
        ]
        del self.acct.roles[name]
        self.mutated = True

    def _sync_owner(self, granted_on: str, name: str, role: str) -> None:
        """Keep the model's `owner` fields in line with OWNERSHIP grants."""
        if granted_on == "ROLE":
            for r in self.acct.roles.values():
                if qualified(r.name) == name:
                    r.owner = role
        elif granted_on == "INTEGRATION":
            for i in self.acct.integrations.values():
                if qualified(i.name) == name:
                    i.owner = role
        elif granted_on == "CORTEX_AGENT_SERVER":
            for db in self.acct.databases.values():
                for sch in db.schemas.values():
                    for m in sch.mcp_servers.values():
                        if qualified(db.name, sch.name, m.name) == name:
                            m.owner = role

    def do_AlterRole(self, stmt: AlterRole) -> StatementResult:
        if stmt.name not in self.acct.roles:
            if stmt.if_exists:
                return status("")
            raise errors.does_not_exist("Role", quote_display(stmt.name))
        if not self.owns("ROLE", qualified(stmt.name)):
            raise errors.insufficient_privileges("role", quote_display(stmt.name))
        self.acct.roles[stmt.name].comment = stmt.comment or ""
        self.mutated = True
        return status("")

    def do_DropRole(self, stmt: DropRole) -> StatementResult:
        if stmt.name not in self.acct.roles:
            if stmt.if_exists:
                return status(
                    "", f"Drop statement executed successfully ({stmt.name} already dropped)."
                )
            raise errors.does_not_exist("Role", quote_display(stmt.name))
        self.drop_role(stmt.name)
        return status("", f"{stmt.name} successfully dropped.")

    # =======================================================================
    # GRANT / REVOKE
    # =======================================================================
    def grant_target(self, object_type: str, name: Name) -> tuple[str, str, str]:
        """(granted_on, qualified name, display kind) of an existing object; else 002003."""
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
            db, sch = self.resolve_schema_name(name, "GRANT")
            exists = db in self.acct.databases and sch in self.acct.databases[db].schemas
            full = qualified(db, sch)
        elif object_type in ("WAREHOUSE", "INTEGRATION"):
            if len(name.parts) != 1:
                raise errors.does_not_exist(kind, str(name))
            full = qualified(name.parts[0])
            pool: dict[str, Any] = (
                self.acct.warehouses if object_type == "WAREHOUSE" else self.acct.integrations
            )
            exists = name.parts[0] in pool
        else:
            db, sch, short = self.resolve_object_name(name, "GRANT")
            full = qualified(db, sch, short)
            if object_type == "MCP SERVER":
                exists = self.acct.mcp_server(db, sch, short) is not None
            else:
                exists = self.acct.cortex_search_service(db, sch, short) is not None
        # Without MANAGE GRANTS, an object the role holds nothing on does not exist for it.
        if not exists or not (self.manage_grants() or self.any_privilege(granted_on, full)):
            raise errors.does_not_exist(kind, full)
        return granted_on, full, kind

    def do_GrantPrivileges(self, stmt: GrantPrivileges) -> StatementResult:
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
        granted_on, full, kind = self.grant_target(stmt.object_type, stmt.object_name)
        assert granted_on == granted_on_type
        self.role_or_error(stmt.role)
        if not (self.manage_grants() or self.owns(granted_on, full)) and not all(
            self.has_privilege(granted_on, full, p, grant_option=True) for p in privileges
        ):
            raise errors.insufficient_privileges(
                kind.lower() if kind != "MCP Server" else "MCP server", full
            )
        grants = self.acct.privilege_grants
        for priv in privileges:
            existing = [
                g for g in grants
                if g.granted_on == granted_on and g.name == full and g.grantee == stmt.role and g.privilege == priv
            ]  # fmt: skip
            if stmt.revoke:
                for g in existing:
                    if stmt.grant_option:
                        g.grant_option = False
                    else:
                        grants.remove(g)
            elif existing:
                existing[0].grant_option = existing[0].grant_option or stmt.grant_option
            else:
                grants.append(
                    PrivilegeGrant(
                        priv, granted_on, full, stmt.role, stmt.grant_option, self.current_role()
                    )
                )
        self.mutated = True
        return status("")

    def do_GrantRole(self, stmt: GrantRole) -> StatementResult:
        self.role_or_error(stmt.role)
        if stmt.grantee_type == "ROLE":
            self.role_or_error(stmt.grantee)
        elif stmt.grantee not in self.acct.users:
            raise errors.does_not_exist("User", quote_display(stmt.grantee))
        if not (self.manage_grants() or self.owns("ROLE", qualified(stmt.role))):
            raise errors.insufficient_privileges("role", quote_display(stmt.role))
        grants = self.acct.role_grants
        match = [
            g for g in grants
            if g.role == stmt.role and g.granted_to == stmt.grantee_type and g.grantee == stmt.grantee
        ]  # fmt: skip
        if stmt.revoke:
            for g in match:
                grants.remove(g)
        elif not match:
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
            grants.append(
                RoleGrant(stmt.role, stmt.grantee_type, stmt.grantee, self.current_role())
            )
        self.mutated = True
        return status("")

    # =======================================================================
    # SHOW GRANTS
    # =======================================================================
    def can_inspect_role(self, role: str) -> bool:
        return role in self.roles or self.manage_grants() or self.owns("ROLE", qualified(role))

    def do_ShowGrants(self, stmt: ShowGrants) -> StatementResult:
        if stmt.mode in ("TO_USER", "CURRENT_USER"):
            user = stmt.name.parts[0] if stmt.name else self.session.user
            if user not in self.acct.users:
                raise errors.does_not_exist("User", quote_display(user))
            if not (
                user == self.session.user
                or self.manage_grants()
                or self.inherits(self.acct.users[user].owner)
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
                self.manage_grants() or self.inherits("USERADMIN")
            ):
                raise errors.does_not_exist("User", quote_display(target))
            granted_on, full = stmt.object_type, qualified(target)
        else:
            granted_on, full, _kind = self.grant_target(stmt.object_type, stmt.name)
        rows = [self.grant_row(g) for g in self.grants_on(granted_on, full)]
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
            _bool_text(g.grant_option),
            g.granted_by,
        ]

    # =======================================================================
    # SHOW <objects>
    # =======================================================================
    def do_Show(self, stmt: Show) -> StatementResult:
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
        }[stmt.what]
        return handler(stmt, match)

    def show_roles(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        user = self.acct.users.get(self.session.user)
        current = self.session.role
        inherited = self.roles
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
                self.owner_of("ROLE", qualified(role.name)),
                role.comment,
            ])  # fmt: skip
        cols = _columns(
            "created_on:timestamp_ltz name is_default is_current is_inherited assigned_to_users:fixed "
            "granted_to_roles:fixed granted_roles:fixed owner comment"
        )
        return StatementResult("", cols, rows)

    def show_users(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns(
            "name created_on:timestamp_ltz login_name display_name first_name last_name email "
            "mins_to_unlock days_to_expiry comment disabled must_change_password snowflake_lock "
            "default_warehouse default_namespace default_role default_secondary_roles ext_authn_duo "
            "ext_authn_uid mins_to_bypass_mfa owner last_success_login:timestamp_ltz "
            "expires_at_time:timestamp_ltz locked_until_time:timestamp_ltz has_password has_rsa_public_key"
        )
        rows = []
        for u in sorted(self.acct.users.values(), key=lambda u: u.name):
            # A role sees the users it owns (USERADMIN and up) or all with MANAGE GRANTS.
            if not (self.manage_grants() or self.inherits(u.owner)) or not match(u.name):
                continue
            rows.append([
                u.name, u.created_on, u.login_name, u.display_name or u.name, u.first_name or None,
                u.last_name or None, u.email or None, None, None, u.comment or None,
                _bool_text(u.disabled), "false", "false",
                u.default_warehouse, u.default_namespace, u.default_role, None, "false",
                "", None, u.owner, None, None, None,
                _bool_text(bool(u.password)), "false",
            ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_databases(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns(
            "created_on:timestamp_ltz name is_default is_current origin owner comment options "
            "retention_time kind owner_role_type"
        )
        rows = []
        for db in sorted(self.acct.databases.values(), key=lambda d: d.name):
            if match(db.name) and self.visible_database(db.name):
                rows.append([
                    db.created_on, db.name, "N", "Y" if db.name == self.session.database else "N", "",
                    self.owner_of("DATABASE", qualified(db.name)), db.comment, "", "1", "STANDARD", "ROLE",
                ])  # fmt: skip
        return StatementResult("", cols, rows)

    def scoped_schemas(self, stmt: Show) -> list[tuple[Database, Schema]]:
        """Schemas a SHOW covers: IN ACCOUNT / DATABASE d / SCHEMA d.s, default the current database."""
        if stmt.scope == "SCHEMA":
            assert stmt.scope_name is not None
            db_name, sch_name = self.resolve_schema_name(stmt.scope_name, "SHOW")
            return [(self.acct.databases[db_name], self.schema_or_error(db_name, sch_name))]
        if stmt.scope == "DATABASE" or (stmt.scope is None and self.session.database):
            db = stmt.scope_name.parts[0] if stmt.scope_name else str(self.session.database)
            database = self.visible_database(db)
            if database is None:
                raise errors.does_not_exist("Database", quote_display(db))
            dbs = [database]
        else:
            dbs = [d for d in self.acct.databases.values() if self.visible_database(d.name)]
        out = []
        for database in sorted(dbs, key=lambda d: d.name):
            for sch in sorted(database.schemas.values(), key=lambda s: s.name):
                if self.visible_schema(database.name, sch.name):
                    out.append((database, sch))
        return out

    def show_schemas(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns(
            "created_on:timestamp_ltz name is_default is_current database_name owner comment options "
            "retention_time owner_role_type"
        )
        rows = []
        for db, sch in self.scoped_schemas(stmt):
            if match(sch.name):
                current = db.name == self.session.database and sch.name == self.session.schema
                rows.append([
                    sch.created_on, sch.name, "N", "Y" if current else "N", db.name,
                    self.owner_of("SCHEMA", qualified(db.name, sch.name)), sch.comment, "", "1", "ROLE",
                ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_warehouses(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns(
            "name state type size min_cluster_count:fixed max_cluster_count:fixed started_clusters:fixed "
            "running:fixed queued:fixed is_default is_current auto_suspend:fixed auto_resume available "
            "provisioning quiescing other created_on:timestamp_ltz resumed_on:timestamp_ltz "
            "updated_on:timestamp_ltz owner comment"
        )
        rows = []
        for wh in sorted(self.acct.warehouses.values(), key=lambda w: w.name):
            if match(wh.name) and self.any_privilege("WAREHOUSE", qualified(wh.name)):
                user = self.acct.users.get(self.session.user)
                rows.append([
                    wh.name, "SUSPENDED", "STANDARD", "X-Small", 1, 1, 0, 0, 0,
                    "Y" if user is not None and user.default_warehouse == wh.name else "N",
                    "Y" if wh.name == self.session.warehouse else "N", 600, "true", "", "", "", "",
                    wh.created_on, wh.created_on, wh.created_on,
                    self.owner_of("WAREHOUSE", qualified(wh.name)), wh.comment,
                ])  # fmt: skip
        return StatementResult("", cols, rows)

    def show_integrations(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns("name type category enabled:boolean comment created_on:timestamp_ltz")
        rows: list[list[object]] = [
            [i.name, "OAUTH - CUSTOM", "SECURITY", i.enabled, i.comment or None, i.created_on]
            for i in sorted(self.acct.integrations.values(), key=lambda i: i.name)
            if match(i.name) and self.any_privilege("INTEGRATION", qualified(i.name))
        ]
        return StatementResult("", cols, rows)

    def show_mcp_servers(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns("created_on:timestamp_ltz name database_name schema_name owner comment")
        rows = []
        for db, sch in self.scoped_schemas(stmt):
            for m in sorted(sch.mcp_servers.values(), key=lambda m: m.name):
                full = qualified(db.name, sch.name, m.name)
                if match(m.name) and self.any_privilege("CORTEX_AGENT_SERVER", full):
                    owner = self.owner_of("CORTEX_AGENT_SERVER", full)
                    rows.append([m.created_on, m.name, db.name, sch.name, owner, m.comment])
        return StatementResult("", cols, rows)

    def show_search_services(self, stmt: Show, match: Callable[[str], bool]) -> StatementResult:
        cols = _columns(
            "created_on:timestamp_ltz name database_name schema_name target_lag warehouse search_column "
            "attribute_columns columns definition comment owner source_data_num_rows:fixed indexing_state"
        )
        rows = []
        for db, sch in self.scoped_schemas(stmt):
            for c in sorted(sch.cortex_search_services.values(), key=lambda c: c.name):
                full = qualified(db.name, sch.name, c.name)
                if match(c.name) and self.any_privilege("CORTEX_SEARCH_SERVICE", full):
                    keys = sorted({k.upper() for d in c.documents for k in d})
                    rows.append([
                        c.created_on, c.name, db.name, sch.name, "1 hour", None, "TEXT",
                        ",".join(k for k in keys if k != "TEXT"), ",".join(keys), None, c.comment,
                        self.owner_of("CORTEX_SEARCH_SERVICE", full), len(c.documents), "ACTIVE",
                    ])  # fmt: skip
        return StatementResult("", cols, rows)

    # =======================================================================
    # Users and delegated authorizations
    # =======================================================================
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

    def do_AlterUser(self, stmt: AlterUser) -> StatementResult:
        user = self.acct.users.get(stmt.name)
        if user is None:
            if stmt.if_exists:
                return status("")
            raise errors.does_not_exist("User", quote_display(stmt.name))
        is_self = stmt.name == self.session.user
        admin = self.inherits(user.owner) or self.manage_grants()
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
                        f"invalid value [{_shown_value(prop)}] for parameter 'DISABLED'"
                    )
                changes["disabled"] = prop.value
            elif prop.kind in ("string", "word", "ident"):
                changes[self._USER_TEXT[prop.name]] = prop.value
            else:
                raise errors.invalid_value(
                    f"invalid value [{_shown_value(prop)}] for parameter '{prop.name}'"
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
        self.mutated = True
        return status("")

    def remove_delegations(self, stmt: AlterUser, user: User, is_self: bool) -> StatementResult:
        name = str(stmt.remove_delegations_from)
        if name not in self.acct.integrations or not (
            is_self or self.any_privilege("INTEGRATION", qualified(name))
        ):
            raise errors.does_not_exist("Integration", quote_display(name))
        if not (is_self or self.owns("INTEGRATION", qualified(name))):
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
        self.mutated = True
        return status("")

    def do_ShowDelegations(self, stmt: ShowDelegations) -> StatementResult:
        cols = _columns(
            "created_on:timestamp_ltz user_name role_name integration_name integration_status"
        )
        items = self.acct.delegations
        if stmt.by_user is not None:
            user = self.acct.users.get(stmt.by_user)
            if user is None:
                raise errors.does_not_exist("User", quote_display(stmt.by_user))
            if not (
                stmt.by_user == self.session.user
                or self.inherits("ACCOUNTADMIN")
                or self.inherits(user.owner)
            ):
                raise errors.insufficient_privileges("user", quote_display(stmt.by_user))
            items = [d for d in items if d.user == stmt.by_user]
        elif stmt.to_integration is not None:
            self.integration_or_error(stmt.to_integration, owner=True)
            items = [d for d in items if d.integration == stmt.to_integration]
        else:
            self.require_role("ACCOUNTADMIN")
        rows: list[list[object]] = []
        for d in sorted(items, key=lambda d: (d.created_on, d.user)):
            integ = self.acct.integrations.get(d.integration)
            state = "ENABLED" if integ is not None and integ.enabled else "DISABLED"
            rows.append([d.created_on, d.user, d.role, d.integration, state])
        return StatementResult("", cols, rows)

    # =======================================================================
    # USE
    # =======================================================================
    def do_Use(self, stmt: Use) -> StatementResult:
        s = self.session
        if stmt.what == "ROLE":
            role = stmt.name.parts[0]
            if role not in self.acct.roles or not self.acct.user_has_role(s.user, role):
                raise errors.does_not_exist("Role", quote_display(role))
            s.role = role
        elif stmt.what == "WAREHOUSE":
            wh = stmt.name.parts[0]
            if wh not in self.acct.warehouses or not self.any_privilege("WAREHOUSE", qualified(wh)):
                raise errors.does_not_exist()
            s.warehouse = wh
        elif stmt.what == "DATABASE":
            db = self.visible_database(stmt.name.parts[0])
            if db is None:
                raise errors.does_not_exist()
            s.database = db.name
            s.schema = "PUBLIC" if "PUBLIC" in db.schemas else None
        else:
            db_name, sch_name = self.resolve_schema_name(stmt.name, "USE SCHEMA")
            if self.visible_schema(db_name, sch_name) is None:
                raise errors.does_not_exist()
            s.database, s.schema = db_name, sch_name
        return status("")


def quote_display(name: str) -> str:
    """A single name as Snowflake prints it in messages (quoted only when it must be)."""
    return qualified(name)


def _shown_value(prop: Prop) -> str:
    if prop.kind == "list":
        return "(" + ", ".join(f"'{v}'" for v in prop.value) + ")"  # type: ignore[attr-defined]
    if prop.kind == "string":
        return f"'{prop.value}'"
    if prop.kind == "bool":
        return "TRUE" if prop.value else "FALSE"
    return str(prop.value)


__all__ = ["Column", "Engine", "Session", "StatementResult", "like_matcher", "now"]
