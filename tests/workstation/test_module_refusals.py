"""Issue 23, the modules' half: run as root over a user's home, the claude_* modules cannot be steered.

Each case plants, with a real throwaway account (useradd; CI runs as root), what a user of a
shared machine can plant in their own home - a symlinked file or folder, a hard link to a
root-owned file, a FIFO, a /dev/zero-like device, a huge file - then runs the real module file
as root, as Ansible's local connection does, and reads back the files the user aimed at: their
content, mode and owner must not change, and the module must say why it refused.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workstation.localusers import LocalUser, local_user
from tests.workstation.moduleutil import ROOT, modules_run_by, run_module, run_module_with_ansible

SERVER = ROOT / "plugins" / "modules" / "claude_mcp_server.py"
INFO = ROOT / "plugins" / "modules" / "claude_mcp_info.py"
SETTINGS = ROOT / "plugins" / "modules" / "claude_managed_settings.py"
URL = "https://org-acct.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp"
# What the user aims root at: IT's machine-wide file, root's and readable by every user.
IT_FILE = '{\n  "mcpServers": {\n    "wiki": {"type": "http", "url": "https://wiki.example.com/mcp"}\n  }\n}\n'
CLAUDE_STATE = '{\n  "numStartups": 3,\n  "machineID": "7ba0ab8ec2a4"\n}\n'
# Bounds for a run that would hang on a FIFO or read /dev/zero forever without the checks.
HANG_GUARD = {"timeout": 20, "max_memory": 1 << 30}


@pytest.fixture(scope="module")
def alice() -> Iterator[LocalUser]:
    with local_user() as user:
        yield user


@pytest.fixture
def home(tmp_path: Path, alice: LocalUser) -> Path:
    """alice's home: her folder, as on a shared machine."""
    path = tmp_path / "home-alice"
    path.mkdir(mode=0o700)
    alice.own(path)
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root-owned file in a root-owned folder (stands in for /etc/claude-code/managed-mcp.json)."""
    folder = tmp_path / "etc-claude-code"
    folder.mkdir()
    path = folder / "managed-mcp.json"
    path.write_text(IT_FILE)
    path.chmod(0o644)
    return path


def fingerprint(path: Path) -> tuple[bytes, int, int, int, int]:
    st = path.stat()
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink


def call(kind: str, tmp_path: Path, home: Path, entry: str, **extra: Any) -> dict[str, Any]:
    """Run one module as root so that it reads or writes `home/entry`."""
    target = home / entry
    if kind == "server":
        if entry == ".claude.json":
            args: dict[str, Any] = {"name": "gong_mcp", "url": URL, "home": str(home)}
        else:
            args = {"name": "gong_mcp", "url": URL, "scope": "project", "project_dir": str(target.parent)}
        result, _ = run_module(tmp_path, module=SERVER, **args, **extra)
    elif kind == "info":
        if entry == ".claude.json":
            result, _ = run_module(tmp_path, module=INFO, home=str(home), **extra)
        else:
            result, _ = run_module(tmp_path, module=INFO, home=str(home), project_dir=str(target.parent), **extra)
    else:
        result, _ = run_module(tmp_path, module=SETTINGS, path=str(target), allowed_servers=["GONG_MCP"], **extra)
    return result


def refused(result: dict[str, Any], *words: str) -> str:
    assert result.get("failed") is True, result
    msg = str(result["msg"])
    assert all(w in msg for w in words) and "left untouched" in msg, msg
    return msg


KINDS = ["server", "info", "settings"]


def file_name(kind: str) -> str:
    return "managed-settings.json" if kind == "settings" else ".claude.json"


@pytest.mark.parametrize("kind", KINDS)
def test_a_symlinked_file_is_refused(kind: str, tmp_path: Path, home: Path, alice: LocalUser, victim: Path) -> None:
    link = home / file_name(kind)
    link.symlink_to(victim)
    alice.own(link)
    before = fingerprint(victim)
    refused(call(kind, tmp_path, home, link.name), str(link), "is a symbolic link")
    assert fingerprint(victim) == before and link.is_symlink()


@pytest.mark.parametrize("kind", KINDS)
def test_a_symlinked_parent_folder_is_refused(kind: str, tmp_path: Path, home: Path, alice: LocalUser,
                                              victim: Path) -> None:  # fmt: skip
    """`~/proj -> /etc/claude-code`-like: the folder link is alice's, so it is not followed."""
    name = "managed-settings.json" if kind == "settings" else ".mcp.json"
    aimed = victim.parent / name
    aimed.write_text(IT_FILE)
    aimed.chmod(0o644)
    link = home / "proj"
    link.symlink_to(victim.parent)
    alice.own(link)
    before = fingerprint(aimed)
    refused(call(kind, tmp_path, home, f"proj/{name}"), f"{link} is a symbolic link owned by {alice.name}")
    assert fingerprint(aimed) == before and not (victim.parent / ".mcp.json").is_symlink()


@pytest.mark.parametrize("special", ["fifo", "device"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_fifo_or_device_is_refused_without_hanging(kind: str, special: str, tmp_path: Path, home: Path,
                                                     alice: LocalUser) -> None:  # fmt: skip
    """A FIFO would block the read forever; a /dev/zero-like node (same major/minor) never ends."""
    path = home / file_name(kind)
    if special == "fifo":
        os.mkfifo(path, 0o600)
    else:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    alice.own(path)
    words = "a FIFO" if special == "fifo" else "a character device"
    refused(call(kind, tmp_path, home, path.name, **HANG_GUARD), str(path), words)
    mode = path.lstat().st_mode
    assert (stat.S_ISFIFO(mode) if special == "fifo" else stat.S_ISCHR(mode)) and path.lstat().st_uid == alice.uid


@pytest.mark.parametrize("kind", KINDS)
def test_a_hard_link_to_a_root_file_is_refused(kind: str, tmp_path: Path, home: Path, victim: Path) -> None:
    """O_NOFOLLOW does not see a hard link; the owner check does: root's file in alice's folder."""
    link = home / file_name(kind)
    os.link(victim, link)
    before = fingerprint(victim)
    refused(call(kind, tmp_path, home, link.name), str(link), "belongs to root (uid 0)", "refusing")
    assert fingerprint(victim) == before


def test_a_users_file_in_a_root_folder_is_refused(tmp_path: Path, alice: LocalUser, victim: Path) -> None:
    """The managed folder is root's: a file there that a user owns (so could rewrite) is not IT's."""
    planted = victim.parent / "managed-settings.json"
    planted.write_text('{"allowedMcpServers": []}\n')
    alice.own(planted)
    before = fingerprint(planted)
    result, _ = run_module(tmp_path, module=SETTINGS, path=str(planted), allowed_servers=["GONG_MCP"])
    refused(result, f"belongs to {alice.name}", "but its folder")
    before_mcp = fingerprint(victim)
    alice.own(victim)
    result, _ = run_module(tmp_path, module=SERVER, name="gong_mcp", url=URL, scope="managed", path=str(victim))
    refused(result, f"belongs to {alice.name}")
    assert fingerprint(planted) == before and fingerprint(victim)[:2] == before_mcp[:2]


@pytest.mark.parametrize(("kind", "name", "size"), [
    ("server", ".claude.json", 128 * 1024 * 1024 + 1),
    ("server", "proj/.mcp.json", 4 * 1024 * 1024 + 1),
    ("info", "proj/.mcp.json", 4 * 1024 * 1024 + 1),
    ("settings", "managed-settings.json", 4 * 1024 * 1024 + 1),
])  # fmt: skip
def test_an_oversized_file_is_refused_unread(kind: str, name: str, size: int, tmp_path: Path, home: Path,
                                            alice: LocalUser) -> None:  # fmt: skip
    path = home / name
    path.parent.mkdir(exist_ok=True)
    with path.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(size)
    alice.own(path.parent, path)
    refused(call(kind, tmp_path, home, name, **HANG_GUARD), str(path), f"is {size} bytes, more than the")
    assert path.stat().st_size == size


def test_swapping_claude_json_between_info_and_server_changes_no_root_file(tmp_path: Path, home: Path,
                                                                          alice: LocalUser, victim: Path) -> None:  # fmt: skip
    """The issue's race made deterministic: the role reads with claude_mcp_info, the user swaps
    ~/.claude.json for a link to a root-owned JSON file, the role writes with claude_mcp_server."""
    info = run_module(tmp_path, module=INFO, home=str(home))[0]
    assert info["user"]["exists"] is False and not info.get("failed"), info
    added = run_module(tmp_path, module=SERVER, name="gong_mcp", url=URL, home=str(home))[0]
    assert added["action"] == "added", added
    own = home / ".claude.json"
    # Made by root in alice's home: hers, 0600, as Claude Code keeps it.
    assert (own.stat().st_uid, own.stat().st_gid, stat.S_IMODE(own.stat().st_mode)) == (alice.uid, alice.gid, 0o600)
    assert json.loads(own.read_text())["mcpServers"]["gong_mcp"]["url"] == URL

    info = run_module(tmp_path, module=INFO, home=str(home))[0]
    assert info["user"]["servers"] == ["gong_mcp"], info
    own.unlink()
    own.symlink_to(victim)  # alice's swap, after the read
    alice.own(own)
    before = fingerprint(victim)
    for args in ({"name": "docs_mcp", "url": URL}, {"name": "wiki", "state": "absent"},
                 {"name": "gong_mcp", "state": "absent"}):  # fmt: skip
        result = run_module(tmp_path, module=SERVER, home=str(home), **args)[0]
        refused(result, str(own), "is a symbolic link")
        assert fingerprint(victim) == before, f"{args} changed the root-owned file"
    assert own.is_symlink() and [p.name for p in home.iterdir()] == [".claude.json"], "no temporary file left"


def test_root_owned_folder_links_are_still_followed(tmp_path: Path) -> None:
    """The system's own layout (macOS's /etc -> /private/etc): a root link in a root folder is followed."""
    real = tmp_path / "private-etc"
    real.mkdir()
    (tmp_path / "etc").symlink_to(real)
    if os.geteuid() != 0:
        pytest.skip("the link must be root's")
    result, _ = run_module(tmp_path, module=SETTINGS, path=str(tmp_path / "etc" / "managed-settings.json"),
                           allowed_servers=["GONG_MCP"])  # fmt: skip
    assert result.get("changed") is True, result
    assert json.loads((real / "managed-settings.json").read_text()) == {"allowedMcpServers": [{"serverName": "GONG_MCP"}]}


def test_the_descriptor_walk_runs_on_a_python_39_target(tmp_path: Path, python39: Path, home: Path, alice: LocalUser,
                                                        victim: Path) -> None:  # fmt: skip
    """macOS's own Python is 3.9: the walk (dir_fd opens, readlink and rename by descriptor) must run
    there, shipped by Ansible - through a root link (macOS's /Users-like layout) to alice's home,
    a write that stays alice's, then her swapped-in link refused."""
    (tmp_path / "homes").symlink_to(tmp_path)  # root's link in root's folder: followed
    via_link = tmp_path / "homes" / home.name
    added = run_module_with_ansible(tmp_path, python39, name="gong_mcp", url=URL, home=str(via_link))
    own = home / ".claude.json"
    assert added.get("action") == "added" and own.stat().st_uid == alice.uid, added
    own.unlink()
    own.symlink_to(victim)
    alice.own(own)
    before = fingerprint(victim)
    result = run_module_with_ansible(tmp_path, python39, name="gong_mcp", url=URL, home=str(via_link))
    # The ad-hoc output says FAILED! in its header line, not in the result: the message tells.
    assert result.get("msg") == (f"{via_link / '.claude.json'} is a symbolic link, not a regular file; "
                                 "refusing to use it; left untouched"), result  # fmt: skip
    assert fingerprint(victim) == before
    assert modules_run_by(tmp_path) == ["AnsiballZ_claude_mcp_server.py"] * 2


def test_the_machines_own_managed_files_need_a_root_folder(tmp_path: Path, home: Path, alice: LocalUser) -> None:
    """/etc/claude-code itself must be root's (the real one is only touched by test_managed.py):
    the default managed paths ask for a root-owned folder, a `path` elsewhere for its owner's."""
    from ansible_collections.snowmcp.core.plugins.module_utils import claude_config, safe_files
    from ansible_collections.snowmcp.core.plugins.modules import claude_managed_settings

    assert claude_config.system_owner("/etc/claude-code/managed-mcp.json") == 0
    assert claude_config.system_owner("/etc/claude-code/../claude-code/managed-mcp.json") == 0
    assert claude_config.system_owner(str(home / "managed-mcp.json")) is None
    assert claude_managed_settings.system_owner("/etc/claude-code/managed-settings.json") == 0
    assert claude_managed_settings.system_owner(str(home / "managed-settings.json")) is None
    (home / "managed-mcp.json").write_text(IT_FILE)
    alice.own(home / "managed-mcp.json")
    with pytest.raises(safe_files.UnsafeFileError, match=f"folder {home} belongs to {alice.name} .*, not to root"):
        safe_files.SafeFile(str(home / "managed-mcp.json"), 1024, folder_owner=0)
    with safe_files.SafeFile(str(home / "managed-mcp.json"), 1024, folder_owner=alice.uid) as target:
        assert target.read()[0] == IT_FILE.encode()
