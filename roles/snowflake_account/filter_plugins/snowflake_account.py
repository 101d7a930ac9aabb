"""Filters for the snowflake_account role: inventory validation and the module-argument plan.

The logic lives in plugins/module_utils/snowflake_inventory.py (pure and
unit-tested); these filters only expose it to the role's tasks.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_inventory import (
    account_plan,
    missing_objects_report,
    required_objects,
    validate_inventory,
)


def snowmcp_inventory_problems(inventory: dict[str, Any]) -> list[str]:
    return validate_inventory(_plain(inventory))


def snowmcp_account_plan(inventory: dict[str, Any], resolved_users: dict[str, Any]) -> dict[str, Any]:
    return account_plan(_plain(inventory), _plain(resolved_users or {}))


def snowmcp_required_objects(inventory: dict[str, Any]) -> dict[str, Any]:
    return required_objects(_plain(inventory))


def snowmcp_missing_objects_report(required: dict[str, Any], missing: list[str]) -> list[str]:
    return missing_objects_report(_plain(required), _plain(missing or []))


def _plain(value: Any) -> Any:
    """Drop Ansible's tagged/lazy container types so the pure code sees dicts, lists and scalars."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "snowmcp_inventory_problems": snowmcp_inventory_problems,
            "snowmcp_account_plan": snowmcp_account_plan,
            "snowmcp_required_objects": snowmcp_required_objects,
            "snowmcp_missing_objects_report": snowmcp_missing_objects_report,
        }
