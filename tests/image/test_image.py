"""The token service's image, built from the repository's Dockerfile with podman on a Debian
bookworm base made by debootstrap (no registry is reachable here), run the way production runs
it: non-root, read-only root filesystem with a tmpfs for the store, settings only from a mounted
secret file. The emulator runs on the host; the container shares the host's network.

Run with `make image-test` (harness/provision_image.sh provisions podman, runc and the base)."""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import podman
from harness.flow import login
from harness.procs import Emulator, free_port, wait_for_http
from harness.svc import ServiceProc, service_env, setup_integration

# A cold build (base import, apt, pip) takes minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(1800)

SECRET_TARGET = "/etc/snowmcp/service.toml"  # the Dockerfile creates /etc/snowmcp
STORE_DIR = "/var/lib/snowmcp"


def toml_settings(env: dict[str, str]) -> str:
    """SNOWMCP_* variables as the TOML settings file `snowmcp-service serve --config` reads
    (strings everywhere: the service parses a TOML string the way it parses the environment)."""
    lines = ["[service]"]
    lines += [
        f"{name.removeprefix('SNOWMCP_').lower()} = {json.dumps(value)}"
        for name, value in env.items()
    ]
    return "\n".join(lines) + "\n"


def token_works(emu: Emulator, token: str, user: str) -> bool:
    """A connector OAuth sign-in at the emulator with the token, as a client would use it."""
    try:
        rows = emu.query(
            "SELECT CURRENT_USER() AS U",
            authenticator="oauth",
            token=token,
            user=user,
            password=None,
        )
    except Exception:
        return False
    return bool(rows) and str(rows[0]["U"]).lower() == user


@pytest.fixture(scope="module")
def image() -> str:
    return podman.build()


@pytest.fixture(scope="module")
def deployed(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("image")
    emu = Emulator(work / "emu").start()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    integ = setup_integration(emu, f"{public}/v1/oauth/callback")
    env = service_env(emu, integ, f"sqlite:///{STORE_DIR}/tokens.db", SNOWMCP_PUBLIC_URL=public)
    suffix = secrets.token_hex(4)
    secret, name = f"snowmcp-settings-{suffix}", f"snowmcp-image-test-{suffix}"
    # A podman secret mounted as a file readable only by the service's user, like a
    # Kubernetes Secret volume: the settings never pass through argv or the environment.
    podman.podman("secret", "create", secret, "-", stdin=toml_settings(env).encode())
    svc = ServiceProc(work / "svc", {}, port=port)
    try:
        podman.podman(
            "run", "--detach", "--name", name, "--network", "host", *podman.ULIMITS,
            "--read-only", "--read-only-tmpfs=false",
            "--tmpfs", "/tmp:rw,size=16m,mode=1777", "--tmpfs", f"{STORE_DIR}:rw,size=16m,mode=1777",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--secret", f"{secret},type=mount,target={SECRET_TARGET},uid=10001,gid=10001,mode=0400",
            # The image's ENV sets SNOWMCP_LISTEN (0.0.0.0:8080), and the environment wins over the
            # settings file: on the host's network a free port is chosen here (nothing secret).
            "--env", f"SNOWMCP_LISTEN=127.0.0.1:{port}",
            image, "serve", "--config", SECRET_TARGET,
        )  # fmt: skip
        try:
            (work / "no-log").touch()  # the container's log is read below instead
            wait_for_http(f"{public}/readyz", None, work / "no-log", timeout=120)
        except TimeoutError:
            logs = podman.podman("logs", name, check=False)
            raise AssertionError(
                f"container not ready:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
            ) from None
        yield {"name": name, "svc": svc, "emu": emu, "env": env, "image": image}
    finally:
        podman.podman("rm", "--force", "--time", "5", name, check=False)
        podman.podman("secret", "rm", secret, check=False)
        emu.stop()


def exec_in(name: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return podman.podman("exec", name, *cmd, check=False)


def test_readyz_sign_in_and_token(deployed: dict[str, Any]) -> None:
    svc, emu = deployed["svc"], deployed["emu"]
    with urllib.request.urlopen(f"{svc.url}/readyz", timeout=10) as resp:  # noqa: S310 - loopback
        assert resp.status == 200
        body = json.loads(resp.read())
    assert body == {"status": "ready"}, body
    key = login(svc, "alice@example.com")
    status, token = svc.request("GET", "/v1/token", key)
    assert status == 200, token
    assert token["username"] == "alice@example.com" and token["token_type"] == "Bearer"
    assert token_works(emu, token["access_token"], "alice@example.com")
    assert not token_works(emu, token["access_token"] + "x", "alice@example.com"), (
        "the check itself can fail"
    )
    # The record is in the store on the container's tmpfs (read back inside the container).
    listed = exec_in(
        deployed["name"],
        "snowmcp-service",
        "admin",
        "users",
        "list",
        "--json",
        "--config",
        SECRET_TARGET,
    )
    assert listed.returncode == 0, listed.stderr
    assert [u["username"] for u in json.loads(listed.stdout)["users"]] == ["alice@example.com"]


def test_runs_as_non_root(deployed: dict[str, Any]) -> None:
    pid = int(
        podman.podman("inspect", "--format", "{{.State.Pid}}", deployed["name"]).stdout.strip()
    )
    status = Path(f"/proc/{pid}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == ["10001"] * 4, status  # real, effective, saved, filesystem: not root
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"serve" in cmdline and b"--config" in cmdline
    # No secret reaches the process's arguments or environment: only the mounted file has them.
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    for name in ("SNOWMCP_CLIENT_SECRET", "SNOWMCP_ENCRYPTION_KEYS", "SNOWMCP_ADMIN_KEYS"):
        value = deployed["env"][name].encode()
        assert value not in environ and all(value not in arg for arg in cmdline), name
    assert exec_in(deployed["name"], "id", "-u").stdout.strip() == "10001"


def test_image_healthcheck_passes(deployed: dict[str, Any]) -> None:
    """The Dockerfile's HEALTHCHECK (kept: the image is built in docker format), run once."""
    health = podman.podman("healthcheck", "run", deployed["name"], check=False)
    assert health.returncode == 0, health
    check = json.loads(
        podman.podman(
            "inspect", "--format", "{{json .Config.Healthcheck}}", deployed["name"]
        ).stdout
    )
    assert check["Test"][0] == "CMD" and "/healthz" in check["Test"][-1], check


def test_root_filesystem_is_read_only(deployed: dict[str, Any]) -> None:
    name = deployed["name"]
    write = exec_in(name, "sh", "-c", "echo x > /opt/snowmcp/probe")
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write
    assert exec_in(name, "test", "-e", "/opt/snowmcp/probe").returncode != 0
    # Even root inside the container cannot write the root filesystem (the mount is read-only,
    # not merely owned by someone else).
    as_root = podman.podman(
        "exec", "--user", "0", name, "sh", "-c", "echo x > /etc/probe", check=False
    )
    assert as_root.returncode != 0 and "Read-only file system" in as_root.stderr, as_root
    # The tmpfs mounts are the only writable places: the store lives there.
    assert exec_in(name, "test", "-s", f"{STORE_DIR}/tokens.db").returncode == 0
    mounts = exec_in(name, "cat", "/proc/self/mounts").stdout.splitlines()
    root = next(line.split() for line in mounts if line.split()[1] == "/")
    assert "ro" in root[3].split(","), root
