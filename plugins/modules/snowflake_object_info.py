#!/usr/bin/python
"""Ansible module snowflake_object_info: check that named Snowflake objects exist (preflight)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_object_info
short_description: Report which of the named roles, databases, schemas, warehouses and MCP tool objects do not exist
description:
  - Checks many objects with a constant number of reads, one per object type that has names to check
    (C(SHOW ROLES), C(SHOW DATABASES), C(SHOW SCHEMAS IN ACCOUNT), C(SHOW CORTEX SEARCH SERVICES IN ACCOUNT),
    C(SHOW WAREHOUSES), C(SHOW SEMANTIC VIEWS IN ACCOUNT), C(SHOW AGENTS IN ACCOUNT),
    C(SHOW USER FUNCTIONS IN ACCOUNT), C(SHOW PROCEDURES IN ACCOUNT)); never one read per object. Types with no
    names are not read.
  - Functions and procedures are checked by signature (name and argument types).
  - Names follow Snowflake's identifier rules - a plain name is upper-cased (C(sysadmin) is C(SYSADMIN)), a
    double-quoted one (C("Mixed")) is taken verbatim - and compare with the names as Snowflake stores them.
  - An object the connection's role cannot see is reported missing, as Snowflake itself would
    ("does not exist or not authorized").
  - Read-only; never reports a change. Runs in check mode too. The account play uses it to fail, before any
    change, when the inventory names objects that do not exist.
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
options:
  roles:
    description: Role names.
    type: list
    elements: str
    default: []
  databases:
    description: Database names.
    type: list
    elements: str
    default: []
  schemas:
    description: Schema names, qualified C(DATABASE.SCHEMA).
    type: list
    elements: str
    default: []
  cortex_search_services:
    description: Cortex Search service names, qualified C(DATABASE.SCHEMA.SERVICE).
    type: list
    elements: str
    default: []
  warehouses:
    description: Warehouse names.
    type: list
    elements: str
    default: []
  semantic_views:
    description: Semantic view names, qualified C(DATABASE.SCHEMA.VIEW).
    type: list
    elements: str
    default: []
  agents:
    description: Cortex Agent names, qualified C(DATABASE.SCHEMA.AGENT).
    type: list
    elements: str
    default: []
  functions:
    description: User-defined functions with their argument types, C(DATABASE.SCHEMA.NAME(NUMBER, VARCHAR)).
    type: list
    elements: str
    default: []
  procedures:
    description: Stored procedures with their argument types, C(DATABASE.SCHEMA.NAME(NUMBER)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Do the objects the MCP tools use exist?
  snowmcp.core.snowflake_object_info:
    roles: [SYSADMIN]
    databases: [AICOLLEGE]
    schemas: [AICOLLEGE.PUBLIC]
    cortex_search_services: [AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED]
    warehouses: [COMPUTE_WH]
  register: objects

- name: Stop before any change when one is missing
  ansible.builtin.assert:
    that: objects.missing | length == 0
    fail_msg: "Missing: {{ objects.missing | join(', ') }}"
"""

RETURN = r"""
missing:
  description:
    - C(<TYPE> <name>) for every requested object that does not exist (or is not visible to the role),
      names as SHOW prints them inside qualified names, in the order of the options.
  returned: always
  type: list
  elements: str
  sample: ['ROLE SYSADMN', 'CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.NO_SUCH_SEARCH']
exists:
  description: Per option, each requested name (canonical form) -> whether it exists.
  returned: always
  type: dict
  sample:
    roles: {SYSADMIN: true, SYSADMN: false}
    warehouses: {COMPUTE_WH: true}
queries:
  description: Statements run (at most one per object type).
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
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    IdentifierError,
    normalize,
    parse_routine,
    qualified,
    qualified_display,
    split_qualified,
)

# option -> (type word in `missing`, parts in a name, the read, the SHOW columns forming the name)
KINDS: dict[str, tuple[str, int, str, tuple[str, ...]]] = {
    "roles": ("ROLE", 1, "SHOW ROLES", ("name",)),
    "databases": ("DATABASE", 1, "SHOW DATABASES", ("name",)),
    "schemas": ("SCHEMA", 2, "SHOW SCHEMAS IN ACCOUNT", ("database_name", "name")),
    "cortex_search_services": (
        "CORTEX SEARCH SERVICE",
        3,
        "SHOW CORTEX SEARCH SERVICES IN ACCOUNT",
        ("database_name", "schema_name", "name"),
    ),
    "warehouses": ("WAREHOUSE", 1, "SHOW WAREHOUSES", ("name",)),
    "semantic_views": (
        "SEMANTIC VIEW", 3, "SHOW SEMANTIC VIEWS IN ACCOUNT", ("database_name", "schema_name", "name"),
    ),
    "agents": ("AGENT", 3, "SHOW AGENTS IN ACCOUNT", ("database_name", "schema_name", "name")),
    "functions": ("FUNCTION", 3, "SHOW USER FUNCTIONS IN ACCOUNT", ("catalog_name", "schema_name", "arguments")),
    "procedures": ("PROCEDURE", 3, "SHOW PROCEDURES IN ACCOUNT", ("catalog_name", "schema_name", "arguments")),
}  # fmt: skip
# Options whose names carry argument types; their rows' `arguments` read `F(NUMBER) RETURN NUMBER`.
ROUTINES = ("functions", "procedures")


def routine_key(row: dict[str, Any]) -> str | None:
    """`DB.S.F(NUMBER, VARCHAR)` from a SHOW USER FUNCTIONS / SHOW PROCEDURES row (None if unreadable)."""
    signature = str(row.get("arguments") or "").split(" RETURN ", 1)[0]
    name, _paren, args = signature.partition("(")
    try:
        return parse_routine(qualified([str(row.get("catalog_name")), str(row.get("schema_name")), name]) + "(" + args)
    except IdentifierError:
        return None


def parse(option: str, name: str) -> tuple[str, ...]:
    """A requested name as stored parts; a one-part name follows `normalize` (so `"Mixed"` keeps its case)."""
    if option in ROUTINES:
        return (parse_routine(name),)
    _word, count, _sql, _cols = KINDS[option]
    parts = (normalize(name),) if count == 1 else tuple(split_qualified(name))
    if len(parts) != count:
        raise IdentifierError(f"{option}: {name!r} must have {count} dot-separated parts")
    return parts


def check(requested: dict[str, list[str]], rows_by_option: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Compare requested names with SHOW rows; pure, so unit-testable."""
    missing: list[str] = []
    exists: dict[str, dict[str, bool]] = {}
    for option, names in requested.items():
        word, _count, _sql, cols = KINDS[option]
        rows = rows_by_option.get(option, [])
        present: set[tuple[str, ...]] = set()
        if option in ROUTINES:
            # A row whose signature cannot be read matches no requested name: leave it out.
            for row in rows:
                routine = routine_key(row)
                if routine is not None:
                    present.add((routine,))
        else:
            present = {tuple(str(r.get(c)) for c in cols) for r in rows}
        exists[option] = {}
        for name in names:
            parts = parse(option, name)
            key = parts[0] if option in ROUTINES else qualified_display(list(parts))
            found = parts in present
            exists[option][key] = found
            if not found and f"{word} {key}" not in missing:
                missing.append(f"{word} {key}")
    return {"missing": missing, "exists": exists}


def main() -> None:
    module = snowflake_module({option: {"type": "list", "elements": "str", "default": []} for option in KINDS})

    def body(runner: Runner) -> dict[str, Any]:
        requested = {option: list(module.params[option] or []) for option in KINDS}
        for option, names in requested.items():
            for name in names:
                parse(option, name)  # a bad name fails before any read
        wanted = [option for option, names in requested.items() if names]
        reads = [(KINDS[o][2], f"reading {o.replace('_', ' ')}") for o in wanted]
        rows = dict(zip(wanted, runner.read_many(reads)))
        return {"changed": False, **check(requested, rows)}

    run_module(module, body)


if __name__ == "__main__":
    main()
