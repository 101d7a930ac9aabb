"""`snowmcp login`: browser sign-in through the token service.

The CLI makes its own `state` and PKCE verifier, listens on a loopback port and
opens `<service>/v1/login?port=P&state=S&code_challenge=C`. The service sends
the browser to Snowflake, exchanges Snowflake's code itself (the client secret
never leaves the service), then redirects the browser to
`http://127.0.0.1:P/callback?code=<one-time code>&state=S`. The CLI checks
`state` and trades the one-time code plus its PKCE verifier for an API key.
So a one-time code seen by anything else on the machine is useless without
the verifier that never left this process.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import secrets
import sys
import threading
import webbrowser
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from snowmcp.client import credentials, service_api
from snowmcp.client.errors import ClientError

PAGE = """<!doctype html><meta charset="utf-8"><title>snowmcp</title>
<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p></body>"""


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)  # 86 characters, inside RFC 7636's 43..128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


@dataclass
class _Result:
    state: str
    done: threading.Event = field(default_factory=threading.Event)
    code: str | None = None
    error: str | None = None

    def accept(self, query: str) -> bool:
        """Take a callback query string; True when it settled the sign-in."""
        params = parse_qs(query)
        if params.get("state", [""])[0] != self.state:
            return False  # not ours (or forged): ignore and keep waiting
        if "error" in params:
            self.error = params.get("message", params["error"])[0]
        else:
            self.code = params.get("code", [""])[0] or None
            if self.code is None:
                self.error = "the callback carried no code"
        self.done.set()
        return True


def _handler(result: _Result) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            ok = parts.path == "/callback" and result.accept(parts.query)
            if ok and result.code:
                status, title, text = 200, "Signed in", "You can close this window and return to the terminal."
            elif ok:
                status, title, text = 400, "Sign-in failed", "Return to the terminal for details."
            else:
                status, title, text = 400, "Unexpected request", "This page only accepts the sign-in callback."
            body = PAGE.format(title=title, text=text).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the query string holds the one-time code: never log it

    return Handler


def can_open_browser() -> bool:
    """Whether `webbrowser` would reach a graphical browser.

    Without a display, `webbrowser` falls back to console browsers (w3m, lynx) that take over
    the terminal; over SSH that is never what the user wants. `$BROWSER` is always honoured.
    """
    if os.environ.get("BROWSER"):
        return True
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _read_pasted_url(result: _Result) -> None:
    """For SSH sessions: accept the browser's final address pasted into the terminal."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if result.accept(urlsplit(line).query):
            return
        print("snowmcp: that is not the callback address of this sign-in; try again", file=sys.stderr)


def login(service_url: str, *, open_browser: bool, port: int = 0, timeout: float = 300.0,
          http_timeout: float = 10.0) -> credentials.Credentials:
    state = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    result = _Result(state)
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler(result))
    except OSError as exc:
        raise ClientError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    server.daemon_threads = True
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        url = f"{service_url}/v1/login?" + urlencode(
            {"port": port, "state": state, "code_challenge": challenge}
        )
        print(f"Sign in to Snowflake in your browser:\n\n  {url}\n", file=sys.stderr)
        opened = False
        if open_browser and can_open_browser():
            try:
                opened = webbrowser.open(url)
            except webbrowser.Error:
                opened = False
        if open_browser and not opened:
            print("snowmcp: could not start a browser; open the address above yourself.", file=sys.stderr)
        if not opened:
            print(
                f"If the browser runs on another machine, either forward the port first\n"
                f"(ssh -L {port}:127.0.0.1:{port} <this host>) or, after signing in, paste the\n"
                f"address the browser ends on (http://127.0.0.1:{port}/callback?...) here:",
                file=sys.stderr,
            )
            threading.Thread(target=_read_pasted_url, args=(result,), daemon=True).start()
        if not result.done.wait(timeout):
            raise ClientError(f"no sign-in within {timeout:g}s; run `snowmcp login` again")
    finally:
        server.shutdown()
        server.server_close()
    if result.error or not result.code:
        raise ClientError(f"sign-in failed: {result.error or 'no code'}")
    data = service_api.request(
        "POST", f"{service_url}/v1/login/exchange",
        body={"code": result.code, "code_verifier": verifier}, timeout=http_timeout,
    )  # fmt: skip
    api_key, username = data.get("api_key"), data.get("username")
    if not isinstance(api_key, str) or not api_key or not isinstance(username, str):
        raise ClientError("the token service answered the sign-in without an API key")
    return credentials.save(api_key, username, service_url)
