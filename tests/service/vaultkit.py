"""Helpers for the Vault-mode suites: a real OpenBao provisioned the way the token_service
role does it, and a `snowmcp-service serve` process whose settings hold no secret."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harness.procs import Emulator, OpenBao
from harness.svc import ADMIN_KEY, Integration, ServiceProc, service_env

SECRET_SETTINGS = ("SNOWMCP_CLIENT_ID", "SNOWMCP_CLIENT_SECRET", "SNOWMCP_CLIENT_SECRET_NEXT",
                   "SNOWMCP_ENCRYPTION_KEYS", "SNOWMCP_ADMIN_KEYS")  # fmt: skip


def digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def kv_secret(integ: Integration, *admin_keys: str, **extra: str) -> dict[str, str]:
    return {"client_id": integ.client_id, "client_secret": integ.secret, "client_secret_next": integ.secret_2,
            "admin_keys": ",".join(digest(k) for k in (admin_keys or (ADMIN_KEY,))), **extra}  # fmt: skip


def vault_service(workdir: Path, emu: Emulator, bao: OpenBao, integ: Integration, store: str, *,
                  token_ttl: str = "1h", token_max_ttl: str = "4h", **extra: str) -> ServiceProc:  # noqa: S107  # fmt: skip
    """The Vault side provisioned (KV secret, Transit key, policy, AppRole role with the given
    token TTLs) and a service configured for it with AppRole: the secret id sits in a 0600
    file, nothing secret in the environment. Not started."""
    ids = bao.provision_service(secret=kv_secret(integ))
    bao.api("POST", "auth/approle/role/snowmcp-token-service",
            {"token_policies": ["snowmcp-token-service"], "token_ttl": token_ttl, "token_max_ttl": token_max_ttl})  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    secret_id_file = workdir / "secret-id"
    fd = os.open(secret_id_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(ids["secret_id"])
    env = {k: v for k, v in service_env(emu, integ, store).items() if k not in SECRET_SETTINGS}
    env.update({"SNOWMCP_VAULT_ADDR": bao.url, "SNOWMCP_VAULT_AUTH": "approle",
                "SNOWMCP_VAULT_ROLE_ID": ids["role_id"], "SNOWMCP_VAULT_SECRET_ID_FILE": str(secret_id_file)})  # fmt: skip
    env.update(extra)
    return ServiceProc(workdir, env)

