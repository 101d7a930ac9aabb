"""How the service is served: the uvicorn options every way of running it must use.

`snowmcp-service serve` passes `uvicorn_options(settings)` to uvicorn, and so does the
Gunicorn worker class the token_service role runs (`snowmcp.service.worker.ServiceWorker`);
anything else that serves `snowmcp.service.app:build_app` must pass the same, in particular:

- `proxy_headers=False`: uvicorn otherwise believes X-Forwarded-For from 127.0.0.1 (its
  `forwarded_allow_ips` default, and gunicorn's), so any client behind a proxy that passes
  the header through could pick its own address. The app decides the client address itself
  from SNOWMCP_TRUSTED_PROXIES.
- `http=` one of the protocol classes below. uvicorn's parsers keep a request head
  (request line + headers) in memory until it is complete, with no bound for httptools
  (a 16 MB header was accepted) and no time limit on a fresh connection for either. These
  subclasses refuse a head larger than SNOWMCP_MAX_HEADER_BYTES + 4 KiB while it arrives
  (431, connection closed) and close a connection whose head is not complete within
  `timeout_keep_alive` (SNOWMCP_READ_TIMEOUT) seconds. The app itself answers 431 for too
  many headers (SNOWMCP_MAX_HEADERS) and enforces body size and time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from snowmcp.service.config import Settings

REQUEST_LINE = 4096  # bytes allowed for the request line on top of SNOWMCP_MAX_HEADER_BYTES


def _closing_error(status: bytes, code: str, message: str) -> bytes:
    """A whole JSON error response (the API's error shape) for a request the server refuses
    before the app sees it; the connection is closed after it."""
    body = json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip


_REFUSED_HEAD = _closing_error(b"431 Request Header Fields Too Large", "headers_too_large", "request headers too large")
_MALFORMED = _closing_error(b"400 Bad Request", "invalid_request", "malformed HTTP request")


class _JsonParseErrors:
    """uvicorn answers a request it cannot parse with a text/plain 400: use the API's JSON shape."""

    transport: asyncio.Transport

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_MALFORMED)
        self.transport.close()


class HeaderTimeoutH11Protocol(_JsonParseErrors, H11Protocol):
    """uvicorn's h11 protocol (head size bounded by h11_max_incomplete_event_size) with a
    deadline for the request head: uvicorn arms its keep-alive timer after a response and
    disarms it on any byte received; here it is also armed when the connection opens and only
    disarmed once a complete head is parsed (uvicorn does that on the h11.Request event)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        # Deliberately no _unset_keepalive_if_required(): bytes alone do not stop the clock.
        self.conn.receive_data(data)
        self.handle_events()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: the h11 protocol above is used
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(_JsonParseErrors, HttpToolsProtocol):
        """uvicorn's httptools protocol (the fast parser) with the request head bounded in
        size and time. Bytes are counted from the end of one request to the end of the next
        head; the keep-alive timer runs over that whole span."""

        max_head = REQUEST_LINE + 16384

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._in_head, self._head_bytes = True, 0
            self._head_timer: asyncio.TimerHandle | None = None
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)  # fmt: skip

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            # Hide the timer from super(), which cancels it on any byte: it runs until a whole
            # head is parsed (on_headers_complete cancels it then, possibly inside this call).
            self._head_timer, self.timeout_keep_alive_task = self.timeout_keep_alive_task, None
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._head_timer is not None:  # no head completed in this chunk: keep the clock
                if self.timeout_keep_alive_task is None:
                    self.timeout_keep_alive_task = self._head_timer
                else:
                    self._head_timer.cancel()
                self._head_timer = None
            if self._in_head and self._head_bytes > self.max_head:
                self.transport.write(_REFUSED_HEAD)
                self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            self._unset_keepalive_if_required()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_head, self._head_bytes = True, 0
            super().on_message_complete()

    _PROTOCOL: type[asyncio.Protocol] = BoundedHttpToolsProtocol
else:
    _PROTOCOL = HeaderTimeoutH11Protocol


UVICORN_OPTIONS: dict[str, Any] = {
    "http": f"{__name__}:{_PROTOCOL.__name__}",
    "h11_max_incomplete_event_size": REQUEST_LINE + 16384,
    "timeout_keep_alive": 10,  # SNOWMCP_READ_TIMEOUT's default
    "proxy_headers": False,
    "forwarded_allow_ips": "",
    "access_log": False,  # query strings carry sign-in codes: the audit log replaces it
    "server_header": False,
}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """UVICORN_OPTIONS with the request-head bound taken from SNOWMCP_MAX_HEADER_BYTES."""
    head = REQUEST_LINE + settings.max_header_bytes
    protocol = type(_PROTOCOL.__name__, (_PROTOCOL,), {"max_head": head})  # h11 ignores max_head
    return {**UVICORN_OPTIONS, "http": protocol, "h11_max_incomplete_event_size": head,
            "timeout_keep_alive": settings.read_timeout}
