"""Build the snowmcp wheel from this checkout, as the roles do on the controller."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.procs import BIN, ROOT


def build_wheel(out_root: Path) -> Path:
    """The snowmcp wheel built from this checkout (a copy, so parallel builds never collide)."""
    src = out_root / "wheel-src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = out_root / "wheel"
    subprocess.run([str(BIN / "pip"), "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = out.glob("snowmcp-*.whl")
    return wheel
