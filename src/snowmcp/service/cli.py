"""`snowmcp-service`: serve, keys generate|rotate, admin users list|revoke, config check.

The admin commands work on the store directly (same --config / SNOWMCP_* settings as
the service), so they also work while the service is down; they write the same audit
events as the admin API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from snowmcp.service.config import (
    ConfigError,
    Settings,
    environ_with_file,
    load_settings,
    normalise_login,
)

if TYPE_CHECKING:
    from snowmcp.service.store import Store


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, environ_with_file(getattr(args, "env_file", None)))


def _store_settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, store_only=True)


@contextlib.asynccontextmanager
async def _open_store(settings: Settings) -> AsyncIterator[Store]:
    from snowmcp.service.store import open_store

    store = open_store(settings.store)
    try:
        yield store
    finally:
        await store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from snowmcp.service.app import build_app
    from snowmcp.service.server import uvicorn_options
    from snowmcp.service.worker import configure_logging

    settings = _settings(args)
    configure_logging(settings)
    uvicorn.run(build_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                **uvicorn_options(settings))  # fmt: skip
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from snowmcp.service.crypto import generate_key

    print(generate_key())
    return 0


async def _rotate(settings: Settings) -> dict[str, int]:
    from snowmcp.service.audit import AuditLog
    from snowmcp.service.crypto import KeyRing
    from snowmcp.service.store import UserRecord
    from snowmcp.service.tokens import access_aad, refresh_aad

    ring = KeyRing.from_strings(settings.encryption_keys)
    counts = {"users": 0, "rotated": 0, "retried": 0}
    async with _open_store(settings) as store:
        for listed in await store.list_users():
            counts["users"] += 1
            rec: UserRecord | None = listed
            while rec is not None:
                if not (ring.needs_rotation(rec.refresh_token) or ring.needs_rotation(rec.access_token)):
                    break
                new = replace(
                    rec, version=rec.version + 1,
                    refresh_token=ring.encrypt(ring.decrypt(rec.refresh_token, refresh_aad(rec.username)),
                                               refresh_aad(rec.username)),
                    access_token=ring.encrypt(ring.decrypt(rec.access_token, access_aad(rec.username)),
                                              access_aad(rec.username)),
                )  # fmt: skip
                # Compare-and-set: a refresh that ran meanwhile wins and we re-encrypt its result.
                if await store.save(new, rec.version):
                    counts["rotated"] += 1
                    break
                counts["retried"] += 1
                rec = await store.get(rec.username)
        audit = AuditLog(settings.audit_log, sys.stderr)
        audit.write("keys_rotate", key_id=ring.primary_id, **counts)
        audit.close()
    return counts


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = _store_settings(args)
    if settings.vault_mode:
        raise ConfigError("Vault mode seals tokens through Transit: rotate the Transit key and run "
                          "`snowmcp-service vault rewrap` instead of `keys rotate`")  # fmt: skip
    counts = asyncio.run(_rotate(settings))
    print(json.dumps(counts))
    return 0


async def _vault_rewrap(settings: Settings) -> dict[str, int]:
    from snowmcp.service.audit import AuditLog
    from snowmcp.service.vault.client import VaultClient
    from snowmcp.service.vault.rewrap import rewrap_store
    from snowmcp.service.vault.transit import TransitCipher

    vault = VaultClient(settings)
    try:
        cipher = TransitCipher(vault, settings.vault_transit_mount, settings.vault_transit_key)
        async with _open_store(settings) as store:
            counts = await rewrap_store(store, cipher)
    finally:
        await vault.close()
    audit = AuditLog(settings.audit_log, sys.stderr)
    audit.write("vault_rewrap", key=settings.vault_transit_key, **counts)
    audit.close()
    return counts


def cmd_vault_rewrap(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, environ_with_file(args.env_file), store_only=True)
    if not settings.vault_mode:
        raise ConfigError("vault rewrap needs Vault mode: SNOWMCP_VAULT_ADDR is not set")
    counts = asyncio.run(_vault_rewrap(settings))
    # One line of JSON on stdout (the role reads it): {"records": N, "rewrapped": M, ...}
    print(json.dumps(counts))
    return 0


async def _users(settings: Settings) -> list[dict[str, Any]]:
    async with _open_store(settings) as store:
        return [u.public() for u in await store.list_users()]


def cmd_users_list(args: argparse.Namespace) -> int:
    users = asyncio.run(_users(_store_settings(args)))
    if args.json:
        print(json.dumps({"users": users}, indent=2))
        return 0
    print(f"{'USER':40} {'STATE':16} REFRESH TOKEN EXPIRES")
    for u in users:
        exp = u["refresh_token_expires_at"]
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(exp)) if exp else "-"
        print(f"{u['username']:40} {u['state']:16} {when}")
    return 0


async def _revoke(settings: Settings, login: str) -> bool:
    from snowmcp.service.audit import AuditLog

    async with _open_store(settings) as store:
        found = await store.delete(normalise_login(login))
        audit = AuditLog(settings.audit_log, sys.stderr)
        audit.write("revoke", user=login, admin="cli", found=found)
        audit.close()
        return found


def cmd_users_revoke(args: argparse.Namespace) -> int:
    if asyncio.run(_revoke(_store_settings(args), args.username)):
        print(f"revoked {args.username}")
        return 0
    print(f"no stored user {args.username!r}", file=sys.stderr)
    return 1


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.connect:

        async def ping() -> None:
            async with _open_store(settings) as store:
                await store.ping()
            if settings.vault_mode:
                # Log in and read (and validate) the KV secret, as the service will at start.
                from snowmcp.service.vault.client import VaultClient
                from snowmcp.service.vault.secrets import apply_secret, read_secret

                vault = VaultClient(settings)
                try:
                    apply_secret(settings, await read_secret(vault))
                finally:
                    await vault.close()

        asyncio.run(ping())
    print(json.dumps({"ok": True, "settings": settings.describe()}, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snowmcp-service", description="snowmcp token service")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", metavar="FILE", help="TOML settings file (SNOWMCP_* environment variables win)")
        return sp

    with_config(sub.add_parser("serve", help="run the HTTP service")).set_defaults(func=cmd_serve)
    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("generate", help="print a new encryption key").set_defaults(func=cmd_keys_generate)
    with_config(keys.add_parser("rotate", help="re-encrypt every record under the first key of "
                                "SNOWMCP_ENCRYPTION_KEYS (safe while the service runs)")).set_defaults(func=cmd_keys_rotate)  # fmt: skip
    vault = sub.add_parser("vault", help="Vault mode").add_subparsers(dest="vault_command", required=True)
    rewrap = with_config(vault.add_parser("rewrap", help="rewrap every record's data key to the Transit key's "
                                          "newest version (after a rotate; safe while the service runs)"))  # fmt: skip
    rewrap.add_argument("--env-file", metavar="FILE",
                        help="KEY=VALUE settings file (the role's service.env); replaces SNOWMCP_* variables")  # fmt: skip
    rewrap.set_defaults(func=cmd_vault_rewrap)
    admin = sub.add_parser("admin", help="administration through the store")
    users = admin.add_subparsers(dest="admin_command", required=True).add_parser("users").add_subparsers(
        dest="users_command", required=True)  # fmt: skip
    lst = with_config(users.add_parser("list", help="users with state and refresh-token expiry"))
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=cmd_users_list)
    rev = with_config(users.add_parser("revoke", help="delete a user's record and API key"))
    rev.add_argument("username", metavar="login")
    rev.set_defaults(func=cmd_users_revoke)
    config = sub.add_parser("config", help="check the settings").add_subparsers(dest="config_command", required=True)
    chk = with_config(config.add_parser("check", help="validate the settings (secrets are not shown)"))
    chk.add_argument("--connect", action="store_true",
                     help="also check that the store is reachable (Vault mode: and that the KV secret can be read)")  # fmt: skip
    # What a Gunicorn worker will read (SNOWMCP_ENV_FILE): the role checks it before a reload.
    chk.add_argument("--env-file", metavar="FILE",
                     help="KEY=VALUE settings file (the role's service.env); replaces SNOWMCP_* variables")  # fmt: skip
    chk.set_defaults(func=cmd_config_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from snowmcp.service.store import StoreError
    from snowmcp.service.vault.client import VaultError

    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"snowmcp-service: configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"snowmcp-service: store error: {exc}", file=sys.stderr)
        return 3
    except VaultError as exc:
        print(f"snowmcp-service: vault error: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
