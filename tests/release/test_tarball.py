"""The collection tarball as Galaxy / Automation Hub receive it: it ships
tests/sanity/ignore-2.19.txt (the importer runs ansible-test sanity on the tarball) and nothing
else from tests/, and sanity on the installed tarball passes the checks the ignore file covers.
Sanity runs offline the way `make sanity` does (tests/sanity/run.py)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import BIN, ROOT
from tests.sanity.run import install_offline_get_pip, search_path

IGNORE = "tests/sanity/ignore-2.19.txt"
# The ignore file's entries are for these two tests; both run here (validate-modules is the
# slow one, ~10 s), the full set stays in `make sanity`.
SANITY_TESTS = ("--test", "validate-modules", "--test", "replace-urlopen")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    work = tmp_path_factory.mktemp("tarball")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist"), str(ROOT)],
                   check=True, capture_output=True)  # fmt: skip
    (tarball,) = (work / "dist").glob("snowmcp-core-*.tar.gz")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force", "-p",
                    str(work / "collections"), str(tarball)], check=True, capture_output=True)  # fmt: skip
    yield {
        "tarball": tarball,
        "tree": work / "collections" / "ansible_collections" / "snowmcp" / "core",
    }


def sanity(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    install_offline_get_pip()
    # stdin from /dev/null: ansible-test checks that its standard streams block, and CI runs with no stdin at all.
    return subprocess.run([str(BIN / "ansible-test"), "sanity", "--venv", "--color", "no", *args], cwd=tree,
                          env=dict(os.environ, PATH=search_path()), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=False)  # fmt: skip


def test_tarball_ships_the_sanity_ignore_file_and_no_other_test(installed: dict[str, Path]) -> None:
    with tarfile.open(installed["tarball"]) as tar:
        names = tar.getnames()
        files = [m.name for m in tar.getmembers() if m.isfile()]
        shipped = tar.extractfile(IGNORE)
        assert shipped is not None
        assert shipped.read() == (ROOT / IGNORE).read_bytes()
    assert [n for n in files if n.startswith("tests/")] == [IGNORE]
    assert not [n for n in names if n.split("/")[0] in ("harness", "bench", ".venv", ".cache")]


def test_sanity_on_the_installed_tarball_passes(installed: dict[str, Path]) -> None:
    tree = installed["tree"]
    assert (tree / IGNORE).is_file()
    proc = sanity(tree, *SANITY_TESTS)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # The same tree without the ignore file fails: the entries are needed, the check can fail.
    (tree / IGNORE).unlink()
    proc = sanity(tree, "--test", "replace-urlopen")
    assert (
        proc.returncode != 0 and "plugins/filter/token_service_ecs.py" in proc.stdout + proc.stderr
    ), proc.stdout
