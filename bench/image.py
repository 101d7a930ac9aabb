"""Benchmark: the token service's container image against the same service run from the venv:
cold start to a ready `/readyz`, and resident memory once ready.

Reproduce:  make image-test (builds localhost/snowmcp-service:test), then
            .venv/bin/python -m bench.image [--runs 3]       (~2-3 min on 2 busy cores)

What runs, `--runs` times each, one after the other: the image under podman as
tests/image/ runs it (runc, vfs storage, host network, read-only root, non-root, settings from
a mounted podman secret, sqlite store on a tmpfs) and `snowmcp-service serve` from this venv
with the same settings file. Each start is timed from the command to the first 200 from
`/readyz`; for the container it is split into `podman create` (with vfs storage this copies the
whole image into a new container layer: the cost of this storage driver, not of the image) and
`podman start` to ready. RSS is the service process's VmRSS (/proc/<pid>/status) once ready.
The emulator is not needed: /readyz only checks the store. Printed side by side: median and
range per figure. Measured on a shared 2-core machine with other work running: compare the two
columns of one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import podman
from harness.procs import free_port, stop
from harness.svc import ADMIN_KEY, ENCRYPTION_KEY

BIN = Path(sys.executable).parent
SECRET_TARGET = "/etc/snowmcp/service.toml"


def settings(store: str, public: str) -> str:
    values = {
        "snowflake_url": "http://127.0.0.1:9", "client_id": "bench", "client_secret": "bench-secret",
        "role": "MCP_USERS", "store": store, "encryption_keys": ENCRYPTION_KEY, "admin_keys": ADMIN_KEY,
        "public_url": public, "allow_any_user": "true",
    }  # fmt: skip
    return "[service]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def run_container(image: str) -> dict[str, float]:
    port, suffix = free_port(), secrets.token_hex(4)
    name, secret = f"snowmcp-bench-{suffix}", f"snowmcp-bench-{suffix}"
    podman.podman("secret", "create", secret, "-",
                  stdin=settings("sqlite:////var/lib/snowmcp/tokens.db", f"http://127.0.0.1:{port}").encode())  # fmt: skip
    try:
        t0 = time.monotonic()
        podman.podman(
            "create", "--name", name, "--network", "host", *podman.ULIMITS, "--read-only",
            "--tmpfs", "/tmp:rw,size=16m,mode=1777", "--tmpfs", "/var/lib/snowmcp:rw,size=16m,mode=1777",
            "--secret", f"{secret},type=mount,target={SECRET_TARGET},uid=10001,gid=10001,mode=0400",
            "--env", f"SNOWMCP_LISTEN=127.0.0.1:{port}", image, "serve", "--config", SECRET_TARGET,
        )  # fmt: skip
        t1 = time.monotonic()
        podman.podman("start", name)
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        t2 = time.monotonic()
        pid = int(podman.podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())
        return {
            "create_s": t1 - t0,
            "start_to_ready_s": t2 - t1,
            "total_s": t2 - t0,
            "rss_mib": rss_mib(pid),
        }
    finally:
        podman.podman("rm", "--force", "--time", "5", name, check=False)
        podman.podman("secret", "rm", secret, check=False)


def run_venv() -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="snowmcp-bench-image-") as tmp:
        config = Path(tmp) / "service.toml"
        config.write_text(settings(f"sqlite:///{tmp}/tokens.db", f"http://127.0.0.1:{port}"))
        config.chmod(0o600)
        env = {"PATH": str(BIN), "SNOWMCP_LISTEN": f"127.0.0.1:{port}", "SNOWMCP_AUDIT_LOG": "-"}
        t0 = time.monotonic()
        proc = subprocess.Popen([str(BIN / "snowmcp-service"), "serve", "--config", str(config)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            t1 = time.monotonic()
            return {
                "create_s": 0.0,
                "start_to_ready_s": t1 - t0,
                "total_s": t1 - t0,
                "rss_mib": rss_mib(proc.pid),
            }
        finally:
            stop(proc)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--image", default=podman.IMAGE)
    args = parser.parse_args()
    if not podman.image_exists(args.image):
        print(
            f"{args.image} is missing: run `make image-test` first (it builds it)", file=sys.stderr
        )
        return 1
    results: dict[str, list[dict[str, float]]] = {"image (podman)": [], "venv": []}
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        results["image (podman)"].append(run_container(args.image))
        results["venv"].append(run_venv())
    print(f"token service cold start to /readyz and RSS, {args.runs} runs each, median (min-max)")
    print(f"{'':28}" + "".join(f"{k:>24}" for k in results))
    labels = {"create_s": "podman create (vfs copy) s", "start_to_ready_s": "start -> /readyz 200, s",
              "total_s": "cold start total, s", "rss_mib": "RSS once ready, MiB"}  # fmt: skip
    for key, label in labels.items():
        print(
            f"{label:28}"
            + "".join(f"{summary([r[key] for r in runs]):>24}" for runs in results.values())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
