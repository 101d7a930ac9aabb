#!/usr/bin/python
"""Ansible module snowflake_grants: a declarative set of grants for many roles in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_grants
short_description: Converge privileges, role-to-role and role-to-user grants for many roles at once
description:
  - Takes the whole set of grants for any number of roles and converges Snowflake to it in one call.
  - Reads each involved role once with C(SHOW GRANTS TO ROLE) (privileges it holds) and once with
    C(SHOW GRANTS OF ROLE) (who holds it), a few reads in parallel, diffs in memory, and sends all
    grants and revokes in batched multi-statement requests.
  - With O(state=exact), revokes what is not listed, but only for the managed roles (O(roles)) and only the
    grant kinds this module manages - the privileges O(privileges[].privileges) accepts on databases, schemas,
    warehouses, Cortex Search services, MCP servers, semantic views, agents, functions and procedures, and
    grants of the managed roles to roles and users.
    Other privileges (OWNERSHIP, C(CREATE TABLE) on a schema, anything on tables) are never touched.
  - Supports check mode (returns the plan) and diff mode (each affected role's grants before and after).
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
options:
  privileges:
    description: Privileges on objects, granted to roles.
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description: Grantee role (or a list of roles).
        type: raw
        required: true
      privileges:
        description:
          - Privileges - C(USAGE), C(SELECT) (semantic views), C(MONITOR), C(OPERATE), C(MODIFY), C(CREATE SCHEMA) or
            C(CREATE MCP SERVER).
        type: list
        elements: str
        default: [USAGE]
      object_type:
        description:
          - C(DATABASE), C(SCHEMA), C(WAREHOUSE), C(CORTEX SEARCH SERVICE), C(MCP SERVER), C(SEMANTIC VIEW), C(AGENT),
            C(FUNCTION) or C(PROCEDURE).
        type: str
        required: true
      objects:
        description:
          - Object names, qualified as the type needs (C(DB), C(DB.SCHEMA), C(DB.SCHEMA.NAME)).
          - Functions and procedures with their argument types, C(DB.SCHEMA.NAME(NUMBER, VARCHAR)), since Snowflake
            grants per signature.
        type: list
        elements: str
        required: true
  role_grants:
    description: Roles granted to other roles.
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description: The role granted.
        type: str
        required: true
      to_roles:
        description: Roles that receive O(role_grants[].role).
        type: list
        elements: str
        required: true
  user_grants:
    description: Roles granted to users.
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description: The role granted.
        type: str
        required: true
      users:
        description:
          - User B(names) (not login names; resolve logins with M(snowmcp.core.snowflake_user_info)). A name that is
            not a plain identifier (C(alice@example.com)) is used verbatim; write C('"jdoe"') to keep lower case.
        type: list
        elements: str
        required: true
  roles:
    description:
      - The managed roles for O(state=exact). Defaults to every role listed as O(privileges[].role),
        O(role_grants[].role) or O(user_grants[].role).
    type: list
    elements: str
  state:
    description:
      - C(present) grants what is listed; C(absent) revokes what is listed; C(exact) also revokes unlisted grants
        of the managed roles.
    type: str
    choices: [present, absent, exact]
    default: present
"""

EXAMPLES = r"""
- name: Everything MCP_USERS needs, and exactly those holders
  snowmcp.core.snowflake_grants:
    state: exact
    roles: [MCP_USERS]
    privileges:
      - {role: MCP_USERS, object_type: DATABASE, objects: [AICOLLEGE]}
      - {role: MCP_USERS, object_type: SCHEMA, objects: [AICOLLEGE.PUBLIC]}
      - {role: MCP_USERS, object_type: CORTEX SEARCH SERVICE, objects: [AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED]}
      - {role: MCP_USERS, object_type: MCP SERVER, objects: [AICOLLEGE.PUBLIC.GONG_MCP]}
    role_grants:
      - {role: MCP_USERS, to_roles: [SYSADMIN]}
    user_grants:
      - {role: MCP_USERS, users: [alice@example.com, BOB@EXAMPLE.COM]}
"""

RETURN = r"""
granted:
  description: Grants added (or planned, in check mode).
  returned: always
  type: list
  elements: str
  sample: ['USAGE ON DATABASE AICOLLEGE TO ROLE MCP_USERS', 'ROLE MCP_USERS TO USER "alice@example.com"']
revoked:
  description: Grants removed (or planned, in check mode).
  returned: always
  type: list
  elements: str
missing_roles:
  description: Roles that do not exist (only reported in check mode; otherwise they fail the module before any change).
  returned: always
  type: list
  elements: str
queries:
  description: Statements run (or planned, in check mode), in order.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_grants_plan import (
    Edge,
    Membership,
    build_desired,
    by_role,
    parse_grants_of,
    parse_grants_to,
    plan,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import ident


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    desired = build_desired(params["privileges"], params["role_grants"], params["user_grants"], params["roles"])
    state = params["state"]
    involved = desired.roles_to_read_to() | desired.roles_to_read_of()
    if not involved:
        return {"changed": False, "granted": [], "revoked": [], "missing_roles": []}
    # One cheap read up front: a missing role fails SHOW GRANTS, and we want a
    # clear error (or, in check mode, an empty starting point) before any change.
    existing = {r["name"] for r in runner.read("SHOW ROLES", "reading roles")}
    missing = sorted(involved - existing)
    grantee_roles = {m.grantee for m in desired.memberships if m.grantee_kind == "ROLE"}
    missing_grantees = sorted(grantee_roles - existing - involved)
    if (missing or missing_grantees) and not runner.check_mode and state != "absent":
        raise ValueError(f"roles do not exist: {', '.join(missing + missing_grantees)} (create them first)")

    reads: list[tuple[str, str]] = []
    kinds: list[tuple[str, str]] = []
    for role in sorted(desired.roles_to_read_to() & existing):
        reads.append((f"SHOW GRANTS TO ROLE {ident(role)}", f"reading grants to role {role}"))
        kinds.append(("to", role))
    for role in sorted(desired.roles_to_read_of() & existing):
        reads.append((f"SHOW GRANTS OF ROLE {ident(role)}", f"reading grants of role {role}"))
        kinds.append(("of", role))
    current: set[Edge] = set()
    for (kind, role), rows in zip(kinds, runner.read_many(reads)):
        current |= parse_grants_to(role, rows) if kind == "to" else parse_grants_of(role, rows)

    todo = plan(desired, current, state)
    users_needed = {m.grantee for m in todo.grant if isinstance(m, Membership) and m.grantee_kind == "USER"}
    if users_needed:
        names = {r["name"] for r in runner.read("SHOW USERS", "reading users")}
        unknown = sorted(users_needed - names)
        if unknown:
            raise ValueError(
                f"users do not exist: {', '.join(unknown)} (user_grants take user names; resolve login names "
                "with snowmcp.core.snowflake_user_info)"
            )
    runner.apply(todo.statements(), "applying grants")
    changed = bool(todo.grant or todo.revoke)
    result: dict[str, Any] = {
        "changed": changed,
        "granted": [e.describe() for e in todo.grant],
        "revoked": [e.describe() for e in todo.revoke],
        "missing_roles": missing,
    }
    if changed:
        touched = {e.role for e in todo.grant} | {e.role for e in todo.revoke}
        after = (current | set(todo.grant)) - set(todo.revoke)
        result["diff"] = {"before": by_role(current, touched), "after": by_role(after, touched)}
    return result


def main() -> None:
    module = snowflake_module(
        {
            "privileges": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "role": {"type": "raw", "required": True},
                    "privileges": {"type": "list", "elements": "str", "default": ["USAGE"]},
                    "object_type": {"type": "str", "required": True},
                    "objects": {"type": "list", "elements": "str", "required": True},
                },
            },
            "role_grants": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "role": {"type": "str", "required": True},
                    "to_roles": {"type": "list", "elements": "str", "required": True},
                },
            },
            "user_grants": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "role": {"type": "str", "required": True},
                    "users": {"type": "list", "elements": "str", "required": True},
                },
            },
            "roles": {"type": "list", "elements": "str"},
            "state": {"type": "str", "choices": ["present", "absent", "exact"], "default": "present"},
        }
    )
    run_module(module, lambda runner: converge(runner, module.params))


if __name__ == "__main__":
    main()
