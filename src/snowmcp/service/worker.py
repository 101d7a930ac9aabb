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

import asyncio
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from snowmcp.service.config import Settings, environ_with_file, load_settings
from snowmcp.service.server import UVICORN_OPTIONS, uvicorn_options

if TYPE_CHECKING:
    from starlette.applications import Starlette

ENV_FILE_VARIABLE = "SNOWMCP_ENV_FILE"


# How long a stopping worker keeps connections it has just accepted before uvicorn closes
# the idle ones: long enough for their request to arrive.
DRAIN_SECONDS = 1.0


class DrainingServer(Server):
    """uvicorn's server, stopping in two steps: stop accepting, then close connections.

    uvicorn closes every connection without a request in progress the moment it stops,
    including one it accepted a millisecond earlier whose request has not arrived yet:
    the client sees the connection reset. On a Gunicorn reload the old worker stops
    while clients keep connecting: bench/reload.py measures uvicorn-worker's own class
    losing a few requests per reload that way and this one none. Here the old worker first stops accepting - new connections wait in the
    shared socket's queue for the new worker - and gives the connections it already
    has DRAIN_SECONDS to deliver their request, which it then answers.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await asyncio.sleep(DRAIN_SECONDS)
        await super().shutdown(sockets)


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

    async def _serve(self) -> None:
        # uvicorn-worker's _serve with DrainingServer in place of uvicorn's Server.
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


# Gunicorn server hooks (gunicorn.conf.py imports them). Each worker is a process of its own,
# so without help a scrape of /metrics reaches one worker and sees that worker's counters
# only: the series jumps between workers and Prometheus reads every jump down as a counter
# reset. prometheus_client's multiprocess mode is the established fix: every process keeps
# its values in files of one folder, /metrics adds them up (snowmcp.service.metrics).
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server: Arbiter) -> None:
    """Master, once at start: an empty metrics folder for the workers it forks (they inherit
    the variable; prometheus_client reads it when a worker first imports it)."""
    folder = Path(server.cfg.chdir or ".") / "metrics"
    shutil.rmtree(folder, ignore_errors=True)  # a previous run's counts would add to this one's
    folder.mkdir(mode=0o700)
    os.environ[METRICS_DIR_VARIABLE] = str(folder)


def child_exit(server: Arbiter, worker: Any) -> None:
    """Master, when a worker is gone (reload, crash): its gauges stop counting; its counters'
    totals stay in the sums, so a reload never looks like a counter reset."""
    if os.environ.get(METRICS_DIR_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


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
