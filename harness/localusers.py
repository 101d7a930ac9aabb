"""Throwaway local accounts (root only), for tests and benchmarks that need a real non-root user.

A real account, made with useradd and removed with userdel, so a file or a symlink can really
belong to "a user of the machine", and a program can really run with that user's uid.
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


@dataclass(frozen=True)
class LocalUser:
    name: str
    uid: int
    gid: int

    def own(self, *paths: Path) -> None:
        """Give paths to this user, symlinks themselves included (lchown)."""
        for path in paths:
            os.lchown(path, self.uid, self.gid)

    def own_tree(self, top: Path) -> None:
        """Give `top` and everything under it to this user."""
        self.own(top)
        for dirpath, dirnames, filenames in os.walk(top):
            self.own(*(Path(dirpath) / n for n in dirnames + filenames))


def _run_locked(argv: list[str]) -> None:
    # useradd/userdel exit 10 when another process holds /etc/passwd's lock: wait and retry.
    for _ in range(50):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 10:
            if proc.returncode != 0:
                raise RuntimeError(f"{argv}: {proc.stderr.strip()}")
            return
        time.sleep(0.2)
    raise RuntimeError(f"{argv}: /etc/passwd stayed locked")


@contextmanager
def local_account(prefix: str = "smcp") -> Iterator[LocalUser]:
    """A new unprivileged account (no home, no login shell), removed afterwards. Needs root."""
    name = f"{prefix}{secrets.token_hex(4)}"
    _run_locked(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name])
    try:
        entry = pwd.getpwnam(name)
        yield LocalUser(name, entry.pw_uid, entry.pw_gid)
    finally:
        _run_locked(["userdel", name])


def as_user(user: LocalUser | None) -> list[str]:
    """Command prefix that runs a program with `user`'s uid and gid (nothing for None: as ourselves).

    The interpreter may live under /root (pyenv), which the account cannot reach: the process
    keeps CAP_DAC_READ_SEARCH (read and search, never write) so it can load it, while its uid,
    and so its euid, are the account's.
    """
    if user is None:
        return []
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip
