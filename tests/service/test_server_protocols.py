"""The bounded uvicorn protocols of snowmcp.service.server, both of them (httptools, used when
installed, and the h11 fallback), each in a real uvicorn server on a loopback port: a request
head is bounded in size and time before the app sees it, and the bound never cuts a request
that is being answered or a keep-alive connection's next request."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from snowmcp.service import server

PROTOCOLS = [server.HeaderTimeoutH11Protocol]
if server.HttpToolsProtocol is not None:
    PROTOCOLS.append(server.BoundedHttpToolsProtocol)
READ_TIMEOUT = 0.5
MAX_HEAD = 8192


class App:
    """Counts the requests it sees; `/slow` answers after 3 read timeouts."""

    def __init__(self) -> None:
        self.seen = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen += 1
        if scope["path"] == "/slow":
            await asyncio.sleep(3 * READ_TIMEOUT)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=PROTOCOLS, ids=lambda p: p.__name__)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[int, App]]:
    app = App()
    protocol = type(request.param.__name__, (request.param,), {"max_head": MAX_HEAD})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {**server.UVICORN_OPTIONS, "http": protocol, "h11_max_incomplete_event_size": MAX_HEAD,
               "timeout_keep_alive": READ_TIMEOUT}  # fmt: skip
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", **options))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    try:
        yield port, app
    finally:
        srv.should_exit = True
        thread.join(10)


def exchange(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for part in parts:
            with contextlib.suppress(OSError):
                sock.sendall(part)
            time.sleep(pause)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


def test_a_large_head_is_refused_while_it_arrives(served: tuple[int, App]) -> None:
    port, app = served
    out = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", *[b"a" * 4096] * 256, b"\r\n\r\n")  # 1 MB
    assert out.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")) or out == b""
    assert app.seen == 0, "the app never saw it"


def test_a_dripping_head_is_cut_off(served: tuple[int, App]) -> None:
    port, app = served
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(40):  # 4 s of header lines, the read timeout is 0.5 s
            try:
                sock.sendall(b"X-Drip: 1\r\n")
                time.sleep(0.1)
                sock.settimeout(0.001)
                closed = sock.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed = True
            if closed:
                break
    assert closed, "the server closed the connection while the client was still sending its head"
    assert app.seen == 0


def test_slow_answers_and_keep_alive_are_not_cut(served: tuple[int, App]) -> None:
    port, app = served
    head = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "an answer slower than the read timeout"
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "the next request on the connection"
    assert app.seen == 2
