"""site.yml in Vault mode: the token service's secrets in a real OpenBao, nothing secret on its host.

One deployment for the module (the tests run in order), run the way users run it (the collection
tarball installed with ansible-galaxy, `ansible-playbook snowmcp.core.<name>` from a folder of the
user's own): a real emulator with the demo seed, a real OpenBao dev server (harness.procs.OpenBao),
the token service as a background process deployed by the token_service role with
`token_service.vault` set, users signed in through real HTTP redirects and the real `snowmcp` CLI
as the load. The controller writes to OpenBao with its VAULT_TOKEN environment variable, as an
operator's shell would have it. The AppRole secret id is a 0600 file on the /dev/shm tmpfs.

Four ansible-playbook runs (site.yml limited to the account and token service plays): site
(first converge: the service starts with nothing secret in its folder, its environment or its
command line), rotate_credentials rotate=all under a load loop (no fetch fails; Transit rotated,
rewrapped and min_decryption_version raised), site with a user marked absent (offboarded: her
record, key, grant and consent gone, Vault untouched), site again (changes nothing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import demo
from harness.procs import BIN, Emulator, OpenBao, free_port

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

pytestmark = [pytest.mark.slow, pytest.mark.vault_e2e]
LOAD_USERS = ["bob@example.com", "carol@example.com"]
LEAVER = "carol@example.com"  # marked absent in the inventory by the offboarding test
# site.yml without its workstation play: the users here sign in with the checkout's own CLI, and
# test_site.py covers the workstations (it would build and install the client wheel again).
SITE = ("snowmcp.core.site", "--limit", "localhost,token_service")
# Plain refresh and access tokens of the emulator (as Snowflake's) start with this.
TOKEN_PREFIX = b"ver:1-hint:"


class VaultDeploy(DemoDeploy):
    """The demo deployment with the controller's Vault address and token in its environment."""

    bao: OpenBao
    secret_id_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(VAULT_TOKEN=self.bao.root_token, **extra)


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, installed_collection: Path, wheel_cache: Path,
           openbao: OpenBao) -> Iterator[VaultDeploy]:  # fmt: skip
    directory = tmp_path_factory.mktemp("vault-demo")
    os.chmod(directory, 0o700)
    passwords = demo.make_seed(directory)
    # Short access tokens so the service refreshes (through Transit) while the tests run.
    emu = Emulator(directory / "emulator", seed=directory / "emulator-seed.yml", extra_args=["--access-token-ttl", "65"])
    emu.start()
    settings = demo.write_settings(directory, emu.port, free_port(), passwords)
    deploy = VaultDeploy(directory, emu, settings, user_folder(directory, installed_collection, wheel_cache))
    deploy.bao = openbao
    # The secret id lives on a tmpfs (/dev/shm), never on disk.
    deploy.secret_id_dir = Path(tempfile.mkdtemp(prefix="snowmcp-vault-test.", dir="/dev/shm"))
    vars_file = deploy.playbooks / "inventory" / "group_vars" / "all" / "snowmcp.yml"
    group_vars = yaml.safe_load(vars_file.read_text())
    group_vars["token_service"]["vault"] = {"addr": openbao.url, "auth": "approle",
                                            "secret_id_file": str(deploy.secret_id_dir / "secret-id")}  # fmt: skip
    vars_file.write_text(yaml.safe_dump(group_vars, sort_keys=False))
    try:
        yield deploy
    finally:
        demo.stop(directory)
        emu.stop()
        shutil.rmtree(deploy.secret_id_dir, ignore_errors=True)


def kv(deploy: VaultDeploy, path: str) -> dict[str, Any]:
    return dict(deploy.bao.api("GET", f"secret/data/{path}")["data"]["data"])


def controller_state(deploy: VaultDeploy) -> dict[str, Any]:
    return dict(json.loads(kv(deploy, "snowmcp/token-service-controller")["state"]))


def oauth_secrets(deploy: VaultDeploy) -> list[str]:
    rows = deploy.emulator.query("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('SNOWMCP_DEMO_OAUTH')",
                                 password=deploy.settings.passwords["ADMIN"])  # fmt: skip
    oauth = json.loads(next(iter(rows[0].values())))
    return [oauth["OAUTH_CLIENT_SECRET"], oauth["OAUTH_CLIENT_SECRET_2"]]


def every_secret(deploy: VaultDeploy) -> list[str]:
    """Both OAuth client secrets, the admin keys, the controller's Vault token, the service's secret id."""
    secrets = [*oauth_secrets(deploy), *controller_state(deploy)["admin_keys"], deploy.bao.root_token]
    secret_id = deploy.secret_id_dir / "secret-id"
    if secret_id.exists():
        secrets.append(secret_id.read_text().strip())
    assert all(len(s) >= 8 for s in secrets)
    return secrets


def service_processes(deploy: VaultDeploy) -> list[int]:
    master = int((deploy.dir / "service" / "data" / "gunicorn.pid").read_text().split()[0])
    workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False).stdout.split()
    return [master, *map(int, workers)]


def admin_users(deploy: VaultDeploy) -> list[str]:
    return read_admin_users(deploy.settings.service_url, controller_state(deploy)['admin_keys'][0])


def fetch_token(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "snowmcp"), "token"], env={"HOME": str(home), "PATH": str(BIN), **NO_SYSTEM_CONFIG},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


@pytest.mark.timeout(900)
def test_service_starts_from_vault_with_nothing_secret_on_its_host(deploy: VaultDeploy, tmp_path: Path) -> None:
    report = deploy.playbook(*SITE)
    with urllib.request.urlopen(deploy.settings.service_url + "/readyz", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
    # What the service reads is in OpenBao: the credentials Snowflake holds, the admin key digests.
    secret = kv(deploy, "snowmcp/token-service")
    assert secret["client_secret"] in oauth_secrets(deploy) and secret["admin_keys"].startswith("sha256:")
    env_text = (deploy.dir / "service" / "service.env").read_text()
    assert f"SNOWMCP_VAULT_ADDR={deploy.bao.url}" in env_text and "SNOWMCP_VAULT_ROLE_ID=" in env_text
    assert not (deploy.dir / "service" / "credentials.json").exists()
    secret_id = deploy.secret_id_dir / "secret-id"
    assert secret_id.stat().st_mode & 0o077 == 0
    # The host's own secret id: Vault knows which inventory host holds it.
    looked_up = deploy.bao.api("POST", "auth/approle/role/snowmcp-token-service/secret-id/lookup",
                               {"secret_id": secret_id.read_text().strip()})  # fmt: skip
    assert looked_up["data"]["metadata"] == {"snowmcp_host": "demo-token-service"}
    # Sign in and fetch tokens: the refresh token is stored encrypted through Transit.
    sign_in(deploy, "alice@example.com", deploy.settings.home)
    assert fetch_token(deploy.settings.home).returncode == 0
    assert "alice@example.com" in admin_users(deploy)
    # Nothing secret in the service's folder (settings, Gunicorn's file, logs, the token database),
    # its processes' environments or command lines: no client secret, admin key, Vault token, secret
    # id, and no plain refresh or access token.
    secrets = [s.encode() for s in every_secret(deploy)]
    places: dict[str, bytes] = {str(p): p.read_bytes() for p in (deploy.dir / "service").rglob("*") if p.is_file()}
    for pid in service_processes(deploy):
        places[f"/proc/{pid}/environ"] = Path(f"/proc/{pid}/environ").read_bytes()
        places[f"/proc/{pid}/cmdline"] = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert any(name.endswith("tokens.db") for name in places) and len(places) > 4
    leaks = [(name, s[:4]) for name, data in places.items() for s in [*secrets, TOKEN_PREFIX] if s in data]
    assert leaks == []
    assert all(s.decode() not in report["stdout"] for s in secrets)


# A full rotation with its reloads, Transit rewrap and Snowflake calls under load: longer than the
# suite's default per-test limit on a loaded 2-core machine.
@pytest.mark.timeout(900)
def test_rotate_all_under_load_fails_no_fetch(deploy: VaultDeploy, tmp_path: Path) -> None:
    homes = {u: tmp_path / u.split("@")[0] for u in LOAD_USERS}
    for user, home in homes.items():
        sign_in(deploy, user, home)
    before_state = controller_state(deploy)
    before_secret = kv(deploy, "snowmcp/token-service")
    results: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def load(user: str, home: Path) -> None:
        while not stop.is_set():  # the real client, a fresh process per fetch, as Claude Code runs it
            proc = fetch_token(home)
            results.append((user, proc.returncode, proc.stderr.strip()[-200:]))
            time.sleep(1.0)

    threads = [threading.Thread(target=load, args=item, daemon=True) for item in homes.items()]
    for t in threads:
        t.start()
    secrets_before = every_secret(deploy)
    try:
        rotation = deploy.playbook("snowmcp.core.rotate_credentials", "-e", "rotate=all", "-vvv")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    failures = [r for r in results if r[1] != 0]
    print(f"\nVault rotation under load: {len(results)} token fetches, {len(failures)} failed")
    assert len(results) >= 3 * len(LOAD_USERS), f"the load loop barely ran: {len(results)} requests"
    assert failures == [], failures[:5]
    assert all(s not in rotation["stdout"] for s in secrets_before + every_secret(deploy))
    # Transit: rotated once, every record rewrapped, the old version no longer decrypts.
    key = deploy.bao.api("GET", "transit/keys/snowmcp-token-service")["data"]
    assert key["latest_version"] == 2 and key["min_decryption_version"] == 2
    # Every record (alice, bob, carol) rewrapped to version 2: the fetches below then refresh with
    # refresh tokens that only version 2 can still decrypt.
    records = re.findall(r'"records": ([0-9]+)', rotation["stdout"])
    rewrapped = re.findall(r'"rewrapped": ([0-9]+)', rotation["stdout"])
    assert records and rewrapped and int(records[-1]) == int(rewrapped[-1]) >= 3, (records, rewrapped)
    # The client secret: the standby slot was refreshed in Snowflake and is current now, the old current
    # secret is the standby (still valid); the admin key is new.
    after_state = controller_state(deploy)
    after_secret = kv(deploy, "snowmcp/token-service")
    assert after_state["client_secret_slot"] != before_state["client_secret_slot"]
    assert after_secret["client_secret_next"] == before_secret["client_secret"]
    assert after_secret["client_secret"] not in (before_secret["client_secret"], before_secret["client_secret_next"])
    assert set(oauth_secrets(deploy)) == {after_secret["client_secret"], after_secret["client_secret_next"]}
    assert after_state["admin_keys"] != before_state["admin_keys"] and len(after_state["admin_keys"]) == 1
    assert after_state["encryption_rotation"] is None and after_state["client_secret_rotation"] is None
    # Past the refresh margin of the 65 s emulator tokens the next fetch refreshes with the new
    # secret and the rewrapped refresh token; nobody signed in again; the new admin key works.
    time.sleep(6)
    for user, home in homes.items():
        proc = fetch_token(home)
        assert proc.returncode == 0, (user, proc.stderr)
    assert set(LOAD_USERS) <= set(admin_users(deploy))


@pytest.mark.timeout(900)
def test_offboarding_ends_access_at_once_and_leaves_vault_as_it_was(deploy: VaultDeploy, tmp_path: Path) -> None:
    home = tmp_path / "carol"
    sign_in(deploy, LEAVER, home)
    assert fetch_token(home).returncode == 0
    holders = mcp_holders(deploy)
    assert LEAVER in holders and sql(deploy, f'SHOW DELEGATED AUTHORIZATIONS BY USER "{LEAVER}"') != []
    kv_version = deploy.bao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"]
    transit = deploy.bao.api("GET", "transit/keys/snowmcp-token-service")["data"]["latest_version"]
    # IT marks her absent in the inventory and runs site.yml.
    vars_file = deploy.playbooks / "inventory" / "group_vars" / "all" / "snowmcp.yml"
    group_vars = yaml.safe_load(vars_file.read_text())
    for user in group_vars["mcp_users"]:
        if user["login"] == LEAVER:
            user["state"] = "absent"
    vars_file.write_text(yaml.safe_dump(group_vars, sort_keys=False))
    report = deploy.playbook(*SITE)
    # Her record is gone from the service (read through the admin API with the key from Vault), her
    # API key stops working at once (the service reads the record on every fetch), Snowflake no
    # longer holds her role grant or a refresh token's consent, and the allow-list leaves her out.
    assert LEAVER not in admin_users(deploy) and "alice@example.com" in admin_users(deploy)
    refused = fetch_token(home)
    assert refused.returncode != 0 and "snowmcp login" in refused.stderr, refused.stderr
    holders = mcp_holders(deploy)
    assert LEAVER not in holders and "BOB@EXAMPLE.COM" in holders
    assert sql(deploy, f'SHOW DELEGATED AUTHORIZATIONS BY USER "{LEAVER}"') == []
    allowed = re.search(r"SNOWMCP_ALLOWED_USERS=(.*)", (deploy.dir / "service" / "service.env").read_text())
    assert allowed and LEAVER not in allowed.group(1) and "bob@example.com" in allowed.group(1)
    # Offboarding is not a secret change: the service's KV secret and the Transit key stay as they were.
    assert deploy.bao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"] == kv_version
    assert deploy.bao.api("GET", "transit/keys/snowmcp-token-service")["data"]["latest_version"] == transit
    assert all(s not in report["stdout"] for s in every_secret(deploy))


@pytest.mark.timeout(900)
def test_next_run_changes_nothing(deploy: VaultDeploy) -> None:
    version = deploy.bao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"]
    secret_id = (deploy.secret_id_dir / "secret-id").read_text()
    report = deploy.playbook(*SITE)
    changed = changed_per_play(report)
    assert changed and all(count == 0 for count in changed.values()), changed
    assert deploy.bao.api("GET", "secret/data/snowmcp/token-service")["data"]["metadata"]["version"] == version
    assert (deploy.secret_id_dir / "secret-id").read_text() == secret_id
    with urllib.request.urlopen(deploy.settings.service_url + "/readyz", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
