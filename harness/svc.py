"""Test helpers: run `snowmcp-service serve` as a real process; set up the emulator's integration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.procs import BIN, Emulator, free_port, stop, wait_for_http

ENCRYPTION_KEY = "nBzQxJ2oXg0c9w3rVmT1k5yHq8sLdEaPfUiZ7jWbKcM"  # test-only key (32 bytes, base64url)
ADMIN_KEY = "admin-" + "x" * 40


@dataclass
class Integration:
    name: str
    client_id: str
    secret: str
    secret_2: str
    role: str


def setup_integration(emu: Emulator, redirect_uri: str, *, name: str = "MCP_OAUTH", role: str = "MCP_USERS",
                      single_use: bool = False, users: tuple[str, ...] = ("alice@example.com", "BOB@EXAMPLE.COM"),
                      validity: int = 86400) -> Integration:  # fmt: skip
    """Create (or re-point) the OAuth integration through the real connector, as ADMIN."""
    existing = emu.query(f"SHOW SECURITY INTEGRATIONS LIKE '{name}'")
    if existing:
        emu.query(f"ALTER SECURITY INTEGRATION {name} SET OAUTH_REDIRECT_URI = '{redirect_uri}' "
                  f"OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED = {str(single_use).upper()}")  # fmt: skip
    else:
        emu.query(
            f"CREATE SECURITY INTEGRATION {name} TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
            f"OAUTH_CLIENT_TYPE = 'CONFIDENTIAL' OAUTH_REDIRECT_URI = '{redirect_uri}' "
            f"OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE OAUTH_ISSUE_REFRESH_TOKENS = TRUE "
            f"OAUTH_REFRESH_TOKEN_VALIDITY = {validity} "
            f"OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED = {str(single_use).upper()}"
        )
        emu.query(f"CREATE ROLE IF NOT EXISTS {role}")
        for user in users:
            emu.query(f'GRANT ROLE {role} TO USER "{user}"')  # user NAMEs, quoted
    row = emu.query(f"SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('{name}')")[0]
    data = json.loads(next(iter(row.values())))
    return Integration(name, data["OAUTH_CLIENT_ID"], data["OAUTH_CLIENT_SECRET"],
                       data["OAUTH_CLIENT_SECRET_2"], role)  # fmt: skip


@dataclass
class ServiceProc:
    """A running `snowmcp-service serve` process configured only through SNOWMCP_* env."""

    workdir: Path
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    name: str = "service"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def audit(self) -> Path:
        return self.workdir / f"{self.name}-audit.jsonl"

    def start(self) -> ServiceProc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = {**os.environ, **self.env, **self.extra_env}
        env["SNOWMCP_LISTEN"] = f"127.0.0.1:{self.port}"
        env.setdefault("SNOWMCP_PUBLIC_URL", self.url)
        env.setdefault("SNOWMCP_AUDIT_LOG", str(self.audit))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(BIN / "snowmcp-service"), "serve"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for_http(self.url + "/healthz", self.proc, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.proc, sig)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def request(self, method: str, path: str, key: str | None = None, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")


def service_env(emu: Emulator, integ: Integration, store: str, **extra: str) -> dict[str, str]:
    env = {
        "SNOWMCP_SNOWFLAKE_URL": emu.url,
        "SNOWMCP_CLIENT_ID": integ.client_id,
        "SNOWMCP_CLIENT_SECRET": integ.secret,
        "SNOWMCP_CLIENT_SECRET_NEXT": integ.secret_2,
        "SNOWMCP_ROLE": integ.role,
        "SNOWMCP_STORE": store,
        "SNOWMCP_ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "SNOWMCP_ADMIN_KEYS": ADMIN_KEY,
        "SNOWMCP_HTTP_TIMEOUT": "5",
        "SNOWMCP_RATE_LIMIT": "0",
        "SNOWMCP_AUTH_FAIL_RATE": "0",  # every client here is 127.0.0.1; test_auth_limit.py turns it on
        "SNOWMCP_SIGNIN_RATE": "0",  # the same for sign-ins; test_abuse.py turns it on
        "SNOWMCP_ALLOW_ANY_USER": "true",  # suites that test the allow-list set SNOWMCP_ALLOWED_USERS
        "SNOWMCP_REFRESH_TOKEN_VALIDITY": "86400",  # = setup_integration()'s validity
    }
    env.update(extra)
    return env
