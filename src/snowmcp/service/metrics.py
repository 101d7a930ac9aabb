"""Prometheus metrics, prefix `snowmcp_`; never a per-user label (cardinality and privacy).

Under Gunicorn the workers share their values through prometheus_client's multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set by the master: snowmcp.service.worker.on_starting), so
any worker's /metrics answers for the whole service.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from snowmcp.service.store import Store, UserRecord
from snowmcp.service.store.base import STATES

DAY = 86400.0


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("snowmcp_requests", "HTTP API requests by endpoint and result",
                                ["endpoint", "result"], registry=r)  # fmt: skip
        self.refreshes = Counter("snowmcp_refreshes", "Refresh attempts at Snowflake by result class "
                                 "(ok, transient, permanent, conflict)", ["result"], registry=r)  # fmt: skip
        self.refresh_seconds = Histogram("snowmcp_refresh_seconds", "Latency of refresh calls to Snowflake",
                                         registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))  # fmt: skip
        self.lock_waits = Counter("snowmcp_lock_waits", "Refreshes that had to wait for another holder of "
                                  "the per-user lock", registry=r)  # fmt: skip
        self.lock_wait_seconds = Histogram("snowmcp_lock_wait_seconds", "Time spent waiting for the per-user lock",
                                           registry=r, buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60))  # fmt: skip
        self.singleflight_joins = Counter("snowmcp_singleflight_joins", "Requests that joined an in-process "
                                          "refresh already in flight", registry=r)  # fmt: skip
        # Every answer by status code (a small fixed set: no path, no user), for the 5xx alert;
        # counted by snowmcp.service.httpmetrics around the whole app, limits included.
        self.responses = Counter("snowmcp_http_responses", "HTTP answers by status code", ["code"], registry=r)
        self._responses_by_status: dict[int, Counter] = {}
        self.signins = Counter("snowmcp_signins", "Sign-in results", ["result"], registry=r)
        # Set from the store by whichever worker answers a scrape: the latest setting is the truth.
        self.users = Gauge("snowmcp_users", "Stored users by state", ["state"], registry=r,
                           multiprocess_mode="mostrecent")  # fmt: skip
        self.expiring = Gauge("snowmcp_refresh_tokens_expiring", "Active users whose refresh token expires "
                              "within the window", ["within"], registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self._gauges_at = 0.0

    def response(self, status: int) -> None:
        """Count one answer. Every request lands here: the labelled child is looked up once
        per status code (prometheus_client's labels() takes a lock and builds a tuple)."""
        child = self._responses_by_status.get(status)
        if child is None:
            child = self._responses_by_status[status] = self.responses.labels(str(status))
        child.inc()

    def observe_users(self, users: list[UserRecord], now: float | None = None) -> None:
        now = time.time() if now is None else now
        counts = dict.fromkeys(STATES, 0)
        week = day = 0
        for u in users:
            counts[u.state] = counts.get(u.state, 0) + 1
            if u.state == "active" and u.refresh_token_expires_at:
                left = u.refresh_token_expires_at - now
                week += left < 7 * DAY
                day += left < DAY
        for state, n in counts.items():
            self.users.labels(state).set(n)
        self.expiring.labels("7d").set(week)
        self.expiring.labels("1d").set(day)

    async def render(self, store: Store, max_age: float = 15.0) -> bytes:
        # Counting users reads every record: do it at most every `max_age` seconds.
        if time.monotonic() - self._gauges_at > max_age:
            self.observe_users(await store.list_users())
            self._gauges_at = time.monotonic()
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, folder)
        return generate_latest(every_worker)
