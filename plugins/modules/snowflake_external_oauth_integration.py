#!/usr/bin/python
"""Ansible module snowflake_external_oauth_integration: an EXTERNAL_OAUTH security integration, altered in place."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snowflake_external_oauth_integration
short_description: Create or alter an External OAuth security integration (Okta, Entra ID, PingFederate, custom)
description:
  - Makes Snowflake trust access tokens (JWTs) of an identity provider. Reads the integration with one
    C(DESCRIBE SECURITY INTEGRATION); creates it when missing, otherwise C(ALTER)s only the options that differ.
  - Options left unset are not managed. The privileged roles Snowflake blocks implicitly (ACCOUNTADMIN,
    SECURITYADMIN, ORGADMIN, GLOBALORGADMIN) shown in C(EXTERNAL_OAUTH_BLOCKED_ROLES_LIST) are ignored when comparing.
  - C(EXTERNAL_OAUTH_TYPE) cannot be altered in Snowflake; a different O(type) fails with a clear error before any
    change (drop the integration with O(state=absent) first, or use a new name).
  - The integration holds no secret (the IdP signs tokens; Snowflake fetches its public keys from O(jws_keys_url)).
  - Supports check mode (returns the plan) and diff mode.
version_added: "0.2.0"
author: snowmcp maintainers (!UNKNOWN)
extends_documentation_fragment:
  - snowmcp.core.snowflake
  - snowmcp.core.snowflake_integration
options:
  state:
    description: Whether the integration should exist.
    type: str
    choices: [present, absent]
    default: present
  type:
    description: C(EXTERNAL_OAUTH_TYPE), one of C(okta), C(azure), C(ping_federate), C(custom) (any case). Required to create.
    type: str
  enabled:
    description: C(ENABLED). Defaults to true when creating.
    type: bool
  issuer:
    description: C(EXTERNAL_OAUTH_ISSUER); must equal the C(iss) claim of the IdP's access tokens exactly. Required to create.
    type: str
  jws_keys_url:
    description: C(EXTERNAL_OAUTH_JWS_KEYS_URL), the IdP's JWKS URL(s). Required to create.
    type: list
    elements: str
  audience_list:
    description: C(EXTERNAL_OAUTH_AUDIENCE_LIST), accepted C(aud) values besides the account URL. An empty list unsets it.
    type: list
    elements: str
  user_mapping_claim:
    description: C(EXTERNAL_OAUTH_TOKEN_USER_MAPPING_CLAIM), the claim(s) naming the user (C(sub), C(upn), ...). Required to create.
    type: list
    elements: str
  snowflake_user_mapping_attribute:
    description: C(EXTERNAL_OAUTH_SNOWFLAKE_USER_MAPPING_ATTRIBUTE), C(login_name) or C(email_address) (any case).
    type: str
  scope_mapping_attribute:
    description: C(EXTERNAL_OAUTH_SCOPE_MAPPING_ATTRIBUTE), the claim holding the scopes, C(scp) or C(scope).
    type: str
  any_role_mode:
    description: C(EXTERNAL_OAUTH_ANY_ROLE_MODE), C(disable), C(enable) or C(enable_for_privilege) (any case).
    type: str
  blocked_roles:
    description: C(EXTERNAL_OAUTH_BLOCKED_ROLES_LIST), besides the roles Snowflake blocks implicitly.
    type: list
    elements: str
  allowed_roles:
    description: C(EXTERNAL_OAUTH_ALLOWED_ROLES_LIST). Cannot be combined with O(blocked_roles).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Trust Okta's access tokens for MCP servers
  snowmcp.core.snowflake_external_oauth_integration:
    name: SNOWMCP_IDP
    type: okta
    issuer: https://example.okta.com/oauth2/default
    jws_keys_url: [https://example.okta.com/oauth2/default/v1/keys]
    audience_list: [api://snowflake]
    user_mapping_claim: [sub]
    snowflake_user_mapping_attribute: login_name
    scope_mapping_attribute: scp
    any_role_mode: disable

- name: Remove it
  snowmcp.core.snowflake_external_oauth_integration:
    name: SNOWMCP_IDP
    state: absent
"""

RETURN = r"""
name:
  description: The integration's stored name.
  returned: always
  type: str
  sample: SNOWMCP_IDP
action:
  description: C(create), C(alter), C(drop) or C(none).
  returned: always
  type: str
queries:
  description: Statements run (or planned, in check mode), in order.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils import (
    snowflake_external_oauth_plan as plan,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_property_plan import (
    plan_present,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_module import (
    run_module,
    snowflake_module,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import Runner
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import ident, normalize


def converge(runner: Runner, params: dict[str, Any]) -> dict[str, Any]:
    name = normalize(params["name"])
    described = runner.describe(
        f"DESCRIBE SECURITY INTEGRATION {ident(name)}", f"describing integration {name}"
    )
    exists = described is not None
    result: dict[str, Any] = {"name": name, "action": "none"}
    if exists and not any(
        str(r.get("property", "")).upper() == "EXTERNAL_OAUTH_ISSUER" for r in described or []
    ):
        raise ValueError(
            f"security integration {name} exists but is not an EXTERNAL_OAUTH integration"
        )
    if params["state"] == "absent":
        if exists:
            runner.apply(
                [f"DROP SECURITY INTEGRATION IF EXISTS {ident(name)}"],
                f"dropping integration {name}",
            )
            result.update(changed=True, action="drop", diff={"before": {"name": name}, "after": {}})
        return result
    statements, changes = plan_present(plan, name, params, described)
    result.update(changes)
    runner.apply(statements, f"converging security integration {name}")
    result["changed"] = bool(statements)
    return result


def main() -> None:
    spec: dict[str, Any] = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }
    for p in plan.PARAMS:
        if p.kind in ("strings", "roles"):
            spec[p.option] = {"type": "list", "elements": "str"}
        else:
            spec[p.option] = {"type": "bool" if p.kind == "bool" else "str"}
    # A public key URL, not a secret ("keys" in the name makes Ansible ask).
    spec["jws_keys_url"]["no_log"] = False
    module = snowflake_module(spec)
    run_module(module, lambda runner: converge(runner, module.params))


if __name__ == "__main__":
    main()
