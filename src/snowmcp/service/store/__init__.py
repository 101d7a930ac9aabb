"""Token stores: `sqlite:///path` (default, one node) and `redis://...` (several replicas)."""

from __future__ import annotations

from snowmcp.service.store.base import ACTIVE, REAUTH_REQUIRED, Store, StoreError, UserRecord

__all__ = ["ACTIVE", "REAUTH_REQUIRED", "Store", "StoreError", "UserRecord", "open_store"]


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        from snowmcp.service.store.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from snowmcp.service.store.redis_store import RedisStore

        return RedisStore(url)
    raise ValueError("store URL must be sqlite:///<path> or redis://host:port/db")
