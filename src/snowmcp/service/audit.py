"""Audit log: one JSON object per line - sign-ins, token fetches, admin actions, revocations.

Callers pass only identities, addresses and results: never a token, code or key.
The file is created 0600 and opened for append, so several processes can share it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO


class AuditLog:
    def __init__(self, target: str, default: TextIO | None = None) -> None:
        """`target` is a file path, or "-" for `default` (stdout for the service)."""
        self._stream: TextIO
        self._owned = target not in ("-", "")
        if self._owned:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)
            self._stream = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
        else:
            self._stream = default or sys.stdout

    def write(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 3), "event": event, **fields}
        # One write call per line keeps lines whole when processes share the file.
        self._stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        if not self._owned:
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
