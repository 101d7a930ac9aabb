#!/usr/bin/python
# Copyright: snowmcp maintainers
# Apache-2.0
"""Ansible module: the token service's secret store (its own keys and rotation progress, one 0600 file)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: token_service_secrets
short_description: Keep the snowmcp token service's own secrets and rotation progress
version_added: "0.1.0"
description:
  - Keeps the secret store of the snowmcp token service, a JSON file of mode 0600 on the first
    service host (or the controller for Kubernetes and ECS), holding the service's encryption
    keys and admin keys when the inventory does not supply them, the OAuth client secret slot in
    use (V(1) for C(OAUTH_CLIENT_SECRET), V(2) for C(OAUTH_CLIENT_SECRET_2)) and every rotation
    in progress.
  - Generates the first encryption key and admin key when neither the file nor the inventory has
    one. Each O(action) records one step of a rotation, so a rotation interrupted anywhere resumes
    on the next run instead of starting a second one.
  - Writes the file atomically (temporary file in the same folder, then rename) with mode 0600
    from the first byte, and fixes the mode of an existing file that is readable by others.
  - Supports check mode (plans the change, writes nothing) and diff mode. The diff shows the
    file with every key replaced by C(********), so counts and rotation steps are visible but
    no secret is.
  - The OAuth client secrets themselves are not stored here (the role reads them from Snowflake
    in every run); this module only records which slot is current.
options:
  path:
    description: The secret store file. Its folder must exist (the role creates it with mode 0700).
    type: path
    required: true
  action:
    description:
      - V(ensure) creates missing keys and fixes the file mode.
      - V(client_secret_begin) records the start of a client secret rotation (target = the other
        slot); V(client_secret_refreshed) records that the target slot's secret was refreshed in
        Snowflake (the service now uses it as current); V(client_secret_commit) makes the target
        slot the current one and ends the rotation.
      - V(encryption_key_begin) puts a new encryption key in front of the current one;
        V(encryption_key_finish) drops the old key once every record is re-encrypted.
      - V(admin_key_begin) issues a new admin key next to the old one; V(admin_key_finish)
        retires the old one.
      - Rotating a key that comes from the inventory fails with instructions (rotate it in the vault).
    type: str
    default: ensure
    choices: [ensure, client_secret_begin, client_secret_refreshed, client_secret_commit,
              encryption_key_begin, encryption_key_finish, admin_key_begin, admin_key_finish]
  inventory_encryption_keys:
    description:
      - Encryption keys from the inventory (Ansible Vault). When given they are used instead of
        stored ones and the playbook does not rotate them.
    type: list
    elements: str
    default: []
  inventory_admin_keys:
    description:
      - Admin keys from the inventory (Ansible Vault), at least 32 characters each. When given
        they are used instead of stored ones and the playbook does not rotate them.
    type: list
    elements: str
    default: []
notes:
  - The RV(secrets) return value holds secrets, so register the result only in a task with
    C(no_log=true). Keys that came in through O(inventory_encryption_keys) or
    O(inventory_admin_keys) are not returned (Ansible would mask them anyway); use the
    inventory's values.
  - In check mode keys that would be generated are returned but never stored.
author:
  - snowmcp maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Keep the token service's secrets (generated on first use)
  snowmcp.core.token_service_secrets:
    path: /etc/snowmcp-token-service/credentials.json
  register: store
  no_log: true

- name: Start rotating the encryption key
  snowmcp.core.token_service_secrets:
    path: /etc/snowmcp-token-service/credentials.json
    action: encryption_key_begin
  register: store
  no_log: true

- name: Keys from the vault instead of generated ones
  snowmcp.core.token_service_secrets:
    path: /etc/snowmcp-token-service/credentials.json
    inventory_encryption_keys: "{{ vault_snowmcp_encryption_keys }}"
    inventory_admin_keys: "{{ vault_snowmcp_admin_keys }}"
  register: store
  no_log: true
"""

RETURN = r"""
rotation_state:
  description: The store's progress, without any secret.
  returned: always
  type: dict
  sample:
    client_secret_slot: 1
    client_secret_current_slot: 2
    client_secret_rotation: {target_slot: 2, phase: refreshed}
    encryption_rotation: null
    encryption_key_count: 1
    admin_rotation: null
    admin_key_count: 1
    encryption_keys_from_inventory: false
    admin_keys_from_inventory: false
secrets:
  description:
    - Keys the service needs. C(encryption_keys) and C(admin_keys) are the stored keys (empty when
      the inventory supplies them); C(admin_key_hashes) are C(sha256:<hex>) digests of the admin
      keys in use (from either source), which is all the service's own settings hold.
  returned: always
  type: dict
  sample: {encryption_keys: ["..."], admin_keys: ["..."], admin_key_hashes: ["sha256:9f86d0..."]}
path:
  description: The secret store file (Ansible adds its C(mode), C(owner) and C(size) as for any file).
  returned: always
  type: str
  sample: /etc/snowmcp-token-service/credentials.json
"""

import json
import os
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snowmcp.core.plugins.module_utils.private_file import write_private_file
from ansible_collections.snowmcp.core.plugins.module_utils.token_service_state import (
    ACTIONS,
    StoreError,
    admin_key_hashes,
    masked,
    plan,
    rotation_state,
)


def load(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        # The parser's message names a position, never the file's content.
        raise StoreError(f"cannot read the secret store {path}: {exc}") from None
    if not isinstance(data, dict):
        raise StoreError(f"the secret store {path} is not a JSON object")
    return data


def run(module: AnsibleModule) -> tuple[bool, dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    path = module.params["path"]
    action = module.params["action"]
    inv_enc = list(module.params["inventory_encryption_keys"])
    inv_admin = list(module.params["inventory_admin_keys"])
    short = [i for i, key in enumerate(inv_admin, 1) if len(key) < 32]
    if short:
        raise StoreError(f"inventory_admin_keys entry {short[0]} has fewer than 32 characters")
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise StoreError(f"the folder of the secret store {path} does not exist")

    before = load(path)
    after = plan(before, action, inv_enc, inv_admin)
    content_changed = after != before
    mode_wrong = os.path.exists(path) and bool(os.stat(path).st_mode & 0o077)
    changed = content_changed or mode_wrong
    if changed and not module.check_mode:
        if content_changed:
            write_private_file(module, path, json.dumps(after, indent=2, sort_keys=True) + "\n", 0o600)
        else:
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)

    enc = inv_enc or after["encryption_keys"]
    admin = inv_admin or after["admin_keys"]
    state = rotation_state(after, enc, admin, bool(inv_enc), bool(inv_admin))
    result_secrets = {
        "encryption_keys": [] if inv_enc else after["encryption_keys"],
        "admin_keys": [] if inv_admin else after["admin_keys"],
        "admin_key_hashes": admin_key_hashes(admin),
    }
    diff = {"before": masked(before), "after": masked(after)} if changed else None
    return changed, state, result_secrets, diff


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "action": {"type": "str", "default": "ensure", "choices": list(ACTIONS)},
            "inventory_encryption_keys": {"type": "list", "elements": "str", "default": [], "no_log": True},
            "inventory_admin_keys": {"type": "list", "elements": "str", "default": [], "no_log": True},
        },
        supports_check_mode=True,
    )
    os.umask(0o077)  # whatever this module creates is private to the service's user
    try:
        changed, state, result_secrets, diff = run(module)
    except StoreError as exc:
        module.fail_json(msg=str(exc), path=module.params["path"])
    result: dict[str, Any] = {"changed": changed, "path": module.params["path"], "rotation_state": state,
                              "secrets": result_secrets}
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
