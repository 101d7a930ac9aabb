"""Fixtures shared by every suite: real emulator and redis-server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import Emulator, OpenBao, RedisServer


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


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """snowmcp_wheel_cache_dir for playbook runs: the roles build the wheel once per session."""
    return tmp_path_factory.mktemp("wheel-cache")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()



@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A real OpenBao dev server (in memory, root token `openbao.root_token`) for a module."""
    server = OpenBao(tmp_path_factory.mktemp("openbao")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def openbao_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A real OpenBao with on-disk storage for a module: `restart()` keeps its state and
    unseals it again (outage tests)."""
    server = OpenBao(tmp_path_factory.mktemp("openbao"), storage="file").start()
    try:
        yield server
    finally:
        server.stop()

# ---------------------------------------------------------------- parallel runs (pytest-xdist)
# `make test` runs the suite on one worker per core with `--dist loadfile`: a test module runs
# whole, in file order, on one worker, so its module fixtures (one emulator, one deployment)
# are built once and tests that build on the previous one keep their order. (Not loadgroup:
# xdist 3.8 cannot regroup node ids under pytest 9.) Workers take modules in the order
# below: those marked `slow` first, then the bigger ones, so the longest never starts last
# and leaves one core idle at the end.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: a plain run keeps pytest's order
    sizes: dict[str, int] = {}
    for item in items:
        sizes[item.nodeid.split("::")[0]] = sizes.get(item.nodeid.split("::")[0], 0) + 1

    def weight(item: pytest.Item) -> tuple[bool, int]:
        return item.get_closest_marker("slow") is None, -sizes[item.nodeid.split("::")[0]]

    items.sort(key=weight)  # stable: file order within a module
