"""Limits applied before any route runs: header size and count, body size per endpoint, body
read time; and the client address the rate limits and the audit log use.

`RequestLimits` is plain ASGI middleware, so the limits hold under any ASGI server (uvicorn
alone, gunicorn with uvicorn workers). The body is read here, through the ASGI `receive`
loop, counting bytes as they arrive: a declared Content-Length over the limit is refused
before a byte is read, a chunked body is refused as soon as it passes the limit, and a body
that takes longer than `read_timeout` is refused with 408. Nothing bigger than the limit is
ever held. Routes then get the (small) body replayed.

Headers reach an ASGI app already parsed, so the server must bound their size while reading
(`UVICORN_OPTIONS` in snowmcp.service.server); the app's own check answers 431 for what gets
through (too many headers, or a server without such a bound).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The address of the client a request comes from.

    The TCP peer, unless the peer is one of the configured proxies: then the right-most
    X-Forwarded-For entry that is not itself a trusted proxy (entries to its left are
    whatever the client sent and prove nothing). Default: no proxy trusted, the header
    ignored - so no client can pick its own address for the rate limits or the audit log.
    """

    def __init__(self, trusted: Iterable[str]) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def of(self, scope: Scope) -> str:
        peer = scope.get("client")
        host: str = peer[0] if peer else "-"
        if not self.networks or not self._trusted(host):
            return host
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
        hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return host  # garbage from a proxy that passes headers through: use the proxy
        return host


async def _send_error(send: Send, status: int, code: str, message: str, *, close: bool = True) -> None:
    body = json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]  # fmt: skip
    if close:
        # The rest of the request is not read: the connection cannot carry another one.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class RequestLimits:
    """ASGI middleware: 431 / 413 / 408 / 400 before the app sees a request."""

    def __init__(self, app: ASGIApp, *, max_body: int, body_limits: dict[str, int], max_header_bytes: int,
                 max_headers: int, read_timeout: float, client: ClientAddress) -> None:  # fmt: skip
        self.app = app
        self.max_body = max_body  # every path not in body_limits
        self.body_limits = body_limits
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.read_timeout = read_timeout
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > self.max_headers:
            await _send_error(send, 431, "headers_too_large", f"more than {self.max_headers} request headers")
            return
        size = 0
        framed = False  # a Content-Length or Transfer-Encoding header: the request has a body
        for name, value in headers:  # one pass: this runs for every request
            size += len(name) + len(value)
            framed = framed or name == b"content-length" or name == b"transfer-encoding"
        if size > self.max_header_bytes:
            await _send_error(send, 431, "headers_too_large",
                              f"request headers larger than {self.max_header_bytes} bytes")  # fmt: skip
            return
        # The address every limit and audit line of this request uses, decided once.
        scope.setdefault("state", {})["client"] = self.client.of(scope)
        if not framed:
            # No Content-Length and no Transfer-Encoding: HTTP/1.1 says there is no body
            # (RFC 9112 6.3), so there is nothing to bound or time: the hot path (GET) skips it.
            await self.app(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], self.max_body)
        try:
            body = await self._read_body(headers, receive, limit)
        except _Refused as exc:
            await _send_error(send, exc.status, exc.code, exc.message)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: waits for the disconnect, as servers do

        await self.app(scope, replay, send)

    async def _read_body(self, headers: Iterable[tuple[bytes, bytes]], receive: Receive, limit: int) -> bytes:
        declared = [v for k, v in headers if k == b"content-length"]
        if declared:
            value = declared[0].strip()
            if len(declared) > 1 or not value.isdigit():
                raise _Refused(400, "invalid_request", "invalid Content-Length")
            if int(value) > limit:
                raise _Refused(413, "body_too_large", f"request body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _Refused(408, "request_timeout", f"request body not received within {self.read_timeout:g}s") from None
            if message["type"] == "http.disconnect":
                raise _Refused(400, "invalid_request", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused(413, "body_too_large", f"request body larger than {limit} bytes")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
