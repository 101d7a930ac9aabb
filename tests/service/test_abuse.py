"""What an unauthenticated client can make the real service process do, and no more: body and
header limits while reading, read timeouts, sign-in rate limits and the pending-sign-in cap,
forwarded headers from untrusted peers, hostile JSON, and a sign-in link finished in another
browser. Each test reads the outcome back (status, store, audit log, service log)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.browser import SignInError, new_browser, sign_in
from harness.flow import PASSWORDS, browser_leg, pkce
from harness.procs import SEED, Emulator, free_port
from harness.svc import ServiceProc, service_env, setup_integration
from snowmcp.service.store.sqlite import SqliteStore

READ_TIMEOUT = 1.0


def audit_lines(svc: ServiceProc) -> list[dict[str, Any]]:
    svc.request("GET", "/healthz")
    time.sleep(1.2)  # the audit log is flushed once a second
    return [json.loads(line) for line in svc.audit.read_text().splitlines() if line.strip()]


def start(emu: Emulator, tmp_path: Path, **extra: str) -> ServiceProc:
    port = free_port()
    integ = setup_integration(emu, f"http://127.0.0.1:{port}/v1/oauth/callback")
    env = service_env(emu, integ, f"sqlite:///{tmp_path}/tokens.db", **{"SNOWMCP_READ_TIMEOUT": str(READ_TIMEOUT), **extra})
    return ServiceProc(tmp_path, env, port=port).start()


@pytest.fixture
def svc(shared_emulator: Emulator, tmp_path: Path) -> Iterator[ServiceProc]:
    proc = start(shared_emulator, tmp_path)
    try:
        yield proc
    finally:
        proc.stop()
    assert "Traceback" not in proc.log.read_text(), "hostile input must never reach a traceback"


def raw(svc: ServiceProc, head: bytes, body_parts: list[bytes] = (), *, pause: float = 0.0,  # type: ignore[assignment]
        source: str = "127.0.0.1") -> tuple[int, bytes, int]:  # fmt: skip
    """Send a request by hand from `source` (any 127.x.y.z is this machine); returns (status or 0
    if closed without one, body, body bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10, source_address=(source, 0)) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except OSError:  # the service closed the connection: it stopped reading
                break
            sent += len(part)
            if pause:
                time.sleep(pause)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return 0, data, sent
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2], sent


def get(opener: Any, url: str) -> tuple[int, Any, bytes]:
    """GET without following redirects: (status, headers, body)."""
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def head(path: str, *extra: str, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode()


def test_bodies_are_limited_while_reading(svc: ServiceProc) -> None:
    # Declared too big: refused before a byte of the body is read (nothing is sent here).
    status, body, _ = raw(svc, head("/v1/login/exchange", "Content-Length: 104857600"))
    assert status == 413 and json.loads(body)["error"] == "body_too_large"
    # Chunked, no length declared: refused once past the limit, long before the 100 MB are sent.
    chunk = b"%x\r\n%s\r\n" % (65536, b"[" * 65536)
    status, body, sent = raw(svc, head("/v1/login/exchange", "Transfer-Encoding: chunked"), [chunk] * 1600)
    assert status == 413 and json.loads(body)["error"] == "body_too_large"
    assert sent < 100 * 1024 * 1024
    # Every endpoint is bounded, not only the JSON one.
    status, _, _ = raw(svc, head("/v1/token", "Content-Length: 5000", method="GET"))
    assert status == 413
    # A body under the limit still works.
    code, answer = svc.request("POST", "/v1/login/exchange", body={"code": "x", "code_verifier": "v" * 43})
    assert code == 400 and answer["error"] == "invalid_grant"


def test_headers_are_limited(svc: ServiceProc) -> None:
    many = [f"X-H{i}: v" for i in range(100)]
    status, body, _ = raw(svc, head("/v1/token", *many, method="GET"))
    assert status == 431 and json.loads(body)["error"] == "headers_too_large"
    # A 1 MB header is refused by the server while reading it: no 401 for a request it never
    # finished parsing (the parser stops at SNOWMCP_MAX_HEADER_BYTES + the request line).
    huge = "Authorization: Bearer " + "a" * (1024 * 1024)
    status, _, _ = raw(svc, head("/v1/token", huge, method="GET"))
    assert status in (0, 400, 431)
    assert svc.request("GET", "/healthz")[0] == 200


def test_slow_requests_are_cut_off(svc: ServiceProc) -> None:
    # A body that trickles in: 408 once SNOWMCP_READ_TIMEOUT has passed, connection closed.
    status, body, sent = raw(svc, head("/v1/login/exchange", "Content-Length: 1000"), [b"{"] * 50, pause=0.1)
    assert status == 408 and json.loads(body)["error"] == "request_timeout"
    assert sent < 1000
    # A request head that never ends: the connection is closed.
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/token HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(40):
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            time.sleep(0.25)
            sock.settimeout(0.01)
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "a client dripping header bytes must not hold a connection"


HOSTILE_JSON = [
    b'{"code": "\\ud800", "code_verifier": "' + b"v" * 43 + b'"}',  # lone surrogate
    b"[" * 3000,  # deep nesting (inside the body limit)
    b'{"code": 1, "code_verifier": ["x"]}',  # wrong types
    b'{"code": "x", "code_verifier": "\\udfff' + b"v" * 43 + b'"}',
    b"\xff\xfe not json",
    b'"just a string"',
]  # fmt: skip


@pytest.fixture(scope="module")
def strict_svc(shared_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProc]:
    """One service for every hostile payload, allowing two failed authentications per address;
    each payload comes from its own loopback address, so each starts with a full allowance."""
    proc = start(shared_emulator, tmp_path_factory.mktemp("strict"), SNOWMCP_AUTH_FAIL_RATE="0.01",
                 SNOWMCP_AUTH_FAIL_BURST="2")  # fmt: skip
    try:
        yield proc
    finally:
        proc.stop()
    assert "Traceback" not in proc.log.read_text()


@pytest.mark.parametrize("payload", HOSTILE_JSON)
def test_hostile_json_is_a_400_and_a_failed_authentication(strict_svc: ServiceProc, payload: bytes) -> None:
    source = f"127.0.1.{HOSTILE_JSON.index(payload) + 1}"
    # Connection: close - the answer ends the read instead of the keep-alive timeout.
    request = head("/v1/login/exchange", "Content-Type: application/json", f"Content-Length: {len(payload)}",
                   "Connection: close")  # fmt: skip
    for expected in (400, 400, 429):
        status, body, _ = raw(strict_svc, request + payload, source=source)
        assert status == expected, body
        assert json.loads(body)["error"] == ("rate_limited" if expected == 429 else "invalid_request")
    assert "Traceback" not in strict_svc.log.read_text()


def test_sign_ins_are_rate_limited_per_address_and_in_total(shared_emulator: Emulator, tmp_path: Path) -> None:
    # A read timeout shorter than the pause before a 429: the timeout covers reading the
    # request only, never a request being answered.
    svc = start(shared_emulator, tmp_path / "a", SNOWMCP_SIGNIN_RATE="0.01", SNOWMCP_SIGNIN_BURST="3",
                SNOWMCP_READ_TIMEOUT="0.3")  # fmt: skip
    _, challenge = pkce()
    query = urllib.parse.urlencode({"port": 50000, "state": "s" * 16, "code_challenge": challenge})
    browser = new_browser()
    try:
        first = [get(browser, f"{svc.url}/v1/login?{query}")[0] for _ in range(3)]
        status, headers, body = get(browser, f"{svc.url}/v1/login?{query}")
        assert status == 429 and json.loads(body)["error"] == "rate_limited" and int(headers["Retry-After"]) >= 1
        assert get(browser, f"{svc.url}/v1/oauth/callback?state=x&code=y")[0] == 429, "the callback shares it"
    finally:
        svc.stop()
    assert first == [302] * 3
    store = SqliteStore(tmp_path / "a" / "tokens.db")
    assert store._q("SELECT count(*) FROM once WHERE k LIKE 'login:%'")[0][0] == 3, "refused sign-ins store nothing"
    limited = [ln for ln in audit_lines_after_stop(svc) if ln["event"] == "signin_rate_limited"]
    assert len(limited) == 1 and limited[0]["client"] == "127.0.0.1"

    # The global limit: every address together (here: one address with a generous own limit).
    svc = start(shared_emulator, tmp_path / "b", SNOWMCP_SIGNIN_RATE="100", SNOWMCP_SIGNIN_BURST="100",
                SNOWMCP_SIGNIN_RATE_GLOBAL="0.01", SNOWMCP_SIGNIN_BURST_GLOBAL="2")  # fmt: skip
    try:
        statuses = [get(new_browser(), f"{svc.url}/v1/login?{query}")[0] for _ in range(4)]
    finally:
        svc.stop()
    assert statuses == [302, 302, 429, 429]


def audit_lines_after_stop(svc: ServiceProc) -> list[dict[str, Any]]:
    return [json.loads(line) for line in svc.audit.read_text().splitlines() if line.strip()]


def test_pending_sign_ins_are_capped(shared_emulator: Emulator, tmp_path: Path) -> None:
    svc = start(shared_emulator, tmp_path, SNOWMCP_MAX_PENDING_SIGNINS="10")
    _, challenge = pkce()
    query = urllib.parse.urlencode({"port": 50000, "state": "s" * 16, "code_challenge": challenge})
    browser = new_browser()
    try:
        assert [get(browser, f"{svc.url}/v1/login?{query}")[0] for _ in range(10)] == [302] * 10
        status, headers, body = get(browser, f"{svc.url}/v1/login?{query}")
        assert status == 503 and headers["Retry-After"] == "60" and json.loads(body)["error"] == "busy"
        store = SqliteStore(tmp_path / "tokens.db")
        assert store._q("SELECT count(*) FROM once WHERE k LIKE 'login:%'")[0][0] == 10
        # Taking a pending sign-in (its callback) frees its place for a new one.
        store._q("DELETE FROM once WHERE k IN (SELECT k FROM once WHERE k LIKE 'login:%' LIMIT 1)")
        assert get(browser, f"{svc.url}/v1/login?{query}")[0] == 302
    finally:
        svc.stop()


def test_forwarded_headers_only_from_trusted_proxies(shared_emulator: Emulator, tmp_path: Path) -> None:
    # Default: no proxy trusted. 60 bad keys with a rotating X-Forwarded-For are one address.
    svc = start(shared_emulator, tmp_path / "a", SNOWMCP_AUTH_FAIL_RATE="0.01", SNOWMCP_AUTH_FAIL_BURST="5")
    try:
        statuses = [forwarded_request(svc, f"10.0.{i}.1", f"smcp_bad{i}") for i in range(60)]
    finally:
        svc.stop()
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    clients = {ln["client"] for ln in audit_lines_after_stop(svc) if "client" in ln}
    assert clients == {"127.0.0.1"}, "the audit log records the address the limits used"

    # Behind a configured proxy (here 127.0.0.1): the address it forwards is the client's.
    svc = start(shared_emulator, tmp_path / "b", SNOWMCP_AUTH_FAIL_RATE="0.01", SNOWMCP_AUTH_FAIL_BURST="5",
                SNOWMCP_TRUSTED_PROXIES="127.0.0.1/32")  # fmt: skip
    try:
        one = [forwarded_request(svc, "203.0.113.7", f"smcp_bad{i}") for i in range(6)]
        # Entries left of the proxy's own are the client's word: only the right-most counts.
        other = forwarded_request(svc, "203.0.113.7, 198.51.100.9", "smcp_bad")
    finally:
        svc.stop()
    assert one == [401] * 5 + [429] and other == 401
    clients = [ln["client"] for ln in audit_lines_after_stop(svc) if ln.get("result") == "bad_key"]
    assert clients == ["203.0.113.7"] * 5 + ["198.51.100.9"]


def forwarded_request(svc: ServiceProc, forwarded: str, key: str) -> int:
    status, _, _ = raw(svc, head("/v1/token", f"X-Forwarded-For: {forwarded}", f"Authorization: Bearer {key}",
                                 "Connection: close", method="GET"))  # fmt: skip
    return status


def test_a_sign_in_finished_in_another_browser_yields_nothing(svc: ServiceProc) -> None:
    # The attacker starts the sign-in in their browser and sends the Snowflake link to a victim.
    verifier, challenge = pkce()
    query = urllib.parse.urlencode({"port": 50001, "state": "attacker-state", "code_challenge": challenge})
    attacker = new_browser()
    status, headers, _ = get(attacker, f"{svc.url}/v1/login?{query}")
    assert status == 302
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/v1/oauth/callback" in cookie, cookie
    snowflake_link = headers["Location"]
    # The victim signs in at Snowflake in their own browser: the service stops at the callback.
    with pytest.raises(SignInError) as refused:
        sign_in(snowflake_link, "alice@example.com", PASSWORDS["alice@example.com"], stop_at_loopback=True)
    assert refused.value.status == 400 and "another browser" in refused.value.body
    store = SqliteStore(Path(svc.env["SNOWMCP_STORE"][len("sqlite:///"):]))
    assert store._q("SELECT count(*) FROM once WHERE k LIKE 'code:%'")[0][0] == 0, "no sign-in code was issued"
    assert store._q("SELECT count(*) FROM once WHERE k LIKE 'login:%'")[0][0] == 0, "the link is burnt"
    # The same flow in one browser works.
    pending = browser_leg(svc, "alice@example.com")
    status, body = svc.request("POST", "/v1/login/exchange", body={"code": pending.code,
                                                                   "code_verifier": pending.verifier})  # fmt: skip
    assert status == 200 and body["username"] == "alice@example.com"
    assert verifier  # the attacker's verifier never got a code to redeem



def test_a_look_alike_login_is_not_an_allowed_user(tmp_path: Path) -> None:
    """U+212A KELVIN SIGN + "ate@example.com" is another Snowflake user than kate@example.com;
    `str.lower()` made it pass kate's allow-list entry and land under her key."""
    seed = yaml.safe_load(SEED.read_text())
    seed["users"] += [{"login_name": "kate@example.com", "password": "kate-pass-1", "roles": []},
                      {"login_name": KELVIN_KATE, "password": "kelvin-pass-1", "roles": []}]  # fmt: skip
    (tmp_path / "seed.yml").write_text(yaml.safe_dump(seed, allow_unicode=True))
    emu = Emulator(tmp_path / "emu", seed=tmp_path / "seed.yml").start()
    try:
        port = free_port()
        integ = setup_integration(emu, f"http://127.0.0.1:{port}/v1/oauth/callback",
                                  users=("kate@example.com", KELVIN_KATE))  # fmt: skip
        env = service_env(emu, integ, f"sqlite:///{tmp_path}/tokens.db", SNOWMCP_ALLOWED_USERS="KATE@example.com")
        svc = ServiceProc(tmp_path / "svc", env, port=port).start()
        try:
            verifier, challenge = pkce()
            query = urllib.parse.urlencode({"port": 50002, "state": "kelvin-state", "code_challenge": challenge})
            with pytest.raises(SignInError) as refused:
                sign_in(f"{svc.url}/v1/login?{query}", KELVIN_KATE, "kelvin-pass-1", stop_at_loopback=True)
            assert refused.value.status == 403 and "not allowed" in refused.value.body
            query = urllib.parse.urlencode({"port": 50002, "state": "kate-state", "code_challenge": challenge})
            final = sign_in(f"{svc.url}/v1/login?{query}", "kate@example.com", "kate-pass-1", stop_at_loopback=True)
            code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(final).query))["code"]
            status, body = svc.request("POST", "/v1/login/exchange", body={"code": code, "code_verifier": verifier})
            assert status == 200 and body["username"] == "kate@example.com"
        finally:
            svc.stop()
    finally:
        emu.stop()
    store = SqliteStore(tmp_path / "tokens.db")
    assert [u for (u,) in store._q("SELECT username FROM users")] == ["kate@example.com"]


KELVIN_KATE = "\u212aate@example.com"


@pytest.mark.parametrize("request_bytes", [
    b"GET /v1/token\xff HTTP/1.1\r\nHost: x\r\n\r\n",  # not ASCII in the target
    b"POST /v1/login/exchange HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n{}{}{",
    b"POST /v1/login/exchange HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"GET /v1/me HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GARBAGE\r\n\r\n",
])  # fmt: skip
def test_unparsable_requests_get_the_json_error_shape(svc: ServiceProc, request_bytes: bytes) -> None:
    status, body, _ = raw(svc, request_bytes)
    assert status == 400 and json.loads(body) == {"error": "invalid_request", "message": "malformed HTTP request"}
