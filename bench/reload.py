"""Benchmark: what a graceful reload of the token service costs its callers (process/systemd runtimes).

Reproduce:  .venv/bin/python -m bench.reload [--reloads 5] [--clients 4]   (~40 s; part of `make bench`)

What runs, once per worker class: the service under Gunicorn as the token_service role starts
it (a gunicorn.conf.py of the same shape: one worker, settings read by the worker from
SNOWMCP_ENV_FILE, sqlite store) with the role's snowmcp.service.worker.ServiceWorker, then with
uvicorn-worker's plain uvicorn_worker.UvicornWorker for comparison, `--clients` threads that
each open a NEW connection per request to `GET /readyz` (as the `snowmcp` CLI does for every
token fetch), and `--reloads` SIGHUPs several seconds apart, the env file rewritten before each
(as a credential rotation does). Each request is counted as failed on any error or non-200
answer. Printed side by side: requests answered outside the reload windows and inside them
(from the SIGHUP until only new workers run and answer), with latency percentiles. The plain
class closes connections it accepted just before it stops (ConnectionResetError at the
client); ServiceWorker stops accepting first and answers them (see DrainingServer). Load and service
share the machine's cores.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.procs import free_port
from snowmcp.service.crypto import generate_key

BIN = Path(sys.executable).parent


def write_env(path: Path, port: int, state: Path, generation: int) -> None:
    settings = {
        "SNOWMCP_LISTEN": f"127.0.0.1:{port}",
        "SNOWMCP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SNOWMCP_SNOWFLAKE_URL": "http://127.0.0.1:9",  # never contacted by /readyz
        "SNOWMCP_CLIENT_ID": "bench-client",
        "SNOWMCP_CLIENT_SECRET": f"bench-secret-{generation}",  # changes like a rotation's
        "SNOWMCP_ROLE": "MCP_USERS",
        "SNOWMCP_ALLOWED_USERS": "alice@example.com",
        "SNOWMCP_ENCRYPTION_KEYS": generate_key(),
        "SNOWMCP_STORE": f"sqlite:///{state}/tokens.db",
        "SNOWMCP_AUDIT_LOG": str(state / "audit.log"),
        "SNOWMCP_LOG_LEVEL": "warning",
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_gunicorn_conf(path: Path, port: int, state: Path, env_file: Path, worker_class: str) -> None:
    path.write_text(f'''wsgi_app = "snowmcp.service.worker:create_app()"
worker_class = "{worker_class}"
workers = 1
preload_app = False
bind = ["127.0.0.1:{port}"]
raw_env = ["SNOWMCP_ENV_FILE={env_file}"]
pidfile = "{state}/gunicorn.pid"
errorlog = "{state}/service.log"
capture_output = True
accesslog = None
loglevel = "warning"
control_socket_disable = True
graceful_timeout = 25
timeout = 30
''')


def children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return {int(p) for p in out.split()}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Row = tuple[str, int, int, float, float, float]


def run_case(worker_class: str, reloads: int, clients: int, gap: float) -> tuple[list[Row], list[float], list[str]]:
    """One Gunicorn under load with `reloads` SIGHUPs: rows (steady, during reload), windows, errors."""
    work = Path(tempfile.mkdtemp(prefix="snowmcp-bench-reload-"))
    port = free_port()
    env_file, conf = work / "service.env", work / "gunicorn.conf.py"
    write_env(env_file, port, work, 0)
    write_gunicorn_conf(conf, port, work, env_file, worker_class)
    master = subprocess.Popen([str(BIN / "gunicorn"), "--config", str(conf)], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    results: list[tuple[float, float, bool]] = []  # (start, seconds, ok)
    errors: list[str] = []
    windows: list[tuple[float, float]] = []
    stop = threading.Event()

    def probe(record: bool = True) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            if status != 200 and record:
                errors.append(f"HTTP {status}")
            return status == 200
        except (OSError, http.client.HTTPException) as exc:
            if record:
                errors.append(type(exc).__name__)
            return False
        finally:
            conn.close()

    def load() -> None:
        while not stop.is_set():
            start = time.monotonic()
            ok = probe()
            results.append((start, time.monotonic() - start, ok))

    try:
        deadline = time.monotonic() + 30
        while not probe(record=False):
            if master.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start:\n{(work / 'service.log').read_text()[-2000:]}")
            time.sleep(0.1)
        threads = [threading.Thread(target=load, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        time.sleep(gap)
        for generation in range(1, reloads + 1):
            old = children(master.pid)
            write_env(env_file, port, work, generation)
            start = time.monotonic()
            os.kill(master.pid, signal.SIGHUP)
            # The window ends once only new workers run and one of them has answered.
            while True:
                now = children(master.pid)
                if now and not now & old and probe(record=False):
                    break
                time.sleep(0.02)
            windows.append((start, time.monotonic()))
            time.sleep(gap)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=40)
        except subprocess.TimeoutExpired:
            master.kill()
        shutil.rmtree(work, ignore_errors=True)

    def inside(start: float) -> bool:
        return any(a <= start <= b for a, b in windows)

    rows: list[Row] = []
    for name, rs in (("steady", [r for r in results if not inside(r[0])]),
                     ("during reload", [r for r in results if inside(r[0])])):  # fmt: skip
        lat = [r[1] * 1000 for r in rs]
        rows.append((name, len(rs), sum(1 for r in rs if not r[2]), percentile(lat, 0.5), percentile(lat, 0.99),
                     max(lat, default=float("nan"))))  # fmt: skip
    return rows, [b - a for a, b in windows], errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between reloads")
    args = parser.parse_args(argv)
    cases = {
        # What the role runs, and uvicorn-worker's class as it comes (no drain step) for comparison.
        "ServiceWorker": "snowmcp.service.worker.ServiceWorker",
        "UvicornWorker": "uvicorn_worker.UvicornWorker",
    }
    print(f"Gunicorn SIGHUP reload under load: {args.reloads} reloads per worker class, {args.clients} clients, "
          f"a new connection per request to /readyz")  # fmt: skip
    print(f"{'worker class':15}{'':15}{'requests':>10}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    failed = 0
    notes = []
    for label, worker_class in cases.items():
        rows, windows, errors = run_case(worker_class, args.reloads, args.clients, args.gap)
        for name, count, bad, p50, p99, top in rows:
            print(f"{label:15}{name:15}{count:>10}{bad:>8}{p50:>9.1f}{p99:>9.1f}{top:>9.1f}")
        if label == "ServiceWorker":
            failed = sum(r[2] for r in rows)
        notes.append(f"{label}: reload window (SIGHUP -> only new workers, answering) median "
                     f"{statistics.median(windows) * 1000:.0f} ms, max {max(windows) * 1000:.0f} ms"
                     + (("; failures: " + ", ".join(f"{e} x{errors.count(e)}" for e in sorted(set(errors))))
                        if errors else ""))  # fmt: skip
    for note in notes:
        print(note)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (machine shared with other work)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
