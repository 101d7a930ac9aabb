"""AWX / Automation Platform: the example execution environment (examples/ee/) goes through
`ansible-builder create`, and the build context it writes brings every Python package the
collection's plugins import. Which packages: the collection's meta/execution-environment.yml,
read by the introspect script the Containerfile runs, here run on the collection installed from
the context's own tarball. What they import: parsed from plugins/ with `ast`, so a new import
without a line in meta/ee-requirements.txt fails this test. (Building the image needs a base
with dnf; see docs/operations.md, "AWX / AAP".)"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.procs import BIN, ROOT

EXAMPLE = ROOT / "examples" / "ee" / "execution-environment.yml"


def third_party_imports(folder: Path) -> set[str]:
    """Top-level modules imported anywhere under `folder` (also inside functions and try
    blocks) that are neither the standard library nor Ansible itself."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {
        m
        for m in found
        if m not in sys.stdlib_module_names and m not in ("ansible", "ansible_collections")
    }


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_requirements(imports: set[str], requirements: list[str]) -> set[str]:
    """Imports no requirement provides (the distribution that installs each module is looked
    up in this venv, where the dev extra installed them all)."""
    listed = {
        canonical(re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0])
        for line in requirements
        if line.strip()
    }
    providers = importlib.metadata.packages_distributions()
    return {m for m in imports if not {canonical(d) for d in providers.get(m, [])} & listed}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("ee")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work), str(ROOT)],
                   check=True, capture_output=True)  # fmt: skip
    shutil.copy(EXAMPLE, work / EXAMPLE.name)
    # The file named: ansible-builder names it after the runtime it finds, and with a docker CLI but
    # no podman (yet, on a fresh CI machine) it writes a Dockerfile instead of the Containerfile.
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", EXAMPLE.name, "-c", "context",
                           "--output-filename", "Containerfile"], cwd=work, capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield work / "context"


def test_context_installs_the_collection_from_its_tarball(context: Path) -> None:
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [
        {"name": f"collections/snowmcp-core-{version}.tar.gz", "type": "file"}
    ]
    assert (context / "_build" / "collections" / f"snowmcp-core-{version}.tar.gz").is_file()
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert (
        "introspect.py introspect" in containerfile
    )  # where the collection's requirements are read


def test_context_brings_every_package_the_plugins_import(context: Path, tmp_path: Path) -> None:
    (tarball,) = (context / "_build" / "collections").glob("snowmcp-core-*.tar.gz")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force", "-p",
                    str(tmp_path / "collections"), str(tarball)], check=True, capture_output=True)  # fmt: skip
    pip_file = tmp_path / "requirements.txt"
    # The command the Containerfile's builder stage runs, with the script from the context.
    subprocess.run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect",
                    f"--write-pip={pip_file}", str(tmp_path / "collections")], check=True, capture_output=True)  # fmt: skip
    # The introspect step drops what the EE already has (ansible-core, its dependency PyYAML,
    # ...); ansible-core's own requirements are in every EE, so they count as provided.
    core = [r for r in importlib.metadata.requires("ansible-core") or [] if "extra ==" not in r]
    requirements = [line.split("#")[0] for line in pip_file.read_text().splitlines()] + core
    imports = third_party_imports(ROOT / "plugins")
    assert {"snowflake", "cryptography"} <= imports, imports  # the parse finds what it must
    assert missing_requirements(imports, requirements) == set(), requirements
    # The check can fail: without the connector's line, `snowflake` has no provider.
    without = [line for line in requirements if "snowflake-connector-python" not in line]
    assert missing_requirements(imports, without) == {"snowflake"}
