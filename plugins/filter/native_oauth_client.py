"""Filter native_oauth_client: the OAuth client Claude Code signs in with in a native sign-in mode.

Written to the contract between the account and the workstation sides of issue 21: the inventory's
`mcp_auth_mode` and `mcp_native_oauth`, plus the fact `snowmcp_native_client_id` (the PUBLIC Snowflake
OAuth integration's client id, which the account play, or the workstation role itself, reads from
Snowflake). Documented in native_oauth_client.yml next to this file.
"""

from __future__ import annotations

from typing import Any

NATIVE_MODES = ("snowflake_oauth", "external_oauth")
DEFAULT_CALLBACK_PORT = 8765


def native_oauth_client(inventory: Any, client_id_fact: Any = None) -> dict[str, Any] | None:
    """{"client_id", "callback_port"} in a native mode, None in token_service mode.

    client_id is "" when it is not known yet (snowflake_oauth before the integration was read): the
    role refuses to write entries without one. Never raises: the plays assert on the result.
    """
    inv = inventory if isinstance(inventory, dict) else {}
    if (inv.get("mcp_auth_mode") or "token_service") not in NATIVE_MODES:
        return None
    native = inv.get("mcp_native_oauth")
    native = native if isinstance(native, dict) else {}
    explicit = native.get("client_id")
    explicit = explicit.strip() if isinstance(explicit, str) else ""
    fact = client_id_fact if client_id_fact is not None else inv.get("snowmcp_native_client_id")
    fact = fact.strip() if isinstance(fact, str) else ""
    # snowflake_oauth: Snowflake's OAUTH_CLIENT_ID (the fact); external_oauth: the IdP application's.
    client_id = (fact or explicit) if inv.get("mcp_auth_mode") == "snowflake_oauth" else explicit
    port = native.get("callback_port", DEFAULT_CALLBACK_PORT)
    try:
        port = int(port) if port not in (None, "") else DEFAULT_CALLBACK_PORT
    except (TypeError, ValueError):
        port = 0  # not a port: the role's assertion names it
    return {"client_id": client_id, "callback_port": port}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"native_oauth_client": native_oauth_client}
