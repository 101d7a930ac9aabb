"""Throwaway local accounts for the shared-machine tests (root only: CI runs as root).

A real account, made with useradd and removed with userdel, so a file or a symlink can really
belong to "a user of the machine" and the code under test sees a real foreign owner.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class LocalUser:
    name: str
    uid: int
    gid: int

    def own(self, *paths: Path) -> None:
        """Give paths to this user, symlinks themselves included (lchown)."""
        for path in paths:
            os.lchown(path, self.uid, self.gid)


def _run_locked(argv: list[str]) -> None:
    # useradd/userdel exit 10 when another test worker holds /etc/passwd's lock: wait and retry.
    for _ in range(50):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 10:
            assert proc.returncode == 0, f"{argv}: {proc.stderr}"
            return
        time.sleep(0.2)
    raise AssertionError(f"{argv}: /etc/passwd stayed locked")


@contextmanager
def local_user(prefix: str = "smcp") -> Iterator[LocalUser]:
    """A new unprivileged account (no home, no login shell), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creates a real local account with useradd (needs root; CI runs as root)")
    name = f"{prefix}{secrets.token_hex(4)}"
    _run_locked(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name])
    try:
        entry = pwd.getpwnam(name)
        yield LocalUser(name, entry.pw_uid, entry.pw_gid)
    finally:
        _run_locked(["userdel", name])


def as_user(user: LocalUser | None) -> list[str]:
    """Command prefix that runs a program with `user`'s uid and gid (nothing for None: as ourselves).

    The test interpreter may live under /root (pyenv), which the account cannot reach: the process
    keeps CAP_DAC_READ_SEARCH (read and search, never write) so it can load it, while its uid,
    and so the client's euid, are the account's.
    """
    if user is None:
        return []
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip


@contextmanager
def unprivileged() -> Iterator[LocalUser | None]:
    """An account to run the client as when the tests run as root (CI), else None (we are not root)."""
    if os.geteuid() != 0:
        yield None
        return
    with local_user() as user:
        yield user
