"""A keyring backend for tests: the real `keyring` API, storage in a JSON file ($TEST_KEYRING_FILE).

Selected with PYTHON_KEYRING_BACKEND=harness.filekeyring.FileKeyring (repository root on PYTHONPATH); stands in for the OS keyring
(macOS Keychain, Secret Service), which this CI machine does not have. TEST_KEYRING_HANG=1
makes reads block, like a locked keyring waiting for an unlock prompt.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._path().read_text()))
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        if os.environ.get("TEST_KEYRING_HANG"):
            time.sleep(3600)  # a keyring waiting on an unlock prompt nobody answers
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}\0{username}")
        self._path().write_text(json.dumps(data))
