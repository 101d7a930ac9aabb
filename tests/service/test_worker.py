"""Gunicorn workers read the service's settings file when they start (not the master's environment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.svc import ENCRYPTION_KEY
from snowmcp.service import worker
from snowmcp.service.config import ConfigError
from snowmcp.service.server import uvicorn_options

SETTINGS = {
    "SNOWMCP_PUBLIC_URL": "https://tokens.example.com",
    "SNOWMCP_SNOWFLAKE_URL": "https://acme-prod.snowflakecomputing.com",
    "SNOWMCP_CLIENT_ID": "client-id-123",
    "SNOWMCP_CLIENT_SECRET": "secret-one-aaaa",
    "SNOWMCP_ROLE": "MCP_USERS",
    "SNOWMCP_ALLOWED_USERS": "alice@example.com",
    "SNOWMCP_ENCRYPTION_KEYS": ENCRYPTION_KEY,
}


def write_env(path: Path, values: dict[str, str]) -> None:
    path.write_text("# written by the role\n\n" + "".join(f"{k}={v}\n" for k, v in values.items()))
    os.chmod(path, 0o600)


def test_each_start_reads_the_file_as_it_is_then(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "service.env"
    write_env(env_file, SETTINGS)
    monkeypatch.setenv(worker.ENV_FILE_VARIABLE, str(env_file))
    # A value the master inherited must neither win over the file nor survive its removal there.
    monkeypatch.setenv("SNOWMCP_CLIENT_SECRET_NEXT", "stale-from-the-master")
    first = worker.load_worker_settings()
    assert first.client_secret == "secret-one-aaaa" and first.client_secret_next == ""
    # A rotation rewrites the file; the next worker (after SIGHUP) sees the new secret.
    write_env(env_file, {**SETTINGS, "SNOWMCP_CLIENT_SECRET": "secret-two-bbbb",
                         "SNOWMCP_CLIENT_SECRET_NEXT": "secret-one-aaaa"})  # fmt: skip
    second = worker.load_worker_settings()
    assert second.client_secrets == ("secret-two-bbbb", "secret-one-aaaa")


def test_a_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(worker.ENV_FILE_VARIABLE, str(tmp_path / "absent.env"))
    with pytest.raises(ConfigError, match="cannot read environment file"):
        worker.load_worker_settings()


def test_the_worker_serves_with_the_services_server_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `snowmcp-service serve` passes to uvicorn, a Gunicorn worker applies after the fork."""
    from uvicorn.config import Config

    env_file = tmp_path / "service.env"
    write_env(env_file, {**SETTINGS, "SNOWMCP_MAX_HEADER_BYTES": "8192", "SNOWMCP_READ_TIMEOUT": "7"})
    monkeypatch.setenv(worker.ENV_FILE_VARIABLE, str(env_file))
    config = Config(app=None, proxy_headers=True, forwarded_allow_ips="127.0.0.1")  # Gunicorn's defaults
    expected = uvicorn_options(worker.load_worker_settings())
    for name, value in expected.items():
        assert hasattr(config, name), name  # the attribute init_process sets exists under that name
        setattr(config, name, value)
    assert config.access_log is False and config.server_header is False and config.proxy_headers is False
    assert config.timeout_keep_alive == 7 and config.h11_max_incomplete_event_size == 8192 + 4096
    assert worker.ServiceWorker.CONFIG_KWARGS["access_log"] is False  # even before the settings are read
