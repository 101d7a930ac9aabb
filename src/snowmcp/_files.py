"""The package's one writer of private files (client credentials, emulator state, demo settings).

Standard library only and Python 3.9-compatible: the workstation client imports it.
Ansible modules have their own counterpart on `AnsibleModule.atomic_move` in
`plugins/module_utils/private_file.py`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def write_private(path: Path, text: str, *, private_folder: bool = False) -> None:
    """Replace `path` atomically with `text`, mode 0600 from the first byte.

    Readers see the old file or the new one, never a partial write, and the
    secret is never in a file others can read. A missing folder is created
    0700; `private_folder=True` also takes group/other access away from an
    existing folder (only for folders the caller owns outright, like the
    client's config folder: never for a folder someone named on a command line).
    """
    import tempfile  # here, not at the top: tempfile pulls in shutil and random, slow for `headers`

    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if private_folder and folder.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        folder.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
