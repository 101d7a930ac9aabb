"""The service's secrets from the KV v2 secret at <vault_kv_mount>/data/<vault_kv_path>.

Fields (strings): client_id, client_secret, client_secret_next ("" when no standby),
admin_keys (comma-separated `sha256:<64 hex>` digests, never the keys), and optionally
allowed_users (comma-separated logins; absent: the settings' allow-list applies).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from snowmcp.service.config import ConfigError, Settings, validate
from snowmcp.service.vault.client import VaultClient

FIELDS = ("client_id", "client_secret", "client_secret_next", "admin_keys", "allowed_users")


@dataclass(frozen=True)
class KvSecret:
    version: int  # the KV version read: shown in logs and by the tests, never a value
    values: dict[str, str]


async def read_secret(vault: VaultClient) -> KvSecret:
    s = vault.settings
    answer = await vault.request("GET", f"{s.vault_kv_mount}/data/{s.vault_kv_path}")
    data: dict[str, Any] = answer.get("data") or {}
    values = data.get("data") or {}
    version = int((data.get("metadata") or {}).get("version") or 0)
    where = f"the KV secret {s.vault_kv_mount}/{s.vault_kv_path}"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} holds no fields")
    for name, value in values.items():
        if name in FIELDS and not isinstance(value, str):
            raise ConfigError(f"{where}: field {name!r} must be a string")
    return KvSecret(version, {k: v for k, v in values.items() if k in FIELDS})


def apply_secret(settings: Settings, secret: KvSecret) -> Settings:
    """`settings` with the KV values in place, validated as a whole (errors name the field,
    never its value)."""
    v = secret.values
    where = f"the KV secret {settings.vault_kv_mount}/{settings.vault_kv_path}"

    def split(text: str) -> tuple[str, ...]:
        return tuple(i.strip() for i in text.split(",") if i.strip())

    admin_keys = split(v.get("admin_keys", ""))
    for i, key in enumerate(admin_keys, 1):
        # Digests only: a plain admin key must not sit in Vault where readers of the path see it.
        if not key.startswith("sha256:"):
            raise ConfigError(f"{where}: admin_keys entry {i} must be a sha256:<64 hex> digest")
    for name in ("client_id", "client_secret"):
        if not v.get(name, "").strip():
            raise ConfigError(f"{where}: field {name!r} is missing or empty")
    merged = replace(
        settings,
        client_id=v["client_id"].strip(),
        client_secret=v["client_secret"].strip(),
        client_secret_next=v.get("client_secret_next", "").strip(),
        admin_keys=admin_keys,
        allowed_users=split(v["allowed_users"]) if "allowed_users" in v else settings.allowed_users,
    )
    try:
        validate(merged, from_vault=True)
    except ConfigError as exc:
        raise ConfigError(f"with {where} applied: {exc}") from None
    return merged
