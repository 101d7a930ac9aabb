"""Fixtures shared by every suite: real emulator and redis-server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
# `make test` runs the suite on three workers with `--dist loadfile`: a test module runs whole,
# in file order, on one worker, so its module fixtures (one emulator, one deployment) are built
# once and tests that build on the previous one keep their order. (Not loadgroup: xdist 3.8
# cannot regroup node ids under pytest 9.)
#
# The modules that take the machine's /etc/claude-code under its exclusive lock
# (tests/workstation/native_helpers.py) are one unit of work: they run back to back on one
# worker instead of three workers each waiting for the lock while another holds it.
MANAGED_MACHINE = (
    "tests/workstation/test_managed.py",
    "tests/workstation/test_native_managed.py",
    "tests/workstation/test_shared_machine.py",
)
# The order workers take the units in (seconds of a worker each took in full runs on a busy 2-core
# machine, bench/test_suite.md stop 14, as a guide). The managed machine's chain and the site
# deployment first: the two longest. Then the modules that mostly wait (tokens expiring,
# timeouts, a frozen Vault): on the third worker, while the other two have a core each, they cost
# no wall time; left to the end they would be all that runs. Then the longest that never touch
# /etc/claude-code, while the managed machine still holds it; then those that hold its lock shared
# for a moment (Claude Code or `snowmcp status` in user scope), which would wait for the managed
# machine if they came earlier. Every other module after these, the most tests first, so the last
# units are small and the workers finish together.
ORDER = (
    "managed machine",  # ~300 s
    "tests/deploy/test_site.py",  # ~230 s
    "tests/service/test_refresh.py",  # ~95 s, 11 CPU-s
    "tests/service/test_vault_outage.py",
    "tests/service/test_openapi.py",
    "tests/service/test_abuse.py",
    "tests/monitoring/test_prometheus.py",
    "tests/ansible/test_snowflake_account.py",  # ~120-180 s
    "tests/deploy/test_vault_site.py",  # ~125-145 s
    "tests/workstation/test_role.py",  # ~185 s; `snowmcp status` under the shared lock
    "tests/workstation/test_e2e_claude.py",  # ~90-125 s; the shared lock
    "tests/workstation/test_native_role.py",  # ~60 s; the shared lock
    "tests/ansible/test_snowflake_modules.py",  # ~55 s
    "tests/ansible/test_auth_modes.py",  # ~45 s
    "tests/workstation/test_native_e2e.py",  # ~35 s; the shared lock
    "tests/deploy/test_systemd.py",
    "tests/deploy/test_ecs.py",
    "tests/deploy/test_kubernetes.py",
    "tests/ansible/test_directory.py",
    "tests/ansible/test_native_modules.py",
    "tests/deploy/test_verbose_output.py",
)


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its module, or the managed machine's."""
    module = nodeid.split("::", 1)[0]
    return "managed machine" if module in MANAGED_MACHINE else module


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None  # xdist's own
    from xdist.scheduler import LoadFileScheduling

    class ManagedMachineTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ManagedMachineTogether(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: a plain run keeps pytest's order
    sizes: dict[str, int] = {}
    for item in items:
        unit = work_unit(item.nodeid)
        sizes[unit] = sizes.get(unit, 0) + 1

    def weight(item: pytest.Item) -> tuple[int, int, int]:
        # ORDER, then the most tests first; within the managed machine's unit its modules in the order above.
        unit = work_unit(item.nodeid)
        module = item.nodeid.split("::", 1)[0]
        place = MANAGED_MACHINE.index(module) if module in MANAGED_MACHINE else 0
        return ORDER.index(unit) if unit in ORDER else len(ORDER), -sizes[unit], place

    items.sort(key=weight)  # stable: file order within a module
