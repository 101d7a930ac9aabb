"""The inventory's meaning, written once: who lives where, who gets which MCP server, what the service needs.

Every role reads these values through the collection's filters
(plugins/filter/inventory_model.py) instead of re-deriving them in Jinja, so
the account play, the token service and the workstations cannot disagree about
an account URL, a login, a role or a user's servers.

The functions take the raw inventory (a mapping of the inventory variables;
missing ones may be absent or None) and never raise on bad input: the
workstation and service plays run on inventories the account play has
validated (snowflake_inventory.validate_inventory), but they must still fail
with their own clear assertion, not a Python traceback, when an entry is
malformed. A malformed entry simply matches nothing.

Python 3.9 compatible (runs wherever the filters run): no `X | Y` at runtime.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    login_key,
    normalize,
)

PRESENT, ABSENT = "present", "absent"
DEFAULT_SHELL = "bash"
# Inventory host names that mean "the machine the play runs on" (onboarding a user there
# configures them even when their `host` names another machine).
LOCAL_HOSTS = ("localhost", "127.0.0.1")
ACCOUNT_DOMAIN = "snowflakecomputing.com"
# How a user's local account on a shared machine is found when their entry has no `unix_user`
# (the host or group variable mcp_workstation_unix_user_rule): `none` (every user on a managed
# host needs `unix_user`), `login_local_part` (the login's part before its last `@`, lower-cased:
# `Alice.Smith@example.com` -> `alice.smith`).
UNIX_USER_RULES = ("none", "login_local_part")
# A portable local account name (POSIX portable filename characters, not starting with `-`,
# at most 32 characters as useradd allows): anything else is refused, never "cleaned up".
_UNIX_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


def same_login(a: str, b: str) -> bool:
    """Whether Snowflake sees one login: the case of A-Z is ignored, nothing else is folded (É is not é)."""
    return login_key(a) == login_key(b)


def _stored(name: Any) -> str | None:
    """A role/server name as Snowflake stores it (`mcp_users` -> `MCP_USERS`), or None if it is not a name."""
    try:
        return normalize(name) if isinstance(name, str) else None
    except IdentifierError:
        return None


def _entries(inv: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = inv.get(key)
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _names(value: Any) -> tuple[str, ...]:
    """The stored forms of a list of names; entries that are not names are dropped."""
    if not isinstance(value, list):
        return ()
    return tuple(s for s in (_stored(v) for v in value) if s is not None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


# --- the Snowflake account URL ---------------------------------------------------------------


def account_url(inv: dict[str, Any]) -> str:
    """Base URL of the Snowflake account (OAuth endpoints, MCP server URLs), without a trailing slash.

    One rule for every play:
    1. `snowflake_account_url` when set (a private-link or custom URL), as given;
    2. `snowflake_connection.host` (the emulator): `<protocol>://<host>[:<port>]`, protocol
       https unless given, the port only when given;
    3. `https://<account>.snowflakecomputing.com` with the account identifier lower-cased and
       every `_` written `-`: host names may not contain `_`, and Snowflake serves each
       account under that hyphenated name too (`MYORG-MY_ACCOUNT` -> `myorg-my-account`).
    "" when none of them is known (only `connection_name`): the plays then ask for
    `snowflake_account_url`.
    """
    explicit = _text(inv.get("snowflake_account_url")).strip()
    if explicit:
        return explicit.rstrip("/")
    conn = inv.get("snowflake_connection")
    conn = conn if isinstance(conn, dict) else {}
    host = _text(conn.get("host")).strip()
    if host:
        protocol = _text(conn.get("protocol")).strip() or "https"
        port = _text(conn.get("port")).strip()
        return f"{protocol}://{host}" + (f":{port}" if port else "")
    account = _text(conn.get("account")).strip()
    if account:
        return f"https://{account.lower().replace('_', '-')}.{ACCOUNT_DOMAIN}"
    return ""


def service_url(inv: dict[str, Any]) -> str:
    """The token service's public base URL (`token_service.url`) without trailing slashes; "" when unset."""
    ts = inv.get("token_service")
    return _text(ts.get("url")).rstrip("/") if isinstance(ts, dict) else ""


# --- MCP servers and users --------------------------------------------------------------------


@dataclass(frozen=True)
class McpServer:
    """An entry of snowflake_mcp_servers; `roles` as Snowflake stores them."""

    name: str
    database: str
    schema: str
    roles: tuple[str, ...]
    state: str = PRESENT

    def url(self, base: str) -> str:
        """The server's MCP endpoint under the account URL `base`."""
        return f"{base}/api/v2/databases/{self.database}/schemas/{self.schema}/mcp-servers/{self.name}"

    def as_dict(self, base: str) -> dict[str, Any]:
        return {"name": self.name, "database": self.database, "schema": self.schema, "url": self.url(base)}


@dataclass(frozen=True)
class McpUser:
    """An entry of mcp_users with its defaults filled in; `roles` and `servers` as Snowflake stores them."""

    login: str
    roles: tuple[str, ...]
    state: str = PRESENT
    host: str | None = None
    shell: str = DEFAULT_SHELL
    # None: every server the user's roles reach; a tuple narrows that to these names.
    servers: tuple[str, ...] | None = None
    # The user's local account on their host(s) (shared machines): the role works in that
    # account's home, as that account. None: not named (see unix_account for the host rule).
    unix_user: str | None = None

    @property
    def present(self) -> bool:
        return self.state == PRESENT

    @property
    def shells(self) -> list[str]:
        """Shells whose start-up files get the managed block: the one `shell` names (`/bin/zsh` -> zsh)."""
        return [posixpath.basename(self.shell)]

    def as_dict(self) -> dict[str, Any]:
        """The user as the plays see it (defaults filled in, `shells` derived); servers not included."""
        return {"login": self.login, "roles": list(self.roles), "state": self.state,
                "host": self.host, "shell": self.shell, "shells": self.shells, "unix_user": self.unix_user}

    def reaches(self, server: McpServer) -> bool:
        """Whether the workstation set-up configures `server` for this user (whatever the user's state).

        A server that is present in the inventory, one of whose roles the user holds
        (role names compare as Snowflake stores them), and, when the user has a
        `servers` list, named in it (compared the same way).
        """
        if server.state != PRESENT or not set(server.roles) & set(self.roles):
            return False
        return self.servers is None or _stored(server.name) in self.servers


def mcp_servers(inv: dict[str, Any]) -> list[McpServer]:
    """The entries of snowflake_mcp_servers that name a server (others are the validation's business)."""
    out = []
    for entry in _entries(inv, "snowflake_mcp_servers"):
        parts = [entry.get(k) for k in ("name", "database", "schema")]
        if not all(isinstance(v, str) and v for v in parts):
            continue
        name, database, schema = (str(v) for v in parts)
        out.append(McpServer(name, database, schema, _names(entry.get("roles")), _text(entry.get("state")) or PRESENT))
    return out


def mcp_users(inv: dict[str, Any]) -> list[McpUser]:
    """The entries of mcp_users that have a login, in inventory order."""
    out = []
    for entry in _entries(inv, "mcp_users"):
        login = entry.get("login")
        if not isinstance(login, str) or not login:
            continue
        host = entry.get("host")
        servers = entry.get("servers")
        unix_user = entry.get("unix_user")
        out.append(
            McpUser(
                login=login,
                roles=_names(entry.get("roles")),
                state=_text(entry.get("state")) or PRESENT,
                host=host if isinstance(host, str) and host else None,
                shell=_text(entry.get("shell")) or DEFAULT_SHELL,
                servers=None if servers is None else _names(servers),
                unix_user=unix_user if isinstance(unix_user, str) and unix_user else None,
            )
        )
    return out


def user_servers(inv: dict[str, Any], user: McpUser) -> list[McpServer]:
    """The MCP servers the workstation set-up gives `user`, in inventory order."""
    return [s for s in mcp_servers(inv) if user.reaches(s)]


def user_record(inv: dict[str, Any], user: McpUser) -> dict[str, Any]:
    """A user as the plays see it: the inventory entry with defaults, its shells and its servers (with URLs)."""
    base = account_url(inv)
    return {**user.as_dict(), "servers": [s.as_dict(base) for s in user_servers(inv, user)]}


def users_with_login(inv: dict[str, Any], login: str) -> list[McpUser]:
    """The users whose login is `login` (the validation refuses duplicates, so at most one in a valid inventory)."""
    return [u for u in mcp_users(inv) if same_login(u.login, login)]


def host_roles(inv: dict[str, Any]) -> tuple[str, ...]:
    """`mcp_host_roles` (a host or group variable) as Snowflake stores the names: the roles whose
    present holders without a `host` of their own use this machine (directory users, bound by group)."""
    return _names(inv.get("mcp_host_roles"))


def bound_by_role(user: McpUser, roles: tuple[str, ...]) -> bool:
    """Whether a user without `host` belongs on a machine whose `mcp_host_roles` are `roles`: a present
    user holding one of them. A user with a `host` stays bound to that one machine.

    Users to offboard are not bound by role: a user who leaves the directory group leaves the machine
    through the machine's own state (managed scope: managed-mcp.json holds the union of the present
    users' servers, so theirs go when nobody else needs them). Offboarding every departed user on every
    such machine would, in user scope without an account mapping, clear the one shared HOME the
    present users' entries live in.
    """
    if user.host is not None or not roles or not user.present:
        return False
    return bool(set(user.roles) & set(roles))


def host_users(inv: dict[str, Any], host: str, login: str | None = None) -> list[McpUser]:
    """The users to configure on inventory host `host`.

    Without `login`: the users whose `host` is `host`, then the users without `host` that the
    host's `mcp_host_roles` binds to it (bound_by_role). With `login`: that user, when their
    `host` is `host`, when they have no `host`, or when `host` is the machine the play
    runs on (localhost, 127.0.0.1) - so a user can be onboarded on their own machine.
    """
    if login is None:
        roles = host_roles(inv)
        users = mcp_users(inv)
        return [u for u in users if u.host == host] + [u for u in users if bound_by_role(u, roles)]
    named = users_with_login(inv, login)
    if host in LOCAL_HOSTS:
        return named
    return [u for u in named if u.host is None] + [u for u in named if u.host == host]


def unix_account(user: McpUser, rule: str = "none") -> str | None:
    """The local account `user` has on their host: `unix_user` when given, else what the host's rule
    (UNIX_USER_RULES) derives from the login; None when neither names one.

    The name is returned as given or derived, even when it is not a valid account name
    (unix_account_problem says so): the role must refuse it, not guess another account.
    """
    if user.unix_user is not None:
        return user.unix_user
    if rule == "login_local_part" and "@" in user.login:
        return user.login.rpartition("@")[0].lower()
    return None


def unix_account_problem(name: str | None, rule: str = "none") -> str | None:
    """Why `name` (from unix_account) cannot be used as a local account, or None when it can."""
    if rule not in UNIX_USER_RULES:
        return f"mcp_workstation_unix_user_rule must be one of {', '.join(UNIX_USER_RULES)}, not {rule!r}"
    if name is None:
        return "no local account: give the user `unix_user`, or set mcp_workstation_unix_user_rule for the host"
    if not _UNIX_USER.match(name):
        return f"{name!r} is not a local account name (letters, digits, `_`, `.`, `-`; at most 32; not starting with `-`)"
    if name == "root":
        return "the local account may not be root: the role works in a user's home as that user"
    return None


def machine_users(inv: dict[str, Any], host: str, login: str | None = None, present: bool = True) -> list[McpUser]:
    """The users a machine serves: the present users living on `host`, plus the user `login`
    being configured there when `present` (they may have no `host`: onboarded with -e mcp_user on
    their own machine; `present` is the role's state for them, which may override the inventory's)."""
    users = [u for u in host_users(inv, host) if u.present]
    if login is not None and present:
        users += [u for u in users_with_login(inv, login) if not any(same_login(u.login, v.login) for v in users)]
    return users


def host_servers(inv: dict[str, Any], host: str, login: str | None = None, present: bool = True) -> list[McpServer]:
    """Every MCP server the users of `machine_users` get, each once, in inventory order."""
    users = machine_users(inv, host, login, present)
    return [s for s in mcp_servers(inv) if any(u.reaches(s) for u in users)]


# --- the token service ------------------------------------------------------------------------


def _token_service(inv: dict[str, Any]) -> dict[str, Any]:
    ts = inv.get("token_service")
    return ts if isinstance(ts, dict) else {}


def mcp_role_names(inv: dict[str, Any]) -> list[str]:
    """The names of snowflake_mcp_roles as Snowflake stores them, in inventory order."""
    return [s for s in (_stored(r.get("name")) for r in _entries(inv, "snowflake_mcp_roles")) if s is not None]


def token_service_role(inv: dict[str, Any]) -> str | None:
    """The role access tokens are scoped to, as stored: `token_service.role`, else the first MCP role.

    None when `token_service.role` is not a name or there is no MCP role.
    """
    role = _token_service(inv).get("role")
    if role:
        return _stored(_text(role))
    names = mcp_role_names(inv)
    return names[0] if names else None


def token_service_allowed_users(inv: dict[str, Any]) -> list[str]:
    """Logins allowed to sign in: `token_service.allowed_users` when given, else the present users' logins."""
    explicit = _token_service(inv).get("allowed_users")
    if explicit is not None:
        return [_text(v) for v in explicit] if isinstance(explicit, list) else [_text(explicit)]
    return [u.login for u in mcp_users(inv) if u.present]


def offboarded_logins(inv: dict[str, Any]) -> list[str]:
    """Logins with `state: absent`: the token service deletes their tokens and API key."""
    return [u.login for u in mcp_users(inv) if u.state == ABSENT]


def records_to_remove(inv: dict[str, Any], held: list[str]) -> list[str]:
    """Which of the service's records (`held`: the usernames it holds) to delete, as login keys.

    Those of users with `state: absent`, and, when the allow-list is not empty, those it
    no longer names. Each once, in the order held; logins compare like Snowflake's.
    """
    absent = {login_key(u) for u in offboarded_logins(inv)}
    allowed = {login_key(u) for u in token_service_allowed_users(inv)}
    out: list[str] = []
    for key in (login_key(str(h)) for h in held):
        if (key in absent or (allowed and key not in allowed)) and key not in out:
            out.append(key)
    return out
