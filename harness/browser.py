"""A scripted browser for the sign-in flow: follows real HTTP redirects and posts the IdP form.

Use from tests (`sign_in(url, username, password)`), or as the `$BROWSER` program that
Python's `webbrowser` (and so `snowmcp login`) runs:

    SNOWMCP_TEST_USERNAME=alice@example.com SNOWMCP_TEST_PASSWORD=alice-pass-1 \
        python harness/browser.py '<login url>'

It follows 302s from the URL, fills the emulator's sign-in form (inputs `username` and
`password`, hidden fields kept), follows the redirects back through the token service, and
finally GETs the loopback URL (`http://127.0.0.1:P/callback?...`) the CLI listens on -
unless `stop_at_loopback=True`, in which case that URL is returned unrequested (a test
then acts as the CLI). Standard library only, so any Python can run it.
"""

from __future__ import annotations

import http.cookiejar
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from typing import Any


class SignInError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self.method = a.get("method", "get").lower()
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


def new_browser() -> urllib.request.OpenerDirector:
    """A browser session: redirects seen one by one, cookies kept (the service binds a
    sign-in to the browser that started it with a cookie)."""
    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _fetch(opener: urllib.request.OpenerDirector, url: str, data: bytes | None = None) -> tuple[int, str, str]:
    """(status, Location header, body) without following redirects."""
    req = urllib.request.Request(url, data=data)  # noqa: S310 - test helper, loopback URLs
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Location", ""), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read().decode(errors="replace")


def _is_loopback_callback(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    # Claude Code redirects to localhost, the CLI and the service tests to 127.0.0.1.
    return parts.hostname in ("127.0.0.1", "localhost") and parts.path == "/callback"


def sign_in(url: str, username: str, password: str, *, stop_at_loopback: bool = False,
            max_hops: int = 10, browser: urllib.request.OpenerDirector | None = None) -> str:  # fmt: skip
    """Run the browser side of the sign-in; returns the loopback callback URL.

    `browser`: the session to use (default: a new one, as a fresh browser would be).
    """
    opener = browser or new_browser()
    posted = False
    data: bytes | None = None
    for _ in range(max_hops):
        if _is_loopback_callback(url) and stop_at_loopback:
            return url
        status, location, body = _fetch(opener, url, data)
        data = None
        if _is_loopback_callback(url):
            if status >= 400:
                raise SignInError(f"the CLI's loopback listener answered {status}", status, body)
            return url
        if status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if status == 200 and "<form" in body and not posted:
            form = _FormParser()
            form.feed(body)
            form.fields.update({"username": username, "password": password})
            url = urllib.parse.urljoin(url, form.action or url)
            data = urllib.parse.urlencode(form.fields).encode()
            posted = True
            continue
        raise SignInError(f"sign-in stopped at {urllib.parse.urlsplit(url).path} with HTTP {status}", status, body)
    raise SignInError("too many redirects")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: browser.py <url>  (credentials from SNOWMCP_TEST_USERNAME / SNOWMCP_TEST_PASSWORD)",
              file=sys.stderr)  # fmt: skip
        return 2
    username = os.environ.get("SNOWMCP_TEST_USERNAME", "")
    password = os.environ.get("SNOWMCP_TEST_PASSWORD", "")
    if not username or not password:
        print("browser.py: set SNOWMCP_TEST_USERNAME and SNOWMCP_TEST_PASSWORD", file=sys.stderr)
        return 2
    try:
        sign_in(argv[1], username, password)
    except SignInError as exc:
        print(f"browser.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
