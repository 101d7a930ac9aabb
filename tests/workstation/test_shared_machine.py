"""A shared machine in managed mode: no local user can steer the play IT runs as root (issue 23).

Real unprivileged accounts (useradd; root only, as CI runs), each attack planted in their homes,
then ONE run of the real site playbook's workstation play (playbooks/workstations.yml) as root
in managed mode, with the machine-wide client installed the default way (the collection's wheel
with the keyring extra) from a Python every user can run (/usr/bin/python3; the project's venv
lives under /root, which the users cannot reach). Machine-wide paths go to a temporary folder as
in test_managed.py, whose /etc/claude-code fixture (and file lock) this module shares.

The accounts (every login's local part is its account; some users name it with `unix_user`, the
others get it from the host's rule `login_local_part`):
- alice (present): a legitimate user switching from user mode; her entries go, her sign-in stays.
- dave (absent): a legitimate departing user; he is signed out in his own home.
- eve (absent): her keyringrc.cfg puts a folder of hers on the import path and names a module of
  hers as the keyring: when she is signed out her code runs, as her and never as root.
- mal (absent): ~/.local/bin/snowmcp is a script (writes a marker, copies a root-only file);
  ~/.config -> bob's ~/.config; ~/.local/share -> a root-owned folder; ~/.bashrc -> bob's.
- zed (present, last): between the role's read of ~/.claude.json and its write, ~/.claude.json
  becomes a link to a root-owned JSON file. The swap is made deterministic by a callback plugin
  (the test's stand-in for the racing user) that swaps it right after that read.
- bob: not in the inventory; the victim whose files must not change.

The run is given `mcp_workstation_home` per user (a Jinja expression of the login): today's
code needs it to reach each user's home at all (as the issue's reproduction did); the fixed
role checks it against the passwd entry. Every test here failed on the code before the fix.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workstation.test_managed import ETC, IT_MCP, etc_claude_code  # noqa: F401 - the shared fixture
from tests.workstation.wshelpers import PlaybookRun, run_playbook

PY = "/usr/bin/python3"  # a Python every account can run (the workstation's own)
MARK = "# {mark} snowmcp (managed by Ansible: edits inside are overwritten)"
BLOCK = f"{MARK.format(mark='BEGIN')}\nexport PATH=\"$HOME/.local/bin:$PATH\"\n{MARK.format(mark='END')}\n"
NAMES = ("alice", "bob", "dave", "eve", "mal", "zed")
PREFIX = "smshr"  # account names: smshr_alice, ...
SERVERS = [{"name": "GONG_MCP", "database": "AICOLLEGE", "schema": "PUBLIC", "roles": ["MCP_USERS"], "tools": []}]
ACCOUNT_URL = "https://acct.example.invalid"


def account(name: str) -> str:
    return f"{PREFIX}_{name}"


def login(name: str) -> str:
    return f"{account(name)}@example.com"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def snapshot(*roots: Path) -> dict[str, Any]:
    """Everything at and under `roots`, links not followed: path -> (kind, mode, uid, gid, bytes or target)."""
    out: dict[str, Any] = {}

    def record(p: Path) -> None:
        st = p.lstat()
        body: Any = None
        if stat.S_ISLNK(st.st_mode):
            body = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            body = p.read_bytes()
        out[str(p)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)

    for root in roots:
        if not os.path.lexists(root):
            continue
        record(root)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                record(Path(dirpath) / name)
    return out


# A callback plugin standing in for the racing user: right after the role read zed's
# ~/.claude.json, it becomes a link to a root-owned JSON file (owned by zed, as zed would make it).
SWAP_CALLBACK = '''
import os
from ansible.plugins.callback import CallbackBase

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "swap_claude_json"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result):
        path = (result._result.get("user") or {{}}).get("path") if isinstance(result._result, dict) else None
        if path == {victim!r} and not os.path.exists({done!r}):
            os.rename(path, path + ".before-swap")
            os.symlink({target!r}, path)
            os.lchown(path, {uid}, {gid})
            open({done!r}, "w").close()
'''


@dataclass
class Shared:
    base: Path
    homes: dict[str, Path]
    uids: dict[str, int]
    run: PlaybookRun
    before: dict[str, Any]  # snapshot of what no run may change
    watched: tuple[Path, ...]
    root_json: Path
    secret: str
    extra: tuple[str, ...]
    inventory: Path
    session_home: Path
    env: dict[str, str] = field(default_factory=dict)

    def play(self, *extra: str, inventory: Path | None = None) -> PlaybookRun:
        return run_playbook(self.session_home, inventory or self.inventory, *self.extra, *extra,
                            playbook="playbooks/workstations.yml", env=self.env)  # fmt: skip


def write_inventory(path: Path, users: list[dict[str, Any]], service_url: str) -> Path:
    host = {"ansible_connection": "local", "ansible_python_interpreter": PY, "ansible_become_method": "su",
            "ansible_pipelining": True, "mcp_workstation_scope": "managed",
            "mcp_workstation_unix_user_rule": "login_local_part"}  # fmt: skip
    data = {"all": {"vars": {"snowflake_account_url": ACCOUNT_URL, "token_service": {"url": service_url},
                             "snowflake_mcp_servers": SERVERS, "mcp_users": users},
                    "children": {"workstations": {"hosts": {"ws1": host}}}}}  # fmt: skip
    path.write_text(yaml.safe_dump(data))
    return path


def plant(base: Path, homes: dict[str, Path], uids: dict[str, int], secret_file: Path, root_share: Path,
          root_json: Path, system_bin: Path) -> None:  # fmt: skip
    """Each user's files, written as root and then handed to the user (chown -R, links with lchown)."""

    def write(name: str, rel: str, text: str, mode: int = 0o644) -> Path:
        p = homes[name] / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
        return p

    def link(name: str, rel: str, target: Path) -> None:
        p = homes[name] / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(target)

    helper = {n: f"{homes[n]}/.local/bin/snowmcp headers" for n in NAMES}
    creds = {"version": 1, "username": "x", "service_url": "https://127.0.0.1:9", "storage": "file", "api_key": "k-"}
    url = f"{ACCOUNT_URL}/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP"
    # bob (victim): signed in, his own user-mode files; ~/.config readable by others (a common umask).
    write("bob", ".config/snowmcp/config.toml", 'service_url = "https://127.0.0.1:9"\n', 0o600)
    write("bob", ".config/snowmcp/credentials", json.dumps(dict(creds, username="bob", api_key="bob-key")), 0o600)
    write("bob", ".config/fish/conf.d/snowmcp.fish", "set -gx PATH $HOME/.local/bin $PATH\n")
    write("bob", ".bashrc", "alias ll='ls -l'\n" + BLOCK)
    # alice (legitimate, present): what user mode left, and her sign-in.
    write("alice", ".claude.json", json.dumps({"numStartups": 3, "mcpServers": {
        "GONG_MCP": {"type": "http", "url": url, "headersHelper": helper["alice"]}}}, indent=2) + "\n", 0o600)  # fmt: skip
    write("alice", ".config/snowmcp/config.toml", 'service_url = "https://127.0.0.1:9"\n', 0o600)
    write("alice", ".config/snowmcp/credentials", json.dumps(dict(creds, username="alice", api_key="alice-key")), 0o600)
    write("alice", ".bashrc", BLOCK)
    # dave (legitimate, absent): signed in with the key in the file.
    write("dave", ".config/snowmcp/credentials", json.dumps(dict(creds, username="dave", api_key="dave-key")), 0o600)
    # eve (absent): a key "in the keyring" and a keyringrc naming her own module as the keyring.
    write("eve", ".config/snowmcp/credentials", json.dumps({"version": 1, "username": "eve", "storage": "keyring",
          "service_url": "https://127.0.0.1:9", "keyring_backend": "keyring.backends.fail.Keyring"}), 0o600)  # fmt: skip
    write("eve", ".config/python_keyring/keyringrc.cfg",
          f"[backend]\ndefault-keyring=evilring.Ring\nkeyring-path={homes['eve']}/kr\n")  # fmt: skip
    write("eve", "kr/evilring.py", f"""import os, shutil
from keyring.backend import KeyringBackend
with open(os.path.expanduser("~/keyring-ran"), "w") as f:
    f.write(str(os.geteuid()))
try:
    shutil.copy({str(secret_file)!r}, os.path.expanduser("~/stolen"))
except OSError:
    pass
class Ring(KeyringBackend):
    priority = 1
    def get_password(self, service, username): return None
    def set_password(self, service, username, password): pass
    def delete_password(self, service, username): pass
""")
    # mal (absent): a program where the role used to look for the user's client, and links.
    write("mal", ".local/bin/snowmcp", f"""#!/bin/sh
id -u > "$HOME/shim-ran"
cat {secret_file} > "$HOME/stolen" 2>/dev/null
cat {homes['bob']}/.config/snowmcp/credentials >> "$HOME/stolen" 2>/dev/null
exit 0
""", 0o755)  # fmt: skip
    link("mal", ".config", homes["bob"] / ".config")
    link("mal", ".local/share", root_share)
    link("mal", ".bashrc", homes["bob"] / ".bashrc")
    # zed (present, last): user-mode leftovers whose removal the swap redirects.
    write("zed", ".claude.json", json.dumps({"mcpServers": {
        "GONG_MCP": {"type": "http", "url": url, "headersHelper": helper["zed"]}}}, indent=2) + "\n", 0o600)  # fmt: skip
    root_json.write_text(json.dumps({"machine": True, "mcpServers": {
        "GONG_MCP": {"type": "http", "url": url, "headersHelper": helper["zed"]}}}, indent=2) + "\n")  # fmt: skip
    root_json.chmod(0o644)
    for name in NAMES:
        subprocess.run(["chown", "-hR", f"{uids[name]}:{uids[name]}", str(homes[name])], check=True)


@pytest.fixture(scope="module")
def shared(wheel_cache: Path, etc_claude_code: Path) -> Iterator[Shared]:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("creates local accounts and writes /etc/claude-code (CI runs as root)")
    # Under /tmp itself, mode 0755: the accounts must reach the machine-wide client (pytest's
    # own temporary folders are 0700 root).
    base = Path(tempfile.mkdtemp(prefix="snowmcp-shared-", dir="/tmp"))
    base.chmod(0o755)
    created: list[str] = []
    try:
        homes: dict[str, Path] = {}
        uids: dict[str, int] = {}
        (base / "home").mkdir(mode=0o755)
        (base / "skel").mkdir()  # empty: no /etc/skel files in the test homes
        for name in NAMES:
            homes[name] = base / "home" / account(name)
            subprocess.run(["useradd", "--create-home", "--home-dir", str(homes[name]), "--shell", "/bin/sh",
                            "--skel", str(base / "skel"), "--user-group", account(name)], check=True, capture_output=True)  # fmt: skip
            created.append(account(name))
            homes[name].chmod(0o755)
            uids[name] = pwd.getpwnam(account(name)).pw_uid
        root_only = base / "root-only"
        root_only.mkdir(mode=0o700)
        secret_file = root_only / "secret"
        secret = "root-only-secret-3f9c"
        secret_file.write_text(secret)
        secret_file.chmod(0o600)
        root_share = base / "root-share"  # what mal's ~/.local/share points at
        (root_share / "snowmcp").mkdir(parents=True)
        (root_share / "snowmcp" / "keep").write_text("root's\n")
        root_json = base / "root-json" / "settings.json"  # what zed's ~/.claude.json becomes
        root_json.parent.mkdir()
        system_bin = base / "usr-local-bin"
        plant(base, homes, uids, secret_file, root_share, root_json, system_bin)

        callbacks = base / "callbacks"
        callbacks.mkdir()
        (callbacks / "swap_claude_json.py").write_text(SWAP_CALLBACK.format(
            victim=str(homes["zed"] / ".claude.json"), target=str(root_json), done=str(base / "swapped"),
            uid=uids["zed"], gid=uids["zed"]))  # fmt: skip

        users = [
            {"login": login("alice"), "roles": ["MCP_USERS"], "host": "ws1", "unix_user": account("alice")},
            {"login": login("dave"), "roles": ["MCP_USERS"], "host": "ws1", "state": "absent"},
            {"login": login("eve"), "roles": ["MCP_USERS"], "host": "ws1", "state": "absent", "unix_user": account("eve")},
            {"login": login("mal"), "roles": ["MCP_USERS"], "host": "ws1", "state": "absent"},
            {"login": login("zed"), "roles": ["MCP_USERS"], "host": "ws1"},
        ]  # fmt: skip
        # Plain http on this machine's loopback, allowed by IT's explicit opt-in (nothing listens there).
        inventory = write_inventory(base / "inventory.yml", users, f"http://127.0.0.1:{closed_port()}")
        system_config = base / "etc-snowmcp" / "config.toml"
        extra = ("-e", f"snowmcp_wheel_cache_dir={wheel_cache}", "-e", f"mcp_workstation_python={PY}",
                 "-e", f"mcp_workstation_system_venv={base / 'opt-snowmcp'}",
                 "-e", f"mcp_workstation_system_bin_dir={system_bin}",
                 "-e", f"mcp_workstation_system_config={system_config}")  # fmt: skip
        session_home = base / "root-home"
        session_home.mkdir()
        # ANSIBLE_REMOTE_TEMP back to Ansible's default: modules run as a user keep their temporary
        # files in that user's ~/.ansible/tmp (the helpers' one folder is root's).
        env = {"ANSIBLE_CALLBACK_PLUGINS": str(callbacks), "ANSIBLE_CALLBACKS_ENABLED": "swap_claude_json",
               "SNOWMCP_SYSTEM_CONFIG": str(system_config), "ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp"}  # fmt: skip
        for key in [k for k in os.environ if k.startswith(("SNOWMCP_KEYRING", "XDG_"))]:
            env[key] = ""
        watched = (homes["bob"], root_only, root_share, root_json.parent, ETC / "managed-settings.json")
        before = snapshot(*watched)
        state = Shared(base, homes, uids, PlaybookRun(0, ""), before, watched, root_json, secret, extra, inventory,
                       session_home, env)  # fmt: skip
        # Each user's home given as the issue's reproduction gave it (today's code needs it).
        home_expr = "mcp_workstation_home=" + str(base / "home") + "/{{ mcp_workstation_login.split('@')[0] }}"
        state.run = state.play("-e", "mcp_workstation_allow_loopback_http=true", "-e", home_expr)
        yield state
    finally:
        for name in created:
            subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def owner_and_text(path: Path) -> tuple[int, str]:
    st = path.lstat()
    return st.st_uid, path.read_text()


pytestmark = [pytest.mark.timeout(900)]


def test_no_planted_program_or_module_runs_as_root(shared: Shared) -> None:
    # mal's ~/.local/bin/snowmcp is not the machine's client: nobody runs it (managed mode signs
    # out with the machine-wide client only, as the user).
    assert not (shared.homes["mal"] / "shim-ran").exists(), owner_and_text(shared.homes["mal"] / "shim-ran")
    # eve's keyring module ran while she was signed out: as eve, never as root.
    marker = shared.homes["eve"] / "keyring-ran"
    assert marker.exists(), shared.run.output[-3000:]
    assert owner_and_text(marker) == (shared.uids["eve"], str(shared.uids["eve"]))
    for name in NAMES:
        stolen = shared.homes[name] / "stolen"
        assert not stolen.exists() or shared.secret not in stolen.read_text(), name
        assert not stolen.exists() or "bob-key" not in stolen.read_text(), name


def test_no_root_owned_or_other_users_file_changed(shared: Shared) -> None:
    # bob's home, a root-only folder, the root-owned folder behind mal's ~/.local/share, the
    # root-owned JSON behind zed's swapped ~/.claude.json, managed-settings.json: content, mode,
    # owner, existence, all as before the run.
    after = snapshot(*shared.watched)
    changed = {p for p in set(shared.before) | set(after) if shared.before.get(p) != after.get(p)}
    assert changed == set(), sorted(changed)


def test_symlinked_folders_of_a_home_are_not_followed(shared: Shared) -> None:
    mal = shared.homes["mal"]
    # The links themselves are the user's and stay; what lies behind them is not touched.
    assert os.readlink(mal / ".config") == str(shared.homes["bob"] / ".config")
    assert os.readlink(mal / ".local" / "share") == str(shared.base / "root-share")
    assert (shared.homes["bob"] / ".config/snowmcp/credentials").exists()
    assert BLOCK in (shared.homes["bob"] / ".bashrc").read_text()
    assert (shared.base / "root-share" / "snowmcp" / "keep").read_text() == "root's\n"
    # mal's own planted client is not in a linked folder: removed, as mal's user-mode client.
    assert not (mal / ".local/bin/snowmcp").exists()


def test_a_claude_json_swapped_for_a_link_is_not_written_through(shared: Shared) -> None:
    assert (shared.base / "swapped").exists(), "the callback did not swap zed's ~/.claude.json"
    st = shared.root_json.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)
    assert "GONG_MCP" in json.loads(shared.root_json.read_text())["mcpServers"]
    # Working as zed, the write through zed's link to a root-owned file is refused (it stops the
    # run at zed, the last user): the only failure of the run.
    out = shared.run.output
    assert shared.run.rc != 0 and "failed=1 " in out, out[-4000:]
    failure = out.find("failed: [ws1]")
    assert failure > 0 and out.count("failed: [ws1]") == 1, out[-4000:]
    task = out[out.rfind("TASK [", 0, failure):failure]
    assert task.startswith("TASK [snowmcp.core.mcp_workstation : Remove the servers this role added from Claude Code]"), task


def test_legitimate_users_are_served_in_their_own_homes_as_themselves(shared: Shared) -> None:
    alice, dave = shared.homes["alice"], shared.homes["dave"]
    # The machine's file has the server for the host's users, root-owned and readable by all.
    managed = ETC / "managed-mcp.json"
    assert (managed.stat().st_uid, stat.S_IMODE(managed.stat().st_mode)) == (0, 0o644)
    servers = json.loads(managed.read_text())["mcpServers"]
    assert set(servers) == {"it-tools", "GONG_MCP"}
    assert servers["GONG_MCP"]["headersHelper"] == f"{shared.base / 'usr-local-bin' / 'snowmcp'} headers"
    assert managed.read_text().startswith(IT_MCP.rsplit("\n    }\n  }\n}", 1)[0])
    # alice switched from user mode: her entry, config and shell block went; her sign-in stayed;
    # everything left in her home is still hers.
    claude = json.loads((alice / ".claude.json").read_text())
    assert claude["numStartups"] == 3 and claude.get("mcpServers", {}) == {}, claude
    assert not (alice / ".config/snowmcp/config.toml").exists() and not (alice / ".bashrc").exists()
    assert json.loads((alice / ".config/snowmcp/credentials").read_text())["api_key"] == "alice-key"
    assert {p.lstat().st_uid for p in alice.rglob("*")} == {shared.uids["alice"]}
    # dave and eve were signed out in their own homes (the machine-wide client, as themselves).
    assert not (dave / ".config/snowmcp/credentials").exists()
    assert not (shared.homes["eve"] / ".config/snowmcp/credentials").exists()
    assert owner_and_text(shared.homes["eve"] / "keyring-ran")[0] == shared.uids["eve"]


def test_unusable_accounts_and_plain_http_stop_the_play_before_anything_changes(shared: Shared) -> None:
    users = [
        {"login": "nobody-here@example.com", "roles": ["MCP_USERS"], "host": "ws1"},  # no such account
        {"login": "carol@example.com", "roles": ["MCP_USERS"], "host": "ws1", "unix_user": "root"},
        {"login": login("alice"), "roles": ["MCP_USERS"], "host": "ws1", "unix_user": account("alice")},
    ]  # fmt: skip
    # Plain http on the loopback, without mcp_workstation_allow_loopback_http this time.
    inv = write_inventory(shared.base / "bad-accounts.yml", users, "http://127.0.0.1:9")
    before = snapshot(shared.homes["alice"], ETC)
    run = shared.play(inventory=inv)
    assert run.rc != 0
    for line in ("nobody-here@example.com on ws1: the local account 'nobody-here' does not exist",
                 "carol@example.com on ws1: the local account may not be root",
                 'token_service.url "http://127.0.0.1:9" is plain http: in managed mode http needs '
                 "mcp_workstation_allow_loopback_http"):  # fmt: skip
        assert line in run.output, run.output[-3000:]
    assert snapshot(shared.homes["alice"], ETC) == before


# The mapping itself (no playbook): the model and the filters the plays use.


def test_account_mapping_rules() -> None:
    from ansible_collections.snowmcp.core.plugins.filter.home_paths import below_link
    from ansible_collections.snowmcp.core.plugins.filter.inventory_model import (
        unix_account,
        unix_account_problems,
    )

    users = [{"login": "Alice.Smith@Example.com", "roles": ["R"]}, {"login": "bob@x", "roles": ["R"], "unix_user": "bsmith"},
             {"login": "carol@x", "roles": ["R"], "unix_user": "-rf"}, {"login": "dave", "roles": ["R"]}]  # fmt: skip
    assert unix_account(users, "alice.smith@example.com", "login_local_part") == {"name": "alice.smith", "problem": ""}
    assert unix_account(users, "bob@x", "login_local_part")["name"] == "bsmith"  # unix_user wins over the rule
    assert unix_account(users, "bob@x", "none", "other") == {"name": "other", "problem": ""}  # the run's override wins
    assert unix_account(users, "alice.smith@example.com")["problem"].startswith("no local account")
    assert "not a local account name" in unix_account(users, "carol@x")["problem"]
    assert unix_account(users, "dave", "login_local_part")["problem"].startswith("no local account")  # no `@`
    assert "must be one of" in unix_account(users, "bob@x", "guess")["problem"]
    passwd = {"alice.smith": ["x", "1000", "1000", "", "/home/alice.smith", "/bin/sh"], "bsmith": ["x", "0", "0", "", "/", "/bin/sh"]}
    assert unix_account_problems(users, "ws", ["alice.smith@example.com"], "login_local_part", True, passwd) == []
    assert unix_account_problems(users, "ws", ["bob@x"], "none", True, passwd) == ["bob@x on ws: the local account 'bsmith' is root (uid 0)"]
    # user mode: no account named and none required is fine (the session's own HOME, as before)
    assert unix_account_problems(users, "ws", ["alice.smith@example.com"], "none", False, passwd) == []
    assert below_link("/h/.config/snowmcp/config.toml", "/h", [".config"])
    assert not below_link("/h/.config", "/h", [".config"]) and not below_link("/other/.config/x", "/h", [".config"])
    assert below_link("/h/.local/share/snowmcp", "/h/", [".local/share"]) and not below_link("/h/.local/bin/snowmcp", "/h", [".local/share"])
