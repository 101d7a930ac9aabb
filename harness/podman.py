"""podman as it runs on these machines: vfs storage, runc, cgroupfs, explicit ulimits, host network.

Shared by the image test (tests/image/) and bench/image.py. Why each flag:
- `--runtime runc`: podman's default runtime (crun) refuses hybrid cgroups ("cgroups in
  hybrid mode not supported"); `--cgroup-manager cgroupfs`: no systemd session here.
- `--storage-driver vfs`: no overlay mounts inside this machine; the storage is the checkout's
  own (/var/tmp/snowmcp-podman-<hash>), so the image test neither uses nor fills the host's default store.
- `--ulimit nofile=.. nproc=..` on every run: without explicit values the runtime tries to
  raise RLIMIT_NOFILE and fails; containers.conf's default_ulimits is emptied for the same reason.
- `--network host` for builds and runs: RUN steps reach the package registries, and the
  container reaches the emulator on the host's loopback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from harness.procs import ROOT

CACHE = ROOT / ".cache"
ROOTFS_TAR = CACHE / "debian-bookworm-minbase.tar"  # written by harness/provision_image.sh
BASE_IMAGE = "localhost/snowmcp-base:bookworm"
IMAGE = "localhost/snowmcp-service:test"
# Outside the checkout: the build context is the checkout, and podman walks it (vfs storage
# holds a full copy of every layer, gigabytes). One store per checkout, named after its path.
STORAGE = Path("/var/tmp") / f"snowmcp-podman-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"  # noqa: S108 - podman's own store, not a temp file
ULIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")


def runc() -> str:
    path = shutil.which("runc") or "/usr/sbin/runc"
    if not Path(path).exists():
        raise RuntimeError(
            "runc is not installed: run harness/provision_image.sh (apt-get install runc)"
        )
    return path


def env() -> dict[str, str]:
    conf = STORAGE / "containers.conf"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def command(*args: str) -> list[str]:
    binary = shutil.which("podman")
    if binary is None:
        raise RuntimeError(
            "podman is not installed: run harness/provision_image.sh (apt-get install podman)"
        )
    return [binary, "--storage-driver", "vfs", "--root", str(STORAGE / "storage"),
            "--runroot", str(STORAGE / "run"), "--cgroup-manager", "cgroupfs", "--runtime", runc(), *args]  # fmt: skip


def podman(*args: str, check: bool = True, capture: bool = True, timeout: float | None = None,
           stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    proc = subprocess.run(command(*args), env=env(), input=stdin.decode() if stdin is not None else None,
                          capture_output=capture, text=True, check=False, timeout=timeout)  # fmt: skip
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"podman {' '.join(args[:3])} ... failed ({proc.returncode}):\n{(proc.stderr or '(output above)')[-4000:]}"
        )
    return proc


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def import_base() -> str:
    """The debootstrap root filesystem as a podman image (once per storage)."""
    if not image_exists(BASE_IMAGE):
        if not ROOTFS_TAR.is_file():
            raise RuntimeError(f"{ROOTFS_TAR} is missing: run harness/provision_image.sh first")
        with ROOTFS_TAR.open("rb") as tar:
            proc = subprocess.run(command("import", "-", BASE_IMAGE), env=env(), stdin=tar,
                                  capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"podman import failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return BASE_IMAGE


def ca_bundle() -> list[str]:
    """The host's CA bundle as the build secret ca_bundle: where egress goes through a
    TLS-inspecting proxy (as on these machines), pip inside the build trusts what the host does."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(name)
        if path and Path(path).is_file():
            return ["--secret", f"id=ca_bundle,src={path}"]
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return ["--secret", f"id=ca_bundle,src={default}"] if default.is_file() else []


def build(tag: str = IMAGE, base: str | None = None) -> str:
    """`podman build` of the repository's Dockerfile on the local Debian base (Debian's python3)."""
    base = base or import_base()
    podman("build", "--format", "docker", "--network", "host", *ULIMITS, *ca_bundle(), "--build-arg", f"BASE_IMAGE={base}",
           "--build-arg", "PYTHON_FROM=apt", "--tag", tag, "--file", str(ROOT / "Dockerfile"), str(ROOT),
           capture=False)  # fmt: skip
    # vfs keeps a full copy per layer: drop what earlier builds left untagged (the store
    # otherwise grows by the image's size with every changed build).
    podman("image", "prune", "--force")
    return tag
