"""Fixtures shared by every suite: real emulator and redis-server processes."""

from __future__ import annotations

import os
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


# ---------------------------------------------------------------- parallel runs (pytest-xdist)
# `make test` runs the suite on several workers with `--dist loadgroup`. A test that uses a
# module-scoped fixture (one emulator or one deployment for the module, tests that build on
# the previous one) stays with the other such tests of its module on one worker, in file
# order; every other test is scheduled on its own. Groups that take long go first (marked
# `slow`, then by size), so the longest never starts last and keeps one core busy alone.
def _module_group(item: pytest.Item) -> str | None:
    infos = getattr(item, "_fixtureinfo", None)
    scopes = {d.scope for defs in (infos.name2fixturedefs.values() if infos else []) for d in defs}
    return item.nodeid.split("::")[0] if scopes & {"module", "package", "class"} else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a plain run keeps pytest's order
    sizes: dict[str, int] = {}
    for item in items:
        group = _module_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            sizes[group] = sizes.get(group, 0) + 1

    def weight(item: pytest.Item) -> tuple[bool, int]:
        return item.get_closest_marker("slow") is None, -sizes.get(_module_group(item) or "", 1)

    items.sort(key=weight)  # stable: file order within a group
