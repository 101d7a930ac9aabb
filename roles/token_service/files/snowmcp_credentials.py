"""Keep the token service's own secrets and rotation progress in one 0600 JSON file."""

from __future__ import annotations

# Why a script and not a module: roles inside a collection cannot ship modules,
# and the collection's plugins/ belong to the Snowflake modules. The role copies
# this file next to the secret store and runs it with the request as JSON on
# stdin (never on the command line, where `ps` would show the secrets); it
# prints JSON: {"changed", "state" (no secrets), "secrets"}; the task is no_log.
#
# Request keys: path, action (ensure | client_secret_begin | client_secret_refreshed
# | client_secret_commit | encryption_key_begin | encryption_key_finish |
# admin_key_begin | admin_key_finish), client_id, client_secret, client_secret_2,
# inventory_encryption_keys, inventory_admin_keys.
import base64
import hashlib
import json
import os
import secrets
import sys
import tempfile


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


class Failure(Exception):
    pass


def main():
    try:
        result = run(json.load(sys.stdin))
    except Failure as exc:
        result = {"failed": True, "msg": str(exc)}
    json.dump(result, sys.stdout)
    return 1 if result.get("failed") else 0


def run(request):
    p = {"action": "ensure", "client_id": "", "client_secret": "", "client_secret_2": "",
         "inventory_encryption_keys": [], "inventory_admin_keys": [], **request}
    if p["action"] not in ACTIONS:
        raise Failure(f"unknown action {p['action']!r}")
    path = p["path"]
    try:
        before = load(path)
    except (OSError, ValueError) as exc:
        raise Failure(f"cannot read {path}: {exc}") from None
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
            raise Failure("token_service.encryption_keys comes from the inventory: rotate it there "
                          "(put the new key first, deploy, run `snowmcp-service keys rotate`, then drop the old key)")
        if action == "encryption_key_begin" and not data["encryption_rotation"]:
            data["encryption_keys"] = [new_encryption_key(), *data["encryption_keys"][:1]]
            data["encryption_rotation"] = "reencrypting"
        elif action == "encryption_key_finish" and data["encryption_rotation"]:
            data["encryption_keys"] = data["encryption_keys"][:1]
            data["encryption_rotation"] = None
    elif action in ("admin_key_begin", "admin_key_finish"):
        if inv_admin:
            raise Failure("token_service.admin_keys comes from the inventory: rotate it there "
                          "(add the new key, deploy, switch callers, remove the old key, deploy)")
        if action == "admin_key_begin" and not data["admin_rotation"]:
            data["admin_keys"] = [new_admin_key(), *data["admin_keys"][:1]]
            data["admin_rotation"] = "issued"
        elif action == "admin_key_finish" and data["admin_rotation"]:
            data["admin_keys"] = data["admin_keys"][:1]
            data["admin_rotation"] = None

    changed = data != before
    if changed:
        save(path, data)
    elif os.path.exists(path) and (os.stat(path).st_mode & 0o077):
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
    return {"changed": changed, "state": state, "secrets": result_secrets}


ACTIONS = ("ensure", "client_secret_begin", "client_secret_refreshed", "client_secret_commit",
           "encryption_key_begin", "encryption_key_finish", "admin_key_begin", "admin_key_finish")

if __name__ == "__main__":
    sys.exit(main())
