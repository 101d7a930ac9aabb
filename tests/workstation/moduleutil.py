"""Run the claude_mcp_server module file as Ansible runs it: a Python process with its arguments.

Going through ansible-playbook for every case would cost ~1.5 s each; the module file
executed with an args file is the same code path Ansible's local connection uses
(AnsibleModule reads the args, no_log masking applies to its output).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "claude_mcp_server.py"


def run_module(tmp: Path, *, check: bool = False, diff: bool = False, **args: Any) -> tuple[dict[str, Any], str]:
    """Returns (result, raw stdout)."""
    args = {"_ansible_check_mode": check, "_ansible_diff": diff, **args}
    args_file = tmp / "module-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60)
    args_file.unlink()
    try:
        return json.loads(proc.stdout), proc.stdout
    except ValueError:
        raise AssertionError(f"module printed no JSON: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None
