"""Emulator throughput: statements per second through the real snowflake-connector-python.

Reproduce (from the repository root, after `make venv`):

    .venv/bin/python -m bench.emulator            # or: make bench
    .venv/bin/python -m bench.emulator --seconds 5 --workers 4

It starts one `snowmcp-emulator serve` (tests/procs.py, seed tests/data/seed.yml,
no --latency-ms), then runs `SHOW ROLES` (a read) and `SELECT CURRENT_ROLE()`
for a fixed time:

- one connection, one statement per request;
- N threads, each with its own connection, one statement per request;
- one connection sending 10 statements per request (multi-statement mode).

and prints statements/s side by side with a real account's budget (one round
trip to a real account typically costs 100-400 ms), so later benchmarks
can tell the emulator is not their bottleneck. The connector's Rust core
releases the GIL during requests, so threads do overlap on the client side.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from harness.procs import Emulator

STATEMENTS = ("SHOW ROLES", "SELECT CURRENT_ROLE()")
REAL_ACCOUNT_ROUND_TRIP_S = (0.1, 0.4)


def run_for(conn: Any, seconds: float, batch: int) -> int:
    """Statements executed on `conn` within `seconds` (batch > 1: multi-statement requests)."""
    cur = conn.cursor()
    sql = "; ".join(STATEMENTS[i % 2] for i in range(batch))
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if batch == 1:
            cur.execute(STATEMENTS[done % 2])
            cur.fetchall()
        else:
            cur.execute(sql, num_statements=batch)
            while True:
                cur.fetchall()
                if cur.nextset() is None:
                    break
        done += batch
    return done


def measure(emu: Emulator, workers: int, seconds: float, batch: int) -> float:
    conns = [emu.connect() for _ in range(workers)]
    counts = [0] * workers
    try:
        for conn in conns:  # warm up: first request per connection
            run_for(conn, 0.05, batch)

        def work(i: int) -> None:
            counts[i] = run_for(conns[i], seconds, batch)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        for conn in conns:
            conn.close()
    return sum(counts) / elapsed


def main() -> int:
    # The connector warns about its own deprecated defaults on every connect; keep the table readable.
    warnings.filterwarnings("ignore", module="snowflake")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per scenario")
    parser.add_argument(
        "--workers", type=int, default=4, help="threads/connections for the parallel run"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        emu = Emulator(Path(tmp) / "emulator").start()
        try:
            single = measure(emu, 1, args.seconds, 1)
            parallel = measure(emu, args.workers, args.seconds, 1)
            multi = measure(emu, 1, args.seconds, 10)
            requests = emu.stats()["query_requests"]
        finally:
            emu.stop()

    fast, slow = (1 / s for s in REAL_ACCOUNT_ROUND_TRIP_S)
    print("Emulator throughput through snowflake-connector-python (statements/s)")
    print(
        "reproduce: .venv/bin/python -m bench.emulator "
        f"--seconds {args.seconds:g} --workers {args.workers}"
    )
    print(f"{'scenario':<44}{'emulator':>12}{'real account*':>18}")
    rows = [
        ("1 connection, 1 statement/request", single, f"{slow:.1f}-{fast:.1f}"),
        (f"{args.workers} connections (threads), 1 statement/request", parallel,
         f"{args.workers * slow:.1f}-{args.workers * fast:.1f}"),
        ("1 connection, 10 statements/request", multi, f"{10 * slow:.1f}-{10 * fast:.1f}"),
    ]  # fmt: skip
    for name, rate, real in rows:
        print(f"{name:<44}{rate:>12.1f}{real:>18}")
    print(
        f"parallel speed-up over one connection: {parallel / single:.2f}x; query requests served: {requests}"
    )
    print("* a real account at 100-400 ms per round trip (typical for Snowflake)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
