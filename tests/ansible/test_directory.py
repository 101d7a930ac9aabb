"""The snowmcp.core.snowflake_users inventory source against the emulator with SCIM-style seeds.

`ansible-inventory` loads the plugin from the collection and reads the
emulator through the real connector; the tests read back what it yields and
the emulator's own request counter.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_directory import (
    DirectoryError,
    merge_users,
    parse_role_map,
)
from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_sql import login_key

from harness import scim
from harness.procs import BIN, ROOT, SEED, Emulator

ADMIN_PASSWORD = "admin-pass-1"


def _scim_emulator(tmp: Path, count: int) -> tuple[Emulator, dict[str, Any]]:
    tmp.mkdir(parents=True, exist_ok=True)
    seed = scim.add_scim(yaml.safe_load(SEED.read_text()), count)
    path = scim.write_seed(tmp / "seed.yml", seed)
    return Emulator(tmp, seed=path).start(), seed


@pytest.fixture(scope="module")
def scim5000(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, dict[str, Any]]]:
    emu, seed = _scim_emulator(tmp_path_factory.mktemp("scim5000"), 5000)
    try:
        yield emu, seed
    finally:
        emu.stop()


def write_source(folder: Path, emu: Emulator, roles: dict[str, list[str]] | None = None, **extra: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "plugin": "snowmcp.core.snowflake_users",
        "connection": {
            "account": "DEMO-ACCOUNT", "user": "ADMIN", "role": "ACCOUNTADMIN",
            "host": "127.0.0.1", "port": emu.port, "protocol": "http",
        },
        "roles": roles or scim.ROLE_MAP,
        **extra,
    }
    (folder / "snowflake_users.yml").write_text(yaml.safe_dump(config))
    return folder


def inventory(folder: Path) -> subprocess.CompletedProcess[str]:
    # The password comes from the environment, as the connection options' fallbacks allow.
    env = dict(os.environ, SNOWFLAKE_PASSWORD=ADMIN_PASSWORD, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(folder), "--host", "localhost"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def directory_of(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    data = json.loads(inventory(folder).stdout)
    return data["mcp_directory_users"], data["mcp_directory"]


def query_requests(emu: Emulator) -> int:
    return int(emu.stats().get("query_requests", 0))


def test_yields_exactly_the_holders_of_the_mapped_roles(scim5000: tuple[Emulator, dict[str, Any]], tmp_path: Path) -> None:
    emu, seed = scim5000
    present, disabled = scim.expected(seed)
    entries, info = directory_of(write_source(tmp_path / "inv", emu))
    got_present = {e["login"] for e in entries if e.get("roles")}
    got_absent = {e["login"] for e in entries if e.get("state") == "absent"}
    assert len(present) > 2000 and len(disabled) > 10  # the seed is what the test says it is
    assert got_present == present
    assert got_absent == disabled
    assert len(entries) == len(present) + len(disabled)
    by_login = {e["login"]: e for e in entries}
    # Through the Okta group role (ANALYSTS is granted to OKTA_EMEA_ANALYSTS), with login and e-mail.
    assert by_login[scim.login(1)] == {"login": scim.login(1), "email": scim.login(1), "roles": ["MCP_USERS"]}
    # SCIM upper-cased the name; the entry carries the login name as Snowflake shows it.
    assert by_login[scim.login(3 * 4)]["login"] == scim.login(12)
    assert by_login[scim.login(0)] == {"login": scim.login(0), "email": scim.login(0), "state": "absent"}
    # ANALYSTS is also granted to SYSADMIN: not a provisioned role, so ADMIN (ACCOUNTADMIN > SYSADMIN) is not in.
    assert "ADMIN" not in by_login and "alice@example.com" not in by_login
    assert info["followed_roles"] == ["OKTA_EMEA_ANALYSTS"]


def test_request_count_is_the_same_for_50_and_5000_users(scim5000: tuple[Emulator, dict[str, Any]], tmp_path: Path) -> None:
    big, _ = scim5000
    small, _ = _scim_emulator(tmp_path / "small", 50)
    try:
        counts = {}
        for name, emu in (("small", small), ("big", big)):
            before = query_requests(emu)
            _, info = directory_of(write_source(tmp_path / f"inv-{name}", emu))
            counts[name] = (query_requests(emu) - before, info["requests"])
    finally:
        small.stop()
    # SHOW USERS, SHOW ROLES, SHOW GRANTS OF ROLE for DATA_ANALYSTS, ANALYSTS and then OKTA_EMEA_ANALYSTS
    # (MCP_USERS does not exist before the account play creates it).
    assert counts["small"] == counts["big"] == (5, 5)


def test_users_still_holding_an_mcp_role_without_a_mapped_role_are_absent(tmp_path: Path) -> None:
    emu, _ = _scim_emulator(tmp_path / "emu", 8)
    try:
        emu.query("CREATE ROLE MCP_USERS")
        for name in (scim.login(0).upper(), scim.login(1), "carol@example.com"):
            emu.query(f'GRANT ROLE MCP_USERS TO USER "{name}"')
        emu.query(f'REVOKE ROLE DATA_ANALYSTS FROM USER "{scim.login(4)}"')
        before = query_requests(emu)
        entries, info = directory_of(write_source(tmp_path / "inv", emu))
        assert query_requests(emu) - before == 6  # + SHOW GRANTS OF ROLE MCP_USERS
    finally:
        emu.stop()
    by_login = {e["login"]: e for e in entries}
    assert by_login["carol@example.com"] == {"login": "carol@example.com", "state": "absent"}
    assert by_login[scim.login(1)]["roles"] == ["MCP_USERS"]  # still in the Okta group
    assert by_login[scim.login(0)]["state"] == "absent"  # disabled
    assert scim.login(4) not in by_login  # left the group and never held MCP_USERS: nothing to offboard
    assert "SHOW GRANTS OF ROLE MCP_USERS" in info["queries"]


def test_a_missing_mapped_role_or_connection_fails_loudly_without_secrets(
    scim5000: tuple[Emulator, dict[str, Any]], tmp_path: Path
) -> None:
    # Ansible reports a source that fails as a warning and goes on without it; the plays'
    # guard (playbooks/tasks/merge_directory_users.yml) then refuses to run (tests/deploy).
    emu, _ = scim5000
    proc = inventory(write_source(tmp_path / "typo", emu, roles={"DATA_ANALYST": ["MCP_USERS"]}))
    assert "mapped role(s) DATA_ANALYST do not exist or are not visible" in proc.stderr
    assert "mcp_directory_users" not in json.loads(proc.stdout)
    proc = inventory(write_source(tmp_path / "badport", emu, connection={"account": "DEMO-ACCOUNT", "user": "ADMIN",
                     "host": "127.0.0.1", "port": 9, "protocol": "http", "login_timeout": 3}))  # fmt: skip
    assert "cannot connect to Snowflake account 'DEMO-ACCOUNT'" in proc.stderr
    assert "mcp_directory_users" not in json.loads(proc.stdout)
    assert ADMIN_PASSWORD not in proc.stdout + proc.stderr


def test_bad_role_map_is_refused_with_every_problem() -> None:
    with pytest.raises(DirectoryError) as exc:
        parse_role_map({"DATA_ANALYSTS": [], "X; DROP ROLE Y": ["MCP_USERS"], "SALES": ["MCP USERS"]})
    message = str(exc.value)
    assert "roles.DATA_ANALYSTS: must be a non-empty list" in message
    assert "'X; DROP ROLE Y' is not a valid role name" in message
    assert "'MCP USERS' is not a valid role name" in message
    assert parse_role_map({"data_analysts": ["mcp_users"], '"Mixed"': ["MCP_USERS"]}) == {
        "DATA_ANALYSTS": ["MCP_USERS"], "Mixed": ["MCP_USERS"]}  # fmt: skip


def test_logins_compare_ascii_case_insensitively_only() -> None:
    assert login_key("Alice@Example.COM") == "alice@example.com"
    # Snowflake does not fold Unicode: these are two different users.
    assert login_key("STRASSE@example.com") != login_key("straße@example.com")
    assert login_key("ÉLODIE@example.com") != login_key("élodie@example.com")


def test_hand_written_entries_win() -> None:
    directory = [
        {"login": "ALICE@EXAMPLE.COM", "email": "alice@example.com", "roles": ["MCP_USERS"]},
        {"login": "bob@example.com", "roles": ["MCP_USERS"]},
        {"login": "dave@example.com", "state": "absent"},
        {"login": "erin@example.com", "roles": ["MCP_USERS"]},
    ]
    hand = [
        {"login": "alice@example.com", "host": "alice-laptop", "shell": "zsh", "servers": ["GONG_MCP"]},
        {"login": "bob@example.com", "roles": ["MCP_SALES"]},  # managed by hand: taken as written
        {"login": "dave@example.com", "host": "dave-laptop"},  # disabled in Snowflake: still absent
        {"login": "frank@example.com", "host": "frank-laptop"},  # left the group: offboarded
        {"login": "straße@example.com", "host": "x"},  # not STRASSE: no Unicode folding
        {"login": "contractor@partner.example", "roles": ["MCP_USERS"]},
    ]
    merged = merge_users(hand, directory)
    assert merged == [
        {"login": "alice@example.com", "email": "alice@example.com", "roles": ["MCP_USERS"], "host": "alice-laptop",
         "shell": "zsh", "servers": ["GONG_MCP"]},
        {"login": "bob@example.com", "roles": ["MCP_SALES"]},
        {"login": "dave@example.com", "state": "absent", "host": "dave-laptop"},
        {"state": "absent", "login": "frank@example.com", "host": "frank-laptop"},
        {"state": "absent", "login": "straße@example.com", "host": "x"},
        {"login": "contractor@partner.example", "roles": ["MCP_USERS"]},
        {"login": "erin@example.com", "roles": ["MCP_USERS"]},
    ]  # fmt: skip
    assert merge_users(hand, None) == hand
    assert merge_users(None, directory) == directory


def test_hosts_bind_directory_users_by_role_with_no_extra_request(
    scim5000: tuple[Emulator, dict[str, Any]], tmp_path: Path
) -> None:
    # Fleet (issue 21): no per-person line. A host or group variable, mcp_host_roles, names the mapped MCP roles
    # whose holders use the machine; the plays' own filter, after the plays' own merge, picks them.
    emu, seed = scim5000
    folder = write_source(tmp_path / "inv", emu, roles={"DATA_ANALYSTS": ["MCP_USERS"], "ANALYSTS": ["MCP_OKTA"]})
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python")}
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"lab-aad": {**local, "mcp_host_roles": ["mcp_users"]}, "lab-okta": {**local, "mcp_host_roles": ["MCP_OKTA"]},
                  "laptop": local},
        "vars": {"mcp_users": [{"login": "pinned@example.com", "roles": ["MCP_USERS"], "host": "laptop"}]},
    }}))  # fmt: skip
    out = tmp_path / "bound"
    out.mkdir()
    playbook = tmp_path / "bound.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Which users each machine gets", "hosts": "all", "gather_facts": False,
        "pre_tasks": [{"name": "Merge", "ansible.builtin.import_tasks": str(ROOT / "playbooks/tasks/merge_directory_users.yml")}],
        "tasks": [{"name": "Write them down", "ansible.builtin.copy": {
            "dest": f"{out}/{{{{ inventory_hostname }}}}.json", "mode": "0600",
            "content": "{{ mcp_users | snowmcp.core.host_users(inventory_hostname, none, mcp_host_roles | default([]))"
                       " | map(attribute='login') | list | to_json }}"}}],
    }]))  # fmt: skip
    before = query_requests(emu)
    directory_of(folder)  # the directory alone, as the plays load it
    alone = query_requests(emu) - before
    env = dict(os.environ, SNOWFLAKE_PASSWORD=ADMIN_PASSWORD, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(folder), str(playbook)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert query_requests(emu) - before - alone == alone == 5  # binding by role adds no request
    bound = {h: set(json.loads((out / f"{h}.json").read_text())) for h in ("lab-aad", "lab-okta", "laptop")}

    def holders(group: str) -> set[str]:
        return {u["login_name"] for u in seed["users"] if u.get("roles") == [group] and not u.get("disabled")}

    assert len(holders("DATA_ANALYSTS")) > 1000 and len(holders("OKTA_EMEA_ANALYSTS")) > 1000
    assert {login_key(x) for x in bound["lab-aad"]} == {login_key(x) for x in holders("DATA_ANALYSTS")}
    assert {login_key(x) for x in bound["lab-okta"]} == {login_key(x) for x in holders("OKTA_EMEA_ANALYSTS")}
    # A user with a `host` stays on that machine only; disabled users are bound nowhere.
    assert bound["laptop"] == {"pinned@example.com"}
    assert scim.login(0) not in bound["lab-aad"] | bound["lab-okta"]
