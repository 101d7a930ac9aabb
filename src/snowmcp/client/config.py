"""The client's settings: `config.toml` (written by the onboarding role) plus environment.

Precedence for the service URL: `--service` flag, then `SNOWMCP_SERVICE_URL`,
then `service_url` in the config file. Nothing secret lives in this file.

The config file is the user's own `~/.config/snowmcp/config.toml` when it exists, else the
machine's `/etc/snowmcp/config.toml` (managed mode: one file for every user of the machine);
the first that exists is used whole, the two are never merged.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from snowmcp.client import paths
from snowmcp.client.errors import ClientError

if sys.version_info >= (3, 11):
    import tomllib
else:  # macOS's own Python is 3.9: the same parser from its backport (a dependency there)
    import tomli as tomllib

DEFAULT_TIMEOUT = 5.0  # seconds; Claude Code kills a headers helper after 10 s
MAX_TIMEOUT = 60.0


@dataclass(frozen=True)
class Config:
    service_url: str | None
    login: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def read_file(path: Path | None = None) -> dict[str, Any]:
    path = path or paths.config_file()
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ClientError(f"{path} is not valid TOML: {exc}") from None


def normalise_service_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"service URL must be http(s)://host[:port], got {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        # The API key is a bearer credential: never send it across a network in clear text.
        raise ClientError(f"service URL must use https (plain http only on this machine), got {url!r}")
    return url


def _loopback(host: str) -> bool:
    return host == "localhost" or host == "::1" or (host.startswith("127.") and host.replace(".", "").isdigit())


def _timeout(value: object, where: str) -> float:
    # 0 would switch the total deadline off (setitimer(0)) and make sockets non-blocking.
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not 0 < seconds <= MAX_TIMEOUT:
        raise ClientError(f"{where} must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, got {value!r}")
    return seconds


def find_file() -> Path:
    """The first config file that exists in lookup order (the user's own if neither does)."""
    for path in paths.config_files():
        if path.is_file():
            return path
    return paths.config_file()


def load(service_override: str | None = None) -> Config:
    path = find_file()
    data = read_file(path)
    file_url = data.get("service_url")
    if file_url is not None and not isinstance(file_url, str):
        raise ClientError(f"{path}: service_url must be a string")
    url = service_override or os.environ.get("SNOWMCP_SERVICE_URL") or file_url
    env_timeout = os.environ.get("SNOWMCP_TIMEOUT")
    if env_timeout:
        timeout = _timeout(env_timeout, "SNOWMCP_TIMEOUT")
    else:
        timeout = _timeout(data.get("timeout", DEFAULT_TIMEOUT), f"{path}: timeout")
    login = data.get("login")
    return Config(
        service_url=normalise_service_url(url) if url else None,
        login=str(login) if login else None,
        timeout=timeout,
    )


def require_service(cfg: Config) -> str:
    if not cfg.service_url:
        raise ClientError(
            f"no token service configured: pass --service URL, set SNOWMCP_SERVICE_URL, "
            f"or ask IT to run the onboarding playbook (writes {paths.config_file()} "
            f"or {paths.system_config_file()})"
        )
    return cfg.service_url
