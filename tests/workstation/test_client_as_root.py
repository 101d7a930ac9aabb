"""Issue 23, the client's half: run as root, `snowmcp` never imports code a user planted.

The real console script (`.venv/bin/snowmcp`, as the machine-wide link runs it) is started as
root with HOME at a folder holding what a user of a shared machine can plant: keyring's
`keyringrc.cfg` whose `keyring-path` and `default-keyring` import a module of the user's, and
a credentials file naming such a module as its `keyring_backend`. The planted module writes a
marker file when it is imported; the marker must never appear. And a HOME that belongs to
another user is refused outright, with one line saying to run the client as that user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workstation.localusers import LocalUser, local_user

SNOWMCP = Path(sys.executable).parent / "snowmcp"
EVIL = '''
import os
from pathlib import Path
Path({marker!r}).write_text(f"imported with euid {{os.geteuid()}}")
from keyring.backend import KeyringBackend

class EvilRing(KeyringBackend):
    priority = 100

    def get_password(self, service, username):
        return "stolen"

    def set_password(self, service, username, password):
        pass

    def delete_password(self, service, username):
        pass
'''

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="what root does with a user's files (CI runs as root)")


def plant(home: Path, *, recorded: str | None = None) -> tuple[Path, Path]:
    """The user's module (in ~/.evil), keyring's config pointing at it, and a keyring sign-in.

    Returns (the folder holding the module, the marker file its import writes)."""
    evil = home / ".evil"
    evil.mkdir()
    marker = home.parent / f"{home.name}-MARKER"
    (evil / "evilring.py").write_text(EVIL.format(marker=str(marker)))
    rc = home / ".config" / "python_keyring" / "keyringrc.cfg"
    rc.parent.mkdir(parents=True)
    rc.write_text(f"[backend]\ndefault-keyring = evilring.EvilRing\nkeyring-path = {evil}\n")
    record = {"version": 1, "username": "alice@example.com", "service_url": "http://127.0.0.1:9", "storage": "keyring"}
    if recorded:
        record["keyring_backend"] = recorded
    creds = home / ".config" / "snowmcp" / "credentials"
    creds.parent.mkdir(mode=0o700)
    creds.write_text(json.dumps(record))
    creds.chmod(0o600)
    return evil, marker


def snowmcp(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, as root, HOME at `home` and working there (as a play's command task would)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWMCP_", "PYTHON_KEYRING", "XDG_"))}
    full.update({"HOME": str(home), "SNOWMCP_KEYRING": "auto", **env})
    if "PYTHONPATH" not in env:
        full.pop("PYTHONPATH", None)
    return subprocess.run([str(SNOWMCP), *args], env=full, cwd=home, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["keyringrc", "PYTHON_KEYRING_BACKEND"])
@pytest.mark.parametrize("command", ["logout", "headers"])
def test_root_never_lets_keyring_configuration_import_code(tmp_path: Path, command: str, how: str) -> None:
    """HOME here is root's own folder (so not refused): the keyring defence itself is what is tested."""
    home = tmp_path / "home"
    home.mkdir()
    evil, marker = plant(home)
    env = {"PYTHON_KEYRING_BACKEND": "evilring.EvilRing", "PYTHONPATH": str(evil)} if how != "keyringrc" else {}
    proc = snowmcp(home, command, **env)
    assert not marker.exists(), f"{marker.read_text()}: root imported the planted module\n{proc.stderr}"
    creds = home / ".config" / "snowmcp" / "credentials"
    if command == "logout":
        assert proc.returncode == 0 and "Signed out" in proc.stderr and not creds.exists(), proc.stderr
    else:
        # The key is not in any keyring root may use: no header, the usual one line.
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert proc.stderr == "snowmcp: your API key is no longer in the OS keyring: run `snowmcp login`\n"


def test_a_recorded_backend_that_keyring_does_not_ship_is_refused(tmp_path: Path) -> None:
    """The credentials file's keyring_backend is imported and instantiated: only keyring's own names go."""
    home = tmp_path / "home"
    home.mkdir()
    evil, marker = plant(home, recorded="evilring.EvilRing")
    # PYTHONPATH stands in for any folder root's Python imports from (a user site folder, a cwd).
    proc = snowmcp(home, "headers", PYTHONPATH=str(evil))
    assert not marker.exists(), marker.read_text()
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert proc.stderr == (
        f"snowmcp: {home}/.config/snowmcp/credentials names keyring backend 'evilring.EvilRing', which is not one of "
        "the keyring backends snowmcp loads; refusing to import it. Run `snowmcp logout`, then `snowmcp login`\n"
    )


@pytest.fixture(scope="module")
def bob() -> Iterator[LocalUser]:
    with local_user() as user:
        yield user


@pytest.mark.parametrize("where", ["HOME", "the config folder"])
@pytest.mark.parametrize("argv", [("status", "--json"), ("logout",), ("headers",)], ids=["status", "logout", "headers"])
def test_root_refuses_a_home_that_belongs_to_a_user(tmp_path: Path, bob: LocalUser, argv: tuple[str, ...],
                                                    where: str) -> None:  # fmt: skip
    home = tmp_path / "home-bob"
    home.mkdir()
    _evil, marker = plant(home)
    env = {}
    if where == "HOME":
        bob.own_tree(home)
        folder = home
    else:
        # HOME is root's, but the client's folder (SNOWMCP_CONFIG_DIR) is bob's.
        folder = home / ".config" / "snowmcp"
        bob.own(folder)
        env["SNOWMCP_CONFIG_DIR"] = str(folder)
    creds = home / ".config" / "snowmcp" / "credentials"
    before = creds.read_bytes()
    proc = snowmcp(home, *argv, **env)
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert proc.stderr == (f"snowmcp: refusing to run as root on {where} {folder}, which belongs to {bob.name}: "
                           f"run it as that user (sudo -u {bob.name} -H snowmcp {argv[0]})\n")  # fmt: skip
    assert not marker.exists() and creds.read_bytes() == before
