"""How the service is served: the uvicorn options every way of running it must use.

`snowmcp-service serve` passes `UVICORN_OPTIONS` to uvicorn; anything else that serves
`snowmcp.service.app:build_app` (a gunicorn uvicorn-worker class, a supervisor) must pass
the same, in particular:

- `proxy_headers=False`: uvicorn otherwise believes X-Forwarded-For from 127.0.0.1 (its
  `forwarded_allow_ips` default, and gunicorn's), so any client behind a proxy that passes
  the header through could pick its own address. The app decides the client address itself
  from SNOWMCP_TRUSTED_PROXIES.
- the h11 parser with `h11_max_incomplete_event_size`: it refuses a request head (request
  line + headers) larger than that while reading it. httptools (uvicorn's default when
  installed) has no such bound and would buffer a 16 MB header.
- `HeaderTimeoutH11Protocol`: a client must send a whole request head within
  `timeout_keep_alive` seconds (SNOWMCP_READ_TIMEOUT) of connecting (uvicorn only times out idle keep-alive
  connections, so a client dripping header bytes could hold a connection for ever).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from snowmcp.service.config import Settings

HEADER_TIMEOUT = 10  # seconds to send a request head (also the idle keep-alive time): SNOWMCP_READ_TIMEOUT
REQUEST_LINE = 4096  # bytes allowed for the request line on top of SNOWMCP_MAX_HEADER_BYTES


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head.

    uvicorn arms its keep-alive timer after a response and disarms it on any byte received.
    Here it is also armed when the connection opens and only disarmed once a complete
    request head has been parsed (uvicorn does that itself on the h11.Request event).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        # Deliberately no _unset_keepalive_if_required(): bytes alone do not stop the clock.
        self.conn.receive_data(data)
        self.handle_events()


UVICORN_OPTIONS: dict[str, Any] = {
    "http": f"{__name__}:HeaderTimeoutH11Protocol",
    "h11_max_incomplete_event_size": REQUEST_LINE + 16384,
    "timeout_keep_alive": HEADER_TIMEOUT,
    "proxy_headers": False,
    "forwarded_allow_ips": "",
    "access_log": False,  # query strings carry sign-in codes: the audit log replaces it
    "server_header": False,
}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """UVICORN_OPTIONS with the request-head bound taken from SNOWMCP_MAX_HEADER_BYTES."""
    return {**UVICORN_OPTIONS, "h11_max_incomplete_event_size": REQUEST_LINE + settings.max_header_bytes,
            "timeout_keep_alive": settings.read_timeout}
