"""Filters for the snowflake_account role: inventory validation and the module-argument plan.

The logic lives in plugins/module_utils/snowflake_inventory.py (pure and
unit-tested); these filters only expose it to the role's tasks. Each filter is
documented in the YAML file of the same name next to this one
(`ansible-doc -t filter snowmcp.core.<name>`).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils import snowflake_inventory as model


def inventory_problems(inventory: dict[str, Any]) -> list[str]:
    return model.validate_inventory(_plain(inventory))


def account_plan(inventory: dict[str, Any], resolved_users: dict[str, Any]) -> dict[str, Any]:
    return model.account_plan(_plain(inventory), _plain(resolved_users or {}))


def required_objects(inventory: dict[str, Any]) -> dict[str, Any]:
    return model.required_objects(_plain(inventory))


def missing_objects_report(required: dict[str, Any], missing: list[str]) -> list[str]:
    return model.missing_objects_report(_plain(required), _plain(missing or []))


def _plain(value: Any) -> Any:
    """Drop Ansible's tagged/lazy container types so the pure code sees dicts, lists and scalars."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "inventory_problems": inventory_problems,
            "account_plan": account_plan,
            "required_objects": required_objects,
            "missing_objects_report": missing_objects_report,
        }
