"""Inventory source snowmcp.core.snowflake_users: mcp_users entries from the users SCIM provisions into Snowflake."""

from __future__ import annotations

DOCUMENTATION = r"""
name: snowflake_users
short_description: Users who hold given Snowflake roles (provisioned by SCIM from Okta or Entra ID) as mcp_users entries
description:
  - Reads from Snowflake the users who hold the roles in O(roles), directly or through roles the identity provider
    provisioned (roles owned by one of O(provisioner_roles)), with their login name, e-mail and disabled flag.
  - Sets the group variable C(mcp_directory_users) on C(all) - a list of C(mcp_users) entries whose C(roles) come
    from the O(roles) table - and C(mcp_directory) (what was read, for C(ansible-inventory --list)).
    The collection's playbooks merge it with the hand-written C(mcp_users) (filter C(snowmcp.core.mcp_users_merge));
    a hand-written entry wins where both name a user.
  - A disabled user, and a user who still holds one of the MCP roles directly but none of the mapped roles, is
    yielded with C(state=absent), so the next C(site.yml) run revokes the grants, removes the token service record
    and the workstation entries.
  - Reads in a constant number of requests however many users there are - one C(SHOW USERS), one C(SHOW ROLES), one
    C(SHOW GRANTS OF ROLE) per mapped role, MCP role and provisioned role holding a mapped role.
  - Adds no hosts. Runs once per C(ansible-playbook) or C(ansible-inventory) call, on the controller, with
    snowflake-connector-python.
  - The inventory file's name must end in C(snowflake_users.yml) or C(snowflake_users.yaml).
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
requirements:
  - snowflake-connector-python on the controller
options:
  plugin:
    description: Marks the file as a source for this plugin.
    required: true
    choices: [snowmcp.core.snowflake_users]
    type: str
  connection:
    description:
      - How to connect, with the keys of the inventory's C(snowflake_connection) (C(account), C(user),
        C(private_key_file), C(private_key_passphrase), C(password), C(token), C(authenticator), C(role),
        C(warehouse), C(connection_name), C(host), C(port), C(protocol), C(login_timeout)).
      - Each key missing here falls back to its C(SNOWFLAKE_*) environment variable, as the modules' options do.
        Values may use Jinja lookups (for example C(lookup('ansible.builtin.env', ...))); group variables are not
        available to an inventory source.
      - The role needs to see every user and every grant of the roles read - C(MANAGE GRANTS), for example
        C(SECURITYADMIN) or C(ACCOUNTADMIN).
    type: dict
    default: {}
  roles:
    description:
      - "Snowflake role (usually a SCIM-provisioned group role) -> the MCP roles its holders get, for example
        C({DATA_ANALYSTS: [MCP_USERS], SALES: [MCP_USERS, MCP_SALES]})."
      - A mapped role that does not exist fails the inventory rather than offboarding its holders.
    type: dict
    required: true
  provisioner_roles:
    description:
      - Roles whose roles count as provisioned by the identity provider; only such roles are followed when they
        hold a mapped role (a custom role granted to C(SYSADMIN) does not make every C(SYSADMIN) user an MCP user).
    type: list
    elements: str
    default: [AAD_PROVISIONER, OKTA_PROVISIONER, GENERIC_SCIM_PROVISIONER]
"""

EXAMPLES = r"""
# inventory/prod/snowflake_users.yml (beside hosts.yml and group_vars/ in an inventory folder)
plugin: snowmcp.core.snowflake_users
connection:
  account: ACME-PROD
  user: SNOWMCP_ANSIBLE
  authenticator: SNOWFLAKE_JWT
  private_key_file: ~/.snowflake/snowmcp_ansible.p8   # passphrase from SNOWFLAKE_PRIVATE_KEY_FILE_PWD
  role: SECURITYADMIN
roles:
  DATA_ANALYSTS: [MCP_USERS]            # Entra ID group "Data Analysts", pushed by SCIM
  SALES: [MCP_USERS, MCP_SALES]

# group_vars/all/users.yml: hand-written entries win; leave out `roles` to let the directory decide
# mcp_users:
#   - {login: alice@example.com, host: alice-laptop.corp.example.com, shell: zsh}
#   - {login: contractor@partner.example, roles: [MCP_USERS]}      # not in the identity provider

# See what it yields:
#   ansible-inventory -i inventory/prod --host localhost | jq .mcp_directory_users
"""

RETURN = r"""
mcp_directory_users:
  description:
    - Group variable of C(all) - one C(mcp_users) entry per user, sorted by login.
    - Holders of a mapped role get C(login) (Snowflake's login name), C(email) when set, and C(roles).
    - Disabled holders, and users who hold an MCP role directly but no mapped role, get C(state=absent).
  returned: always
  type: list
  elements: dict
  sample:
    - {login: alice@example.com, email: alice@example.com, roles: [MCP_USERS]}
    - {login: mallory@example.com, email: mallory@example.com, state: absent}
mcp_directory:
  description: Group variable of C(all) - what was read.
  returned: always
  type: dict
  contains:
    present:
      description: Number of entries with roles.
      type: int
    absent:
      description: Number of entries with C(state=absent).
      type: int
    followed_roles:
      description: Provisioned roles read because they hold a mapped role.
      type: list
      elements: str
    requests:
      description: Query requests sent to Snowflake.
      type: int
    queries:
      description: Statements run.
      type: list
      elements: str
"""

import os
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_connection import (
    connection_argument_spec,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_directory import (
    DirectoryError,
    directory_entries,
    parse_provisioners,
    parse_role_map,
    read_directory,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import (
    Runner,
    SnowflakeError,
)

INT_KEYS = ("port", "login_timeout")


def connection_params(raw: Any) -> dict[str, Any]:
    """The modules' connection parameters from the plugin's `connection`, with their environment fallbacks."""
    if not isinstance(raw, dict):
        raise DirectoryError("connection must be a mapping (the keys of snowflake_connection)")
    spec = connection_argument_spec()
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise DirectoryError(f"connection: unknown keys {', '.join(map(str, unknown))} (allowed: {', '.join(sorted(spec))})")
    params: dict[str, Any] = {}
    for key, option in spec.items():
        value = raw.get(key)
        if value in (None, ""):
            names = option.get("fallback", (None, []))[1]
            value = next((os.environ[n] for n in names if os.environ.get(n)), option.get("default"))
        if value in (None, ""):
            continue
        if key in INT_KEYS:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise DirectoryError(f"connection.{key} must be a whole number") from None
        elif key == "private_key_file":
            value = os.path.expanduser(str(value))
        params[key] = value if isinstance(value, int) else str(value)
    if params.get("protocol") not in (None, "http", "https"):
        raise DirectoryError("connection.protocol must be http or https")
    return params


class InventoryModule(BaseInventoryPlugin):
    NAME = "snowmcp.core.snowflake_users"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("snowflake_users.yml", "snowflake_users.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        runner = None
        try:
            role_map = parse_role_map(self.get_option("roles"))
            provisioners = parse_provisioners(self.get_option("provisioner_roles"))
            # Lookups in the values (env, file, vault) are rendered; the file is trusted like any inventory.
            params = connection_params(self.templar.template(self.get_option("connection")))
            runner = Runner(params)
            read = read_directory(runner, role_map, provisioners)
            entries = directory_entries(read, role_map)
        except (DirectoryError, SnowflakeError, ValueError) as exc:
            detail = runner.mask(str(exc)) if runner is not None else str(exc)
            raise AnsibleParserError(f"{path}: {detail}") from None
        finally:
            if runner is not None:
                runner.close()
        self.inventory.set_variable("all", "mcp_directory_users", entries)
        self.inventory.set_variable(
            "all",
            "mcp_directory",
            {
                "present": sum(1 for e in entries if "roles" in e),
                "absent": sum(1 for e in entries if e.get("state") == "absent"),
                "followed_roles": read.followed,
                "requests": runner.requests,
                "queries": runner.queries,
            },
        )
