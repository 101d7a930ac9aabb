"""Benchmark: wall time of `ansible-playbook site.yml` on the demo inventory, per play.

Four runs, printed side by side:
  demo inventory (3 users)   first run | no-op re-run
  1,000 users                first run | no-op re-run   (workstation play: a sample of one user on the one demo workstation)
Each run gets a fresh emulator (the demo seed, plus 1,000 generated SSO users for
the large inventory) and a fresh token service, like `make demo`.

Reproduce: `make bench` or `.venv/bin/python -m bench.site` from the repository root.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from harness import demo
from harness.procs import BIN, ROOT, Emulator, free_port

N_USERS = 1000
SAMPLE = 1  # the demo has one workstation HOME; several users there would overwrite one config


def run_site(demo_dir: Path, extra: Path | None) -> tuple[float, dict[str, float], dict[str, int]]:
    """Run site.yml; returns total seconds, seconds per play and changed results per play."""
    cmd = [str(BIN / "ansible-playbook"), "site.yml", "-i", str(ROOT / "inventory" / "demo")]
    if extra:
        cmd += ["-e", f"@{extra}"]
    env = dict(os.environ, SNOWMCP_DEMO_DIR=str(demo_dir), PATH=f"{BIN}:{os.environ.get('PATH', '')}",
               ANSIBLE_NOCOLOR="1")  # fmt: skip
    start = time.perf_counter()
    times: dict[str, float] = {}
    changed: dict[str, int] = {}
    current, since = None, start
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = ([*tail, line])[-40:]
        match = re.match(r"^PLAY (?:\[(.*)\]|RECAP)", line)
        if match:
            now = time.perf_counter()
            if current is not None:
                times[current] = now - since
            current, since = match.group(1), now
            if current is not None:
                changed.setdefault(current, 0)
        elif current and line.startswith("changed: ["):
            changed[current] += 1
    if proc.wait() != 0:
        raise SystemExit("site.yml failed:\n" + "".join(tail))
    return time.perf_counter() - start, times, changed


def scenario(name: str, users: int) -> list[tuple[str, float, dict[str, float], dict[str, int]]]:
    with tempfile.TemporaryDirectory(prefix="snowmcp-bench-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o700)
        seed = yaml.safe_load(demo.SEED_TEMPLATE.read_text())
        extra = None
        if users:
            logins = [f"user{i:04d}@example.com" for i in range(users)]
            seed["users"] += [{"login_name": login, "password": "x", "default_role": "ANALYST",
                               "default_warehouse": "COMPUTE_WH", "roles": ["ANALYST"]} for login in logins]  # fmt: skip
            template = directory / "seed-template.yml"
            template.write_text(yaml.safe_dump(seed))
            passwords = demo.make_seed(directory, template)
            mcp_users = [{"login": login, "roles": ["MCP_USERS"], **({"host": "demo-workstation"} if i < SAMPLE else {})}
                         for i, login in enumerate(logins)]  # fmt: skip
            extra = directory / "users.yml"
            extra.write_text(yaml.safe_dump({"mcp_users": mcp_users}))
        else:
            passwords = demo.make_seed(directory)
        emu = Emulator(directory / "emulator", seed=directory / "emulator-seed.yml").start()
        demo.write_settings(directory, emu.port, free_port(), passwords)
        try:
            first = run_site(directory, extra)
            second = run_site(directory, extra)
        finally:
            demo.stop(directory)
            emu.stop()
    return [(f"{name}, first run", *first), (f"{name}, no-op re-run", *second)]


def main() -> int:
    print(__doc__)
    rows: list[Any] = scenario("demo inventory", 0) + scenario(f"{N_USERS:,} users", N_USERS)
    plays = list(rows[0][2])
    header = f"{'run':34} {'total s':>8} " + " ".join(f"{p[:26]:>28}" for p in plays)
    print(header)
    print("-" * len(header))
    for label, total, times, changed in rows:
        cells = " ".join(f"{times.get(p, 0):>8.1f}s ({changed.get(p, 0):>4} chg)".rjust(28) for p in plays)
        print(f"{label:34} {total:>8.1f} {cells}")
    print("\n(chg = changed task results in that play; a no-op re-run must show 0 everywhere)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
