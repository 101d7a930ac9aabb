"""The emulated Snowflake account: plain data, shared by the SQL engine, OAuth and MCP.

Names are stored exactly as Snowflake stores them: unquoted identifiers
upper-cased by the parser, quoted ones verbatim. Lookups therefore compare
names exactly (`"alice@example.com"` and `ALICE@EXAMPLE.COM` are two users),
except login names, which Snowflake compares case-insensitively.

Everything here is serialisable with `Account.to_state()` so `--state FILE`
survives a restart. One `threading.RLock` (`Account.lock`) guards it all: the
emulator is a test double, so simple and correct beats concurrent.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

# Roles every account has. ACCOUNTADMIN inherits SECURITYADMIN and SYSADMIN,
# SECURITYADMIN inherits USERADMIN, every role inherits PUBLIC.
SYSTEM_ROLES = ("ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "PUBLIC")
SYSTEM_ROLE_GRANTS = (
    ("SECURITYADMIN", "ACCOUNTADMIN"),
    ("SYSADMIN", "ACCOUNTADMIN"),
    ("USERADMIN", "SECURITYADMIN"),
)
# Roles Snowflake adds to every OAuth integration's BLOCKED_ROLES_LIST while the
# account parameter OAUTH_ADD_PRIVILEGED_ROLES_TO_BLOCKED_LIST is TRUE.
IMPLICITLY_BLOCKED_ROLES = ("ACCOUNTADMIN", "ORGADMIN", "GLOBALORGADMIN", "SECURITYADMIN")

_PLAIN_IDENTIFIER = re.compile(r"^[A-Z_][A-Z0-9_$]*$")


def now() -> datetime:
    return datetime.now(UTC)


def quote_if_needed(name: str) -> str:
    """Render a stored name the way SHOW output does inside qualified names."""
    if _PLAIN_IDENTIFIER.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """`AICOLLEGE.PUBLIC.GONG` or `"my db".PUBLIC.X`, as in SHOW GRANTS' `name`."""
    return ".".join(quote_if_needed(p) for p in parts)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def login_key(login: str) -> str:
    """A login name as Snowflake compares it: ASCII letters case-insensitively, nothing else
    folded (`casefold()` would make the Kelvin sign U+212A equal to `k`, more lenient than
    Snowflake)."""
    return login.translate(_ASCII_LOWER)


@dataclass
class User:
    name: str
    login_name: str
    password: str | None = None
    display_name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    comment: str = ""
    disabled: bool = False
    default_role: str | None = None
    default_warehouse: str | None = None
    default_namespace: str | None = None
    owner: str = "USERADMIN"
    created_on: datetime = field(default_factory=now)
    # Key-pair sign-in: base64 DER of up to two RSA public keys (two for rotation).
    rsa_public_key: str | None = None
    rsa_public_key_2: str | None = None


@dataclass
class AccessToken:
    """A programmatic access token (ALTER USER ... ADD PROGRAMMATIC ACCESS TOKEN).

    Only the secret's SHA-256 is kept: Snowflake shows the secret once.
    """

    name: str
    user: str  # User.name
    secret_sha256: str
    role_restriction: str | None
    expires_on: datetime
    created_on: datetime = field(default_factory=now)


@dataclass
class Role:
    name: str
    comment: str = ""
    owner: str = "USERADMIN"
    created_on: datetime = field(default_factory=now)


@dataclass
class Warehouse:
    name: str
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass
class CortexSearchService:
    name: str
    documents: list[dict[str, Any]] = field(default_factory=list)
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass
class SemanticView:
    """A semantic view: Cortex Analyst tools answer from it (SELECT needed to use it)."""

    name: str
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass
class Agent:
    """A Cortex Agent: CORTEX_AGENT_RUN tools call it (USAGE needed)."""

    name: str
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass
class Routine:
    """A user-defined function or stored procedure (GENERIC tools call one).

    `arguments` holds [name, type] pairs; USAGE is granted per signature
    (the argument types), so overloads are separate objects.
    """

    name: str
    arguments: list[list[str]] = field(default_factory=list)
    returns: str = "VARCHAR"
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)

    @property
    def arg_types(self) -> list[str]:
        return [canonical_type(t) for _n, t in self.arguments]

    def key(self) -> str:
        """Lookup key within a schema: NAME(TYPE, TYPE)."""
        return f"{self.name}({', '.join(self.arg_types)})"

    def grant_name(self, database: str, schema: str) -> str:
        """The object's `name` in SHOW GRANTS: argument names and types, then the return type."""
        inner = ", ".join(f"{n} {t}" for n, t in self.arguments)
        return (
            qualified(database, schema)
            + "."
            + _quote_always(f"{self.name}({inner}):{self.returns}")
        )

    def show_arguments(self) -> str:
        """The `arguments` column of SHOW USER FUNCTIONS / SHOW PROCEDURES."""
        return f"{self.name}({', '.join(t for _n, t in self.arguments)}) RETURN {self.returns}"


# Type names that mean the same Snowflake type, for matching signatures.
_TYPE_SYNONYMS = {
    "STRING": "VARCHAR", "TEXT": "VARCHAR", "CHAR": "VARCHAR", "CHARACTER": "VARCHAR",
    "INT": "NUMBER", "INTEGER": "NUMBER", "BIGINT": "NUMBER", "SMALLINT": "NUMBER",
    "TINYINT": "NUMBER", "BYTEINT": "NUMBER", "DECIMAL": "NUMBER", "NUMERIC": "NUMBER",
    "DOUBLE": "FLOAT", "REAL": "FLOAT", "FLOAT4": "FLOAT", "FLOAT8": "FLOAT",
    "DOUBLE PRECISION": "FLOAT",
}  # fmt: skip


def canonical_type(text: str) -> str:
    """`number(38,0)` -> NUMBER, `string` -> VARCHAR: a type as signatures compare it."""
    base = " ".join(text.split("(")[0].upper().split())
    return _TYPE_SYNONYMS.get(base, base)


def _quote_always(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class McpServer:
    name: str
    database: str
    schema: str
    spec: dict[str, Any]  # parsed YAML spec, without "version"
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass
class Schema:
    name: str
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)
    cortex_search_services: dict[str, CortexSearchService] = field(default_factory=dict)
    mcp_servers: dict[str, McpServer] = field(default_factory=dict)
    semantic_views: dict[str, SemanticView] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    functions: dict[str, Routine] = field(default_factory=dict)  # key: Routine.key()
    procedures: dict[str, Routine] = field(default_factory=dict)
    # Object parameters set on this schema (ALTER SCHEMA ... SET), name -> value text.
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class Database:
    name: str
    owner: str = "SYSADMIN"
    comment: str = ""
    created_on: datetime = field(default_factory=now)
    schemas: dict[str, Schema] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


def effective_blocked_roles(explicit: list[str]) -> list[str]:
    """What DESCRIBE shows and OAuth enforces, for integrations of both kinds: the explicit
    blocked roles, then the privileged roles Snowflake blocks implicitly."""
    return [*explicit, *(r for r in IMPLICITLY_BLOCKED_ROLES if r not in explicit)]


@dataclass
class OAuthIntegration:
    """A custom OAuth security integration, parameters, defaults and ranges as Snowflake documents them (docs/emulator.md, "SQL supported")."""

    name: str
    client_type: str  # CONFIDENTIAL | PUBLIC
    redirect_uri: str
    client_id: str
    client_secret: str
    client_secret_2: str
    enabled: bool = True
    allow_non_tls_redirect_uri: bool = False
    enforce_pkce: bool = False
    use_secondary_roles: str = "NONE"  # IMPLICIT | NONE
    pre_authorized_roles: list[str] = field(default_factory=list)
    blocked_roles: list[str] = field(default_factory=list)  # explicit ones only
    allowed_roles: list[str] = field(default_factory=list)
    issue_refresh_tokens: bool = True
    refresh_token_validity: int = 7776000
    access_token_validity: int = 600
    single_use_refresh_tokens: bool = False
    network_policy: str = ""
    comment: str = ""
    owner: str = "ACCOUNTADMIN"
    created_on: datetime = field(default_factory=now)

    def effective_blocked_roles(self) -> list[str]:
        return effective_blocked_roles(self.blocked_roles)


@dataclass
class ExternalOAuthIntegration:
    """An EXTERNAL_OAUTH security integration: Snowflake trusts JWTs an IdP issues.

    Integrations of both kinds share one namespace (Account.integration_names()).
    """

    name: str
    oauth_type: str  # OKTA | AZURE | PING_FEDERATE | CUSTOM
    issuer: str
    user_mapping_claim: list[str]
    user_mapping_attribute: str  # LOGIN_NAME | EMAIL_ADDRESS
    enabled: bool = True
    jws_keys_url: list[str] = field(default_factory=list)
    audience_list: list[str] = field(default_factory=list)
    blocked_roles: list[str] = field(default_factory=list)  # explicit ones only
    allowed_roles: list[str] = field(default_factory=list)
    any_role_mode: str = "DISABLE"  # DISABLE | ENABLE | ENABLE_FOR_PRIVILEGE
    scope_mapping_attribute: str = "scp"  # scp | scope
    scope_delimiter: str = ","
    network_policy: str = ""
    comment: str = ""
    owner: str = "ACCOUNTADMIN"
    created_on: datetime = field(default_factory=now)

    def effective_blocked_roles(self) -> list[str]:
        return effective_blocked_roles(self.blocked_roles)


@dataclass
class PrivilegeGrant:
    """A privilege on an object to a role (SHOW GRANTS TO ROLE rows)."""

    privilege: str  # USAGE, OWNERSHIP, ...
    granted_on: str  # DATABASE, SCHEMA, WAREHOUSE, CORTEX_SEARCH_SERVICE, CORTEX_AGENT_SERVER, ...
    name: str  # qualified display name, see qualified()
    grantee: str  # role name
    grant_option: bool = False
    granted_by: str = "SECURITYADMIN"
    created_on: datetime = field(default_factory=now)


@dataclass
class RoleGrant:
    """Role `role` granted to a role or a user (SHOW GRANTS OF ROLE rows)."""

    role: str
    granted_to: str  # ROLE | USER
    grantee: str
    granted_by: str = "SECURITYADMIN"
    created_on: datetime = field(default_factory=now)


@dataclass
class Delegation:
    """A user's consent to an OAuth integration (SHOW DELEGATED AUTHORIZATIONS rows).

    Created by the OAuth code exchange; removed by ALTER USER ... REMOVE
    DELEGATED AUTHORIZATIONS or when the integration is dropped/replaced. Every
    token the emulator issued carries its delegation's `id` and stops working
    once the delegation is gone.
    """

    id: str
    user: str  # User.name
    integration: str
    role: str
    created_on: datetime = field(default_factory=now)


@dataclass
class Account:
    name: str = "DEMO-ACCOUNT"
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    warehouses: dict[str, Warehouse] = field(default_factory=dict)
    databases: dict[str, Database] = field(default_factory=dict)
    integrations: dict[str, OAuthIntegration] = field(default_factory=dict)
    external_integrations: dict[str, ExternalOAuthIntegration] = field(default_factory=dict)
    # Account-level parameters set with ALTER ACCOUNT SET (name -> value text).
    parameters: dict[str, str] = field(default_factory=dict)
    privilege_grants: list[PrivilegeGrant] = field(default_factory=list)
    role_grants: list[RoleGrant] = field(default_factory=list)
    delegations: list[Delegation] = field(default_factory=list)
    access_tokens: list[AccessToken] = field(default_factory=list)
    # Opaque state owned by snowmcp.emulator.oauth (codes, token families).
    oauth_state: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.reindex_grants()

    # ---- grant indexes -----------------------------------------------------
    # The lists above are the record (their order is SHOW's order); the indexes
    # below are derived from them so a GRANT, an access check or a role-graph walk
    # looks up its grants instead of scanning every grant in the account (which
    # made provisioning N users quadratic). Change grants only through the methods
    # here, or call reindex_grants() after editing the lists directly.
    def reindex_grants(self) -> None:
        """Rebuild both grant indexes from the lists."""
        self._role_grants_to: dict[tuple[str, str], dict[str, RoleGrant]] = {}
        for rg in self.role_grants:
            self._role_grants_to.setdefault((rg.granted_to, rg.grantee), {}).setdefault(rg.role, rg)
        self._privilege_grants_on: dict[tuple[str, str], list[PrivilegeGrant]] = {}
        for pg in self.privilege_grants:
            self._privilege_grants_on.setdefault((pg.granted_on, pg.name), []).append(pg)

    def role_grant(self, role: str, granted_to: str, grantee: str) -> RoleGrant | None:
        """The grant of `role` to the ROLE or USER `grantee`, if any."""
        return self._role_grants_to.get((granted_to, grantee), {}).get(role)

    def add_role_grant(self, grant: RoleGrant) -> None:
        self.role_grants.append(grant)
        self._role_grants_to.setdefault((grant.granted_to, grant.grantee), {}).setdefault(
            grant.role, grant
        )

    def remove_role_grants(self, drop: Callable[[RoleGrant], bool]) -> None:
        """Remove every role grant `drop` selects (rare: revokes and DROP ROLE)."""
        self.role_grants = [g for g in self.role_grants if not drop(g)]
        self.reindex_grants()

    def privilege_grants_on(self, granted_on: str, name: str) -> list[PrivilegeGrant]:
        """The privilege grants on one object, in grant order (a copy)."""
        return list(self._privilege_grants_on.get((granted_on, name), ()))

    def add_privilege_grant(self, grant: PrivilegeGrant) -> None:
        self.privilege_grants.append(grant)
        self._privilege_grants_on.setdefault((grant.granted_on, grant.name), []).append(grant)

    def remove_privilege_grants(self, victims: list[PrivilegeGrant]) -> None:
        """Remove these grant objects (by identity); no-op (and no scan) when empty."""
        if not victims:
            return
        gone = {id(g) for g in victims}
        self.privilege_grants = [g for g in self.privilege_grants if id(g) not in gone]
        self.reindex_grants()

    # ---- lookups -----------------------------------------------------------
    def user_by_login(self, login: str) -> User | None:
        wanted = login_key(login)
        for user in self.users.values():
            if login_key(user.login_name) == wanted:
                return user
        return None

    def user_by_password(self, login: str, password: str) -> User | None:
        """The user whose login name and password these are (constant-time compare), else None."""
        user = self.user_by_login(login)
        if user is None or user.password is None:
            return None
        if not secrets.compare_digest(user.password.encode(), password.encode()):
            return None
        return user

    def roles_granted_to_user(self, user_name: str) -> set[str]:
        """Roles granted directly to a user, plus PUBLIC (every user has it)."""
        out = {"PUBLIC"}
        out.update(self._role_grants_to.get(("USER", user_name), {}))
        return out

    def inherited_roles(self, role: str) -> set[str]:
        """`role` and every role it inherits through role-to-role grants."""
        seen = {role, "PUBLIC"}
        stack = [role]
        while stack:
            current = stack.pop()
            for granted in self._role_grants_to.get(("ROLE", current), {}):
                if granted not in seen:
                    seen.add(granted)
                    stack.append(granted)
        return seen

    def user_has_role(self, user_name: str, role: str) -> bool:
        """Can the user USE ROLE `role` (directly or through a granted role)?"""
        return any(role in self.inherited_roles(r) for r in self.roles_granted_to_user(user_name))

    def objects_with_privilege(self, role: str, privilege: str) -> set[tuple[str, str]]:
        """(granted_on, name) of every object `role` (or a role it inherits) holds
        `privilege` or OWNERSHIP on: one walk of the role graph, one scan of the grants."""
        roles = self.inherited_roles(role)
        return {
            (g.granted_on, g.name)
            for g in self.privilege_grants
            if g.grantee in roles and g.privilege in (privilege, "OWNERSHIP")
        }

    def role_has_privilege(self, role: str, privilege: str, granted_on: str, name: str) -> bool:
        """Does `role` (or a role it inherits) hold `privilege` or OWNERSHIP on the object?"""
        return (granted_on, name) in self.objects_with_privilege(role, privilege)

    def schema(self, database: str, schema: str) -> Schema | None:
        db = self.databases.get(database)
        return db.schemas.get(schema) if db else None

    def mcp_server(self, database: str, schema: str, name: str) -> McpServer | None:
        db = self.databases.get(database)
        sch = db.schemas.get(schema) if db else None
        return sch.mcp_servers.get(name) if sch else None

    def integration_names(self) -> set[str]:
        """Every security integration's name: both kinds share one namespace."""
        return set(self.integrations) | set(self.external_integrations)

    def cortex_search_service(
        self, database: str, schema: str, name: str
    ) -> CortexSearchService | None:
        db = self.databases.get(database)
        sch = db.schemas.get(schema) if db else None
        return sch.cortex_search_services.get(name) if sch else None

    # ---- persistence -------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (datetimes as ISO strings)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lock"}
        return _jsonable(
            {
                **data,
                "users": [asdict(u) for u in self.users.values()],
                "roles": [asdict(r) for r in self.roles.values()],
                "warehouses": [asdict(w) for w in self.warehouses.values()],
                "databases": [asdict(d) for d in self.databases.values()],
                "integrations": [asdict(i) for i in self.integrations.values()],
                "external_integrations": [asdict(i) for i in self.external_integrations.values()],
                "privilege_grants": [asdict(g) for g in self.privilege_grants],
                "role_grants": [asdict(g) for g in self.role_grants],
                "delegations": [asdict(d) for d in self.delegations],
                "access_tokens": [asdict(t) for t in self.access_tokens],
            }
        )

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Account:
        def load_db(d: dict[str, Any]) -> Database:
            schemas = {}
            for s in d.pop("schemas").values():
                css = {
                    c["name"]: _build(CortexSearchService, c)
                    for c in s.pop("cortex_search_services").values()
                }
                mcps = {m["name"]: _build(McpServer, m) for m in s.pop("mcp_servers").values()}
                views = {k: _build(SemanticView, v) for k, v in s.pop("semantic_views", {}).items()}
                agents = {k: _build(Agent, v) for k, v in s.pop("agents", {}).items()}
                funcs = {k: _build(Routine, v) for k, v in s.pop("functions", {}).items()}
                procs = {k: _build(Routine, v) for k, v in s.pop("procedures", {}).items()}
                schemas[s["name"]] = _build(
                    Schema, s, cortex_search_services=css, mcp_servers=mcps,
                    semantic_views=views, agents=agents, functions=funcs, procedures=procs,
                )  # fmt: skip
            return _build(Database, d, schemas=schemas)

        return cls(
            name=state["name"],
            users={u["name"]: _build(User, u) for u in state["users"]},
            roles={r["name"]: _build(Role, r) for r in state["roles"]},
            warehouses={w["name"]: _build(Warehouse, w) for w in state["warehouses"]},
            databases={d["name"]: load_db(dict(d)) for d in state["databases"]},
            integrations={i["name"]: _build(OAuthIntegration, i) for i in state["integrations"]},
            external_integrations={
                i["name"]: _build(ExternalOAuthIntegration, i)
                for i in state.get("external_integrations", [])
            },
            parameters=dict(state.get("parameters", {})),
            privilege_grants=[_build(PrivilegeGrant, g) for g in state["privilege_grants"]],
            role_grants=[_build(RoleGrant, g) for g in state["role_grants"]],
            delegations=[_build(Delegation, d) for d in state.get("delegations", [])],
            access_tokens=[_build(AccessToken, t) for t in state.get("access_tokens", [])],
            oauth_state=state.get("oauth_state", {}),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _build(kind: type, data: dict[str, Any], **overrides: Any) -> Any:
    values = dict(data)
    values.update(overrides)
    for moment in ("created_on", "expires_on"):
        if isinstance(values.get(moment), str):
            values[moment] = datetime.fromisoformat(values[moment])
    return kind(**values)
