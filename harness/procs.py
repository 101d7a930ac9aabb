"""Start and stop the real processes the tests use: the emulator, redis-server, the token service.

Shared by tests and benchmarks (bench/ imports it too), so every suite starts
services the same way: a free loopback port, a readiness poll, logs in a file
that a failing test prints, and a guaranteed stop.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SEED = ROOT / "tests" / "data" / "seed.yml"
ADMIN_USER, ADMIN_PASSWORD = "ADMIN", "admin-pass-1"
# The tests' automation user signs in with an encrypted key generated per emulator.
AUTOMATION_KEY_PASSPHRASE = "test-key-passphrase-1"  # noqa: S105 - a throwaway test key


def _xdist_slot() -> tuple[int, int]:
    """(this worker's index, number of workers) under pytest-xdist; (0, 1) otherwise."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return (int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0), max(count, 1)


def free_port() -> int:
    """A loopback port that is free now, below Linux's ephemeral range (32768-60999) so an
    outgoing connection never takes it before the process binds it. Under pytest-xdist each
    worker only takes ports congruent to its index: two workers never pick the same one.
    (Not bind(0): the kernel hands out only even ports there, and in the ephemeral range.)"""
    index, count = _xdist_slot()
    rng = random.SystemRandom()
    for _attempt in range(1000):
        port = rng.randrange(20000 + index % count, 32768, count)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port for this worker")


def wait_for_http(url: str, proc: subprocess.Popen[bytes] | None, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}; log:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s; log:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Emulator:
    """A running `snowmcp-emulator serve` process."""

    workdir: Path
    seed: Path = SEED
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    key_file: Path | None = None  # set by enable_key_pair()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.workdir / "emulator-state.json"

    @property
    def log(self) -> Path:
        return self.workdir / "emulator.log"

    def start(self) -> Emulator:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        cmd = [
            str(BIN / "snowmcp-emulator"), "serve", "--port", str(self.port),
            "--seed", str(self.seed), "--state", str(self.state_file), *self.extra_args,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for_http(self.url + "/__emulator/stats", self.proc, self.log)
        return self

    def stop(self) -> None:
        stop(self.proc)

    def restart(self) -> Emulator:
        self.stop()
        return self.start()

    def enable_key_pair(self, user: str = ADMIN_USER) -> Path:
        """Give `user` a fresh RSA key pair (private key encrypted with
        AUTOMATION_KEY_PASSPHRASE, in the workdir, 0600); returns the key file."""
        from harness.keypair import generate

        if self.key_file is None:
            path = self.workdir / "automation.p8"
            public = generate(path, AUTOMATION_KEY_PASSPHRASE)
            self.query(f"ALTER USER \"{user}\" SET RSA_PUBLIC_KEY = '{public}'")
            self.key_file = path
        return self.key_file

    def connect(self, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD, **kwargs: Any) -> Any:
        """A real snowflake-connector-python connection to this emulator."""
        import snowflake.connector

        params: dict[str, Any] = {
            "account": "DEMO-ACCOUNT", "user": user, "password": password,
            "host": "127.0.0.1", "port": self.port, "protocol": "http",
            "login_timeout": 10, "request_timeout": 30,
            # Say explicitly what 5.x warns it will stop defaulting to: no async queries here.
            "enable_server_session_keep_alive_auto_detection": False,
        }  # fmt: skip
        params.update(kwargs)
        return snowflake.connector.connect(**params)

    def query(self, sql: str, **connect_kwargs: Any) -> list[dict[str, Any]]:
        """Run one statement as ADMIN (or as given) and return rows as dicts."""
        conn = self.connect(**connect_kwargs)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            if cur.description is None:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/__emulator/stats", timeout=5) as resp:  # noqa: S310
            return dict(json.load(resp))

    def set_faults(self, **faults: Any) -> None:
        req = urllib.request.Request(  # noqa: S310
            self.url + "/__emulator/faults",
            data=json.dumps(faults).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=5).close()  # noqa: S310


@dataclass
class RedisServer:
    """A real redis-server on a free loopback port, data in `workdir`."""

    workdir: Path
    persistence: bool = True
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    key_file: Path | None = None  # set by enable_key_pair()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--save", "", "--protected-mode", "yes"]  # fmt: skip
        if self.persistence:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        log = self.workdir / "redis.log"
        with log.open("ab") as handle:
            self.proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"redis-server not ready; log:\n{log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.proc, sig)

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
