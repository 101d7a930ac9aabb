"""What every part of the emulator's HTTP app shares: the account, counters, faults, settings."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snowmcp._files import write_private
from snowmcp.emulator.model import Account


class Stats:
    """Counters served at GET /__emulator/stats.

    Categories: "queries" (by statement kind, e.g. SHOW_GRANTS, GRANT, CREATE_MCP_SERVER),
    "query_requests" (HTTP requests to /queries/v1/query-request, key "total"),
    "logins" (by result), "token_requests" (key "<grant_type>:<result>"),
    "authorize" (by result), "mcp_calls" (by JSON-RPC method).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counter[str]] = {}

    def incr(self, category: str, key: str, amount: int = 1) -> None:
        with self._lock:
            self._counters.setdefault(category, Counter())[key] += amount

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {cat: dict(counter) for cat, counter in self._counters.items()}

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()


@dataclass
class Faults:
    """Token-endpoint faults set through POST /__emulator/faults.

    status: answer every token request with this HTTP status (e.g. 503) while set.
    delay_s: sleep this long before answering each token request.
    outage_until: monotonic time until which the endpoint drops connections / 503s.
    error: OAuth error code to return with `status` (default server_error).
    """

    status: int | None = None
    delay_s: float = 0.0
    outage_until: float = 0.0
    error: str | None = None

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "delay_s": self.delay_s,
            "outage_remaining_s": max(0.0, self.outage_until - time.monotonic()),
            "error": self.error,
        }


@dataclass
class EmulatorContext:
    account: Account
    state_file: Path | None = None
    latency_ms: int = 0
    # Overrides every integration's OAUTH_ACCESS_TOKEN_VALIDITY when set (fast tests).
    access_token_ttl: int | None = None
    stats: Stats = field(default_factory=Stats)
    faults: Faults = field(default_factory=Faults)
    # Base URL the emulator is reached at (for DESCRIBE's endpoints); set at start-up.
    base_url: str = "http://127.0.0.1"
    # Snapshots are numbered under the account lock and written in that order, so
    # a slow writer can never replace a newer snapshot with its older one.
    _save_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _snapshots: int = 0
    _written: int = 0

    def save(self) -> None:
        """Persist the account atomically (write a temp file, fsync, rename).

        Callers may or may not hold the account lock (OAuth saves after releasing
        it). Lock order is always account lock, then save lock.
        """
        if self.state_file is None:
            return
        with self.account.lock:
            self._snapshots += 1
            number = self._snapshots
            payload = json.dumps(self.account.to_state(), sort_keys=True)
        with self._save_lock:
            if number <= self._written:
                return  # a newer snapshot is already on disk
            self._write(payload)
            self._written = number

    def _write(self, payload: str) -> None:
        assert self.state_file is not None
        write_private(self.state_file, payload)
