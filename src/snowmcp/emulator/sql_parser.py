"""Recursive-descent parser: tokens of one statement -> a statement AST node.

Only the statements listed in docs/emulator.md ("SQL supported") parse;
anything else is a syntax error (001003) pointing at the first token the
grammar cannot accept, as Snowflake does, never a silent success.

The parser checks syntax only. Meaning (does the object exist, is the value
in range, may this role do it) is the engine's job, so errors come out in the
same order as in Snowflake: syntax first, then compilation, then access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from snowmcp.emulator.errors import SnowflakeError, syntax_error
from snowmcp.emulator.sql_tokens import Kind, Token, split_statements, tokenize

# ---------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """A possibly qualified object name; parts are stored names (case rules applied)."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass
class Prop:
    """`NAME = value` in CREATE/ALTER. kind: string | number | bool | word | ident | list."""

    name: str
    kind: str
    value: object  # str | int | bool | list[str]
    token: Token  # first token of the value, for error positions


@dataclass
class Statement:
    kind: ClassVar[str] = "UNKNOWN"  # stats key (ctx.stats.incr("queries", kind))


@dataclass
class CreateIntegration(Statement):
    kind: ClassVar[str] = "CREATE_SECURITY_INTEGRATION"
    name: str
    or_replace: bool
    if_not_exists: bool
    props: list[Prop]


@dataclass
class AlterIntegration(Statement):
    kind: ClassVar[str] = "ALTER_SECURITY_INTEGRATION"
    name: str
    if_exists: bool
    set_props: list[Prop] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)
    refresh: str | None = None  # OAUTH_CLIENT_SECRET | OAUTH_CLIENT_SECRET_2


@dataclass
class DropIntegration(Statement):
    kind: ClassVar[str] = "DROP_SECURITY_INTEGRATION"
    name: str
    if_exists: bool


@dataclass
class DescribeIntegration(Statement):
    kind: ClassVar[str] = "DESCRIBE_SECURITY_INTEGRATION"
    name: str


@dataclass
class AlterParameters(Statement):
    """ALTER ACCOUNT | DATABASE d | SCHEMA d.s SET P = v ... | UNSET P, ...: object parameters."""

    kind: ClassVar[str] = "ALTER_PARAMETERS"
    level: str  # ACCOUNT | DATABASE | SCHEMA
    name: Name | None
    if_exists: bool = False
    set_props: list[Prop] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)

    @property
    def stats_kind(self) -> str:
        return "ALTER_" + self.level


@dataclass
class ShowParameters(Statement):
    """SHOW PARAMETERS [LIKE '<p>'] [IN ACCOUNT | DATABASE d | SCHEMA d.s]."""

    kind: ClassVar[str] = "SHOW_PARAMETERS"
    like: str | None = None
    level: str | None = None  # None: the session's parameters
    name: Name | None = None


@dataclass
class SelectItem:
    function: str | None  # upper-cased function name, or None for a literal
    args: list[object]
    literal: object
    label: str  # output column name (alias, or the expression text as Snowflake shows it)


@dataclass
class Select(Statement):
    kind: ClassVar[str] = "SELECT"
    items: list[SelectItem]


@dataclass
class CreateMcpServer(Statement):
    kind: ClassVar[str] = "CREATE_MCP_SERVER"
    name: Name
    or_replace: bool
    if_not_exists: bool
    comment: str | None
    spec: str
    spec_token: Token


@dataclass
class DropMcpServer(Statement):
    kind: ClassVar[str] = "DROP_MCP_SERVER"
    name: Name
    if_exists: bool


@dataclass
class DescribeMcpServer(Statement):
    kind: ClassVar[str] = "DESCRIBE_MCP_SERVER"
    name: Name


@dataclass
class Show(Statement):
    """SHOW ROLES | USERS | DATABASES | SCHEMAS | WAREHOUSES | SECURITY INTEGRATIONS |
    MCP SERVERS | CORTEX SEARCH SERVICES [LIKE '<p>'] [IN ACCOUNT | DATABASE d | SCHEMA d.s]."""

    what: str  # ROLES, USERS, ..., "MCP SERVERS", "CORTEX SEARCH SERVICES"
    like: str | None = None
    scope: str | None = None  # ACCOUNT | DATABASE | SCHEMA | None (session default)
    scope_name: Name | None = None

    @property
    def stats_kind(self) -> str:
        return "SHOW_" + self.what.replace(" ", "_")


@dataclass
class CreateRole(Statement):
    kind: ClassVar[str] = "CREATE_ROLE"
    name: str
    or_replace: bool
    if_not_exists: bool
    comment: str | None


@dataclass
class AlterRole(Statement):
    """ALTER ROLE [IF EXISTS] r SET COMMENT = '...' | UNSET COMMENT."""

    kind: ClassVar[str] = "ALTER_ROLE"
    name: str
    if_exists: bool
    comment: str | None  # None: UNSET COMMENT


@dataclass
class DropRole(Statement):
    kind: ClassVar[str] = "DROP_ROLE"
    name: str
    if_exists: bool


@dataclass
class GrantPrivileges(Statement):
    """GRANT privs ON type name TO ROLE r [WITH GRANT OPTION] / REVOKE ... FROM ROLE r."""

    revoke: bool
    privileges: list[str]
    object_type: str  # DATABASE, SCHEMA, WAREHOUSE, CORTEX SEARCH SERVICE, MCP SERVER, INTEGRATION
    object_name: Name
    role: str
    grant_option: bool = False  # GRANT ... WITH GRANT OPTION / REVOKE GRANT OPTION FOR ...
    arg_types: list[str] | None = None  # FUNCTION / PROCEDURE f(TYPE, ...): the signature

    @property
    def stats_kind(self) -> str:
        return "REVOKE" if self.revoke else "GRANT"


@dataclass
class GrantRole(Statement):
    revoke: bool
    role: str
    grantee_type: str  # ROLE | USER
    grantee: str

    @property
    def stats_kind(self) -> str:
        return "REVOKE_ROLE" if self.revoke else "GRANT_ROLE"


@dataclass
class ShowGrants(Statement):
    kind: ClassVar[str] = "SHOW_GRANTS"
    mode: str  # TO_ROLE | OF_ROLE | TO_USER | ON | CURRENT_USER
    object_type: str | None = None  # for ON: ACCOUNT, DATABASE, ..., ROLE, USER
    name: Name | None = None
    arg_types: list[str] | None = None  # ON FUNCTION / PROCEDURE f(TYPE, ...)


@dataclass
class AlterUser(Statement):
    kind: ClassVar[str] = "ALTER_USER"
    name: str
    if_exists: bool
    set_props: list[Prop] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)
    remove_delegations_from: str | None = None  # integration name
    remove_delegation_role: str | None = None  # REMOVE DELEGATED AUTHORIZATION OF ROLE r ...
    add_token: str | None = None  # ADD PROGRAMMATIC ACCESS TOKEN <name> [props]
    token_props: list[Prop] = field(default_factory=list)
    remove_token: str | None = None  # REMOVE PROGRAMMATIC ACCESS TOKEN <name>


@dataclass
class DescribeUser(Statement):
    kind: ClassVar[str] = "DESCRIBE_USER"
    name: str


@dataclass
class ShowDelegations(Statement):
    kind: ClassVar[str] = "SHOW_DELEGATED_AUTHORIZATIONS"
    by_user: str | None = None
    to_integration: str | None = None


@dataclass
class Use(Statement):
    kind: ClassVar[str] = "USE"
    what: str  # ROLE | WAREHOUSE | DATABASE | SCHEMA
    name: Name


def stats_kind(stmt: Statement) -> str:
    """The statement kind counted in /__emulator/stats, e.g. SHOW_GRANTS, GRANT, CREATE_MCP_SERVER."""
    dynamic = getattr(stmt, "stats_kind", None)
    return dynamic if isinstance(dynamic, str) else stmt.kind


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------

# Object types GRANT/REVOKE/SHOW GRANTS ON accept, longest first so
# "CORTEX SEARCH SERVICE" wins over a shorter prefix.
OBJECT_TYPES: tuple[tuple[str, ...], ...] = (
    ("CORTEX", "SEARCH", "SERVICE"),
    ("SEMANTIC", "VIEW"),
    ("MCP", "SERVER"),
    ("AGENT",),
    ("FUNCTION",),
    ("PROCEDURE",),
    ("SECURITY", "INTEGRATION"),
    ("INTEGRATION",),
    ("DATABASE",),
    ("SCHEMA",),
    ("WAREHOUSE",),
    ("ROLE",),
    ("USER",),
    ("ACCOUNT",),
)

# What ALTER SECURITY INTEGRATION ... UNSET accepts (Snowflake's grammar for OAuth
# integrations; docs/emulator.md, "SQL supported"): anything else is a syntax error.
INTEGRATION_UNSETTABLE = ("ENABLED", "NETWORK_POLICY", "OAUTH_USE_SECONDARY_ROLES", "COMMENT")
# ... and for EXTERNAL_OAUTH integrations (the handler checks which kind it is).
EXTERNAL_UNSETTABLE = (
    "ENABLED", "NETWORK_POLICY", "COMMENT", "EXTERNAL_OAUTH_AUDIENCE_LIST",
    "EXTERNAL_OAUTH_BLOCKED_ROLES_LIST", "EXTERNAL_OAUTH_ALLOWED_ROLES_LIST",
    "EXTERNAL_OAUTH_ANY_ROLE_MODE", "EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE",
)  # fmt: skip

# SHOW <objects> that take IN ACCOUNT | DATABASE d | SCHEMA d.s.
SCOPED_SHOWS = (
    "SCHEMAS", "MCP SERVERS", "CORTEX SEARCH SERVICES", "SEMANTIC VIEWS", "USER FUNCTIONS",
    "PROCEDURES", "AGENTS",
)  # fmt: skip

_SHOW_PLURALS: tuple[tuple[str, ...], ...] = (
    ("CORTEX", "SEARCH", "SERVICES"),
    ("SEMANTIC", "VIEWS"),
    ("USER", "FUNCTIONS"),
    ("PROCEDURES",),
    ("AGENTS",),
    ("MCP", "SERVERS"),
    ("SECURITY", "INTEGRATIONS"),
    ("INTEGRATIONS",),
    ("ROLES",),
    ("USERS",),
    ("DATABASES",),
    ("SCHEMAS",),
    ("WAREHOUSES",),
)


class Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    # ---- token helpers -----------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.tok
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def error(self, tok: Token | None = None) -> SnowflakeError:
        tok = tok or self.tok
        return syntax_error(tok.line, tok.col, tok.raw)

    def accept_kw(self, *words: str) -> bool:
        """Consume the keyword sequence `words` if it comes next."""
        for n, word in enumerate(words):
            if not self.peek(n).is_kw(word):
                return False
        self.i += len(words)
        return True

    def expect_kw(self, *words: str) -> None:
        for word in words:
            if not self.tok.is_kw(word):
                raise self.error()
            self.i += 1

    def accept_sym(self, symbol: str) -> bool:
        if self.tok.is_sym(symbol):
            self.i += 1
            return True
        return False

    def expect_sym(self, symbol: str) -> None:
        if not self.accept_sym(symbol):
            raise self.error()

    def expect_end(self) -> None:
        if self.tok.kind is not Kind.EOF:
            raise self.error()

    def ident(self) -> str:
        tok = self.tok
        if tok.kind in (Kind.IDENT, Kind.QIDENT):
            self.i += 1
            return tok.value
        raise self.error()

    def name(self, max_parts: int = 3) -> Name:
        parts = [self.ident()]
        while self.tok.is_sym(".") and len(parts) < max_parts:
            self.i += 1
            parts.append(self.ident())
        return Name(tuple(parts))

    def string(self) -> str:
        tok = self.tok
        if tok.kind is Kind.STRING:
            self.i += 1
            return tok.value
        raise self.error()

    def if_not_exists(self) -> bool:
        return self.accept_kw("IF", "NOT", "EXISTS")

    def if_exists(self) -> bool:
        return self.accept_kw("IF", "EXISTS")

    # ---- entry -------------------------------------------------------------
    def statement(self) -> Statement:
        tok = self.tok
        if tok.is_kw("CREATE"):
            stmt = self.create()
        elif tok.is_kw("ALTER"):
            stmt = self.alter()
        elif tok.is_kw("DROP"):
            stmt = self.drop()
        elif tok.is_kw("SHOW"):
            stmt = self.show()
        elif tok.is_kw("DESCRIBE", "DESC"):
            stmt = self.describe()
        elif tok.is_kw("GRANT"):
            stmt = self.grant(revoke=False)
        elif tok.is_kw("REVOKE"):
            stmt = self.grant(revoke=True)
        elif tok.is_kw("USE"):
            stmt = self.use()
        elif tok.is_kw("SELECT"):
            stmt = self.select()
        else:
            raise self.error()
        self.expect_end()
        return stmt

    # ---- CREATE ------------------------------------------------------------
    def create(self) -> Statement:
        self.expect_kw("CREATE")
        or_replace = self.accept_kw("OR", "REPLACE")
        if self.accept_kw("SECURITY", "INTEGRATION"):
            if_not_exists = self.if_not_exists()
            name = self.ident()
            props = self.props(allow_empty=True)
            return CreateIntegration(name, or_replace, if_not_exists, props)
        if self.accept_kw("MCP", "SERVER"):
            return self.create_mcp_server(or_replace)
        if self.accept_kw("ROLE"):
            if_not_exists = self.if_not_exists()
            name = self.ident()
            comment = None
            if self.accept_kw("COMMENT"):
                self.expect_sym("=")
                comment = self.string()
            return CreateRole(name, or_replace, if_not_exists, comment)
        raise self.error()

    def create_mcp_server(self, or_replace: bool) -> CreateMcpServer:
        if_not_exists = self.if_not_exists()
        name = self.name()
        comment = None
        if self.accept_kw("COMMENT"):
            self.expect_sym("=")
            comment = self.string()
        self.expect_kw("FROM", "SPECIFICATION")
        spec_token = self.tok
        spec = self.string()
        return CreateMcpServer(name, or_replace, if_not_exists, comment, spec, spec_token)

    # ---- properties: NAME = value ------------------------------------------
    def props(self, *, allow_empty: bool) -> list[Prop]:
        out: list[Prop] = []
        while self.tok.kind is Kind.IDENT and self.peek().is_sym("="):
            name = self.next().value
            self.expect_sym("=")
            out.append(self.prop_value(name))
            self.accept_sym(",")  # Snowflake tolerates commas between properties
        if not out and not allow_empty:
            raise self.error()
        return out

    def prop_value(self, name: str) -> Prop:
        tok = self.tok
        if tok.kind is Kind.STRING:
            self.i += 1
            return Prop(name, "string", tok.value, tok)
        if tok.kind is Kind.NUMBER or (tok.is_sym("-") and self.peek().kind is Kind.NUMBER):
            negative = self.accept_sym("-")
            num = self.next()
            if "." in num.value:
                raise self.error(num)
            value = -int(num.value) if negative else int(num.value)
            return Prop(name, "number", value, tok)
        if tok.is_kw("TRUE", "FALSE"):
            self.i += 1
            return Prop(name, "bool", tok.value == "TRUE", tok)
        if tok.is_sym("("):
            self.i += 1
            items: list[str] = []
            if not self.tok.is_sym(")"):
                items.append(self.string())
                while self.accept_sym(","):
                    items.append(self.string())
            self.expect_sym(")")
            return Prop(name, "list", items, tok)
        if tok.kind is Kind.IDENT:
            self.i += 1
            # A dotted name (DEFAULT_NAMESPACE = db.schema) stays one value.
            parts = [tok.value]
            while self.accept_sym("."):
                parts.append(self.ident())
            return Prop(name, "word" if len(parts) == 1 else "ident", ".".join(parts), tok)
        if tok.kind is Kind.QIDENT:
            self.i += 1
            return Prop(name, "ident", tok.value, tok)
        raise self.error()

    # ---- ALTER -------------------------------------------------------------
    def alter(self) -> Statement:
        self.expect_kw("ALTER")
        if self.accept_kw("SECURITY", "INTEGRATION") or self.accept_kw("INTEGRATION"):
            if_exists = self.if_exists()
            name = self.ident()
            stmt = AlterIntegration(name, if_exists)
            if self.accept_kw("SET"):
                stmt.set_props = self.props(allow_empty=False)
            elif self.accept_kw("UNSET"):
                stmt.unset = self.word_list(
                    allowed=tuple(dict.fromkeys(INTEGRATION_UNSETTABLE + EXTERNAL_UNSETTABLE))
                )
            elif self.accept_kw("REFRESH"):
                tok = self.tok
                if not tok.is_kw("OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_SECRET_2"):
                    raise self.error()
                self.i += 1
                stmt.refresh = tok.value
            else:
                raise self.error()
            return stmt
        if self.accept_kw("ACCOUNT"):
            return self.parameters_tail(AlterParameters("ACCOUNT", None))
        if self.accept_kw("DATABASE"):
            if_exists = self.if_exists()
            return self.parameters_tail(
                AlterParameters("DATABASE", self.name(max_parts=1), if_exists)
            )
        if self.accept_kw("SCHEMA"):
            if_exists = self.if_exists()
            return self.parameters_tail(
                AlterParameters("SCHEMA", self.name(max_parts=2), if_exists)
            )
        if self.accept_kw("ROLE"):
            if_exists = self.if_exists()
            name = self.ident()
            if self.accept_kw("UNSET"):
                self.expect_kw("COMMENT")
                return AlterRole(name, if_exists, None)
            self.expect_kw("SET", "COMMENT")
            self.expect_sym("=")
            return AlterRole(name, if_exists, self.string())
        if self.accept_kw("USER"):
            if_exists = self.if_exists()
            user = AlterUser(self.ident(), if_exists)
            if self.accept_kw("ADD"):
                self.access_token_words()
                user.add_token = self.ident()
                user.token_props = self.props(allow_empty=True)
            elif self.tok.is_kw("REMOVE") and self.peek().is_kw("PROGRAMMATIC", "PAT"):
                self.i += 1
                self.access_token_words()
                user.remove_token = self.ident()
            elif self.accept_kw("SET"):
                user.set_props = self.props(allow_empty=False)
            elif self.accept_kw("UNSET"):
                user.unset = self.word_list()
            elif self.accept_kw("REMOVE"):
                if self.accept_kw("DELEGATED", "AUTHORIZATIONS"):
                    pass
                else:
                    self.expect_kw("DELEGATED", "AUTHORIZATION", "OF", "ROLE")
                    user.remove_delegation_role = self.ident()
                self.expect_kw("FROM", "SECURITY", "INTEGRATION")
                user.remove_delegations_from = self.ident()
            else:
                raise self.error()
            return user
        raise self.error()

    def parameters_tail(self, stmt: AlterParameters) -> AlterParameters:
        if self.accept_kw("SET"):
            stmt.set_props = self.props(allow_empty=False)
        elif self.accept_kw("UNSET"):
            stmt.unset = self.word_list()
        else:
            raise self.error()
        return stmt

    def access_token_words(self) -> None:
        if not (self.accept_kw("PROGRAMMATIC", "ACCESS", "TOKEN") or self.accept_kw("PAT")):
            raise self.error()

    def word_list(self, allowed: tuple[str, ...] | None = None) -> list[str]:
        words = [self.keyword(allowed)]
        while self.accept_sym(","):
            words.append(self.keyword(allowed))
        return words

    def keyword(self, allowed: tuple[str, ...] | None = None) -> str:
        tok = self.tok
        if tok.kind is not Kind.IDENT or (allowed is not None and tok.value not in allowed):
            raise self.error()
        self.i += 1
        return tok.value

    # ---- DROP --------------------------------------------------------------
    def drop(self) -> Statement:
        self.expect_kw("DROP")
        if self.accept_kw("SECURITY", "INTEGRATION") or self.accept_kw("INTEGRATION"):
            if_exists = self.if_exists()
            return DropIntegration(self.ident(), if_exists)
        if self.accept_kw("MCP", "SERVER"):
            if_exists = self.if_exists()
            return DropMcpServer(self.name(), if_exists)
        if self.accept_kw("ROLE"):
            if_exists = self.if_exists()
            return DropRole(self.ident(), if_exists)
        raise self.error()

    # ---- DESCRIBE ----------------------------------------------------------
    def describe(self) -> Statement:
        self.next()  # DESCRIBE | DESC
        if self.accept_kw("SECURITY", "INTEGRATION") or self.accept_kw("INTEGRATION"):
            return DescribeIntegration(self.ident())
        if self.accept_kw("MCP", "SERVER"):
            return DescribeMcpServer(self.name())
        if self.accept_kw("USER"):
            return DescribeUser(self.ident())
        raise self.error()

    # ---- SHOW --------------------------------------------------------------
    def show(self) -> Statement:
        self.expect_kw("SHOW")
        if self.accept_kw("GRANTS"):
            return self.show_grants()
        if self.accept_kw("PARAMETERS"):
            params = ShowParameters()
            if self.accept_kw("LIKE"):
                params.like = self.string()
            if self.accept_kw("IN"):
                if self.accept_kw("ACCOUNT"):
                    params.level = "ACCOUNT"
                elif self.accept_kw("DATABASE"):
                    params.level, params.name = "DATABASE", self.name(max_parts=1)
                elif self.accept_kw("SCHEMA"):
                    params.level, params.name = "SCHEMA", self.name(max_parts=2)
                else:
                    raise self.error()
            return params
        if self.accept_kw("DELEGATED", "AUTHORIZATIONS"):
            stmt = ShowDelegations()
            if self.accept_kw("BY", "USER"):
                stmt.by_user = self.ident()
            elif self.accept_kw("TO", "SECURITY", "INTEGRATION"):
                stmt.to_integration = self.ident()
            return stmt
        for words in _SHOW_PLURALS:
            if self.accept_kw(*words):
                what = " ".join(words)
                if what == "INTEGRATIONS":
                    what = "SECURITY INTEGRATIONS"
                return self.show_tail(Show(what))
        raise self.error()

    def show_tail(self, stmt: Show) -> Show:
        if self.accept_kw("LIKE"):
            stmt.like = self.string()
        if self.accept_kw("IN"):
            scoped = stmt.what in SCOPED_SHOWS
            if not scoped:
                raise self.error(self.peek(-1))
            if self.accept_kw("ACCOUNT"):
                stmt.scope = "ACCOUNT"
            elif self.accept_kw("DATABASE"):
                stmt.scope, stmt.scope_name = "DATABASE", self.name(max_parts=1)
            elif stmt.what != "SCHEMAS" and self.accept_kw("SCHEMA"):
                stmt.scope, stmt.scope_name = "SCHEMA", self.name(max_parts=2)
            else:
                raise self.error()
        return stmt

    def show_grants(self) -> ShowGrants:
        if self.accept_kw("TO", "ROLE"):
            return ShowGrants("TO_ROLE", name=Name((self.ident(),)))
        if self.accept_kw("TO", "USER"):
            return ShowGrants("TO_USER", name=Name((self.ident(),)))
        if self.accept_kw("OF", "ROLE"):
            return ShowGrants("OF_ROLE", name=Name((self.ident(),)))
        if self.accept_kw("ON"):
            object_type = self.object_type()
            if object_type == "ACCOUNT":
                return ShowGrants("ON", object_type="ACCOUNT")
            name = self.name()
            return ShowGrants("ON", object_type, name, self.signature(object_type))
        if self.tok.kind is Kind.EOF:
            return ShowGrants("CURRENT_USER")
        raise self.error()

    def object_type(self) -> str:
        for words in OBJECT_TYPES:
            if self.accept_kw(*words):
                joined = " ".join(words)
                return "INTEGRATION" if joined == "SECURITY INTEGRATION" else joined
        raise self.error()

    # ---- GRANT / REVOKE ----------------------------------------------------
    def grant(self, *, revoke: bool) -> Statement:
        self.next()  # GRANT | REVOKE
        if self.tok.is_kw("ROLE") and not self.peek().is_kw("ON"):
            self.i += 1
            role = self.ident()
            self.expect_kw("FROM" if revoke else "TO")
            if self.accept_kw("ROLE"):
                grantee_type = "ROLE"
            elif self.accept_kw("USER"):
                grantee_type = "USER"
            else:
                raise self.error()
            return GrantRole(revoke, role, grantee_type, self.ident())
        grant_option = revoke and self.accept_kw("GRANT", "OPTION", "FOR")
        privileges = [self.privilege()]
        while self.accept_sym(","):
            privileges.append(self.privilege())
        self.expect_kw("ON")
        object_type = self.object_type()
        if object_type in ("ACCOUNT", "ROLE", "USER"):
            raise self.error(self.peek(-1))
        object_name = self.name()
        arg_types = self.signature(object_type)
        self.expect_kw("FROM" if revoke else "TO")
        self.accept_kw("ROLE")
        role = self.ident()
        if not revoke and self.accept_kw("WITH", "GRANT", "OPTION"):
            grant_option = True
        if revoke:
            self.accept_kw("RESTRICT") or self.accept_kw("CASCADE")
        return GrantPrivileges(
            revoke, privileges, object_type, object_name, role, grant_option, arg_types
        )

    def signature(self, object_type: str) -> list[str] | None:
        """`(TYPE, TYPE(p, s), ...)` after a function or procedure name: the argument types."""
        if object_type not in ("FUNCTION", "PROCEDURE"):
            return None
        self.expect_sym("(")
        types: list[str] = []
        while not self.tok.is_sym(")"):
            if types:
                self.expect_sym(",")
            words = [self.keyword()]
            while self.tok.kind is Kind.IDENT:  # DOUBLE PRECISION, TIMESTAMP WITH ...
                words.append(self.keyword())
            if self.accept_sym("("):  # NUMBER(38, 0), VARCHAR(100): precision is not part of it
                while not self.accept_sym(")"):
                    if self.tok.kind is Kind.EOF:
                        raise self.error()
                    self.next()
            types.append(" ".join(words))
        self.expect_sym(")")
        return types

    def privilege(self) -> str:
        # A privilege is one or more keywords: USAGE, CREATE MCP SERVER, ...
        words = [self.keyword()]
        while self.tok.kind is Kind.IDENT and not self.tok.is_kw("ON"):
            words.append(self.keyword())
        return " ".join(words)

    # ---- USE ---------------------------------------------------------------
    def use(self) -> Use:
        self.expect_kw("USE")
        for what in ("ROLE", "WAREHOUSE", "DATABASE", "SCHEMA"):
            if self.accept_kw(what):
                return Use(what, self.name(max_parts=2 if what == "SCHEMA" else 1))
        # `USE db` and `USE db.schema` mean USE DATABASE / USE SCHEMA.
        name = self.name(max_parts=2)
        return Use("SCHEMA" if len(name.parts) == 2 else "DATABASE", name)

    # ---- SELECT ------------------------------------------------------------
    def select(self) -> Select:
        self.expect_kw("SELECT")
        items = [self.select_item()]
        while self.accept_sym(","):
            items.append(self.select_item())
        return Select(items)

    def select_item(self) -> SelectItem:
        start = self.tok
        if start.kind is Kind.IDENT and self.peek().is_sym("("):
            function = self.next().value
            self.expect_sym("(")
            args: list[object] = []
            if not self.tok.is_sym(")"):
                args.append(self.literal())
                while self.accept_sym(","):
                    args.append(self.literal())
            self.expect_sym(")")
            label = start.raw.upper() + "(" + ", ".join(_literal_text(a) for a in args) + ")"
            item = SelectItem(function, args, None, label)
        else:
            value = self.literal()
            item = SelectItem(None, [], value, _literal_text(value))
        if self.accept_kw("AS"):
            item.label = self.ident()
        elif self.tok.kind in (Kind.IDENT, Kind.QIDENT) and not self.tok.is_kw("FROM"):
            item.label = self.ident()
        return item

    def literal(self) -> object:
        tok = self.tok
        if tok.kind is Kind.STRING:
            self.i += 1
            return tok.value
        if tok.kind is Kind.NUMBER:
            self.i += 1
            return int(tok.value) if tok.value.isdigit() else float(tok.value)
        if tok.is_kw("TRUE", "FALSE"):
            self.i += 1
            return tok.value == "TRUE"
        if tok.is_kw("NULL"):
            self.i += 1
            return None
        raise self.error()


def _literal_text(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def parse_tokens(tokens: list[Token]) -> Statement:
    """Parse one statement's tokens (ending with EOF)."""
    if not tokens or tokens[0].kind is Kind.EOF:
        raise syntax_error(1, 0, "<EOF>")
    return Parser(tokens).statement()


def parse(sql: str) -> list[Statement]:
    """Parse every `;`-separated statement of `sql` (for tests and tools)."""
    return [parse_tokens(t) for t in split_statements(tokenize(sql))]
