"""Fixtures shared by every suite: real emulator and redis-server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import Emulator, RedisServer


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """A fresh emulator (seeded from tests/data/seed.yml) for one test."""
    emu = Emulator(tmp_path / "emulator").start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator for a whole test module: for read-mostly tests."""
    emu = Emulator(tmp_path_factory.mktemp("emulator")).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
