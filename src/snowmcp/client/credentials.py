"""Where the API key lives: the OS keyring when one is usable, else a 0600 file.

The file `~/.config/snowmcp/credentials` (JSON, mode 0600) always exists after
sign-in: it records the user name, the service and where the key is. With a
keyring it holds no secret (`"storage": "keyring"`); without one it holds the
key itself (`"storage": "file"`). This keeps `snowmcp headers` on the
standard library when there is no keyring, and `keyring` (slow to import) is
imported only when the key really is in it.

`SNOWMCP_KEYRING=0` forces the file (headless machines whose keyring would
prompt), `SNOWMCP_KEYRING=1` insists on the keyring. Run as root, the client picks the keyring
backend itself among keyring's own, never from configuration (keyring_backends).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from dataclasses import dataclass
from typing import Any

from snowmcp.client import keyring_backends, paths
from snowmcp.client.errors import EXIT_NOT_SIGNED_IN, ClientError

KEYRING_SERVICE = "snowmcp"
# SNOWMCP_KEYRING values (anything else: "auto", use a usable keyring if there is one).
_KEYRING_OFF = ("0", "no", "false", "off", "file")
_KEYRING_REQUIRED = ("1", "yes", "true", "on", "keyring")


@dataclass(frozen=True)
class Credentials:
    api_key: str
    username: str
    service_url: str
    storage: str  # "keyring" | "file"


def _keyring_choice() -> str:
    return os.environ.get("SNOWMCP_KEYRING", "auto").lower()


def _backend() -> Any | None:
    """A usable keyring backend (keyring imported lazily), else None.

    With euid 0, keyring's own discovery (PYTHON_KEYRING_BACKEND, keyringrc.cfg, entry points)
    is never used: see keyring_backends.
    """
    choice = _keyring_choice()
    if choice in _KEYRING_OFF:
        return None
    try:
        import keyring
        import keyring.backends.fail
    except ImportError:
        if choice in _KEYRING_REQUIRED:
            raise ClientError("SNOWMCP_KEYRING=1 but the keyring package is not installed") from None
        return None
    backend = keyring_backends.root_backend() if keyring_backends.privileged() else keyring.get_keyring()
    usable = (
        backend is not None
        and not isinstance(backend, keyring.backends.fail.Keyring)
        and getattr(backend, "priority", 0) > 0
    )
    if not usable:
        if choice in _KEYRING_REQUIRED:
            raise ClientError("SNOWMCP_KEYRING=1 but no usable OS keyring backend was found")
        return None
    return backend


def save(api_key: str, username: str, service_url: str) -> Credentials:
    backend = _backend()
    record: dict[str, Any] = {"version": 1, "username": username, "service_url": service_url}
    if backend is not None:
        backend.set_password(KEYRING_SERVICE, service_url, api_key)
        record["storage"] = "keyring"
        # Remembered so `headers` can load this backend directly: keyring's backend discovery
        # (entry-point scan) costs more than the rest of a cold `headers` run. Only keyring's own
        # backends are recorded (any other name is refused on reading); another backend the
        # user's configuration chose is found again by discovery.
        name = keyring_backends.name_of(backend)
        if name in keyring_backends.KNOWN_BACKENDS:
            record["keyring_backend"] = name
    else:
        record["storage"] = "file"
        record["api_key"] = api_key
    from snowmcp._files import write_private  # here: `headers` only reads

    write_private(paths.credentials_file(), json.dumps(record, indent=2) + "\n", private_folder=True)
    return Credentials(api_key, username, service_url, record["storage"])


def _read_record() -> dict[str, Any] | None:
    path = paths.credentials_file()
    try:
        with path.open(encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            text = handle.read()
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Like ssh with a private key: say so, but do not lock the user out.
        print(f"snowmcp: warning: {path} is readable by others; run: chmod 600 {path}", file=sys.stderr)
    try:
        record = json.loads(text)
    except ValueError:
        raise ClientError(f"{path} is damaged; run `snowmcp logout` then `snowmcp login`") from None
    if not isinstance(record, dict):
        raise ClientError(f"{path} is damaged; run `snowmcp logout` then `snowmcp login`")
    return record


def load() -> Credentials:
    record = _read_record()
    if record is None:
        raise ClientError("not signed in: run `snowmcp login`", EXIT_NOT_SIGNED_IN)
    service_url = str(record.get("service_url", ""))
    username = str(record.get("username", ""))
    storage = record.get("storage")
    if storage == "file":
        key = record.get("api_key")
    elif storage == "keyring":
        key = _keyring_get(str(record.get("keyring_backend", "")), service_url)
        if key is None:
            raise ClientError(
                "your API key is no longer in the OS keyring: run `snowmcp login`", EXIT_NOT_SIGNED_IN
            )
    else:
        key = None
    if not isinstance(key, str) or not key:
        raise ClientError("not signed in: run `snowmcp login`", EXIT_NOT_SIGNED_IN)
    return Credentials(key, username, service_url, str(storage))


def _keyring_get(backend_path: str, service_url: str) -> str | None:
    """The key from the backend used at sign-in, skipping discovery when it still loads."""
    if backend_path:
        keyring_backends.check_recorded(backend_path, paths.credentials_file())
    if _keyring_choice() in _KEYRING_OFF:
        return None
    if backend_path in keyring_backends.CONCRETE_BACKENDS:
        try:
            value = keyring_backends.load_known(backend_path).get_password(KEYRING_SERVICE, service_url)
            return value if isinstance(value, str) else None
        except ClientError:
            raise  # the caller's deadline expired: do not start over with discovery
        except Exception:  # noqa: S110 - any failure: fall back to choosing a backend
            pass
    backend = _backend()
    if backend is None:
        return None
    value = backend.get_password(KEYRING_SERVICE, service_url)
    return value if isinstance(value, str) else None


def peek() -> dict[str, Any] | None:
    """Who is signed in, without touching the secret (for `status`)."""
    record = _read_record()
    if record is None:
        return None
    return {k: v for k, v in record.items() if k != "api_key"}


def delete() -> bool:
    """Forget the key everywhere; True when something was removed."""
    removed = False
    record = None
    with contextlib.suppress(ClientError):
        record = _read_record()
    if record and record.get("storage") == "keyring":
        backend = None
        with contextlib.suppress(ClientError):
            backend = _backend()
        if backend is not None:
            with contextlib.suppress(Exception):
                backend.delete_password(KEYRING_SERVICE, str(record.get("service_url", "")))
                removed = True
    try:
        paths.credentials_file().unlink()
        removed = True
    except FileNotFoundError:
        pass
    return removed
