"""The token service's own secrets and rotation progress, wherever they are kept.

Shared by token_service_secrets (a 0600 file on the first service host) and
token_service_vault (a KV v2 secret only the controller can read): both record each step of a
rotation the same way, so an interrupted rotation resumes on the next run in either mode.
Runs on the managed host (token_service_secrets), so Python 3.9 must be able to run it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
from typing import Any

ACTIONS = ("ensure", "client_secret_begin", "client_secret_refreshed", "client_secret_commit",
           "encryption_key_begin", "encryption_key_finish", "admin_key_begin", "admin_key_finish")
MASK = "********"


class StoreError(Exception):
    """Bad input or an unreadable store: reported before anything is written."""


def new_encryption_key() -> str:
    # The service's key format (`snowmcp-service keys generate`): 32 random bytes, base64url, no padding.
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def new_admin_key() -> str:
    return secrets.token_urlsafe(32)


def admin_key_hashes(keys: list[str]) -> list[str]:
    """The service compares sha256 digests, so its settings never hold a usable admin key."""
    return ["sha256:" + hashlib.sha256(k.encode()).hexdigest() for k in keys]


def plan(before: dict[str, Any], action: str, inv_enc: list[str], inv_admin: list[str],
         local_keys: bool = True) -> dict[str, Any]:
    """The store's content after `action` (pure apart from generating keys).

    `local_keys=False` (Vault's Transit engine holds the encryption key): no encryption key is
    generated or kept, and the encryption_key_* actions are left to the caller.
    """
    data = copy.deepcopy(before)
    data.setdefault("version", 1)
    data.setdefault("client_secret_slot", 1)
    data.setdefault("client_secret_rotation", None)
    data.setdefault("encryption_rotation", None)
    data.setdefault("admin_rotation", None)
    if local_keys and not inv_enc and not data.get("encryption_keys"):
        data["encryption_keys"] = [new_encryption_key()]
    if not inv_admin and not data.get("admin_keys"):
        data["admin_keys"] = [new_admin_key()]

    slot = data["client_secret_slot"]
    rotation = data["client_secret_rotation"]
    if action == "client_secret_begin":
        if not rotation:  # resume an unfinished rotation rather than start a second one
            data["client_secret_rotation"] = {"target_slot": 2 if slot == 1 else 1, "phase": "refreshing"}
    elif action == "client_secret_refreshed":
        if rotation:
            rotation["phase"] = "refreshed"
    elif action == "client_secret_commit":
        if rotation and rotation.get("phase") == "refreshed":
            data["client_secret_slot"] = rotation["target_slot"]
            data["client_secret_rotation"] = None
    elif action.startswith("encryption_key_") and local_keys:
        if inv_enc:
            raise StoreError("token_service.encryption_keys comes from the inventory: rotate it there (put the new "
                             "key first, deploy, run `snowmcp-service keys rotate`, then drop the old key)")
        if action == "encryption_key_begin" and not data["encryption_rotation"]:
            data["encryption_keys"] = [new_encryption_key(), *data["encryption_keys"][:1]]
            data["encryption_rotation"] = "reencrypting"
        elif action == "encryption_key_finish" and data["encryption_rotation"]:
            data["encryption_keys"] = data["encryption_keys"][:1]
            data["encryption_rotation"] = None
    elif action.startswith("admin_key_"):
        if inv_admin:
            raise StoreError("token_service.admin_keys comes from the inventory: rotate it there "
                             "(add the new key, deploy, switch callers, remove the old key, deploy)")
        if action == "admin_key_begin" and not data["admin_rotation"]:
            data["admin_keys"] = [new_admin_key(), *data["admin_keys"][:1]]
            data["admin_rotation"] = "issued"
        elif action == "admin_key_finish" and data["admin_rotation"]:
            data["admin_keys"] = data["admin_keys"][:1]
            data["admin_rotation"] = None
    return data


def current_slot(data: dict[str, Any]) -> int:
    """The slot whose secret the service uses as current.

    Once a rotation's new secret exists (phase `refreshed`) that is the target slot; the
    other slot's secret stays as the service's "next" secret, so a process still using it
    keeps working until the rotation is committed.
    """
    rotation = data.get("client_secret_rotation")
    if rotation and rotation.get("phase") == "refreshed":
        return int(rotation["target_slot"])
    return int(data["client_secret_slot"])


def masked(data: dict[str, Any]) -> dict[str, Any]:
    """The store for a diff: every key replaced by MASK, so only counts and progress show."""
    out = copy.deepcopy(data)
    for name in ("encryption_keys", "admin_keys"):
        if name in out:
            out[name] = [MASK] * len(out[name])
    return out


def rotation_state(after: dict[str, Any], enc: list[str], admin: list[str], inv_enc: bool,
                   inv_admin: bool) -> dict[str, Any]:
    """The progress a module returns: counts and steps, no secret."""
    return {
        "client_secret_slot": after["client_secret_slot"],
        "client_secret_current_slot": current_slot(after),
        "client_secret_rotation": after["client_secret_rotation"],
        "encryption_rotation": after["encryption_rotation"],
        "encryption_key_count": len(enc),
        "admin_rotation": after["admin_rotation"],
        "admin_key_count": len(admin),
        "encryption_keys_from_inventory": inv_enc,
        "admin_keys_from_inventory": inv_admin,
    }
