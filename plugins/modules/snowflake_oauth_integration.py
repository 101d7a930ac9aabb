#!/usr/bin/python
"""Ansible module snowflake_oauth_integration: a custom OAuth security integration, altered in place."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_oauth_integration
short_description: Create or alter a custom OAuth security integration, export and rotate its client secrets
description:
  - Creates the integration when missing; otherwise C(ALTER)s only the options that differ. It never runs
    C(CREATE OR REPLACE) on an existing integration - that would mint a new client id and secrets and break the
    token service and every user's refresh token.
  - Options left unset are not managed. Snowflake's implicitly blocked privileged roles (ACCOUNTADMIN,
    SECURITYADMIN, ORGADMIN, GLOBALORGADMIN) shown in C(BLOCKED_ROLES_LIST) are ignored when comparing.
  - O(return_credentials=true) returns the client id and both client secrets; run that task with C(no_log true).
  - O(rotate_secret) refreshes one secret slot (the other keeps working), for rotation without downtime.
  - O(remove_delegated_authorizations) revokes the listed users' consents (offboarding); their refresh tokens
    stop working.
  - Supports check mode (returns the plan) and diff mode.
version_added: "0.1.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
  - snowmcp.core.snowflake_integration
options:
  state:
    description: Whether the integration should exist. C(absent) drops it (every token it issued stops working).
    type: str
    choices: [present, absent]
    default: present
  client_type:
    description:
      - C(OAUTH_CLIENT_TYPE). C(PUBLIC) is a client without a secret that must use PKCE (set O(enforce_pkce=true)),
        such as Claude Code signing in by itself.
      - Snowflake cannot change it on an existing integration; a different value fails with a clear error before
        any change. Use a new integration name for the other type (snowmcp keeps the token service's CONFIDENTIAL
        integration and the PUBLIC one of the native mode apart for that reason).
    type: str
    choices: [CONFIDENTIAL, PUBLIC]
  redirect_uri:
    description: C(OAUTH_REDIRECT_URI), the token service's C(/v1/oauth/callback). Required to create.
    type: str
  enabled:
    description: C(ENABLED).
    type: bool
  allow_non_tls_redirect_uri:
    description: C(OAUTH_ALLOW_NON_TLS_REDIRECT_URI); needed for an C(http://) redirect URI (test set-ups only).
    type: bool
  enforce_pkce:
    description: C(OAUTH_ENFORCE_PKCE).
    type: bool
  use_secondary_roles:
    description: C(OAUTH_USE_SECONDARY_ROLES).
    type: str
    choices: [IMPLICIT, NONE]
  pre_authorized_roles:
    description: C(PRE_AUTHORIZED_ROLES_LIST) (confidential clients only).
    type: list
    elements: str
  blocked_roles:
    description: C(BLOCKED_ROLES_LIST), besides the roles Snowflake blocks implicitly.
    type: list
    elements: str
  allowed_roles:
    description: C(ALLOWED_ROLES_LIST); the only roles an OAuth session may use (needs O(use_secondary_roles=NONE)).
    type: list
    elements: str
  issue_refresh_tokens:
    description: C(OAUTH_ISSUE_REFRESH_TOKENS).
    type: bool
  refresh_token_validity:
    description: C(OAUTH_REFRESH_TOKEN_VALIDITY) in seconds (86400 to 7776000).
    type: int
  access_token_validity:
    description: C(OAUTH_ACCESS_TOKEN_VALIDITY) in seconds (60 to 3600).
    type: int
  single_use_refresh_tokens:
    description: C(OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED).
    type: bool
  return_credentials:
    description: Return RV(client_id), RV(client_secret) and RV(client_secret_2). Use C(no_log true) on the task.
    type: bool
    default: false
  rotate_secret:
    description: Refresh one client secret slot (always a change). The other slot keeps working meanwhile.
    type: str
    choices: [OAUTH_CLIENT_SECRET, OAUTH_CLIENT_SECRET_2]
  remove_delegated_authorizations:
    description:
      - User B(names) whose delegated authorizations (consents, refresh tokens) to this integration are removed.
        Only users that have one are touched, so a re-run changes nothing.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Integration for the token service
  snowmcp.core.snowflake_oauth_integration:
    name: SNOWMCP_OAUTH
    redirect_uri: https://snowmcp.example.com/v1/oauth/callback
    enforce_pkce: true
    allowed_roles: [MCP_USERS]
    refresh_token_validity: 7776000

- name: Client id and secrets for the token service deploy
  snowmcp.core.snowflake_oauth_integration:
    name: SNOWMCP_OAUTH
    return_credentials: true
  register: oauth
  no_log: true

- name: A PUBLIC client for Claude Code's own sign-in (no secret; PKCE required)
  snowmcp.core.snowflake_oauth_integration:
    name: SNOWMCP_CLAUDE_CODE
    client_type: PUBLIC
    redirect_uri: http://localhost:8765/callback
    allow_non_tls_redirect_uri: true
    enforce_pkce: true
    allowed_roles: [MCP_USERS]

- name: Rotate the second secret slot
  snowmcp.core.snowflake_oauth_integration:
    name: SNOWMCP_OAUTH
    rotate_secret: OAUTH_CLIENT_SECRET_2
    return_credentials: true
  register: rotated
  no_log: true
"""

RETURN = r"""
name:
  description: The integration's stored name.
  returned: always
  type: str
  sample: SNOWMCP_OAUTH
action:
  description: C(create), C(alter), C(drop) or C(none) (secret rotation and delegation removal are reported separately).
  returned: always
  type: str
client_id:
  description: OAuth client id.
  returned: when O(return_credentials=true) and the integration exists (not in check mode before creation)
  type: str
client_secret:
  description: C(OAUTH_CLIENT_SECRET). Secret - register with C(no_log true).
  returned: when O(return_credentials=true) and the client is CONFIDENTIAL (a PUBLIC client has no secret)
  type: str
client_secret_2:
  description: C(OAUTH_CLIENT_SECRET_2). Secret - register with C(no_log true).
  returned: when O(return_credentials=true) and the client is CONFIDENTIAL
  type: str
rotated:
  description: The slot refreshed, if any.
  returned: always
  type: str
removed_delegations:
  description: Users whose delegated authorizations were removed.
  returned: always
  type: list
  elements: str
queries:
  description: Statements run (or planned, in check mode), in order. Never contains secrets.
  returned: always
  type: list
  elements: str
"""

import json
from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils import snowflake_integration_plan as plan
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_integration_plan import (
    PARAM_BY_OPTION,
    current_values,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_property_plan import plan_present
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import (
    ident,
    literal,
    normalize,
)


def read_credentials(runner: Runner, name: str, public: bool = False) -> dict[str, str]:
    rows = runner.read(f"SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS({literal(name)})", f"reading client secrets of {name}")
    raw = next(iter(rows[0].values())) if rows else None
    try:
        data = json.loads(str(raw))
    except ValueError:
        raise ValueError(f"unexpected SYSTEM$SHOW_OAUTH_CLIENT_SECRETS output for integration {name}") from None
    creds = {"client_id": str(data.get("OAUTH_CLIENT_ID", ""))}
    # A PUBLIC client has no secret: nothing else is returned for it, whatever the function shows.
    for key, field in [] if public else (("OAUTH_CLIENT_SECRET", "client_secret"), ("OAUTH_CLIENT_SECRET_2", "client_secret_2")):
        if data.get(key):
            creds[field] = str(data[key])
            runner.add_secret(creds[field])
    return creds


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    name = normalize(params["name"])
    # DESCRIBE alone answers "does it exist?" and "what is it?" in one round trip.
    described = runner.describe(f"DESCRIBE SECURITY INTEGRATION {ident(name)}", f"describing integration {name}")
    exists = described is not None
    result: dict[str, Any] = {"name": name, "action": "none", "rotated": None, "removed_delegations": []}

    if params["state"] == "absent":
        if exists:
            runner.apply([f"DROP SECURITY INTEGRATION IF EXISTS {ident(name)}"], f"dropping integration {name}")
            result.update(changed=True, action="drop", diff={"before": {"name": name}, "after": {}})
        return result

    statements, changes = plan_present(plan, name, params, described)
    result.update(changes)
    if params["rotate_secret"] and exists and current_values(described or [])["client_type"] == "PUBLIC":
        raise ValueError(f"integration {name} is a PUBLIC client: it has no secret to rotate")
    if params["rotate_secret"]:
        statements.append(f"ALTER SECURITY INTEGRATION {ident(name)} REFRESH {params['rotate_secret']}")
        result["rotated"] = params["rotate_secret"]

    wanted_removals = [normalize(u) for u in params["remove_delegated_authorizations"]]
    if wanted_removals and exists:
        delegations = runner.read(
            f"SHOW DELEGATED AUTHORIZATIONS TO SECURITY INTEGRATION {ident(name)}",
            f"reading delegated authorizations of {name}",
        )
        holders = {str(r.get("user_name")) for r in delegations}
        for user in sorted(set(wanted_removals) & holders):
            statements.append(
                f"ALTER USER {ident(user)} REMOVE DELEGATED AUTHORIZATIONS FROM SECURITY INTEGRATION {ident(name)}"
            )
            result["removed_delegations"].append(user)

    runner.apply(statements, f"converging security integration {name}")
    result["changed"] = bool(statements)
    if params["return_credentials"] and not (runner.check_mode and not exists):
        current_type = current_values(described or [])["client_type"] if exists else None
        public = (params.get("client_type") or current_type or "").upper() == "PUBLIC"
        result.update(read_credentials(runner, name, public))
    return result


def main() -> None:
    spec: dict[str, Any] = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "return_credentials": {"type": "bool", "default": False},
        "rotate_secret": {"type": "str", "choices": ["OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_SECRET_2"]},
        "remove_delegated_authorizations": {"type": "list", "elements": "str", "default": []},
    }
    for option, param in PARAM_BY_OPTION.items():
        entry: dict[str, Any] = {"type": {"bool": "bool", "int": "int", "roles": "list"}.get(param.kind, "str")}
        if param.kind == "roles":
            entry["elements"] = "str"
        spec[option] = entry
    spec["client_type"]["choices"] = ["CONFIDENTIAL", "PUBLIC"]
    spec["use_secondary_roles"]["choices"] = ["IMPLICIT", "NONE"]
    # Lifetimes in seconds: "token" in the name, but not secrets.
    spec["refresh_token_validity"]["no_log"] = False
    spec["access_token_validity"]["no_log"] = False
    module = snowflake_module(spec)
    run_module(module, lambda runner: converge(runner, module.params))


if __name__ == "__main__":
    main()
