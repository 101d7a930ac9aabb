"""site.yml on the demo inventory: converge, rotation under load, re-run changes nothing.

The tests in this module run in order on one deployment (module-scoped
fixture): a real emulator, the token service as a background process deployed
by the token_service role, a workstation HOME, users signed in through real
HTTP redirects, and the real `snowmcp` CLI as the load.

Three ansible-playbook runs in all, each proving several points read back from the
emulator, the service and the files: site (first converge), rotate_credentials
rotate=all under load, site again (changes nothing, also after the rotation: nothing
pending is resumed). Offboarding through site.yml (a `state: absent` user loses her
grants, her token service record and her Claude Code entries, and the next run changes
nothing) is tests/deploy/test_directory_site.py: alice leaves there through the same
`state: absent` entries and the same roles, and more is read back (her delegated
authorizations, the service's allow-list, her client config).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.procs import BIN

from .conftest import DemoDeploy, changed_per_play, sign_in

pytestmark = pytest.mark.slow
USERS = ["alice@example.com", "bob@example.com", "carol@example.com"]


def user_roles(deploy: DemoDeploy, name: str) -> set[str]:
    rows = deploy.emulator.query(f'SHOW GRANTS TO USER "{name}"', password=deploy.settings.passwords["ADMIN"])
    return {str(r.get("role") or r.get("name")) for r in rows}


def admin_users(deploy: DemoDeploy) -> list[str]:
    req = urllib.request.Request(deploy.settings.service_url + "/v1/admin/users")  # noqa: S310
    req.add_header("Authorization", f"Bearer {deploy.credentials()['admin_keys'][0]}")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        data: Any = json.load(resp)
    users = data["users"] if isinstance(data, dict) else data
    return [str(u["username"]).lower() for u in users]


def claude_servers(home: Path) -> dict[str, Any]:
    path = home / ".claude.json"
    return dict(json.loads(path.read_text()).get("mcpServers", {})) if path.exists() else {}


# The first test also pays for the fixtures: build and install the collection, build the wheel.
@pytest.mark.timeout(900)
def test_first_run_converges_everything(deploy: DemoDeploy) -> None:
    deploy.playbook("snowmcp.core.site")
    # Snowflake: the role and the grant, read back through the real connector.
    assert "MCP_USERS" in user_roles(deploy, "alice@example.com")
    assert "MCP_USERS" in user_roles(deploy, "BOB@EXAMPLE.COM")
    # Token service: ready, settings file private, secrets not in the log.
    with urllib.request.urlopen(deploy.settings.service_url + "/readyz", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
    env_file = deploy.dir / "service" / "service.env"
    assert env_file.stat().st_mode & 0o077 == 0
    assert (deploy.dir / "service" / "credentials.json").stat().st_mode & 0o077 == 0
    creds = deploy.credentials()
    log = (deploy.dir / "service" / "service.log").read_text()
    for secret in creds["encryption_keys"] + creds["admin_keys"]:
        assert secret not in log and secret not in env_file.read_text().replace(creds["encryption_keys"][0], "")
    # Workstation: alice's Claude Code entry points at the MCP server, helper = the CLI.
    servers = claude_servers(deploy.settings.home)
    assert servers["GONG_MCP"]["url"].endswith("/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP")
    assert servers["GONG_MCP"]["headersHelper"].endswith("snowmcp headers")
    # Both plays take the account URL from the one inventory model.
    account = next(line.split("=", 1)[1] for line in env_file.read_text().splitlines()
                   if line.startswith("SNOWMCP_SNOWFLAKE_URL="))  # fmt: skip
    assert servers["GONG_MCP"]["url"].startswith(account + "/api/v2/")


def every_secret(deploy: DemoDeploy) -> list[str]:
    """The Snowflake admin password, both OAuth client secrets, the service's encryption and admin keys."""
    password = deploy.settings.passwords["ADMIN"]
    rows = deploy.emulator.query("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('SNOWMCP_DEMO_OAUTH')", password=password)
    oauth = json.loads(next(iter(rows[0].values())))
    creds = deploy.credentials()
    secrets = [password, oauth["OAUTH_CLIENT_SECRET"], oauth["OAUTH_CLIENT_SECRET_2"],
               *creds["encryption_keys"], *creds["admin_keys"]]  # fmt: skip
    assert all(len(s) >= 8 for s in secrets)
    return secrets


def assert_no_secret(output: str, secrets: list[str]) -> None:
    leaked = [s[:4] + "..." for s in secrets if s in output]
    assert leaked == [], f"secrets in the -vvv output: {leaked}"


def _token_requests(deploy: DemoDeploy) -> dict[str, int]:
    return dict(deploy.emulator.stats().get("token_requests", {}))


def credential_reads(deploy: DemoDeploy) -> int:
    """SELECTs the emulator answered: the rotation's only SELECT is SYSTEM$SHOW_OAUTH_CLIENT_SECRETS."""
    return int(deploy.emulator.stats().get("queries", {}).get("SELECT", 0))


# Three sign-ins and a full rotation with five reloads under load: on a loaded 2-core machine
# this takes longer than the suite's default per-test limit.
@pytest.mark.timeout(900)
def test_rotation_under_load_fails_no_request(deploy: DemoDeploy, tmp_path: Path) -> None:
    homes = {u: tmp_path / u.split("@")[0] for u in USERS}
    for user, home in homes.items():
        sign_in(deploy, user, home)
    code_grants_before = sum(v for k, v in _token_requests(deploy).items() if k.startswith("authorization_code"))
    creds_before = deploy.credentials()

    results: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def load(user: str, home: Path) -> None:
        # The real client, as Claude Code's headersHelper runs it: a fresh process per fetch.
        while not stop.is_set():
            proc = subprocess.run([str(BIN / "snowmcp"), "token"], env={"HOME": str(home), "PATH": str(BIN)},
                                  capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
            results.append((user, proc.returncode, proc.stderr.strip()[-200:]))
            time.sleep(1.0)  # ~3 fetches a second in all: each reload window sees several

    threads = [threading.Thread(target=load, args=item, daemon=True) for item in homes.items()]
    for t in threads:
        t.start()
    secrets_before = every_secret(deploy)
    reads_before = credential_reads(deploy)
    try:
        rotation = deploy.playbook("snowmcp.core.rotate_credentials", "-e", "rotate=all", "-vvv")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    reads = credential_reads(deploy) - reads_before

    assert_no_secret(rotation["stdout"], secrets_before + every_secret(deploy))
    failures = [r for r in results if r[1] != 0]
    # The figure the operations guide quotes (run with -s to see it).
    print(f"\nrotation under load: {len(results)} token fetches, {len(failures)} failed")
    assert len(results) >= 3 * len(USERS), f"the load loop barely ran: {len(results)} requests"
    assert failures == [], failures[:5]
    # Every credential changed and the rotation finished.
    creds = deploy.credentials()
    assert creds["client_secret_slot"] != creds_before["client_secret_slot"]
    assert creds["encryption_keys"] != creds_before["encryption_keys"] and len(creds["encryption_keys"]) == 1
    assert creds["admin_keys"] != creds_before["admin_keys"] and len(creds["admin_keys"]) == 1
    assert creds["client_secret_rotation"] is None and creds["encryption_rotation"] is None
    # Each rotation step records itself through secrets.yml (five includes): only the first reads the
    # client credentials from Snowflake; the one other read is the refresh of the standby secret slot,
    # which returns the new secret.
    assert reads == 2, reads
    # Nobody signed in again, and the service refreshed tokens with the new secret.
    stats = _token_requests(deploy)
    assert sum(v for k, v in stats.items() if k.startswith("authorization_code")) == code_grants_before
    time.sleep(6)  # past the refresh margin of the 65 s emulator tokens: the next fetch refreshes
    for user, home in homes.items():
        proc = subprocess.run([str(BIN / "snowmcp"), "token"], env={"HOME": str(home), "PATH": str(BIN)},
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert proc.returncode == 0, (user, proc.stderr)
    # The new admin key works (urlopen raises on 401) and everyone is still signed in.
    assert set(USERS) <= set(admin_users(deploy))


# The second site run comes after the rotation: it shows both that site.yml changes nothing on a
# converged deployment and that, with no rotation pending, it resumes none and keeps the service up.
def test_second_run_changes_nothing(deploy: DemoDeploy) -> None:
    report = deploy.playbook("snowmcp.core.site", "-vvv")
    changed = changed_per_play(report)
    assert len(changed) == 3, changed
    assert all(count == 0 for count in changed.values()), changed
    assert_no_secret(report["stdout"], every_secret(deploy))
    creds = deploy.credentials()
    assert creds["client_secret_rotation"] is None and creds["encryption_rotation"] is None
    with urllib.request.urlopen(deploy.settings.service_url + "/readyz", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
    assert set(USERS) <= set(admin_users(deploy))  # the rotated admin key still works, nobody lost
