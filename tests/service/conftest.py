"""Fixtures for the token service suites: the stores of the contract tests. Helpers live in
svc.py, flow.py and storekit.py (import those by name, never this file)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import RedisServer
from snowmcp.service.store.redis_store import RedisStore
from snowmcp.service.store.sqlite import SqliteStore
from tests.service.storekit import StoreKit


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreKit:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        return StoreKit(lambda: SqliteStore(path))
    server: RedisServer = request.getfixturevalue("module_redis")
    prefix = f"t{secrets.token_hex(4)}:"  # isolates tests sharing the module's server
    return StoreKit(lambda: RedisStore(server.url, prefix=prefix))
