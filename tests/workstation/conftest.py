"""Fixtures for the workstation suite: a Python 3.9, a temporary HOME.

The client wheel comes from the roles themselves (snowmcp_wheel, cached per session by the
`wheel_cache` fixture of tests/conftest.py), as on a real controller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workstation.wshelpers import find_python39


@pytest.fixture(scope="session")
def python39() -> Path:
    """The Python 3.9 that stands in for a Mac's own: the oldest a workstation may have."""
    found = find_python39()
    if found is None:
        pytest.fail("the workstation tests need a Python 3.9 (macOS's own version): "
                    "`pyenv install 3.9`, or set SNOWMCP_TEST_PYTHON39 to one")  # fmt: skip
    return found


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home
