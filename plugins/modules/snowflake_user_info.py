#!/usr/bin/python
"""Ansible module snowflake_user_info: resolve login names to Snowflake users (preflight)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_user_info
short_description: Resolve login names to Snowflake users and report who is missing, disabled or lacks a default warehouse
description:
  - For a list of login names (usually SSO e-mail addresses), one C(SHOW USERS) tells which users exist, their
    user B(name) (what GRANT needs; SCIM may have upper-cased it), whether they are disabled, and their default
    role and warehouse.
  - Login names compare ignoring the case of the letters A-Z only, as Snowflake does. A login with no user is reported, never guessed.
  - Read-only; never reports a change. Runs in check mode too.
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
options:
  logins:
    description: Login names to look up.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Which inventory users has SCIM created?
  snowmcp.core.snowflake_user_info:
    logins: "{{ mcp_users | map(attribute='login') | list }}"
  register: users

- name: Report missing users
  ansible.builtin.debug:
    msg: "Not in Snowflake yet: {{ users.missing }}"
  when: users.missing | length > 0
"""

RETURN = r"""
users:
  description: One entry per requested login (keyed by the login as given).
  returned: always
  type: dict
  sample:
    alice@example.com:
      exists: true
      name: alice@example.com
      login_name: ALICE@EXAMPLE.COM
      disabled: false
      default_role: ANALYST
      default_warehouse: COMPUTE_WH
missing:
  description: Logins with no Snowflake user.
  returned: always
  type: list
  elements: str
disabled:
  description: Logins whose user is disabled.
  returned: always
  type: list
  elements: str
without_default_warehouse:
  description: Logins whose user has no default warehouse (SQL tools need one).
  returned: always
  type: list
  elements: str
queries:
  description: Statements run.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import login_key


def _bool(value: Any) -> bool:
    return str(value).strip().lower() == "true" if not isinstance(value, bool) else value


def _opt(value: Any) -> str | None:
    text = "" if value is None else str(value)
    return None if text in ("", "null", "None") else text


def resolve(logins: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_login: dict[str, dict[str, Any]] = {}
    for row in rows:
        login = str(row.get("login_name") or row.get("name") or "")
        by_login.setdefault(login_key(login), row)
    users: dict[str, Any] = {}
    missing: list[str] = []
    disabled: list[str] = []
    no_wh: list[str] = []
    for login in logins:
        found = by_login.get(login_key(login))
        if found is None:
            users[login] = {"exists": False}
            missing.append(login)
            continue
        row = found
        entry = {
            "exists": True,
            "name": row["name"],
            "login_name": row.get("login_name"),
            "disabled": _bool(row.get("disabled")),
            "default_role": _opt(row.get("default_role")),
            "default_warehouse": _opt(row.get("default_warehouse")),
        }
        users[login] = entry
        if entry["disabled"]:
            disabled.append(login)
        if not entry["default_warehouse"]:
            no_wh.append(login)
    return {"users": users, "missing": missing, "disabled": disabled, "without_default_warehouse": no_wh}


def main() -> None:
    module = snowflake_module({"logins": {"type": "list", "elements": "str", "required": True}})

    def body(runner: Runner) -> dict[str, Any]:
        logins = module.params["logins"]
        rows = runner.read("SHOW USERS", "reading users") if logins else []
        return {"changed": False, **resolve(logins, rows)}

    run_module(module, body)


if __name__ == "__main__":
    main()
