"""Run the snowmcp token service with zero-downtime restarts (process and systemd runtimes).

Why this exists: a credential rotation restarts the service, and a plain
stop-then-start refuses connections for a moment, which users would notice.
The supervisor binds the listening socket ONCE and keeps it; each worker
(uvicorn serving the service's ASGI app) inherits it. A reload (SIGHUP, or
`reload`) starts a new worker with the re-read environment file, waits until
that worker answers `/readyz` on a private loopback port of its own, and only
then asks the old worker to drain and exit. Connections waiting in the shared
accept queue are picked up by whichever worker accepts, so nobody is refused;
if the new worker fails its health check the old one keeps serving and the
reload reports failure.

Commands (all take --config FILE, a JSON file written by the token_service role):
  start   daemonise and return once the first worker is ready (exit 0), or print why not
  run     the same in the foreground (systemd's ExecStart)
  reload  SIGHUP the running supervisor and wait for the new generation to be ready
  stop    SIGTERM the supervisor; it drains the worker and exits
  status  print the status file
  worker  (internal) one worker process

Only the standard library is used here except in `worker`, which runs in the
service's virtual environment (uvicorn + snowmcp.service).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

READY_TIMEOUT = 60.0
DRAIN_SECONDS = 1.0


def load_config(path: str) -> dict[str, Any]:
    return dict(json.loads(Path(path).read_text()))


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines (systemd EnvironmentFile syntax subset: no quotes needed, # comments)."""
    env: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key.strip()] = value.strip()
    return env


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback health URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------- supervisor


class Supervisor:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.status_file = Path(config["status_file"])
        self.log_path = Path(config["log_file"])
        self.generation = 0
        self.reloads = 0  # reload attempts, successful or not (what `reload` waits on)
        self.worker: subprocess.Popen[bytes] | None = None
        self.reload_requested = threading.Event()
        self.stop_requested = threading.Event()
        self.sock = self._bind(config["listen"])

    @staticmethod
    def _bind(listen: str) -> socket.socket:
        host, port = listen.rsplit(":", 1)
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    def log(self, text: str) -> None:
        with self.log_path.open("a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} supervisor: {text}\n")

    def set_status(self, **extra: Any) -> None:
        data = {
            "pid": os.getpid(),
            "generation": self.generation,
            "reloads": self.reloads,
            "worker_pid": self.worker.pid if self.worker else None,
            "listen": self.config["listen"],
            **extra,
        }
        write_json_atomic(self.status_file, data)

    def spawn(self) -> tuple[subprocess.Popen[bytes], Path]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWMCP_")}
        env.update(read_env_file(self.config["env_file"]))
        ready_file = self.status_file.with_name(f"worker-{self.generation + 1}.ready")
        ready_file.unlink(missing_ok=True)
        cmd = [
            self.config["python"], os.path.abspath(__file__), "worker",
            "--fd", str(self.sock.fileno()), "--ready-file", str(ready_file), "--app", self.config["app"],
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                pass_fds=(self.sock.fileno(),), cwd=self.config.get("workdir") or None,
            )  # fmt: skip
        return proc, ready_file

    def wait_ready(self, proc: subprocess.Popen[bytes], ready_file: Path) -> str | None:
        """None when the worker answers /readyz on its private port, else why not."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"worker exited with {proc.returncode} before it was ready (see {self.log_path})"
            if ready_file.exists():
                port = ready_file.read_text().strip()
                if port and http_ok(f"http://127.0.0.1:{port}/readyz"):
                    return None
            time.sleep(0.1)
        return f"worker not ready after {READY_TIMEOUT:.0f}s (see {self.log_path})"

    def retire(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # the worker drains, then uvicorn shuts down gracefully
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def roll(self) -> str | None:
        proc, ready_file = self.spawn()
        problem = self.wait_ready(proc, ready_file)
        if problem:
            self.retire(proc)
            if proc.poll() is None:
                proc.kill()
            self.log(f"generation {self.generation + 1} failed: {problem}; generation {self.generation} keeps serving")
            return problem
        old, self.worker = self.worker, proc
        self.generation += 1
        self.set_status(ready=True, last_reload_error=None)
        self.retire(old)
        self.log(f"generation {self.generation} serving (worker pid {proc.pid})")
        return None

    def run(self) -> int:
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_requested.set())
        problem = self.roll()
        if problem:
            self.set_status(ready=False, last_reload_error=problem)
            return 1
        restarts = 0
        while not self.stop_requested.is_set():
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                problem = self.roll()
                self.reloads += 1
                self.set_status(ready=True, last_reload_error=problem)
            elif self.worker is not None and self.worker.poll() is not None:
                # A crashed worker: start another, backing off so a crash loop does not spin.
                restarts += 1
                self.log(f"worker exited with {self.worker.returncode}; restarting (#{restarts})")
                time.sleep(min(30.0, 0.5 * 2 ** min(restarts, 6)))
                self.worker = None
                if self.roll() is None:
                    restarts = 0
            time.sleep(0.05)
        self.retire(self.worker)
        self.status_file.unlink(missing_ok=True)
        return 0


def pid_of(config: dict[str, Any]) -> int | None:
    try:
        pid = int(Path(config["pidfile"]).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"snowmcp_supervisor" in cmdline else None


def read_status(config: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(Path(config["status_file"]).read_text()))
    except (OSError, ValueError):
        return {}


def cmd_start(args: argparse.Namespace, config: dict[str, Any]) -> int:
    if pid_of(config):
        print("running")
        return 0
    Path(config["status_file"]).unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "run", "--config", args.config, "--pidfile"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives the Ansible task that started it
    )  # fmt: skip
    deadline = time.monotonic() + READY_TIMEOUT + 5
    while time.monotonic() < deadline:
        status = read_status(config)
        if status.get("ready") and status.get("pid") == proc.pid:
            print("started")
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    status = read_status(config)
    print(f"failed to start: {status.get('last_reload_error') or 'see ' + config['log_file']}", file=sys.stderr)
    return 1


def cmd_reload(config: dict[str, Any]) -> int:
    pid = pid_of(config)
    if pid is None:
        print("not running", file=sys.stderr)
        return 1
    before = int(read_status(config).get("reloads", 0))
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + READY_TIMEOUT + 40
    while time.monotonic() < deadline:
        status = read_status(config)
        if int(status.get("reloads", 0)) > before:
            if status.get("last_reload_error"):
                print(f"reload failed, the previous generation keeps serving: {status['last_reload_error']}",
                      file=sys.stderr)  # fmt: skip
                return 1
            print(f"reloaded (generation {status['generation']})")
            return 0
        time.sleep(0.1)
    print("reload timed out", file=sys.stderr)
    return 1


def cmd_stop(config: dict[str, Any]) -> int:
    pid = pid_of(config)
    if pid is None:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 40
    while pid_of(config) and time.monotonic() < deadline:
        time.sleep(0.1)
    Path(config["pidfile"]).unlink(missing_ok=True)
    print("stopped")
    return 0


# --------------------------------------------------------------------------- worker


def run_worker(fd: int, ready_file: str, app_ref: str) -> int:
    """Serve the app on the inherited socket plus a private loopback port (for the health check)."""
    import logging

    import uvicorn

    from snowmcp.service.config import load_settings

    module_name, _colon, attr = app_ref.partition(":")
    build_app = getattr(importlib.import_module(module_name), attr)
    settings = load_settings(os.environ.get("SNOWMCP_CONFIG_FILE") or None)  # SNOWMCP_* from the env file
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shared = socket.socket(fileno=fd)
    private = socket.socket()
    private.bind(("127.0.0.1", 0))
    private.listen(64)
    # The service's own server options: no access log (query strings carry sign-in codes), no
    # X-Forwarded-For trust (the app applies SNOWMCP_TRUSTED_PROXIES), bounded request heads.
    from snowmcp.service.server import uvicorn_options

    config = uvicorn.Config(build_app(settings), log_level=settings.log_level.lower(),
                            timeout_graceful_shutdown=25, **uvicorn_options(settings))  # fmt: skip

    class DrainingServer(uvicorn.Server):
        """On SIGTERM: stop accepting, let just-accepted connections send their request, then exit."""

        draining = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.draining:
                super().handle_exit(sig, frame)
                return
            self.draining = True
            loop = asyncio.get_event_loop()
            for server in self.servers:
                loop.call_soon_threadsafe(server.close)
            loop.call_later(DRAIN_SECONDS, super().handle_exit, sig, frame)

    server = DrainingServer(config)

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        Path(ready_file).write_text(f"{private.getsockname()[1]}\n")

    async def main() -> None:
        task = asyncio.create_task(announce())
        await server.serve(sockets=[shared, private])
        task.cancel()

    asyncio.run(main())
    Path(ready_file).unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "run", "reload", "stop", "status"):
        p = sub.add_parser(name)
        p.add_argument("--config", required=True)
        if name == "run":
            p.add_argument("--pidfile", action="store_true", help="write the pid file (start does)")
    w = sub.add_parser("worker")
    w.add_argument("--fd", type=int, required=True)
    w.add_argument("--ready-file", required=True)
    w.add_argument("--app", required=True)
    args = parser.parse_args(argv)
    if args.command == "worker":
        return run_worker(args.fd, args.ready_file, args.app)
    config = load_config(args.config)
    if args.command == "start":
        return cmd_start(args, config)
    if args.command == "reload":
        return cmd_reload(config)
    if args.command == "stop":
        return cmd_stop(config)
    if args.command == "status":
        print(json.dumps(read_status(config)))
        return 0 if pid_of(config) else 3
    # run
    if args.pidfile:
        Path(config["pidfile"]).write_text(f"{os.getpid()}\n")
    try:
        return Supervisor(config).run()
    finally:
        if args.pidfile:
            Path(config["pidfile"]).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
