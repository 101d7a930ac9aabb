"""Render the token_service role for systemd or Kubernetes without a service host or a cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.procs import BIN, ROOT

# Stand-ins for what snowflake_oauth_integration would return (the render needs no account).
FAKE_OAUTH = {"client_id": "fake-client-id-0123456789abcd", "client_secret": "fake-secret-one-AAAA",
              "client_secret_2": "fake-secret-two-BBBB"}  # fmt: skip


def render(tmp: Path, token_service: dict[str, Any], *args: str, secrets: tuple[str, ...] = (),
           succeed: bool = True) -> str:
    """Run playbooks/token_service.yml (extra ansible-playbook `args`); no secret may reach its output.

    `succeed=False` expects the play to fail (bad settings) and returns its output.
    """
    inventory = {
        "all": {
            "children": {"token_service": {"hosts": {"svc": {}}}},
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "snowflake_connection": {"account": "ACME-PROD", "user": "ANSIBLE", "role": "ACCOUNTADMIN"},
                "snowflake_oauth_integration": {"name": "SNOWMCP_OAUTH", "refresh_token_validity": 7776000},
                "snowflake_mcp_roles": [{"name": "MCP_USERS"}],
                "mcp_users": [{"login": "alice@example.com", "roles": ["MCP_USERS"]}],
                "token_service": token_service,
                "token_service_oauth_credentials": FAKE_OAUTH,
            },
        }
    }
    inv = tmp / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory))
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "playbooks/token_service.yml", "-i", str(inv), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert (proc.returncode == 0) == succeed, proc.stdout[-5000:] + proc.stderr[-2000:]
    for secret in (*FAKE_OAUTH.values(), *secrets):
        assert secret not in proc.stdout + proc.stderr, f"a secret ({secret[:4]}...) is in the output"
    return proc.stdout
