"""The native sign-in client of the MCP servers: what the workstation role writes as `oauth`.

The logic lives in plugins/module_utils/snowflake_native_plan.py (pure, unit-tested);
documented in native_oauth_client.yml next to this file.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils import snowflake_native_plan as plan


def native_oauth_client(inventory: Any, client_id: Any = None) -> Any:
    inv = inventory if isinstance(inventory, dict) else {}
    return plan.native_oauth_client(inv, client_id)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"native_oauth_client": native_oauth_client}
