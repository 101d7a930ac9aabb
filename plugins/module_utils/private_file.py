"""The collection's one writer of files that may hold secrets, on safe_files' descriptor-relative writes.

Runs on the managed host, so Python 3.9 must be able to run it (no runtime `X | Y`).
"""

from __future__ import annotations

import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snowmcp.core.plugins.module_utils.safe_files import SafeFile

# write_private_file only replaces a file: it never reads the old one, so no size matters.
_NO_READ = 0


def write_private_file(module: AnsibleModule, path: str, text: str, mode: int) -> None:
    """Replace `path` with `text` atomically; the new text is never readable beyond `mode`.

    The folder is reached without following a symlink that is not root's own (safe_files); the
    new text goes to a temporary file created 0600 beside the old one, gets the old file's owner
    (the folder's for a new file) and `mode` by descriptor, is fsynced and renamed over the old
    one. A symlink at `path` is replaced, never followed; nothing is chmodded or unlinked by name.
    Raises safe_files.UnsafeFileError when the folder cannot be reached safely.
    """
    del module  # kept in the signature: the callers pass it, and may need it for SELinux one day
    with SafeFile(path, _NO_READ) as target:
        old = target.lstat()
        keep = old if old is not None and not stat.S_ISLNK(old.st_mode) else None
        target.replace(text.encode("utf-8"), mode, keep)
