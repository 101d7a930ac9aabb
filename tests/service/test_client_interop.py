"""The real `snowmcp` CLI against the real service: `snowmcp login` with harness/browser.py
as $BROWSER (the same way the workstation tests use it), then `snowmcp token`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.procs import ROOT, Emulator, free_port
from harness.svc import ServiceProc, service_env, setup_integration
from tests.service.test_api import token_works


def test_snowmcp_login_and_token_through_the_service(tmp_path: Path, shared_emulator: Emulator) -> None:
    port = free_port()
    integ = setup_integration(shared_emulator, f"http://127.0.0.1:{port}/v1/oauth/callback", name="MCP_CLIENT")
    svc = ServiceProc(tmp_path / "svc", service_env(shared_emulator, integ, f"sqlite:///{tmp_path}/t.db"),
                      port=port).start()  # fmt: skip
    env = {
        **os.environ, "HOME": str(tmp_path), "SNOWMCP_CONFIG_DIR": str(tmp_path / "cfg"), "SNOWMCP_KEYRING": "0",
        "BROWSER": f"{sys.executable} {ROOT / 'harness' / 'browser.py'} %s",
        "SNOWMCP_TEST_USERNAME": "alice@example.com", "SNOWMCP_TEST_PASSWORD": "alice-pass-1",
    }  # fmt: skip
    cli = [sys.executable, "-m", "snowmcp.client.cli"]
    try:
        done = subprocess.run([*cli, "login", "--service", svc.url], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        token = subprocess.run([*cli, "token"], env=env, capture_output=True, text=True, timeout=30)
        assert token.returncode == 0, token.stderr
        assert token_works(shared_emulator, token.stdout.strip(), "alice@example.com")
        _, users = svc.request("GET", "/v1/admin/users", "admin-" + "x" * 40)
        assert [u["username"] for u in users["users"]] == ["alice@example.com"]
        key = json.loads((tmp_path / "cfg" / "credentials").read_text())["api_key"]
        assert svc.request("GET", "/v1/me", key)[0] == 200
        # Logout revokes the key at the service (with nothing but the key): a copy stops working.
        out = subprocess.run([*cli, "logout"], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "revoked at the service" in out.stderr, out.stderr
        assert not (tmp_path / "cfg" / "credentials").exists()
        _, users = svc.request("GET", "/v1/admin/users", "admin-" + "x" * 40)
        assert users["users"] == [], "the record (and its refresh token) is gone from the store"
        assert svc.request("GET", "/v1/token", key)[0] == 401
    finally:
        svc.stop()
