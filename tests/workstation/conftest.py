"""Fixtures for the workstation suite: a client wheel, a temporary HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.wheel import build_wheel


@pytest.fixture(scope="session")
def client_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The snowmcp wheel built once per session from this checkout."""
    return build_wheel(tmp_path_factory.mktemp("client-wheel"))


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home
