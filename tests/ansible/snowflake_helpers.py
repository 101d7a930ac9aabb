"""Helpers for the Snowflake account play tests: inventories, ansible-playbook runs, read-back.

Tests run the real `ansible-playbook` from the repository root (ansible.cfg
there resolves the `snowmcp.core` collection) against a real emulator and
read the resulting state back through the real connector.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.procs import ADMIN_PASSWORD, AUTOMATION_KEY_PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOK = ROOT / "playbooks" / "snowflake_account.yml"

GONG_TOOLS = [
    {
        "name": "call-search",
        "type": "CORTEX_SEARCH_SERVICE_QUERY",
        "identifier": "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED",
        "title": "Gong Search",
        "description": "cortex search for gong calls",
    }
]
DOCS_TOOLS = [
    {"name": "docs-search", "type": "CORTEX_SEARCH_SERVICE_QUERY", "identifier": "AICOLLEGE.PUBLIC.DOCS_SEARCH"},
    {"name": "sql", "type": "SYSTEM_EXECUTE_SQL", "config": {"warehouse": "COMPUTE_WH", "read_only": True}},
]


def base_inventory(port: int, key_file: Path | None = None) -> dict[str, Any]:
    """An inventory for the seeded emulator (tests/data/seed.yml).

    The automation user signs in with its key pair (`key_file`, from
    Emulator.enable_key_pair); without one, with the legacy password.
    """
    credentials: dict[str, Any] = (
        {"private_key_file": str(key_file), "private_key_passphrase": AUTOMATION_KEY_PASSPHRASE}
        if key_file is not None
        else {"password": ADMIN_PASSWORD}
    )
    return {
        "snowflake_connection": {
            "account": "DEMO-ACCOUNT", "user": "ADMIN", **credentials, "role": "ACCOUNTADMIN",
            "host": "127.0.0.1", "port": port, "protocol": "http", "login_timeout": 10,
        },
        "snowflake_oauth_integration": {
            "name": "SNOWMCP_OAUTH",
            "refresh_token_validity": 7776000,
            "comment": "snowmcp token service",
        },
        "token_service": {"url": "http://127.0.0.1:8765"},
        "snowflake_mcp_roles": [
            {"name": "MCP_USERS", "comment": "MCP users", "grant_to_roles": ["SYSADMIN"]},
            {"name": "MCP_SALES", "comment": "Sales MCP"},
        ],
        "snowflake_mcp_servers": [
            {"name": "GONG_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "comment": "Gong calls",
             "tools": copy.deepcopy(GONG_TOOLS), "roles": ["MCP_SALES"]},
            {"name": "DOCS_MCP", "database": "AICOLLEGE", "schema": "PUBLIC",
             "tools": copy.deepcopy(DOCS_TOOLS), "roles": ["MCP_USERS", "MCP_SALES"]},
        ],
        "mcp_users": [
            {"login": "alice@example.com", "roles": ["MCP_USERS", "MCP_SALES"]},
            {"login": "BOB@example.com", "roles": ["MCP_USERS"]},
            {"login": "carol@example.com", "roles": ["MCP_USERS"]},
            {"login": "o'brien@example.com", "roles": ["MCP_USERS"]},
            {"login": "nobody@example.com", "roles": ["MCP_USERS"]},
        ],
    }


def write_inventory(path: Path, variables: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"vars": variables}}, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass
class PlayResult:
    rc: int
    out: str
    tasks: dict[str, set[str]]  # task name -> statuses seen (ok, changed, skipping, failed)

    @property
    def changed_tasks(self) -> list[str]:
        return [t for t, s in self.tasks.items() if "changed" in s]

    def recap(self) -> dict[str, int]:
        m = re.search(r"localhost\s+:\s+(.*)", self.out)
        assert m, self.out[-3000:]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def run_play(inventory: Path, *args: str, playbook: Path = PLAYBOOK, check: bool = True) -> PlayResult:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_DISPLAY_SKIPPED_HOSTS"] = "1"
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    tasks: dict[str, set[str]] = {}
    current = None
    for line in out.splitlines():
        header = re.match(r"^TASK \[(?:[^\]]*? : )?(.*)\] \*+", line)
        if header:
            current = header.group(1)
            tasks.setdefault(current, set())
            continue
        status = re.match(r"^(ok|changed|skipping|failed|fatal): \[", line)
        if status and current is not None:
            tasks[current].add("failed" if status.group(1) == "fatal" else status.group(1))
    result = PlayResult(proc.returncode, out, tasks)
    if check:
        assert proc.returncode == 0, out[-6000:]
    return result


# ---- read-back through the real connector ------------------------------------------
def role_names(emu: Any) -> set[str]:
    return {r["name"] for r in emu.query("SHOW ROLES")}


def grants_to(emu: Any, role: str) -> set[tuple[str, str, str]]:
    rows = emu.query(f'SHOW GRANTS TO ROLE "{role}"')
    return {(r["privilege"], r["granted_on"], r["name"]) for r in rows if r["privilege"] != "OWNERSHIP"}


def grants_of(emu: Any, role: str) -> set[tuple[str, str]]:
    return {(r["granted_to"], r["grantee_name"]) for r in emu.query(f'SHOW GRANTS OF ROLE "{role}"')}


def users_of(emu: Any, role: str) -> set[str]:
    return {name for kind, name in grants_of(emu, role) if kind == "USER"}


def integration(emu: Any, name: str = "SNOWMCP_OAUTH") -> dict[str, str]:
    rows = emu.query(f"DESCRIBE SECURITY INTEGRATION {name}")
    return {r["property"]: r["property_value"] for r in rows}


def client_secrets(emu: Any, name: str = "SNOWMCP_OAUTH") -> dict[str, str]:
    import json

    rows = emu.query(f"SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('{name}')")
    return dict(json.loads(next(iter(rows[0].values()))))


def mcp_servers(emu: Any) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in emu.query("SHOW MCP SERVERS IN ACCOUNT")}


def snapshot(emu: Any) -> dict[str, Any]:
    """Everything the play manages, for 'nothing changed' assertions."""
    roles = sorted(role_names(emu))
    return {
        "roles": roles,
        "grants_to": {r: sorted(grants_to(emu, r)) for r in roles},
        "grants_of": {r: sorted(grants_of(emu, r)) for r in roles},
        "servers": sorted(mcp_servers(emu)),
        "integrations": sorted(r["name"] for r in emu.query("SHOW SECURITY INTEGRATIONS")),
    }


def sign_in(emu: Any, login: str, password: str, role: str, redirect_uri: str) -> dict[str, Any]:
    """A real OAuth authorization-code flow over HTTP against the emulator; returns the token response.

    Creates the user's delegated authorization, as a token-service sign-in does.
    """
    import base64
    import hashlib
    import secrets
    import urllib.parse

    import httpx

    creds = client_secrets(emu)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    form = {
        "client_id": creds["OAUTH_CLIENT_ID"], "response_type": "code", "redirect_uri": redirect_uri,
        "state": "s1", "scope": f"refresh_token session:role:{role}", "username": login, "password": password,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    resp = httpx.post(emu.url + "/oauth/authorize", data=form, follow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text[:500]
    code = urllib.parse.parse_qs(urllib.parse.urlparse(resp.headers["location"]).query)["code"][0]
    basic = base64.b64encode(f"{creds['OAUTH_CLIENT_ID']}:{creds['OAUTH_CLIENT_SECRET']}".encode()).decode()
    token = httpx.post(
        emu.url + "/oauth/token-request",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier},
        headers={"Authorization": f"Basic {basic}"}, timeout=10,
    )  # fmt: skip
    assert token.status_code == 200, token.text
    return dict(token.json())


def refresh(emu: Any, refresh_token: str) -> Any:
    import base64

    import httpx

    creds = client_secrets(emu)
    basic = base64.b64encode(f"{creds['OAUTH_CLIENT_ID']}:{creds['OAUTH_CLIENT_SECRET']}".encode()).decode()
    return httpx.post(
        emu.url + "/oauth/token-request",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Authorization": f"Basic {basic}"}, timeout=10,
    )  # fmt: skip
