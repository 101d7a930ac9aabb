"""Reading and replacing a file that a user of the machine may control, without being steered by them.

The claude_* modules run as root over a user's home on shared machines. A user who can plant a
symlink (`~/.claude.json -> /etc/claude-code/managed-mcp.json`, a symlinked parent folder), a
hard link to a root-owned file, a FIFO or a huge file must not get root to read, chmod, write or
delete anything else. So every file is reached from `/` one component at a time through directory
file descriptors:

- a folder is opened with O_NOFOLLOW|O_DIRECTORY relative to its parent's descriptor. A symlinked
  folder is followed only when the link and the folder holding it both belong to root (the
  system's own layout, like macOS's /etc -> /private/etc); any other symlinked folder is refused;
- the file itself is never followed (O_NOFOLLOW), must be a regular file (checked with lstat
  before opening, then fstat after, so a FIFO or a device is never opened for reading and nothing
  can hang), no bigger than a cap, and owned by the owner of its folder (the home's owner in a
  home, root in /etc/claude-code): a hard link to someone else's file is refused;
- a new version is written to a temporary file created in the same folder by descriptor
  (O_CREAT|O_EXCL|O_NOFOLLOW), given the old file's owner (or the folder's for a new file) and
  mode with fchown/fchmod, fsynced, then renamed over the file by descriptor. Nothing is ever
  chmodded, chowned or unlinked through a path name that could have been swapped in between.

Runs on the managed host, so Python 3.9 must be able to run it (no runtime `X | Y`).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import Any

# Folders are held with O_PATH where there is one (Linux): it needs only search permission, like
# an ordinary path lookup, so a walk through a folder that is 0711 (/home on some machines) works
# for a non-root user as it would by name. Elsewhere (macOS) a folder is opened for reading.
_DIR_FLAGS = (
    (os.O_PATH if hasattr(os, "O_PATH") else os.O_RDONLY | os.O_NONBLOCK)
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_READ_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_MAX_LINK_HOPS = 40  # as the kernel's own limit on symlinks in one lookup


class UnsafeFileError(Exception):
    """The file or a folder on its way is not one the module may touch; the message says why."""


class FolderMissingError(UnsafeFileError):
    """A folder on the way does not exist (so neither does the file)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def owner_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _open_folder(path: str, create_mode: int | None) -> int:
    """A descriptor of folder `path` (absolute, normalised), reached without following user symlinks.

    With `create_mode`, missing folders are created (mkdir by descriptor, then fchmod to that mode).
    """
    fd = os.open("/", _DIR_FLAGS)
    pending = [p for p in path.split("/") if p not in ("", ".")]
    walked = ""
    hops = 0
    try:
        while pending:
            comp = pending.pop(0)
            try:
                nfd = os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if create_mode is None:
                    raise
                os.mkdir(comp, create_mode, dir_fd=fd)
                made = os.open(comp, _READ_DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    os.fchmod(made, create_mode)  # whatever the umask
                finally:
                    os.close(made)
                nfd = os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                here = walked + "/" + comp
                if not stat.S_ISLNK(st.st_mode):
                    raise UnsafeFileError(f"{here} is {_kind(st.st_mode)}, not a folder; refusing to use {path}") from None
                if st.st_uid != 0 or os.fstat(fd).st_uid != 0:
                    raise UnsafeFileError(
                        f"{here} is a symbolic link owned by {owner_name(st.st_uid)}; refusing to follow it "
                        f"(only root's own links in root's folders are followed)"
                    ) from None
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise UnsafeFileError(f"too many symbolic links on the way to {path}") from None
                target = os.readlink(comp, dir_fd=fd)
                if target.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", _DIR_FLAGS)
                    walked = ""
                pending[:0] = [p for p in target.split("/") if p not in ("", ".")]
                continue
            os.close(fd)
            fd = nfd
            walked = os.path.normpath(walked + "/" + comp)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # without O_DIRECTORY (not on every OS)
            raise UnsafeFileError(f"{path} is not a folder")
    except BaseException:
        os.close(fd)
        raise
    return fd


class SafeFile:
    """One file, reached through its folder's descriptor; the folder stays open for the whole edit.

    Use as a context manager. `read()` checks type, owner and size; `replace()`, `chmod()` and
    `unlink()` act through the folder's descriptor on the file `read()` saw.
    """

    def __init__(self, path: str, max_size: int, create_folder_mode: int | None = None,
                 folder_owner: int | None = None) -> None:  # fmt: skip
        """`folder_owner`: the uid the folder must belong to (0 for the system's managed files)."""
        self.path = os.path.normpath(os.path.abspath(path))
        self.folder, self.name = os.path.split(self.path)
        self.max_size = max_size
        if not self.name:
            raise UnsafeFileError(f"{path} names no file")
        try:
            self.dir_fd = _open_folder(self.folder, create_folder_mode)
        except FileNotFoundError:
            raise FolderMissingError(f"folder {self.folder} does not exist") from None
        except UnsafeFileError:
            raise
        except OSError as exc:
            raise UnsafeFileError(f"cannot open folder {self.folder}: {exc.strerror}") from None
        self.folder_stat = os.fstat(self.dir_fd)
        if folder_owner is not None and self.folder_stat.st_uid != folder_owner:
            self.close()
            raise UnsafeFileError(
                f"folder {self.folder} belongs to {owner_name(self.folder_stat.st_uid)}, not to "
                f"{owner_name(folder_owner)}; refusing to use {self.path}"
            )

    def __enter__(self) -> SafeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def _check(self, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{self.path} is {_kind(st.st_mode)}, not a regular file; refusing to use it")
        owner = self.folder_stat.st_uid
        if st.st_uid != owner:
            raise UnsafeFileError(
                f"{self.path} belongs to {owner_name(st.st_uid)}, but its folder {self.folder} to "
                f"{owner_name(owner)}; refusing to use it (a file in a folder must be its owner's)"
            )
        if st.st_size > self.max_size:
            raise UnsafeFileError(
                f"{self.path} is {st.st_size} bytes, more than the {self.max_size} this module reads; refusing to use it"
            )

    def lstat(self) -> os.stat_result | None:
        """The directory entry as it is now (None when missing), not followed."""
        try:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def read(self) -> tuple[bytes | None, os.stat_result | None]:
        """The file's bytes and stat (None, None when missing), after every check."""
        before = self.lstat()
        if before is None:
            return None, None
        self._check(before)  # a FIFO, device or symlink is refused before it is ever opened
        try:
            fd = os.open(self.name, _FILE_FLAGS, dir_fd=self.dir_fd)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFileError(f"{self.path} is a symbolic link; refusing to follow it") from None
            raise UnsafeFileError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            self._check(st)  # swapped between the lstat and the open: checked again on what is open
            chunks = []
            left = self.max_size + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if len(data) > self.max_size:
            raise UnsafeFileError(f"{self.path} grew past {self.max_size} bytes while being read; refusing to use it")
        return data, st

    def same_file(self, seen: os.stat_result) -> bool:
        now = self.lstat()
        return now is not None and (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino)

    def chmod(self, mode: int, seen: os.stat_result) -> None:
        """Set the mode of the file `read()` returned `seen` for, through a descriptor of that file."""
        fd = os.open(self.name, _FILE_FLAGS, dir_fd=self.dir_fd)
        try:
            st = os.fstat(fd)
            self._check(st)
            if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino):
                raise UnsafeFileError(f"{self.path} was replaced while being edited; left untouched")
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def unlink(self, seen: os.stat_result) -> None:
        """Remove the directory entry, only if it still is the file `read()` saw."""
        if not self.same_file(seen):
            raise UnsafeFileError(f"{self.path} was replaced while being edited; left untouched")
        os.unlink(self.name, dir_fd=self.dir_fd)
        self._sync_folder()

    def replace(self, data: bytes, mode: int, seen: os.stat_result | None) -> None:
        """Write `data` as the new file: temp file beside it, owner and mode set, fsync, rename.

        The owner is the old file's (`seen`) or, for a new file, the folder's; it is only set when
        running as root (anyone else creates files as themselves and cannot give them away).
        """
        tmp = f".{self.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o600, dir_fd=self.dir_fd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if os.geteuid() == 0:
                    ref: Any = seen if seen is not None else self.folder_stat
                    os.fchown(fd, ref.st_uid, ref.st_gid)
                os.fchmod(fd, mode)  # after fchown, which may clear set-id bits
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=self.dir_fd)
            except FileNotFoundError:
                pass
            raise
        self._sync_folder()  # the rename itself survives a crash

    def _sync_folder(self) -> None:
        """fsync the folder (an O_PATH descriptor cannot be fsynced: open it for reading first)."""
        try:
            fd = os.open(".", _READ_DIR_FLAGS, dir_fd=self.dir_fd)
        except OSError:
            return  # a folder we may search but not read: the rename is done, only its durability is left
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
