"""Which keyring backends the client may load, and how root picks one without reading user configuration.

`keyring` lets configuration choose its backend: `PYTHON_KEYRING_BACKEND`, and
`keyringrc.cfg` in the user's config folder, whose `keyring-path` puts a folder on `sys.path`
and whose `default-keyring` then imports a module from it; it also imports every
`keyring.backends` entry point it finds. For the user's own process that is their choice. But
a root process started with a user's HOME (an onboarding play on a shared machine) would run
the user's code as root. So with euid 0 the client never calls keyring's own discovery: it tries
the backend classes keyring itself ships, from the fixed list below, and takes the usable one
with the highest priority, as keyring's discovery would among them.

The credentials file names the backend used at sign-in (`keyring_backend`), to skip discovery
on every `snowmcp headers`. The client only ever writes one of the names below there and refuses
any other name it reads, for every user: a name there is imported and instantiated.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from snowmcp.client.errors import ClientError

# keyring's own backends (keyring 25), "module.Class" as type(backend) names them.
CONCRETE_BACKENDS = (
    "keyring.backends.macOS.Keyring",
    "keyring.backends.SecretService.Keyring",
    "keyring.backends.libsecret.Keyring",
    "keyring.backends.kwallet.DBusKeyring",
    "keyring.backends.kwallet.DBusKeyringKWallet4",
    "keyring.backends.Windows.WinVaultKeyring",
)
# What keyring's discovery returns when several of them are usable: fine to record, but root
# never instantiates it (it chains every backend discovery finds, entry points included).
CHAINER = "keyring.backends.chainer.ChainerBackend"
# keyring's placeholders (never usable, so never recorded by sign-in): harmless to name.
PLACEHOLDERS = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")
KNOWN_BACKENDS = (*CONCRETE_BACKENDS, CHAINER, *PLACEHOLDERS)


def privileged() -> bool:
    """Running with euid 0: no configuration from the user's home may choose code to run."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def name_of(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def check_recorded(name: str, where: object) -> None:
    """Refuse a recorded backend that is not one of keyring's own (it would be imported)."""
    if name not in KNOWN_BACKENDS:
        raise ClientError(
            f"{where} names keyring backend {name!r}, which is not one of the keyring backends snowmcp "
            "loads; refusing to import it. Run `snowmcp logout`, then `snowmcp login`"
        )


def load_known(name: str) -> Any:
    """An instance of one of CONCRETE_BACKENDS (raises on anything else or when it cannot load)."""
    if name not in CONCRETE_BACKENDS:
        raise ValueError(f"{name} is not a concrete known backend")
    module_name, _dot, class_name = name.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)()


def root_backend() -> Any | None:
    """The usable known backend with the highest priority, chosen without keyring's discovery."""
    best: Any | None = None
    best_priority = 0.0
    for name in CONCRETE_BACKENDS:
        try:
            module_name, _dot, class_name = name.rpartition(".")
            cls = getattr(importlib.import_module(module_name), class_name)
            priority = float(cls.priority)  # a class property that raises when the backend is unusable here
        except Exception:  # noqa: S112 - any failure: this backend is not usable on this machine
            continue
        if priority > best_priority:
            try:
                best, best_priority = cls(), priority
            except Exception:  # noqa: S112 - cannot be built here: not usable either
                continue
    return best
