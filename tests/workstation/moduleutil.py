"""Run the claude_mcp_server module file as Ansible runs it: a Python process with its arguments.

Going through ansible-playbook for every case would cost ~1.5 s each; the module file
executed with an args file is the same code path Ansible's local connection uses
(AnsibleModule reads the args, no_log masking applies to its output).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "claude_mcp_server.py"


def run_module(tmp: Path, *, check: bool = False, diff: bool = False, module: Path = MODULE, timeout: float = 60,
               max_memory: int | None = None, **args: Any) -> tuple[dict[str, Any], str]:  # fmt: skip
    """Returns (result, raw stdout); `module` is the module file (claude_mcp_server by default).

    `timeout` bounds the run (subprocess.TimeoutExpired) and `max_memory` its address space in
    bytes, for cases that could hang or eat the machine's memory (a FIFO, a /dev/zero-like device).
    """
    args = {"_ansible_check_mode": check, "_ansible_diff": diff, **args}
    args_file = tmp / "module-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    # The module imports the collection's module_utils by their FQCN, as Ansible ships them.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "collections")}
    def limit() -> None:
        if max_memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))

    proc = subprocess.run([sys.executable, str(module), str(args_file)], env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit if max_memory is not None else None)  # fmt: skip
    args_file.unlink()
    try:
        return json.loads(proc.stdout), proc.stdout
    except ValueError:
        raise AssertionError(f"module printed no JSON: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None


def run_module_with_ansible(tmp: Path, python: Path, module_name: str = "snowmcp.core.claude_mcp_server",
                            **args: Any) -> dict[str, Any]:  # fmt: skip
    """The module run by `ansible` (AnsiballZ, module_utils shipped with it) on the `python` target.

    The interpreter is a wrapper that notes each module it runs, so a test can tell that
    Ansible really used it and not its own Python.
    """
    wrapper = tmp / "target-python"
    if not wrapper.exists():
        wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{tmp}/target-python.log"\nexec "{python}" "$@"\n')
        wrapper.chmod(0o755)
    scratch = tmp / "ansible-scratch"
    env = {**os.environ, "ANSIBLE_HOME": str(scratch), "ANSIBLE_LOCAL_TEMP": str(scratch / "tmp"),
           "ANSIBLE_REMOTE_TEMP": str(scratch / "tmp"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}  # fmt: skip
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={wrapper}", "-m", module_name,
                           "-a", json.dumps(args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    _, sep, body = proc.stdout.partition(" => ")
    try:
        return dict(json.loads(body)) if sep else {}
    except ValueError:
        raise AssertionError(f"ansible printed no result: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None


def modules_run_by(tmp: Path) -> list[str]:
    """Module file names the wrapper interpreter of run_module_with_ansible has run."""
    log = tmp / "target-python.log"
    return [Path(line.split()[0]).name for line in log.read_text().splitlines()] if log.exists() else []
