"""What Gunicorn runs: the uvicorn worker class and the app factory each worker calls.

The token_service role runs the service under Gunicorn's master (process and
systemd runtimes):

    gunicorn --config <conf>/gunicorn.conf.py

with `worker_class = "snowmcp.service.worker.ServiceWorker"` and
`wsgi_app = "snowmcp.service.worker:create_app()"`, `preload_app = False`. The
master keeps the listening socket; on SIGHUP (`systemctl reload`) it re-reads
its config file, starts new workers and gracefully stops the old ones, while
connections wait in the socket's accept queue instead of being refused.

Settings are read by each worker when it starts, from the file named by
`SNOWMCP_ENV_FILE` (the role's 0600 service.env): the master's environment is
fixed at its start and never holds a secret, and a reload applies new secrets.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from uvicorn_worker import UvicornWorker

from snowmcp.service.config import Settings, environ_with_file, load_settings
from snowmcp.service.server import UVICORN_OPTIONS, uvicorn_options

if TYPE_CHECKING:
    from starlette.applications import Starlette

ENV_FILE_VARIABLE = "SNOWMCP_ENV_FILE"


class ServiceWorker(UvicornWorker):
    """uvicorn-worker's worker serving with the service's own server options.

    `snowmcp.service.server.uvicorn_options(settings)` (no access log - query strings
    carry sign-in codes -, no `server` header, no X-Forwarded-For trust, bounded request
    heads) depends on the settings, which a worker reads only once it runs: Gunicorn
    builds the worker object in the master, before the fork, so the options are
    applied in `init_process`, which runs in the worker before the app is loaded.
    """

    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, **UVICORN_OPTIONS}

    def init_process(self) -> None:
        for name, value in uvicorn_options(load_worker_settings()).items():
            setattr(self.config, name, value)  # uvicorn's Config keeps each option under its own name
        super().init_process()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Snowflake call is noise


def load_worker_settings() -> Settings:
    """The settings of a worker starting now: SNOWMCP_ENV_FILE (if set) over the environment."""
    env_file = os.environ.get(ENV_FILE_VARIABLE) or None
    return load_settings(os.environ.get("SNOWMCP_CONFIG_FILE") or None, environ_with_file(env_file))


def create_app() -> Starlette:
    """Gunicorn's app factory (`snowmcp.service.worker:create_app()`), called once per worker."""
    from snowmcp.service.app import build_app  # after fork: the master never imports the app

    settings = load_worker_settings()
    configure_logging(settings)
    return build_app(settings)
