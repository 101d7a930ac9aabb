"""site.yml as IT runs it: converge, offboarding, rotation under load, re-run changes nothing.

One deployment for the module (the tests run in order), run the way users run it: the
collection tarball built and installed with ansible-galaxy, `ansible-playbook
snowmcp.core.<name>` from a playbook folder of the user's own (tests/deploy/conftest.py).
Behind it: a real emulator seeded the way Entra ID / Okta provisioning leaves an
account (the demo users plus 1,100 SCIM users), the token service as a background
process deployed by the token_service role and installed its default way (the wheel built
from the collection's sources, into its own venv), a workstation HOME, users signed in
through real HTTP redirects, and the real `snowmcp` CLI as the load.

The inventory is the demo's, with its users coming from the identity provider: the
snowmcp.core.snowflake_users inventory source beside hosts.yml, and a hand-written
`mcp_users` holding the two kinds of entry the docs describe: alice's (no `roles`:
the directory decides, the entry adds her workstation) and carol's (`roles`: managed by
hand, carol is not provisioned). The seed is big enough that the grants to its more
than 500 holders go to Snowflake in more than one request (the runner's batch size);
that the source yields exactly the holders of the mapped roles out of 5,000 SCIM users,
in a constant number of requests, is tests/ansible/test_directory.py
(`ansible-inventory`, no site run).

Four ansible-playbook runs in all, each proving several points read back from the
emulator, the service and the files: site (first converge), site after SCIM removed
alice from her group and disabled another user (offboarding everywhere),
rotate_credentials rotate=all under load, site -vvv (changes nothing: offboarding and
the rotation both left a converged deployment, and nothing pending is resumed); a fifth,
with a typo in the source, stops at its first task.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import BATCH_SIZE

from harness import demo, scim
from harness.procs import BIN, Emulator, free_port

from .conftest import (
    NO_SYSTEM_CONFIG,
    DemoDeploy,
    changed_per_play,
    mcp_holders,
    sign_in,
    sql,
    user_folder,
)
from .conftest import admin_users as read_admin_users

pytestmark = pytest.mark.slow
SCIM_USERS = 1100
LEAVER = scim.login(4)  # holds DATA_ANALYSTS; disabled during the test
# Signed in during the rotation: a directory user who keeps her group, the hand-managed
# carol, and a user of the Okta group role that holds ANALYSTS (scim.scim_user(1)).
LOAD_USERS = ["bob@example.com", "carol@example.com", scim.login(1)]
OVERLAY = [
    {"login": "alice@example.com", "host": "demo-workstation", "shell": "bash"},
    {"login": "carol@example.com", "roles": ["MCP_USERS"]},
]


def scim_template(directory: Path) -> Path:
    """The demo seed with alice and bob provisioned into DATA_ANALYSTS and SCIM_USERS SCIM users added."""
    seed = yaml.safe_load(demo.SEED_TEMPLATE.read_text())
    for user in seed["users"]:
        if user["login_name"] in ("alice@example.com", "bob@example.com"):
            user.update(owner="AAD_PROVISIONER", email=user["login_name"], roles=["ANALYST", "DATA_ANALYSTS"])
    return scim.write_seed(directory / "scim-template.yml", scim.add_scim(seed, SCIM_USERS))


def write_inventory(deploy: DemoDeploy, roles: dict[str, list[str]]) -> None:
    """The user folder's inventory: the overlay as mcp_users and the inventory source beside hosts.yml."""
    inv = deploy.playbooks / "inventory"
    vars_file = inv / "group_vars" / "all" / "snowmcp.yml"
    group_vars = yaml.safe_load(vars_file.read_text())
    group_vars["mcp_users"] = OVERLAY
    # The service installed the default way: the wheel the controller builds from the collection's
    # sources, installed with its extras into <dir>/venv (dependencies from the host's index).
    service = {k: v for k, v in group_vars["token_service"].items() if k not in ("venv", "install")}
    group_vars["token_service"] = dict(service, python=str(BIN / "python"))
    vars_file.write_text(yaml.safe_dump(group_vars, sort_keys=False))
    settings = deploy.dir / "settings.json"
    source = {
        "plugin": "snowmcp.core.snowflake_users",
        "connection": {
            "account": "DEMO-ACCOUNT", "user": "ADMIN", "role": "ACCOUNTADMIN",
            # A lookup, as a real inventory would read a vault or the environment; key-pair sign-in.
            "private_key_file": f"{{{{ (lookup('ansible.builtin.file', '{settings}') | from_json).snowflake_private_key_file }}}}",
            "host": "127.0.0.1", "port": deploy.settings.emulator_port, "protocol": "http",
        },
        "roles": roles,
    }  # fmt: skip
    (inv / "snowflake_users.yml").write_text(yaml.safe_dump(source, sort_keys=False))


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, installed_collection: Path, wheel_cache: Path) -> Iterator[DemoDeploy]:
    directory = tmp_path_factory.mktemp("demo")
    os.chmod(directory, 0o700)
    passwords = demo.make_seed(directory, scim_template(directory))
    # Short access tokens so the service refreshes while tests run (margin 60 s: every ~5 s).
    emu = Emulator(directory / "emulator", seed=directory / "emulator-seed.yml", extra_args=["--access-token-ttl", "65"])
    emu.start()
    settings = demo.write_settings(directory, emu.port, free_port(), passwords)
    deploy = DemoDeploy(directory, emu, settings, user_folder(directory, installed_collection, wheel_cache))
    write_inventory(deploy, scim.ROLE_MAP)
    try:
        yield deploy
    finally:
        demo.stop(directory)
        emu.stop()


def expected_names(seed: dict[str, Any]) -> dict[str, str]:
    """login -> user name of everyone who should hold MCP_USERS: the directory's holders and carol."""
    present, _ = scim.expected(seed)
    present.add("carol@example.com")
    return {u["login_name"]: u.get("name", u["login_name"]) for u in seed["users"] if u["login_name"] in present}


def service_env(deploy: DemoDeploy) -> dict[str, str]:
    lines = (deploy.dir / "service" / "service.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def allowed_logins(deploy: DemoDeploy) -> set[str]:
    value = service_env(deploy)["SNOWMCP_ALLOWED_USERS"].strip().strip("'\"")
    return {u.lower() for u in value.split(",") if u}


def admin_users(deploy: DemoDeploy) -> list[str]:
    return read_admin_users(deploy.settings.service_url, deploy.credentials()['admin_keys'][0])


def claude_servers(home: Path) -> dict[str, Any]:
    path = home / ".claude.json"
    return dict(json.loads(path.read_text()).get("mcpServers", {})) if path.exists() else {}


def every_secret(deploy: DemoDeploy) -> list[str]:
    """The Snowflake admin password, both OAuth client secrets, the service's encryption and admin keys."""
    password = deploy.settings.passwords["ADMIN"]
    rows = sql(deploy, "SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('SNOWMCP_DEMO_OAUTH')")
    oauth = json.loads(next(iter(rows[0].values())))
    creds = deploy.credentials()
    secrets = [password, oauth["OAUTH_CLIENT_SECRET"], oauth["OAUTH_CLIENT_SECRET_2"],
               *creds["encryption_keys"], *creds["admin_keys"]]  # fmt: skip
    assert all(len(s) >= 8 for s in secrets)
    return secrets


def assert_no_secret(output: str, secrets: list[str]) -> None:
    leaked = [s[:4] + "..." for s in secrets if s in output]
    assert leaked == [], f"secrets in the -vvv output: {leaked}"


# The first test also pays for the fixtures: build and install the collection, build the wheel.
# A site.yml run over a thousand users takes a minute or more on a loaded CI machine; the limit only stops a hang.
@pytest.mark.timeout(1200)
def test_first_run_converges_everything(deploy: DemoDeploy) -> None:
    seed = yaml.safe_load((deploy.dir / "emulator-seed.yml").read_text())
    want = expected_names(seed)
    assert {"alice@example.com", "bob@example.com", LEAVER, *LOAD_USERS} <= set(want) and len(want) > BATCH_SIZE
    deploy.playbook("snowmcp.core.site")
    # Snowflake: every holder of a mapped role and carol, nobody else, read back through the real connector.
    assert mcp_holders(deploy) == set(want.values())
    # Token service: ready, run by Gunicorn from its own venv (the collection's wheel), allow-list =
    # those users, settings file private, secrets not in the log.
    with urllib.request.urlopen(deploy.settings.service_url + "/readyz", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
    venv = deploy.dir / "service" / "venv"
    master = int((deploy.dir / "service" / "data" / "gunicorn.pid").read_text().split()[0])
    assert str(venv / "bin") in Path(f"/proc/{master}/cmdline").read_bytes().decode(errors="replace")
    assert [w.name for w in (venv / "wheels").glob("snowmcp-*.whl")] != []
    assert allowed_logins(deploy) == {login.lower() for login in want}
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
    assert servers["GONG_MCP"]["url"].startswith(service_env(deploy)["SNOWMCP_SNOWFLAKE_URL"] + "/api/v2/")
    sign_in(deploy, "alice@example.com", deploy.settings.home)
    sign_in(deploy, LEAVER, deploy.dir / "leaver")
    assert {"alice@example.com", LEAVER} <= set(admin_users(deploy))


@pytest.mark.timeout(1200)
def test_removed_from_the_group_or_disabled_disappears_everywhere(deploy: DemoDeploy) -> None:
    # What SCIM does when IT removes alice from the group, and disables another user.
    sql(deploy, 'REVOKE ROLE DATA_ANALYSTS FROM USER "alice@example.com"')
    sql(deploy, f'ALTER USER "{LEAVER}" SET DISABLED = TRUE')
    deploy.playbook("snowmcp.core.site")
    holders = mcp_holders(deploy)
    assert "alice@example.com" not in holders and LEAVER not in holders
    assert {"BOB@EXAMPLE.COM", "carol@example.com"} <= holders
    assert sql(deploy, 'SHOW DELEGATED AUTHORIZATIONS BY USER "alice@example.com"') == []
    users = admin_users(deploy)
    assert "alice@example.com" not in users and LEAVER not in users
    allowed = allowed_logins(deploy)
    assert "alice@example.com" not in allowed and LEAVER not in allowed and "bob@example.com" in allowed
    # Her workstation: the Claude Code entry, the client config and the key are gone.
    assert "GONG_MCP" not in claude_servers(deploy.settings.home)
    assert not (deploy.settings.home / ".config" / "snowmcp").exists()


def _token_requests(deploy: DemoDeploy) -> dict[str, int]:
    return dict(deploy.emulator.stats().get("token_requests", {}))


def credential_reads(deploy: DemoDeploy) -> int:
    """SELECTs the emulator answered: the rotation's only SELECT is SYSTEM$SHOW_OAUTH_CLIENT_SECRETS."""
    return int(deploy.emulator.stats().get("queries", {}).get("SELECT", 0))


# Three sign-ins and a full rotation with five reloads under load: on a loaded 2-core machine
# this takes longer than the suite's default per-test limit.
@pytest.mark.timeout(900)
def test_rotation_under_load_fails_no_request(deploy: DemoDeploy, tmp_path: Path) -> None:
    homes = {u: tmp_path / u.split("@")[0] for u in LOAD_USERS}
    for user, home in homes.items():
        sign_in(deploy, user, home)
    code_grants_before = sum(v for k, v in _token_requests(deploy).items() if k.startswith("authorization_code"))
    creds_before = deploy.credentials()

    results: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def load(user: str, home: Path) -> None:
        # The real client, as Claude Code's headersHelper runs it: a fresh process per fetch.
        while not stop.is_set():
            proc = subprocess.run([str(BIN / "snowmcp"), "token"], env={"HOME": str(home), "PATH": str(BIN), **NO_SYSTEM_CONFIG},
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
    assert len(results) >= 3 * len(LOAD_USERS), f"the load loop barely ran: {len(results)} requests"
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
        proc = subprocess.run([str(BIN / "snowmcp"), "token"], env={"HOME": str(home), "PATH": str(BIN), **NO_SYSTEM_CONFIG},
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert proc.returncode == 0, (user, proc.stderr)
    # The new admin key works (urlopen raises on 401) and everyone is still signed in.
    assert set(LOAD_USERS) <= set(admin_users(deploy))


# The last site run comes after the offboarding and the rotation: it shows that site.yml changes
# nothing on a converged deployment, that offboarding left nothing to do, and that, with no rotation
# pending, it resumes none and keeps the service up.
@pytest.mark.timeout(1200)
def test_next_run_changes_nothing(deploy: DemoDeploy) -> None:
    report = deploy.playbook("snowmcp.core.site", "-vvv")
    changed = changed_per_play(report)
    assert len(changed) == 3, changed
    assert all(count == 0 for count in changed.values()), changed
    assert_no_secret(report["stdout"], every_secret(deploy))
    creds = deploy.credentials()
    assert creds["client_secret_rotation"] is None and creds["encryption_rotation"] is None
    with urllib.request.urlopen(deploy.settings.service_url + "/readyz", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
    assert set(LOAD_USERS) <= set(admin_users(deploy))  # the rotated admin key still works, nobody lost


def test_a_source_that_does_not_load_stops_site_before_any_change(deploy: DemoDeploy) -> None:
    before = mcp_holders(deploy)
    write_inventory(deploy, {"DATA_ANALYST": ["MCP_USERS"]})  # a typo in the mapped role
    try:
        proc = deploy.run("snowmcp.core.site")
    finally:
        write_inventory(deploy, scim.ROLE_MAP)
    assert proc.returncode != 0
    assert "did not load" in proc.stdout and "Nothing was changed" in proc.stdout
    assert mcp_holders(deploy) == before
