"""Fixtures for the token service suites: the stores of the contract tests. Helpers live in
svc.py, flow.py and storekit.py (import those by name, never this file)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procs import RedisServer
from storekit import StoreKit

from snowmcp.service.store.redis_store import RedisStore
from snowmcp.service.store.sqlite import SqliteStore


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
