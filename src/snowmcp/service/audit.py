"""Audit log: one JSON object per line - sign-ins, token fetches, admin actions, revocations.

Callers pass only identities, addresses and results: never a token, code or key.
The file is created 0600 and opened for append, so several processes can share it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from json.encoder import encode_basestring_ascii as _string  # json.dumps's own (C) string encoder
from typing import Any, TextIO

_MEMBERS: dict[str, str] = {}


def _member(name: str) -> str:
    """`,"name":` for a field name (a handful of names, each encoded once)."""
    member = _MEMBERS.get(name)
    if member is None:
        member = _MEMBERS[name] = f",{_string(name)}:"
    return member


class AuditLog:
    """Lines are buffered in memory and written by `flush()` - called by the service every
    `FLUSH_EVERY` seconds and at shutdown - as one O_APPEND write of whole lines, so lines
    from several processes never interleave and the hot path makes no system call. The
    cost: a process killed with SIGKILL loses at most the last second of audit lines.
    """

    FLUSH_EVERY = 1.0
    MAX_BUFFERED = 1000

    def __init__(self, target: str, default: TextIO | None = None) -> None:
        """`target` is a file path, or "-" for `default` (stdout for the service)."""
        self._owned = target not in ("-", "")
        self._lines: list[str] = []
        if self._owned:
            self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(self._fd, 0o600)
        else:
            self._fd = (default or sys.stdout).fileno()

    def write(self, event: str, **fields: Any) -> None:
        # The line json.dumps({"ts": ..., "event": event, **fields}) would write, put together
        # by hand: with one line per token fetch this is on the hot path, and nearly every
        # value is a string, which goes straight to the C encoder json.dumps itself uses.
        line = f'{{"ts":{time.time():.3f},"event":{_string(event)}'
        for name, value in fields.items():
            line += _member(name) + (_string(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        self._lines.append(line + "}")
        if len(self._lines) >= self.MAX_BUFFERED:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        data = ("\n".join(self._lines) + "\n").encode("utf-8")
        self._lines.clear()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        self.flush()
        if self._owned:
            os.close(self._fd)
