"""site.yml with users from the identity provider: 1,100 SCIM-provisioned users, the
snowmcp.core.snowflake_users inventory source, and a hand-written overlay for the
one user with a workstation.

The seed is big enough that the grants to its more than 500 holders go to Snowflake in
more than one request (the runner's batch size); that the source yields exactly the
holders of the mapped roles out of 5,000 SCIM users, in a constant number of requests,
is tests/ansible/test_directory.py (`ansible-inventory` on a 5,000-user seed, no site run).

One deployment for the module (the tests run in order): a real emulator seeded
the way Entra ID / Okta provisioning leaves an account, the token service as a
background process, the workstation HOME of the demo inventory, alice signed in
through real HTTP redirects. Removing alice from her SCIM group and re-running
site.yml must remove her grants, her token service record and her Claude Code
entries; everything is read back from the emulator, the service and the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_runner import BATCH_SIZE

from harness import demo, scim
from harness.procs import BIN, ROOT, Emulator, free_port

from .conftest import DemoDeploy, changed_per_play, parse_plays, sign_in
from .test_site import admin_users, claude_servers

pytestmark = pytest.mark.slow
USERS = 1100
LEAVER = scim.login(4)  # holds DATA_ANALYSTS; disabled during the test
OVERLAY = [{"login": "alice@example.com", "host": "demo-workstation", "shell": "bash"}]


def scim_template(directory: Path) -> Path:
    """The demo seed with alice and bob provisioned into DATA_ANALYSTS and USERS SCIM users added."""
    seed = yaml.safe_load(demo.SEED_TEMPLATE.read_text())
    for user in seed["users"]:
        if user["login_name"] in ("alice@example.com", "bob@example.com"):
            user.update(owner="AAD_PROVISIONER", email=user["login_name"], roles=["ANALYST", "DATA_ANALYSTS"])
    return scim.write_seed(directory / "scim-template.yml", scim.add_scim(seed, USERS))


class DirectoryDeploy(DemoDeploy):
    inventory: Path

    def playbook(self, playbook: str, *args: str) -> dict[str, Any]:
        proc = self.run(playbook, *args)
        if proc.returncode != 0:
            raise AssertionError(f"{playbook} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        assert "[WARNING]" not in proc.stdout + proc.stderr, proc.stderr
        return {"plays": parse_plays(proc.stdout), "stdout": proc.stdout}

    def run(self, playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(BIN / "ansible-playbook"), playbook, "-i", str(self.inventory), *args]
        return subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=900, check=False)

    def sql(self, statement: str) -> list[dict[str, Any]]:
        return self.emulator.query(statement, password=self.settings.passwords["ADMIN"])


def write_inventory(deploy: DirectoryDeploy, roles: dict[str, list[str]]) -> Path:
    """inventory/demo with the overlay as mcp_users and the inventory source beside it."""
    inv = deploy.dir / "inventory"
    shutil.rmtree(inv, ignore_errors=True)
    shutil.copytree(ROOT / "inventory" / "demo", inv)
    vars_file = inv / "group_vars" / "all" / "snowmcp.yml"
    group_vars = yaml.safe_load(vars_file.read_text())
    group_vars["mcp_users"] = OVERLAY
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
    return inv


@pytest.fixture(scope="module")
def directory_deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectoryDeploy]:
    directory = tmp_path_factory.mktemp("scim-demo")
    os.chmod(directory, 0o700)
    passwords = demo.make_seed(directory, scim_template(directory))
    emu = Emulator(directory / "emulator", seed=directory / "emulator-seed.yml")
    emu.start()
    settings = demo.write_settings(directory, emu.port, free_port(), passwords)
    deploy = DirectoryDeploy(directory, emu, settings, ROOT)  # runs from the checkout (its own run())
    deploy.inventory = write_inventory(deploy, scim.ROLE_MAP)
    try:
        yield deploy
    finally:
        demo.stop(directory)
        emu.stop()


def mcp_holders(deploy: DirectoryDeploy) -> set[str]:
    """Names of the users holding MCP_USERS, read back from the emulator."""
    return {r["grantee_name"] for r in deploy.sql("SHOW GRANTS OF ROLE MCP_USERS") if r["granted_to"] == "USER"}


def allowed_logins(deploy: DirectoryDeploy) -> set[str]:
    env = (deploy.dir / "service" / "service.env").read_text()
    line = next(li for li in env.splitlines() if li.startswith("SNOWMCP_ALLOWED_USERS="))
    return {u.lower() for u in line.split("=", 1)[1].strip().strip("'\"").split(",") if u}


def expected_names(seed: dict[str, Any]) -> dict[str, str]:
    present, _ = scim.expected(seed)
    return {u["login_name"]: u.get("name", u["login_name"]) for u in seed["users"] if u["login_name"] in present}


# A site.yml run over a thousand users takes a minute or more on a loaded CI machine; the limit only stops a hang.
@pytest.mark.timeout(1200)
def test_first_run_grants_every_holder_and_configures_the_workstation(directory_deploy: DirectoryDeploy) -> None:
    deploy = directory_deploy
    seed = yaml.safe_load((deploy.dir / "emulator-seed.yml").read_text())
    want = expected_names(seed)
    assert {"alice@example.com", "bob@example.com", LEAVER} <= set(want) and len(want) > BATCH_SIZE
    deploy.playbook("site.yml")
    assert mcp_holders(deploy) == set(want.values())
    assert allowed_logins(deploy) == {login.lower() for login in want}
    assert "GONG_MCP" in claude_servers(deploy.settings.home)
    sign_in(deploy, "alice@example.com", deploy.settings.home)
    for login in ("bob@example.com", LEAVER):
        sign_in(deploy, login, deploy.dir / login.split("@")[0])
    assert {"alice@example.com", "bob@example.com", LEAVER} <= set(admin_users(deploy))


@pytest.mark.timeout(1200)
def test_removed_from_the_group_or_disabled_disappears_everywhere(directory_deploy: DirectoryDeploy) -> None:
    deploy = directory_deploy
    # What SCIM does when IT removes alice from the group, and disables another user.
    deploy.sql('REVOKE ROLE DATA_ANALYSTS FROM USER "alice@example.com"')
    deploy.sql(f'ALTER USER "{LEAVER}" SET DISABLED = TRUE')
    deploy.playbook("site.yml")
    holders = mcp_holders(deploy)
    assert "alice@example.com" not in holders and LEAVER not in holders and "BOB@EXAMPLE.COM" in holders
    assert deploy.sql('SHOW DELEGATED AUTHORIZATIONS BY USER "alice@example.com"') == []
    users = admin_users(deploy)
    assert "alice@example.com" not in users and LEAVER not in users and "bob@example.com" in users
    allowed = allowed_logins(deploy)
    assert "alice@example.com" not in allowed and LEAVER not in allowed and "bob@example.com" in allowed
    # Her workstation: the Claude Code entry, the client config and the key are gone.
    assert "GONG_MCP" not in claude_servers(deploy.settings.home)
    assert not (deploy.settings.home / ".config" / "snowmcp").exists()


@pytest.mark.timeout(1200)
def test_next_run_changes_nothing(directory_deploy: DirectoryDeploy) -> None:
    report = directory_deploy.playbook("site.yml")
    assert all(c == 0 for c in changed_per_play(report).values()), changed_per_play(report)


def test_a_source_that_does_not_load_stops_site_before_any_change(directory_deploy: DirectoryDeploy) -> None:
    deploy = directory_deploy
    before = mcp_holders(deploy)
    write_inventory(deploy, {"DATA_ANALYST": ["MCP_USERS"]})  # a typo in the mapped role
    try:
        proc = deploy.run("site.yml")
    finally:
        write_inventory(deploy, scim.ROLE_MAP)
    assert proc.returncode != 0
    assert "did not load" in proc.stdout and "Nothing was changed" in proc.stdout
    assert mcp_holders(deploy) == before
