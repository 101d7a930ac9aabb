"""The snowmcp_wheel role's cache key: snowmcp.core.source_fingerprint on a copy of the collection's sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.snowmcp.core.plugins.filter.source_fingerprint import source_fingerprint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    root = tmp_path / "collection"
    root.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "src" / "snowmcp" / "client", root / "src" / "snowmcp" / "client",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return root


def test_a_changed_source_or_project_file_changes_it_and_nothing_else_does(sources: Path) -> None:
    first = source_fingerprint(str(sources))
    assert len(first) == 64 and source_fingerprint(str(sources)) == first
    # Caches and build leftovers are not sources.
    (sources / "src" / "snowmcp" / "client" / "__pycache__").mkdir()
    (sources / "src" / "snowmcp" / "client" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    (sources / "src" / "snowmcp.egg-info").mkdir()
    (sources / "src" / "snowmcp.egg-info" / "PKG-INFO.json").write_text("{}")
    (sources / "notes.txt").write_text("not packaged")
    assert source_fingerprint(str(sources)) == first
    # One byte in a module, a new package file, the project metadata: each gives a new wheel.
    cli = sources / "src" / "snowmcp" / "client" / "cli.py"
    cli.write_text(cli.read_text() + "\n")
    second = source_fingerprint(str(sources))
    assert second != first
    (sources / "src" / "snowmcp" / "client" / "page.html").write_text("<p>")
    third = source_fingerprint(str(sources))
    assert third != second
    (sources / "pyproject.toml").write_text((sources / "pyproject.toml").read_text() + "\n")
    assert source_fingerprint(str(sources)) != third


def test_a_folder_without_sources_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnsibleFilterError, match="has no src/ folder"):
        source_fingerprint(str(tmp_path))
