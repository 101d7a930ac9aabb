"""Fixtures for the token service suites: stores, a configured emulator, service processes."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procs import RedisServer
from svc import ServiceProc, setup_integration

from snowmcp.service.store import Store
from snowmcp.service.store.redis_store import RedisStore
from snowmcp.service.store.sqlite import SqliteStore


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


class StoreKit:
    """Makes stores over one backing database (several = several processes/replicas).

    `run(coro)` runs a test coroutine and then closes the stores in the same event loop
    (redis clients are bound to the loop that made them).
    """

    def __init__(self, make: Callable[[], Store]) -> None:
        self._make = make
        self.made: list[Store] = []

    def __call__(self) -> Store:
        self.made.append(self._make())
        return self.made[-1]

    def run(self, coro: Any) -> Any:
        async def wrapped() -> Any:
            try:
                return await coro
            finally:
                for s in self.made:
                    await s.close()
                self.made.clear()

        return asyncio.run(wrapped())


@pytest.fixture(params=["sqlite", "redis"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreKit:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        return StoreKit(lambda: SqliteStore(path))
    server: RedisServer = request.getfixturevalue("module_redis")
    prefix = f"t{secrets.token_hex(4)}:"  # isolates tests sharing the module's server
    return StoreKit(lambda: RedisStore(server.url, prefix=prefix))


__all__ = ["ServiceProc", "StoreKit", "run", "setup_integration"]
