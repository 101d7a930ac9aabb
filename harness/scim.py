"""A SCIM-style emulator seed: users and group roles as Entra ID / Okta provisioning creates them.

Every user and group role is owned by a provisioner role (AAD_PROVISIONER or
OKTA_PROVISIONER), has an e-mail, and a few are disabled. Mapped roles (the
inventory source's `roles` table, `ROLE_MAP`):
- DATA_ANALYSTS: an Entra ID group role, granted to users directly;
- ANALYSTS: a hand-made functional role, granted to the Okta group role
  OKTA_EMEA_ANALYSTS (so its users hold ANALYSTS through a SCIM role) and to
  SYSADMIN (whose users must NOT count: SYSADMIN is not SCIM-provisioned).
Users in SALES or in no group hold no mapped role. `expected()` says who
holds what, computed from the seed's own data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROLE_MAP = {"DATA_ANALYSTS": ["MCP_USERS"], "ANALYSTS": ["MCP_USERS"]}
SCIM_ROLES: list[dict[str, Any]] = [
    {"name": "AAD_PROVISIONER", "granted_to_roles": ["ACCOUNTADMIN"]},
    {"name": "OKTA_PROVISIONER", "granted_to_roles": ["ACCOUNTADMIN"]},
    {"name": "DATA_ANALYSTS", "owner": "AAD_PROVISIONER"},
    {"name": "SALES", "owner": "AAD_PROVISIONER"},
    {"name": "OKTA_EMEA_ANALYSTS", "owner": "OKTA_PROVISIONER"},
    {"name": "ANALYSTS", "granted_to_roles": ["OKTA_EMEA_ANALYSTS", "SYSADMIN"]},
]
GROUPS = ["DATA_ANALYSTS", "OKTA_EMEA_ANALYSTS", "SALES", None]


def login(i: int) -> str:
    return f"user{i:05d}@example.com"


def scim_user(i: int) -> dict[str, Any]:
    """User i: group GROUPS[i % 4]; every 50th disabled; every 3rd with the name upper-cased (SCIM does that)."""
    group = GROUPS[i % 4]
    user: dict[str, Any] = {
        "login_name": login(i),
        "email": login(i),
        "display_name": f"User {i}",
        "owner": "AAD_PROVISIONER" if group != "OKTA_EMEA_ANALYSTS" else "OKTA_PROVISIONER",
        "disabled": i % 50 == 0,
        "roles": [group] if group else [],
    }
    if i % 3 == 0:
        user["name"] = login(i).upper()
    return user


def add_scim(seed: dict[str, Any], count: int, extra_users: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The seed with SCIM_ROLES and `count` SCIM users (plus `extra_users`) added."""
    out = dict(seed)
    out["roles"] = list(seed.get("roles") or []) + SCIM_ROLES
    out["users"] = list(seed.get("users") or []) + [scim_user(i) for i in range(count)] + list(extra_users)
    return out


def write_seed(path: Path, seed: dict[str, Any]) -> Path:
    path.write_text(yaml.dump(seed, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False))
    path.chmod(0o600)
    return path


def expected(seed: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(logins that hold a mapped role and are enabled, logins that hold one but are disabled)."""
    mapped_groups = {"DATA_ANALYSTS", "OKTA_EMEA_ANALYSTS", "ANALYSTS"}
    present: set[str] = set()
    disabled: set[str] = set()
    for user in seed["users"]:
        if mapped_groups & set(user.get("roles") or []):
            (disabled if user.get("disabled") else present).add(user["login_name"])
    return present, disabled
