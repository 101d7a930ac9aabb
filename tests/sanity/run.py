"""`make sanity`: ansible-test sanity on the collection as Galaxy receives it, without the
download host ansible-test normally needs.

1. `ansible-galaxy collection build` (so galaxy.yml's build_ignore applies: what is checked
   is what ships), unpacked into <tmp>/ansible_collections/snowmcp/core (ansible-test only
   runs from such a path; the repository's own collections/ symlink resolves outside it).
   tests/sanity/ignore-2.19.txt ships in the tarball (galaxy.yml keeps it), so the ignore file
   used here is the one Automation Hub's importer sees; nothing is added to the tree.
2. ansible-test bootstraps pip in each of its venvs with a get-pip.py it downloads from
   ci-files.testing.ansible.com; it looks in ~/.ansible/test/cache first, so
   get_pip_offline.py (ensurepip, then pip) is put there under the name it expects.
3. `ansible-test sanity --venv` with every Python 3 it can find (pyenv's versions are added
   to PATH when present), so target code (modules, module_utils) is compiled and imported on
   the old Pythons too. The sanity venvs install their pinned tools from the package index on
   the first run and are reused from ~/.ansible/test/venv after that.

Extra arguments go to ansible-test: `make sanity SANITY_ARGS='--test pylint'`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
IGNORE = HERE / "ignore-2.19.txt"


def pinned_pip_version() -> str:
    """The pip version ansible-test pins for its venvs (named in the cached script's file name)."""
    import ansible_test  # the package ships with ansible-core; imported only for its path

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", source.read_text())
    if not match:
        sys.exit(f"sanity: cannot find the pinned pip version in {source}; update tests/sanity/run.py")
    return match.group(1)


def install_offline_get_pip() -> None:
    version = pinned_pip_version()
    cached = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    if cached.exists():
        return  # a real get-pip.py (or ours from an earlier run) is already there
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "get_pip_offline.py", cached)


def build_tree(work: Path) -> Path:
    """The collection as built by ansible-galaxy, unpacked where ansible-test wants it."""
    dist = work / "dist"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(ROOT)],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    (tarball,) = dist.glob("*.tar.gz")
    tree = work / "ansible_collections" / "snowmcp" / "core"
    tree.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(tree, filter="data")
    if not (tree / "tests" / "sanity" / IGNORE.name).is_file():
        sys.exit(f"sanity: the built tarball lacks tests/sanity/{IGNORE.name}; check galaxy.yml's build_ignore")
    return tree


def search_path() -> str:
    """PATH with the venv's tools first and every pyenv Python (their real bin folders, not
    the shims, which fail for versions that are not selected)."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    pythons = sorted(str(p) for p in pyenv.glob("3.*/bin")) if pyenv.is_dir() else []
    return os.pathsep.join([str(BIN), *pythons, os.environ.get("PATH", "")])


def main(argv: list[str]) -> int:
    install_offline_get_pip()
    with tempfile.TemporaryDirectory(prefix="snowmcp-sanity-") as tmp:
        tree = build_tree(Path(tmp))
        cmd = [str(BIN / "ansible-test"), "sanity", "--venv", "--color", "no", *argv]
        env = dict(os.environ, PATH=search_path())
        return subprocess.run(cmd, cwd=tree, env=env, stdin=subprocess.DEVNULL, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
