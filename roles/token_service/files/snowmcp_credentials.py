#!/usr/bin/python
"""Keep the token service's own secrets and rotation progress in one 0600 JSON file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: token_service_credentials
short_description: The token service's secret store (encryption keys, admin keys, client-secret slot)
description:
  - Reads and updates one JSON file (mode 0600) on the host that holds the token
    service's secrets, and returns the service environment derived from it.
  - Encryption and admin keys the inventory does not provide are generated here
    and kept in the file; rotation progress is recorded before each step so an
    interrupted rotation resumes where it stopped.
options:
  path: {description: The state file., type: path, required: true}
  action:
    description:
      - C(ensure) creates missing keys; the others advance one rotation step.
    type: str
    default: ensure
    choices: [ensure, client_secret_begin, client_secret_refreshed, client_secret_commit,
              encryption_key_begin, encryption_key_finish, admin_key_begin, admin_key_finish]
  client_id: {description: OAuth client id., type: str, no_log: true}
  client_secret: {description: Secret in Snowflake slot OAUTH_CLIENT_SECRET., type: str, no_log: true}
  client_secret_2: {description: Secret in Snowflake slot OAUTH_CLIENT_SECRET_2., type: str, no_log: true}
  inventory_encryption_keys: {description: Keys from the inventory (authoritative when given)., type: list, elements: str, default: [], no_log: true}
  inventory_admin_keys: {description: Admin keys from the inventory (authoritative when given)., type: list, elements: str, default: [], no_log: true}
author: snowmcp
"""

RETURN = r"""
state: {description: Non-secret summary (slot, rotation progress, key counts)., returned: always, type: dict}
secrets: {description: Secret values for the service environment (register with no_log)., returned: always, type: dict}
"""

import base64
import hashlib
import json
import os
import secrets
import tempfile

from ansible.module_utils.basic import AnsibleModule


def new_encryption_key() -> str:
    # Same format as `snowmcp-service keys generate`: 32 random bytes, base64url, no padding.
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def new_admin_key() -> str:
    return secrets.token_urlsafe(32)


def load(path):
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return json.load(handle)


def save(path, data):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".credentials.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            action=dict(type="str", default="ensure", choices=[
                "ensure", "client_secret_begin", "client_secret_refreshed", "client_secret_commit",
                "encryption_key_begin", "encryption_key_finish", "admin_key_begin", "admin_key_finish"]),
            client_id=dict(type="str", no_log=True),
            client_secret=dict(type="str", no_log=True),
            client_secret_2=dict(type="str", no_log=True),
            inventory_encryption_keys=dict(type="list", elements="str", default=[], no_log=True),
            inventory_admin_keys=dict(type="list", elements="str", default=[], no_log=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]
    try:
        before = load(path)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}")
    data = json.loads(json.dumps(before))
    data.setdefault("version", 1)
    data.setdefault("client_secret_slot", 1)
    data.setdefault("client_secret_rotation", None)
    data.setdefault("encryption_rotation", None)
    data.setdefault("admin_rotation", None)
    inv_enc, inv_admin = p["inventory_encryption_keys"], p["inventory_admin_keys"]
    if not inv_enc and not data.get("encryption_keys"):
        data["encryption_keys"] = [new_encryption_key()]
    if not inv_admin and not data.get("admin_keys"):
        data["admin_keys"] = [new_admin_key()]

    action = p["action"]
    slot = data["client_secret_slot"]
    if action == "client_secret_begin":
        # Resume an unfinished rotation rather than start a second one.
        if not data["client_secret_rotation"]:
            data["client_secret_rotation"] = {"target_slot": 2 if slot == 1 else 1, "phase": "refreshing"}
    elif action == "client_secret_refreshed":
        if data["client_secret_rotation"]:
            data["client_secret_rotation"]["phase"] = "refreshed"
    elif action == "client_secret_commit":
        rot = data["client_secret_rotation"]
        if rot and rot.get("phase") == "refreshed":
            data["client_secret_slot"] = rot["target_slot"]
            data["client_secret_rotation"] = None
    elif action in ("encryption_key_begin", "encryption_key_finish"):
        if inv_enc:
            module.fail_json(msg="token_service.encryption_keys comes from the inventory: rotate it there "
                                 "(put the new key first, deploy, run `snowmcp-service keys rotate`, then drop the old key)")
        if action == "encryption_key_begin" and not data["encryption_rotation"]:
            data["encryption_keys"] = [new_encryption_key()] + data["encryption_keys"][:1]
            data["encryption_rotation"] = "reencrypting"
        elif action == "encryption_key_finish" and data["encryption_rotation"]:
            data["encryption_keys"] = data["encryption_keys"][:1]
            data["encryption_rotation"] = None
    elif action in ("admin_key_begin", "admin_key_finish"):
        if inv_admin:
            module.fail_json(msg="token_service.admin_keys comes from the inventory: rotate it there "
                                 "(add the new key, deploy, switch callers, remove the old key, deploy)")
        if action == "admin_key_begin" and not data["admin_rotation"]:
            data["admin_keys"] = [new_admin_key()] + data["admin_keys"][:1]
            data["admin_rotation"] = "issued"
        elif action == "admin_key_finish" and data["admin_rotation"]:
            data["admin_keys"] = data["admin_keys"][:1]
            data["admin_rotation"] = None

    changed = data != before
    if changed and not module.check_mode:
        save(path, data)
    elif os.path.exists(path) and (os.stat(path).st_mode & 0o077) and not module.check_mode:
        os.chmod(path, 0o600)
        changed = True

    # The slot whose secret the service uses as current: during a rotation whose new
    # secret already exists, the target slot; the other slot's secret stays as "next"
    # so a process still using it keeps working.
    rot = data["client_secret_rotation"]
    current_slot = rot["target_slot"] if rot and rot.get("phase") == "refreshed" else data["client_secret_slot"]
    by_slot = {1: p["client_secret"] or "", 2: p["client_secret_2"] or ""}
    enc = inv_enc or data["encryption_keys"]
    admin = inv_admin or data["admin_keys"]
    result_secrets = {
        "client_id": p["client_id"] or "",
        "client_secret": by_slot[current_slot],
        "client_secret_next": by_slot[3 - current_slot],
        "encryption_keys": enc,
        "admin_keys": admin,
        # The service compares sha256 digests, so its environment never holds a usable admin key.
        "admin_key_hashes": ["sha256:" + hashlib.sha256(k.encode()).hexdigest() for k in admin],
    }
    state = {
        "client_secret_slot": data["client_secret_slot"],
        "client_secret_current_slot": current_slot,
        "client_secret_rotation": rot,
        "encryption_rotation": data["encryption_rotation"],
        "encryption_key_count": len(enc),
        "admin_rotation": data["admin_rotation"],
        "admin_key_count": len(admin),
        "encryption_keys_from_inventory": bool(inv_enc),
        "admin_keys_from_inventory": bool(inv_admin),
    }
    module.exit_json(changed=changed, state=state, secrets=result_secrets)


if __name__ == "__main__":
    main()
