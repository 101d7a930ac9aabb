"""Helpers for the workstation suite: build the client wheel, run ansible-playbook against a temporary HOME."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Created in HOME by the tooling itself (Ansible's temp dirs, caches), not by the role.
TOOLING = {".ansible", ".cache", ".rustup"}


@dataclass
class PlaybookRun:
    rc: int
    output: str

    @property
    def changed(self) -> int:
        match = re.search(r"changed=(\d+)", self.output)
        assert match, self.output[-3000:]
        return int(match.group(1))

    def ok(self) -> PlaybookRun:
        assert self.rc == 0, self.output[-5000:]
        return self


def find_python39() -> Path | None:
    """A Python 3.9, the oldest a workstation may have (macOS's own /usr/bin/python3).

    SNOWMCP_TEST_PYTHON39 names one; else pyenv's newest 3.9.x; else `python3.9` on the PATH.
    """
    named = os.environ.get("SNOWMCP_TEST_PYTHON39")
    if named:
        candidates = [Path(named)]
    else:
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        found = pyenv.glob("versions/3.9.*/bin/python3")
        candidates = sorted(found, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parts[-3])], reverse=True)
        on_path = shutil.which("python3.9")
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        probe = subprocess.run([str(candidate), "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                               capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if probe.stdout.strip() == "True":
            return candidate
    return None


def write_inventory(path: Path, variables: dict[str, Any], hosts: tuple[str, ...] = ("localhost",),
                    python: Path | str = sys.executable) -> Path:  # fmt: skip
    """An inventory whose hosts all run locally (so a "workstation" is this machine) on `python`."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(python)}
    path.write_text(yaml.safe_dump({"all": {"hosts": {h: local for h in hosts}, "vars": variables}}))
    return path


def run_playbook(home: Path, inventory: Path, *extra: str, playbook: str = "playbooks/onboard_user.yml",
                 env: dict[str, str] | None = None) -> PlaybookRun:  # fmt: skip
    scratch = home.parent / "ansible-scratch"
    full_env = {
        **os.environ,
        "HOME": str(home),
        "ANSIBLE_HOME": str(scratch),
        "ANSIBLE_LOCAL_TEMP": str(scratch / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(scratch / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    full_env.pop("SNOWMCP_SERVICE_URL", None)
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), playbook, *extra], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=600)  # fmt: skip
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)


def snapshot(home: Path) -> dict[str, Any]:
    """Every file and symlink under home (not tooling caches): path -> (mode, bytes or link target)."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(home):
        rel_dir = Path(dirpath).relative_to(home)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in TOOLING]
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / name
            rel = str(rel_dir / name)
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            else:
                out[rel] = (oct(p.stat().st_mode & 0o777), p.read_bytes())
    return out
