"""Per-user lock across processes and replicas, built on the store's leases.

Acquire is `SET NX PX` (redis) or an insert-if-expired (sqlite) with a random owner
token; release only deletes the lease if it still holds our token. While the holder's
refresh call is in flight a task renews the lease every ttl/3, so a slow Snowflake
answer never lets the lease lapse into a second, concurrent refresh (oauth2-proxy's
unrenewed 2 s lock did exactly that). A holder that dies (kill -9) stops renewing and
its lease expires after `ttl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from snowmcp.service.store import Store, StoreError

log = logging.getLogger("snowmcp.service")


class Lease:
    def __init__(self, store: Store, name: str, ttl: float) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.owner = secrets.token_hex(16)
        self.lost = False
        self._renewer: asyncio.Task[None] | None = None

    async def try_acquire(self) -> bool:
        if await self.store.acquire_lease(self.name, self.owner, self.ttl):
            self._renewer = asyncio.create_task(self._renew())
            return True
        return False

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if not await self.store.renew_lease(self.name, self.owner, self.ttl):
                    self.lost = True
                    log.error("lost the refresh lease %s before finishing", self.name)
                    return
            except StoreError as exc:
                log.warning("could not renew lease %s: %s", self.name, exc)

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        try:
            await self.store.release_lease(self.name, self.owner)
        except StoreError as exc:
            log.warning("could not release lease %s (it expires by itself): %s", self.name, exc)


@contextlib.asynccontextmanager
async def held(lease: Lease) -> AsyncIterator[Lease]:
    try:
        yield lease
    finally:
        await lease.release()
