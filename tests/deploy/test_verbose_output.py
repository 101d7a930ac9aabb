"""-vvv output of the token service play: vault values in `token_service` never appear."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .render import render

VAULT_ADMIN_KEY = "vault-admin-key-0123456789-abcdefghijklmnop"
VAULT_ENCRYPTION_KEY = "VaultEncryptionKey0123456789abcdefghijklmnopq"
VAULT_REDIS_PASSWORD = "vault-redis-password-42"


@pytest.mark.parametrize("runtime", ["kubernetes", "systemd"])
def test_vault_values_stay_out_of_vvv_output(tmp_path: Path, runtime: str) -> None:
    settings = {
        "runtime": runtime, "url": "https://snowmcp.example.com", "listen": "127.0.0.1:8080", "store": "redis",
        "redis_url": f"redis://:{VAULT_REDIS_PASSWORD}@redis.snowmcp.svc:6380/0", "replicas": 2,
        "admin_keys": [VAULT_ADMIN_KEY], "encryption_keys": [VAULT_ENCRYPTION_KEY],
        "dir": str(tmp_path / "secret-store"), "manifests_dir": str(tmp_path / "manifests"),
        "systemd_root": str(tmp_path / "root"), "systemd_manage": False, "install": False,
    }  # fmt: skip
    out = render(tmp_path, settings, "-vvv", secrets=(VAULT_ADMIN_KEY, VAULT_ENCRYPTION_KEY, VAULT_REDIS_PASSWORD))
    assert "censored" in out  # the play ran at -vvv and its secret-bearing results were hidden
    # The values did reach where they belong.
    if runtime == "kubernetes":
        secret = yaml.safe_load((tmp_path / "manifests" / "secret.yml").read_text())["stringData"]
        assert secret["SNOWMCP_ENCRYPTION_KEYS"] == VAULT_ENCRYPTION_KEY
        assert VAULT_REDIS_PASSWORD in secret["SNOWMCP_STORE"]
    else:
        env = (tmp_path / "root" / "etc" / "snowmcp-token-service" / "service.env").read_text()
        assert f"SNOWMCP_ENCRYPTION_KEYS={VAULT_ENCRYPTION_KEY}" in env
        assert VAULT_REDIS_PASSWORD in env
