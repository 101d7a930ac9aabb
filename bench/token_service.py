"""Benchmark: the token service's cached `GET /v1/token` path, sqlite and redis, against the
seed guide's Flask service as the baseline; refreshes per token lifetime; memory at 10,000 users.

Reproduce:  make bench   (or: .venv/bin/python -m bench.token_service [--seconds 8])
            .venv/bin/python -m bench.token_service --case flood   (the abuse case alone, ~40 s)
Needs: redis-server on PATH, network access to PyPI once (the baseline's Flask is installed into
.cache/bench/baseline-venv, outside the project). The baseline's code is extracted from
the set-up guide the project grew from (a text file outside this repository: give its path in
$SNOWMCP_SEED_GUIDE) into a temporary folder at run time, its token URL pointed at the local
emulator; it is never part of the project.

What runs: a local emulator; for each store a `snowmcp-service serve` process holding 10,000
users (records written through the store API before start, tokens valid for an hour, so every
request is a cache hit); a pure-Python asyncio HTTP/1.1 keep-alive load generator with 32
connections, each using a different user's API key (per-key rate limiting is switched off
with SNOWMCP_RATE_LIMIT=0: one key per connection at thousands of requests/s is a load test,
not a user). Resident memory is read from /proc after the load. The refresh phase signs two
real users in through the emulator's OAuth pages with 8 s access tokens and keeps 32
connections busy for two token lifetimes, then counts refresh requests at the emulator.
Load generator and service share the machine's cores, as in the seed guide's measurement.

The flood case (`--case flood`): one signed-in user's `GET /v1/token` (one connection,
closed loop) measured alone and then while 24 connections from a separate process flood
`GET /v1/login` (unauthenticated sign-in starts), with the service's default sign-in limits;
and the service's memory before and after 100 MB request bodies (declared and chunked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench.helpers import ROOT
from harness.browser import sign_in
from harness.flow import login, pkce
from harness.procs import Emulator, RedisServer, free_port, stop, wait_for_http
from harness.svc import ENCRYPTION_KEY, ServiceProc, service_env, setup_integration
from snowmcp.service.app import TARPIT_MAX
from snowmcp.service.crypto import KeyRing, hash_secret
from snowmcp.service.store import UserRecord, open_store
from snowmcp.service.tokens import access_aad, refresh_aad

# The set-up guide's text is not part of this repository: its path comes from $SNOWMCP_SEED_GUIDE.
SEED_GUIDE = Path(os.environ.get("SNOWMCP_SEED_GUIDE", "set-up-guide.txt"))
CONNECTIONS = 32
USERS = 10_000


# ---------------------------------------------------------------- load generator
async def _one_connection(host: str, port: int, paths: list[tuple[str, str]], stop_at: float,
                          latencies: list[float], errors: list[str]) -> None:  # fmt: skip
    i = 0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        assert reader is not None
        path, key = paths[i % len(paths)]
        i += 1
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        body = await reader.readexactly(int(m.group(1))) if m else await reader.read()
        latencies.append(time.perf_counter() - t0)
        if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
            errors.append(head.split(b"\r\n", 1)[0].decode() + " " + body[:80].decode(errors="replace"))
        if m is None or re.search(rb"(?i)connection:\s*close", head) or head.startswith(b"HTTP/1.0"):
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def load(url: str, paths: list[tuple[str, str]], seconds: float, conns: int = CONNECTIONS) -> dict[str, float]:
    """Closed-loop load: `conns` keep-alive connections, each sending its next request on reply."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def run(duration: float) -> tuple[list[float], list[str], float]:
        lat: list[float] = []
        errs: list[str] = []
        start = time.perf_counter()
        stop_at = start + duration
        per_conn = [paths[i::conns] or paths for i in range(conns)]
        await asyncio.gather(*[_one_connection(host, port, per_conn[i], stop_at, lat, errs) for i in range(conns)])
        return lat, errs, time.perf_counter() - start

    asyncio.run(run(min(2.0, seconds / 3)))  # warm-up: connections, caches, JIT-less but still
    lat, errs, elapsed = asyncio.run(run(seconds))
    lat.sort()
    return {
        "requests": len(lat), "errors": len(errs), "rps": len(lat) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
        "mean_ms": statistics.fmean(lat) * 1000, "first_error": errs[0] if errs else "",
    }  # fmt: skip


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- snowmcp service
async def _seed_users(store_url: str, n: int) -> list[str]:
    ring = KeyRing.from_strings([ENCRYPTION_KEY])
    store = open_store(store_url)
    if hasattr(store, "_db"):
        # Bench set-up only: 10,000 fsyncs would dominate; the service itself keeps synchronous=FULL.
        store._db.execute("PRAGMA synchronous=OFF")
    now = time.time()
    keys = []
    for i in range(n):
        user = f"user{i:05d}@example.com"
        key = f"smcp_bench_{i:05d}_{os.urandom(16).hex()}"
        keys.append(key)
        rec = UserRecord(
            username=user, login=user, version=1, api_key_hash=hash_secret(key),
            refresh_token=ring.encrypt(f"bench-refresh-{i}", refresh_aad(user)),
            refresh_token_expires_at=now + 86400,
            access_token=ring.encrypt(f"bench-access-{i}-{os.urandom(24).hex()}", access_aad(user)),
            access_token_expires_at=now + 3600, access_token_issued_at=now,
            created_at=now, updated_at=now, last_sign_in_at=now,
        )  # fmt: skip
        assert await store.save(rec, 0)
    await store.close()
    return keys


def bench_service(work: Path, emu: Emulator, integ: Any, store_url: str, seconds: float, name: str) -> dict[str, float]:
    keys = asyncio.run(_seed_users(store_url, USERS))
    port = free_port()
    svc = ServiceProc(work / name, service_env(emu, integ, store_url, SNOWMCP_AUDIT_LOG=str(work / f"{name}-audit.jsonl"),
                                               SNOWMCP_LOG_LEVEL="warning"), port=port, name=name).start()  # fmt: skip
    try:
        paths = [("/v1/token", k) for k in keys[:: max(1, USERS // 1000)]]  # 1,000 distinct users in rotation
        result = load(svc.url, paths, seconds)
        # Touch every user once so the memory figure includes all 10,000 decrypted-token cache entries.
        load(svc.url, [("/v1/token", k) for k in keys], 3, conns=8)
        assert svc.proc is not None
        result["rss_mb"] = rss_mb(svc.proc.pid)
        return result
    finally:
        svc.stop()


# ---------------------------------------------------------------- flood and big bodies
FLOOD_CONNECTIONS = 24
WIDE_FLOOD_CONNECTIONS = 400


def _flood_path() -> str:
    _, challenge = pkce()
    return "/v1/login?" + urllib.parse.urlencode({"port": 50000, "state": "bench-flood-state", "code_challenge": challenge})


def flood_worker(url: str, seconds: float, conns: int) -> int:
    """Run in a separate process, so the flood does not slow the measuring client's own loop."""
    result = load(url, [(_flood_path(), "")], seconds, conns=conns)
    print(json.dumps(result))
    return 0


def _send_big_body(port: int, mb: int, chunked: bool) -> str:
    """POST `mb` MB to /v1/login/exchange as fast as the service takes it; returns the status line."""
    import socket

    body = b"x" * (1024 * 1024)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {mb * 1024 * 1024}"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /v1/login/exchange HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode())
        try:
            for _ in range(mb):
                sock.sendall(b"100000\r\n" + body + b"\r\n" if chunked else body)
        except OSError:
            pass  # the service refused and closed: it stopped reading
        try:
            return sock.recv(200).split(b"\r\n", 1)[0].decode() or "closed"
        except OSError:
            return "closed"


def bench_flood(work: Path, emu: Emulator, integ: Any, seconds: float) -> dict[str, Any]:
    store_url = f"sqlite:///{work}/flood.db"
    (key,) = asyncio.run(_seed_users(store_url, 1))
    env = service_env(emu, integ, store_url, SNOWMCP_AUDIT_LOG=str(work / "flood-audit.jsonl"),
                      SNOWMCP_LOG_LEVEL="warning", SNOWMCP_SIGNIN_RATE="1", SNOWMCP_SIGNIN_BURST="20")  # the defaults
    svc = ServiceProc(work / "flood", env, port=free_port(), name="flood").start()
    assert svc.proc is not None
    out: dict[str, Any] = {}
    try:
        user = [("/v1/token", key)]
        out["quiet"] = load(svc.url, user, seconds, conns=1)
        for conns, name in ((FLOOD_CONNECTIONS, ""), (WIDE_FLOOD_CONNECTIONS, "_wide")):
            flood = subprocess.Popen([sys.executable, "-m", "bench.token_service", "--flood-worker", svc.url,
                                      str(seconds + 4), str(conns)], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
            time.sleep(2.0)  # the flood is under way (and warmed up) before measuring
            out["flooded" + name] = load(svc.url, user, seconds, conns=1)
            flood_out, _ = flood.communicate(timeout=seconds + 60)
            out["flood" + name] = json.loads(flood_out.strip().splitlines()[-1])
        out["rss_before"] = rss_mb(svc.proc.pid)
        out["big"] = [_send_big_body(svc.port, 100, chunked) for chunked in (False, True)]
        out["rss_after"] = rss_mb(svc.proc.pid)
        out["rss_peak"] = rss_mb(svc.proc.pid, "VmHWM")
        out["token_after"] = svc.request("GET", "/v1/token", key)[0]
    finally:
        svc.stop()
    return out


def report_flood(r: dict[str, Any], seconds: float) -> list[tuple[str, bool]]:
    q, f, fl = r["quiet"], r["flooded"], r["flood"]
    print(f"\nFlood: one signed-in user's GET /v1/token (1 connection, {seconds:.0f} s) alone and during a "
          f"{FLOOD_CONNECTIONS}-connection GET /v1/login flood from another process (default sign-in limits)")
    print(f"{'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    print(f"{'/v1/token, quiet':28} {q['rps']:8.0f} {q['p50_ms']:8.2f} {q['p99_ms']:8.2f} {q['errors']:7.0f}")
    print(f"{'/v1/token, during the flood':28} {f['rps']:8.0f} {f['p50_ms']:8.2f} {f['p99_ms']:8.2f} {f['errors']:7.0f}")
    print(f"{'the flood (/v1/login)':28} {fl['rps']:8.0f} {fl['p50_ms']:8.2f} {fl['p99_ms']:8.2f}   "
          f"({fl['errors']:.0f} of {fl['requests']:.0f} answered non-200: 429 past the limits, 302 for the rest)")
    w, wl = r["flooded_wide"], r["flood_wide"]
    print(f"{f'/v1/token, {WIDE_FLOOD_CONNECTIONS}-conn. flood':28} {w['rps']:8.0f} {w['p50_ms']:8.2f} "
          f"{w['p99_ms']:8.2f} {w['errors']:7.0f}")
    print(f"{f'the {WIDE_FLOOD_CONNECTIONS}-conn. flood':28} {wl['rps']:8.0f} {wl['p50_ms']:8.2f} {wl['p99_ms']:8.2f}   "
          f"(past {TARPIT_MAX} held-back refusals the 429 goes out at once with Connection: close)")
    print(f"  p99 during the flood / quiet p99 = {f['p99_ms'] / q['p99_ms']:.2f}x "
          f"({WIDE_FLOOD_CONNECTIONS} connections: {w['p99_ms'] / q['p99_ms']:.2f}x)")
    print(f"\nMemory: RSS {r['rss_before']:.1f} MB before and {r['rss_after']:.1f} MB after two 100 MB request "
          f"bodies (Content-Length, then chunked); peak RSS of the process {r['rss_peak']:.1f} MB; "
          f"answers: {r['big']}; /v1/token afterwards: {r['token_after']}")
    return [
        ("flood: /v1/token p99 during the flood <= 2x quiet p99", f["p99_ms"] <= 2 * q["p99_ms"]),
        ("100 MB request: < 10 MB more RSS", r["rss_after"] - r["rss_before"] < 10 and r["rss_peak"] - r["rss_before"] < 10),
    ]  # fmt: skip


# ---------------------------------------------------------------- baseline (seed guide)
def extract_baseline(folder: Path, emulator_url: str, port: int) -> Path:
    if not SEED_GUIDE.is_file():
        raise SystemExit(f"baseline: set SNOWMCP_SEED_GUIDE to the set-up guide's text file ({SEED_GUIDE} not found)")
    text = SEED_GUIDE.read_text()
    m = re.search(r"\*\*File: `token_service\.py`\*\*\s*```python\n(.*?)```", text, re.S)
    if not m:
        raise SystemExit(f"cannot find token_service.py in {SEED_GUIDE}")
    code = m.group(1)
    # Point it at the emulator and a free loopback port; nothing else changes.
    code = code.replace("f'https://{SNOWFLAKE_ACCOUNT}.snowflakecomputing.com/oauth/token-request'",
                        f"'{emulator_url}/oauth/token-request'")  # fmt: skip
    code = code.replace("app.run(host='0.0.0.0', port=8080)", f"app.run(host='127.0.0.1', port={port})")
    if emulator_url not in code or str(port) not in code:
        raise SystemExit("the seed guide's service changed shape; update extract_baseline()")
    path = folder / "token_service.py"
    path.write_text(code)
    return path


def baseline_python() -> Path:
    venv = ROOT / ".cache" / "bench" / "baseline-venv"
    py = venv / "bin" / "python"
    if not (py.exists() and subprocess.run([str(py), "-c", "import flask, requests"], capture_output=True).returncode == 0):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "flask", "requests"], check=True)
    return py


def public_client_refresh_token(emu: Emulator) -> tuple[str, str]:
    """The baseline sends client_id/secret in the form body, which Snowflake treats as a public
    client: give it a PUBLIC integration and a refresh token obtained through the real OAuth pages."""
    cb_port = free_port()
    redirect = f"http://127.0.0.1:{cb_port}/callback"
    emu.query(f"CREATE SECURITY INTEGRATION BASELINE_PUBLIC TYPE = OAUTH OAUTH_CLIENT = CUSTOM "
              f"OAUTH_CLIENT_TYPE = 'PUBLIC' OAUTH_REDIRECT_URI = '{redirect}' "
              f"OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE")  # fmt: skip
    row = emu.query("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('BASELINE_PUBLIC')")[0]
    client_id = json.loads(next(iter(row.values())))["OAUTH_CLIENT_ID"]
    verifier, challenge = pkce()
    q = urllib.parse.urlencode({"client_id": client_id, "response_type": "code", "redirect_uri": redirect,
                                "state": "s" * 16, "scope": "refresh_token", "code_challenge": challenge,
                                "code_challenge_method": "S256"})  # fmt: skip
    final = sign_in(f"{emu.url}/oauth/authorize?{q}", "alice@example.com", "alice-pass-1", stop_at_loopback=True)
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(final).query))["code"]
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                   "code_verifier": verifier, "client_id": client_id}).encode()  # fmt: skip
    with urllib.request.urlopen(urllib.request.Request(f"{emu.url}/oauth/token-request", data=body)) as resp:  # noqa: S310
        return client_id, json.load(resp)["refresh_token"]


def bench_baseline(work: Path, emu: Emulator, seconds: float) -> dict[str, float]:
    py = baseline_python()
    client_id, refresh_token = public_client_refresh_token(emu)
    port = free_port()
    script = extract_baseline(work, emu.url, port)
    env = {**os.environ, "OAUTH_CLIENT_ID": client_id, "OAUTH_CLIENT_SECRET": "", "SNOWFLAKE_ACCOUNT": "emulator"}
    log = work / "baseline.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen([str(py), str(script)], env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=work)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, log)
        users = [f"user{i}@example.com" for i in range(CONNECTIONS)]
        for user in users:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/register",
                                         data=json.dumps({"username": user, "refresh_token": refresh_token}).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            urllib.request.urlopen(req, timeout=10).close()  # noqa: S310
        # The baseline has no caller authentication: the path names the user.
        result = load(f"http://127.0.0.1:{port}", [(f"/token/{u}", "") for u in users], seconds)
        result["rss_mb"] = rss_mb(proc.pid)
        return result
    finally:
        stop(proc)


# ---------------------------------------------------------------- refresh phase
def bench_refreshes(work: Path, redis_url: str, seconds_per_lifetime: int = 8) -> dict[str, float]:
    emu = Emulator(work / "emu-refresh", extra_args=["--access-token-ttl", str(seconds_per_lifetime)]).start()
    try:
        ports = [free_port(), free_port()]
        public = f"http://127.0.0.1:{ports[0]}"
        integ = setup_integration(emu, f"{public}/v1/oauth/callback", single_use=True)
        env = service_env(emu, integ, redis_url, SNOWMCP_PUBLIC_URL=public, SNOWMCP_TOKEN_MARGIN="2",
                          SNOWMCP_LOG_LEVEL="warning")  # fmt: skip
        procs = [ServiceProc(work / "refresh", env, port=p, name=f"r{i}").start() for i, p in enumerate(ports)]
        try:
            keys = [login(procs[0], u) for u in ("alice@example.com", "bob@example.com")]
            before = emu.stats().get("token_requests", {})
            lifetimes = 2
            duration = lifetimes * seconds_per_lifetime
            # 16 connections per replica, two replicas, both users on both.
            paths = [("/v1/token", k) for k in keys]
            import threading

            results: list[dict[str, float]] = []
            threads = [threading.Thread(target=lambda p=p: results.append(load(p.url, paths, duration, conns=16)))
                       for p in procs]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = emu.stats().get("token_requests", {})
            ok = after.get("refresh_token:ok", 0) - before.get("refresh_token:ok", 0)
            other = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith("refresh_token:")) - ok
            refresh_every = seconds_per_lifetime - 2  # lifetime minus margin: when a token is due
            # warm-up + measured run of each load() call
            elapsed = duration + min(2.0, duration / 3)
            due = len(keys) * elapsed / refresh_every
            states = {procs[0].request("GET", "/v1/me", k)[1]["state"] for k in keys}
            return {"refreshes": ok, "failed_refreshes": other, "due": due, "users": len(keys),
                    "lifetimes": elapsed / seconds_per_lifetime, "requests": sum(r["requests"] for r in results),
                    "errors": sum(r["errors"] for r in results), "all_active": float(states == {"active"})}  # fmt: skip
        finally:
            for p in procs:
                p.stop()
    finally:
        emu.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per throughput run")
    ap.add_argument("--case", choices=["all", "flood"], default="all", help="flood: only the abuse case")
    ap.add_argument("--flood-worker", nargs=3, metavar=("URL", "SECONDS", "CONNS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flood_worker:
        return flood_worker(args.flood_worker[0], float(args.flood_worker[1]), int(args.flood_worker[2]))
    if args.case == "flood":
        return main_flood(args.seconds)
    load_at_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="snowmcp-bench-") as tmp:
        work = Path(tmp)
        emu = Emulator(work / "emu").start()
        redis = RedisServer(work / "redis", persistence=False).start()
        try:
            integ = setup_integration(emu, f"http://127.0.0.1:{free_port()}/v1/oauth/callback")
            rows = {
                "seed guide (Flask)": bench_baseline(work, emu, args.seconds),
                "snowmcp sqlite": bench_service(work, emu, integ, f"sqlite:///{work}/bench.db", args.seconds, "sqlite"),
                "snowmcp redis": bench_service(work, emu, integ, redis.url, args.seconds, "redis"),
            }
            refresh = bench_refreshes(work, redis.url.replace("/0", "/1"))
            flood = bench_flood(work, emu, integ, args.seconds)
        finally:
            redis.stop()
            emu.stop()
    base = rows["seed guide (Flask)"]["rps"]
    import importlib.util

    if importlib.util.find_spec("httptools") and importlib.util.find_spec("uvloop"):
        server_stack = "uvicorn + httptools + uvloop"
    else:
        server_stack = "uvicorn + h11 + asyncio (install httptools and uvloop for ~2x)"
    print(f"\nServer stack: {server_stack}; load average at start: {load_at_start} "
          "(other work on the machine skews these figures: compare rows of one run)")
    print(f"\nGET token, cached path, {CONNECTIONS} connections, {args.seconds:.0f} s each, loopback, "
          f"{os.cpu_count()} cores (load generator on the same cores)")  # fmt: skip
    print(f"{'service':22} {'req/s':>9} {'vs base':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS MB':>8}")
    for name, r in rows.items():
        print(f"{name:22} {r['rps']:9.0f} {r['rps'] / base:7.1f}x {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['errors']:7.0f} {r['rss_mb']:8.1f}")  # fmt: skip
        if r["first_error"]:
            print(f"  first error: {r['first_error']}")
    print(f"(snowmcp rows: {USERS:,} users stored, every one fetched once before RSS was read; the baseline "
          f"holds {CONNECTIONS} users in memory and has no authentication)")  # fmt: skip
    print(f"\nRefresh under load: {refresh['users']:.0f} users, single-use refresh tokens, 8 s access tokens, "
          f"2 replicas on redis, {refresh['requests']:.0f} requests over {refresh['lifetimes']:.1f} token lifetimes")
    print(f"  refreshes reaching the emulator: {refresh['refreshes']:.0f} "
          f"(due: {refresh['due']:.1f} = users x elapsed / (lifetime - margin)); failed: {refresh['failed_refreshes']:.0f}; "
          f"request errors: {refresh['errors']:.0f}; users still active: {bool(refresh['all_active'])}")
    print(f"  = {refresh['refreshes'] / refresh['due']:.2f} refreshes per token that came due (<= 1.00: never more "
          f"than one refresh per user per token lifetime; a token comes due {8 - 2} s into its 8 s life)")
    goals = [
        *report_flood(flood, args.seconds),
        ("throughput >= 3x baseline (sqlite)", rows["snowmcp sqlite"]["rps"] >= 3 * base),
        ("throughput >= 3x baseline (redis)", rows["snowmcp redis"]["rps"] >= 3 * base),
        ("p99 < 20 ms (sqlite, redis)", max(rows["snowmcp sqlite"]["p99_ms"], rows["snowmcp redis"]["p99_ms"]) < 20),
        ("< 150 MB RSS with 10,000 users", max(rows["snowmcp sqlite"]["rss_mb"], rows["snowmcp redis"]["rss_mb"]) < 150),
        ("refreshes <= due (no double refresh)", refresh["refreshes"] <= refresh["due"] + 1 and refresh["failed_refreshes"] == 0),
    ]  # fmt: skip
    print("\nGoals:")
    for text, ok in goals:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    print("\nReproduce: .venv/bin/python -m bench.token_service  (make bench runs it)")
    return 0


def main_flood(seconds: float) -> int:
    load_at_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="snowmcp-bench-") as tmp:
        work = Path(tmp)
        emu = Emulator(work / "emu").start()
        try:
            integ = setup_integration(emu, f"http://127.0.0.1:{free_port()}/v1/oauth/callback")
            result = bench_flood(work, emu, integ, seconds)
        finally:
            emu.stop()
    print(f"Load average at start: {load_at_start} (other work on the machine skews these figures)")
    goals = report_flood(result, seconds)
    print("\nGoals:")
    for text, ok in goals:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    print("\nReproduce: .venv/bin/python -m bench.token_service --case flood")
    return 0


if __name__ == "__main__":
    sys.exit(main())
