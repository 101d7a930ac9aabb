"""Token buckets, in process (each replica limits on its own): per API key, and per client
address for failed authentication."""

from __future__ import annotations

import math
import time
from collections import OrderedDict


class _Buckets:
    """The token-bucket arithmetic both limiters share; an entry is [tokens, updated_at (monotonic), ...]."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)

    def _tokens(self, entry: list[float], now: float) -> float:
        return min(self.burst, entry[0] + (now - entry[1]) * self.rate)

    def _take(self, entry: list[float], now: float) -> bool:
        """Refill `entry` up to `now` and take one token; False (nothing taken) when under one."""
        tokens = self._tokens(entry, now)
        entry[1] = now
        if tokens < 1.0:
            entry[0] = tokens
            return False
        entry[0] = tokens - 1.0
        return True


class RateLimiter(_Buckets):
    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        super().__init__(rate, burst)
        self.max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # crude but bounded; full buckets are the default anyway
            bucket = self._buckets[key] = [self.burst, now]
        return self._take(bucket, now)

    def retry_after(self) -> int:
        return max(1, int(1 / self.rate)) if self.rate > 0 else 0


class AuthFailLimiter(_Buckets):
    """Per-client-address token bucket for requests that FAIL authentication (missing or wrong
    API/admin key, failed sign-in code exchange), in process.

    Only failures take tokens: `blocked()` peeks (no token taken) so the caller can refuse a
    limited address before any store lookup; `fail()` takes one token after a failure.
    The table holds at most `max_clients` addresses: idle ones (bucket refilled) are dropped
    first, then the least recently seen. Also tracks, per address, refusals not yet written
    to the audit log, so a limited address writes at most one audit line per `report_every`.
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000, report_every: float = 60.0) -> None:
        super().__init__(rate, burst)
        self.max_clients = max_clients
        self.report_every = report_every
        # address -> [tokens, updated_at (monotonic), refusals not yet reported, last report]
        self._table: OrderedDict[str, list[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._table)

    def blocked(self, client: str) -> bool:
        """True while `client` has no failure left in its bucket (nothing is taken)."""
        if self.rate <= 0:
            return False
        entry = self._table.get(client)
        return entry is not None and self._tokens(entry, time.monotonic()) < 1.0

    def fail(self, client: str) -> bool:
        """Record one failed authentication; False when the address is over its limit."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        entry = self._table.get(client)
        if entry is None:
            self._make_room(now)
            entry = self._table[client] = [self.burst, now, 0.0, float("-inf")]
        else:
            self._table.move_to_end(client)
        return self._take(entry, now)

    def refused(self, client: str) -> int:
        """Count one refusal; returns the refusals to write in ONE audit line now, or 0 (collapsed)."""
        now = time.monotonic()
        entry = self._table.get(client)
        if entry is None:  # evicted in between: nothing to collapse into
            return 1
        self._table.move_to_end(client)
        entry[2] += 1
        if now - entry[3] < self.report_every:
            return 0
        count, entry[2], entry[3] = int(entry[2]), 0.0, now
        return count

    def retry_after(self, client: str) -> int:
        entry = self._table.get(client)
        if entry is None or self.rate <= 0:
            return 1
        missing = 1.0 - self._tokens(entry, time.monotonic())
        return max(1, math.ceil(missing / self.rate))

    def _make_room(self, now: float) -> None:
        if len(self._table) < self.max_clients:
            return
        # Least recently seen first: drop the idle ones there (amortised O(1)), else the oldest.
        while self._table:
            client, entry = next(iter(self._table.items()))
            if self._tokens(entry, now) < self.burst and len(self._table) < self.max_clients:
                break
            del self._table[client]
            if len(self._table) < self.max_clients and self._tokens(entry, now) < self.burst:
                break


class RecentKeys:
    """Bounded set of API-key hashes that authenticated recently in this process. While an
    address is limited for failures, only these keys get the store lookup (a valid key is
    still served; a guessed one is refused without touching the store)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key_hash: object) -> bool:
        return key_hash in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key_hash: str) -> None:
        if key_hash in self._keys:
            self._keys.move_to_end(key_hash)
            return
        self._keys[key_hash] = None
        if len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def discard(self, key_hash: str) -> None:
        self._keys.pop(key_hash, None)
