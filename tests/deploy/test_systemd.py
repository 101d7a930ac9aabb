"""runtime=systemd: the unit and its files, rendered into a temporary root and checked by systemd-analyze."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.procs import OpenBao

from .render import FAKE_OAUTH, render

UNIT = "snowmcp-token-service"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("systemd")
    root = tmp / "root"
    render(tmp, {"runtime": "systemd", "url": "https://snowmcp.example.com", "listen": "127.0.0.1:8080",
                 "systemd_root": str(root), "systemd_manage": False, "install": False})  # fmt: skip
    return root


def test_unit_is_hardened(root: Path) -> None:
    unit = (root / f"etc/systemd/system/{UNIT}.service").read_text()
    for directive in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes",
                      "User=snowmcp", "CapabilityBoundingSet=", "ExecReload=/bin/kill -HUP $MAINPID", "Type=notify", "KillMode=mixed",
                      "SystemCallFilter=@system-service"):  # fmt: skip
        assert directive in unit.splitlines(), directive


def test_secrets_are_private_and_admin_keys_hashed(root: Path) -> None:
    env_file = root / f"etc/{UNIT}/service.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    text = env_file.read_text()
    assert f"SNOWMCP_CLIENT_SECRET={FAKE_OAUTH['client_secret']}" in text
    assert f"SNOWMCP_CLIENT_SECRET_NEXT={FAKE_OAUTH['client_secret_2']}" in text
    assert f"SNOWMCP_STORE=sqlite:////var/lib/{UNIT}/tokens.db" in text
    creds = json.loads((root / f"etc/{UNIT}/credentials.json").read_text())
    admin_line = next(line for line in text.splitlines() if line.startswith("SNOWMCP_ADMIN_KEYS="))
    assert admin_line.startswith("SNOWMCP_ADMIN_KEYS=sha256:") and creds["admin_keys"][0] not in text
    assert (root / f"etc/{UNIT}/credentials.json").stat().st_mode & 0o777 == 0o600
    # Gunicorn's config names the settings file its workers read; it holds no secret itself.
    gunicorn_conf = (root / f"etc/{UNIT}/gunicorn.conf.py").read_text()
    assert f'raw_env = ["SNOWMCP_ENV_FILE=/etc/{UNIT}/service.env"]' in gunicorn_conf
    assert "preload_app = False" in gunicorn_conf and "daemon = False" in gunicorn_conf
    for secret in (*FAKE_OAUTH.values(), *creds["admin_keys"], *creds["encryption_keys"]):
        assert secret not in gunicorn_conf


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(root: Path) -> None:
    # verify resolves programs and the default dependencies (sysinit.target, ...) inside the
    # root: give it a stand-in interpreter, /bin/kill and this machine's system units.
    python = root / "opt/snowmcp-service/venv/bin/gunicorn"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    (root / "bin").mkdir(exist_ok=True)
    if not (root / "bin/kill").exists():
        shutil.copy2("/bin/kill", root / "bin/kill")
    (root / "usr/lib/systemd").mkdir(parents=True, exist_ok=True)
    if not (root / "usr/lib/systemd/system").exists():
        (root / "usr/lib/systemd/system").symlink_to("/usr/lib/systemd/system")
    unit = root / f"etc/systemd/system/{UNIT}.service"
    proc = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if UNIT in line or "Unknown" in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


def test_unknown_token_service_key_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = render(tmp_path, {"runtime": "systemd", "url": "https://snowmcp.example.com", "replica": 2,
                            "systemd_root": str(root), "systemd_manage": False, "install": False},
                 succeed=False)  # fmt: skip
    assert "unknown key(s) replica;" in out
    assert "Nothing was changed" in out
    assert not root.exists() or not any(root.rglob("*"))


def test_an_empty_allow_list_is_refused_unless_anyone_is_allowed(tmp_path: Path, root: Path) -> None:
    settings = {"runtime": "systemd", "url": "https://snowmcp.example.com", "allowed_users": [],
                "systemd_root": str(tmp_path / "root"), "systemd_manage": False, "install": False}  # fmt: skip
    out = render(tmp_path, settings, succeed=False)
    assert "would let anyone who can sign in to Snowflake get an API key" in out and "Nothing was changed" in out
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").rglob("*"))
    # The default (the present mcp_users) is a list: the service is told nobody else may sign in.
    env = (root / f"etc/{UNIT}/service.env").read_text()
    assert "SNOWMCP_ALLOWED_USERS=alice@example.com" in env and "SNOWMCP_ALLOW_ANY_USER=false" in env


def test_vault_mode_renders_no_secret_and_loads_the_secret_id_as_an_encrypted_credential(
        tmp_path: Path, openbao: OpenBao) -> None:  # fmt: skip
    root = tmp_path / "root"
    settings = {"runtime": "systemd", "url": "https://snowmcp.example.com", "systemd_root": str(root),
                "systemd_manage": False, "install": False, "vault": {"addr": openbao.url}}  # fmt: skip
    # Bad Vault settings are refused before anything is written (Kubernetes auth needs that runtime).
    out = render(tmp_path, {**settings, "vault": {"addr": openbao.url, "auth": "kubernetes"}}, succeed=False)
    assert "token_service.vault is invalid" in out and "Nothing was changed" in out
    assert not root.exists() and "snowmcp-token-service" not in openbao.api("GET", "sys/policies/acl?list=true")["data"]["keys"]
    render(tmp_path, settings, "-e", f"token_service_vault_token={openbao.root_token}")
    env = dict(line.split("=", 1) for line in (root / f"etc/{UNIT}/service.env").read_text().splitlines()
               if "=" in line and not line.startswith("#"))  # fmt: skip
    role_id = openbao.api("GET", "auth/approle/role/snowmcp-token-service/role-id")["data"]["role_id"]
    assert env["SNOWMCP_VAULT_ADDR"] == openbao.url and env["SNOWMCP_VAULT_ROLE_ID"] == role_id
    assert env["SNOWMCP_VAULT_SECRET_ID_FILE"] == f"/run/credentials/{UNIT}.service/vault-secret-id"
    assert not {"SNOWMCP_CLIENT_ID", "SNOWMCP_CLIENT_SECRET", "SNOWMCP_ENCRYPTION_KEYS", "SNOWMCP_ADMIN_KEYS"} & set(env)
    assert not (root / f"etc/{UNIT}/credentials.json").exists()
    unit = (root / f"etc/systemd/system/{UNIT}.service").read_text().splitlines()
    assert f"LoadCredentialEncrypted=vault-secret-id:/etc/{UNIT}/vault-secret-id.cred" in unit
