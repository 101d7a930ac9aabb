"""Filters that read the inventory's meaning from the model (plugins/module_utils/inventory_model.py).

The roles and playbooks use these instead of re-deriving values in Jinja. Each
filter is documented in the YAML file of the same name next to this one
(`ansible-doc -t filter snowmcp.core.<name>`).

`inventory` is a mapping of the inventory variables a filter reads
(`snowflake_account_url`, `snowflake_connection`, `snowflake_mcp_roles`,
`snowflake_mcp_servers`, `mcp_users`, `token_service`); the roles build it in
their vars/main.yml. The user filters take `mcp_users` itself.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils import inventory_model as model


def _inventory(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _users(mcp_users: Any) -> dict[str, Any]:
    return {"mcp_users": mcp_users if isinstance(mcp_users, list) else []}


def _servers(inventory: dict[str, Any], servers: list[model.McpServer]) -> list[dict[str, Any]]:
    base = model.account_url(inventory)
    return [s.as_dict(base) for s in servers]


def account_url(inventory: Any) -> str:
    return model.account_url(_inventory(inventory))


def service_url(inventory: Any) -> str:
    return model.service_url(_inventory(inventory))


def users_with_login(mcp_users: Any, login: str) -> list[dict[str, Any]]:
    return [u.as_dict() for u in model.users_with_login(_users(mcp_users), str(login))]


def host_users(mcp_users: Any, host: str, login: Any = None, host_roles: Any = None) -> list[dict[str, Any]]:
    inv = {**_users(mcp_users), "mcp_host_roles": host_roles}
    return [u.as_dict() for u in model.host_users(inv, str(host), None if login is None else str(login))]


def user_servers(inventory: Any, login: str) -> list[dict[str, Any]]:
    inv = _inventory(inventory)
    users = model.users_with_login(inv, str(login))
    return _servers(inv, model.user_servers(inv, users[0])) if len(users) == 1 else []


def unix_account(mcp_users: Any, login: str, rule: Any = "none", override: Any = "") -> dict[str, Any]:
    """`{"name": <account or "">, "problem": <why it cannot be used, or "">}` for the user `login`
    (`override`, the role's mcp_workstation_unix_user, wins when not empty)."""
    users = model.users_with_login(_users(mcp_users), str(login))
    rule = "none" if rule is None else str(rule)
    name = model.unix_account(users[0], rule) if len(users) == 1 else None
    if override:
        name = str(override)
    return {"name": name or "", "problem": model.unix_account_problem(name, rule) or ""}


def unix_account_problems(mcp_users: Any, host: str, logins: Any, rule: Any = "none", required: bool = False,
                          passwd: Any = None) -> list[str]:
    """Why the users `logins` cannot be set up on `host` as their local accounts: one line per user, empty when all can.

    `passwd` is the host's passwd database as ansible.builtin.getent returns it (name -> [password,
    uid, gid, gecos, home, shell]). `required` (managed mode): every user needs an account. A
    departed user (`state: absent`) whose account is already gone has nothing left to clean up.
    """
    rule = "none" if rule is None else str(rule)
    accounts = passwd if isinstance(passwd, dict) else {}
    out = []
    for login in logins if isinstance(logins, list) else []:
        users = model.users_with_login(_users(mcp_users), str(login))
        if len(users) != 1:
            continue  # the role says so, with the user's other settings
        user = users[0]
        name = model.unix_account(user, rule)
        if name is None and not required:
            continue
        problem = model.unix_account_problem(name, rule)
        entry = accounts.get(name) if name else None
        if problem is None and entry is None and user.present:
            problem = f"the local account {name!r} does not exist"
        elif problem is None and entry is not None and str(entry[1]) == "0":
            problem = f"the local account {name!r} is root (uid 0)"
        if problem:
            out.append(f"{user.login} on {host}: {problem}")
    return out


def _login(login: Any) -> str | None:
    return None if login is None else str(login)


def host_servers(inventory: Any, host: str, login: Any = None, present: bool = True) -> list[dict[str, Any]]:
    inv = _inventory(inventory)
    return _servers(inv, model.host_servers(inv, str(host), _login(login), bool(present)))


def machine_logins(inventory: Any, host: str, login: Any = None, present: bool = True) -> list[str]:
    return [u.login for u in model.machine_users(_inventory(inventory), str(host), _login(login), bool(present))]


def token_service_role(inventory: Any) -> str:
    return model.token_service_role(_inventory(inventory)) or ""


def token_service_allowed_users(inventory: Any) -> list[str]:
    return model.token_service_allowed_users(_inventory(inventory))


def offboarded_logins(inventory: Any) -> list[str]:
    return model.offboarded_logins(_inventory(inventory))


def token_service_records_to_remove(inventory: Any, held: Any) -> list[str]:
    return model.records_to_remove(_inventory(inventory), list(held) if isinstance(held, list) else [])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            f.__name__: f
            for f in (
                account_url,
                service_url,
                users_with_login,
                host_users,
                unix_account,
                unix_account_problems,
                user_servers,
                host_servers,
                machine_logins,
                token_service_role,
                token_service_allowed_users,
                offboarded_logins,
                token_service_records_to_remove,
            )
        }
