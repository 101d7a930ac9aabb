"""The collection's one writer of files that may hold secrets, on Ansible's own atomic_move.

Runs on the managed host, so Python 3.9 must be able to run it (no runtime `X | Y`).
"""

from __future__ import annotations

import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def write_private_file(module: AnsibleModule, path: str, text: str, mode: int) -> None:
    """Replace `path` with `text` atomically; the new text is never readable beyond `mode`.

    atomic_move keeps the SELinux context and, for an existing file, its owner, but it copies
    the old file's mode onto the new one and gives a new file 0666 minus the umask. So an
    existing file is narrowed to `mode` first (its old text was already that visible), and
    the umask is narrowed for the move so a new file is never wider than `mode` either.
    """
    folder = os.path.dirname(path)
    old: os.stat_result | None
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if old is not None and stat.S_IMODE(old.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(old.st_mode) & mode)
        previous_umask = os.umask(0o777 & ~mode)
        try:
            module.atomic_move(tmp, path, keep_dest_attrs=True)
        finally:
            os.umask(previous_umask)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.chmod(path, mode)
    if old is None and os.geteuid() == 0:
        # A file made by root in a user's folder belongs to that user (their ~/.claude.json).
        ref = os.stat(folder)
        os.chown(path, ref.st_uid, ref.st_gid)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
