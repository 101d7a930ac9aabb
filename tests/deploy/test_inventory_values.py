"""The token_service role takes the inventory's derived values from the model (snowmcp.core inventory filters).

These once disagreed with the workstation play: the service kept `_` in the account
host name, added `:443` after an explicit host and used the first MCP role as written.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.snowmcp.core.plugins.module_utils.inventory_model import account_url

from .render import render

UNIT = "snowmcp-token-service"


def service_env(tmp_path: Path, **variables: object) -> dict[str, str]:
    root = tmp_path / "root"
    render(tmp_path, {"runtime": "systemd", "url": "https://snowmcp.example.com", "systemd_root": str(root),
                      "systemd_manage": False, "install": False}, "-e", json.dumps(variables))  # fmt: skip
    lines = (root / f"etc/{UNIT}/service.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_service_settings_follow_the_model(tmp_path: Path) -> None:
    connection = {"account": "MyOrg-My_Account", "user": "ANSIBLE", "role": "ACCOUNTADMIN"}
    # (No absent user: offboarding calls the service, which a render does not start.)
    users = [
        {"login": "alice@example.com", "roles": ["mcp_users"]},
        {"login": "carol@example.com", "roles": ["mcp_users"], "state": "present"},
    ]
    env = service_env(tmp_path, snowflake_connection=connection, mcp_users=users,
                      snowflake_mcp_roles=[{"name": "mcp_users"}])  # fmt: skip
    # One account URL rule for every play (the workstation role reads the same filter).
    assert env["SNOWMCP_SNOWFLAKE_URL"] == "https://myorg-my-account.snowflakecomputing.com"
    assert env["SNOWMCP_SNOWFLAKE_URL"] == account_url({"snowflake_connection": connection})
    # The role as Snowflake stores it, which the account play puts in allowed_roles.
    assert env["SNOWMCP_ROLE"] == "MCP_USERS"
    assert env["SNOWMCP_ALLOWED_USERS"] == "alice@example.com,carol@example.com"


# No `:443` after an explicit host: the service's URL is account_url's (asserted above), and
# tests/ansible/test_inventory_model.py::test_account_url_is_what_both_plays_used_to_disagree_on
# checks that rule on the filter itself (a second render proved nothing more).
