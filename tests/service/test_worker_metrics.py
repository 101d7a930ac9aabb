"""/metrics under Gunicorn with two workers answers for the whole service, across a reload.

A real Gunicorn master with the role's worker class, app factory and server hooks (the
hooks line is read from the role's gunicorn.conf.py template): requests land on either
worker, and every scrape - whichever worker answers it - must show all of them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import BIN, ROOT, free_port, stop, wait_for_http
from harness.svc import ENCRYPTION_KEY

TEMPLATE = ROOT / "roles" / "token_service" / "templates" / "gunicorn.conf.py.j2"
HOOKS = "from snowmcp.service.worker import child_exit, on_starting  # noqa: F401"
MISSES = 40  # requests for a path nobody serves: 404s, counted by every worker that answers one


def _get(url: str) -> tuple[int, str]:
    # A new connection per request: Gunicorn's workers take turns accepting them.
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _misses(metrics: str) -> float:
    found = re.search(r'^snowmcp_http_responses_total\{code="404"\} ([0-9.e+]+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def _worker_pids(master: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False).stdout
    return {int(p) for p in out.split()}


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    assert HOOKS in TEMPLATE.read_text(), "the role's gunicorn.conf.py no longer installs the metrics hooks"
    port = free_port()
    env_file = tmp_path / "service.env"
    settings = {"SNOWMCP_PUBLIC_URL": f"http://127.0.0.1:{port}", "SNOWMCP_SNOWFLAKE_URL": "http://127.0.0.1:9",
                "SNOWMCP_CLIENT_ID": "client-id", "SNOWMCP_CLIENT_SECRET": "client-secret-aaaa", "SNOWMCP_ROLE": "MCP_USERS",
                "SNOWMCP_ALLOW_ANY_USER": "true", "SNOWMCP_ENCRYPTION_KEYS": ENCRYPTION_KEY,
                "SNOWMCP_STORE": f"sqlite:///{tmp_path / 'tokens.db'}", "SNOWMCP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}  # fmt: skip
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env_file.chmod(0o600)
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(f"{HOOKS}\n\nwsgi_app = 'snowmcp.service.worker:create_app()'\n"
                    "worker_class = 'snowmcp.service.worker.ServiceWorker'\nworkers = 2\npreload_app = False\n"
                    f"bind = ['127.0.0.1:{port}']\nraw_env = ['SNOWMCP_ENV_FILE={env_file}']\nchdir = '{tmp_path}'\n"
                    "graceful_timeout = 5\n")  # fmt: skip
    log = tmp_path / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with log.open("ab") as out:
        proc = subprocess.Popen([str(BIN / "gunicorn"), "--config", str(conf)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield f"http://127.0.0.1:{port}", proc, tmp_path
    finally:
        stop(proc)


def test_every_scrape_counts_every_workers_answers_across_a_reload(gunicorn: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, proc, folder = gunicorn
    for _ in range(MISSES):
        assert _get(url + "/no-such-path")[0] == 404
    scrapes = [_misses(_get(url + "/metrics")[1]) for _ in range(8)]
    assert scrapes == [MISSES] * 8  # one worker's share would be about half, and differ between scrapes
    assert (folder / "metrics").is_dir() and (folder / "metrics").stat().st_mode & 0o077 == 0
    # A reload replaces both workers: the old ones' counts stay in the sums (no counter reset).
    before = _worker_pids(proc.pid)
    assert len(before) == 2
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_worker_pids(proc.pid) & before or len(_worker_pids(proc.pid)) < 2):
        time.sleep(0.2)
    assert not _worker_pids(proc.pid) & before, "the reload did not replace the workers"
    assert _get(url + "/no-such-path")[0] == 404
    assert [_misses(_get(url + "/metrics")[1]) for _ in range(4)] == [MISSES + 1] * 4
