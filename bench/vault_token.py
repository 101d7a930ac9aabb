"""Benchmark: cached `GET /v1/token` in Vault/Transit mode and in file-key mode, side by side
with the floor of this stack, plus what Vault mode adds to the first refresh.

Reproduce:  apt-get install wrk   (Debian's wrk; not needed by `make test`)
            .venv/bin/python -m bench.vault_token [--seconds 10] [--users 1000]
Needs the OpenBao binary harness/provision.sh installs (.cache/openbao) and redis-free
sqlite stores; everything listens on 127.0.0.1 only.

What runs, in one go:
- floor: a bare Starlette endpoint returning the same JSON body, served by uvicorn with the
  service's own protocol class and options (`snowmcp.service.server.uvicorn_options`), one
  process, as `snowmcp-service serve` is;
- file-key mode and Vault mode: one `snowmcp-service serve` process each on its own sqlite
  store holding --users records (tokens valid for an hour: every request is a cache hit),
  Vault mode against a real OpenBao dev server (AppRole, per-record Transit data keys);
- load: wrk, 2 threads, 32 connections, each request with the next user's API key; first
  one request per user, one at a time (timed: in Vault mode each opens its record's data key
  through transit/decrypt once), then a warm-up run, then --load-rounds rounds that measure
  the three servers one after the other (interleaved, so the machine's changing load hits
  them alike); medians are reported;
- first refresh: a real user signed in through the emulator (4 s access tokens); the
  service is restarted (empty memory) and the first GET /v1/token after the token expired
  is timed (refresh at the emulator + in Vault mode one transit/decrypt of the data key),
  then a refresh in the same process (data key in memory). Medians of --rounds rounds.
- one transit/decrypt call on its own (what a direct Transit mode would pay per refresh
  and per cold access token), for the envelope-vs-direct choice.
Load generator and servers share the machine's two cores (and other people's work).
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
import urllib.request
from pathlib import Path
from typing import Any

from harness.flow import login
from harness.procs import Emulator, OpenBao, free_port, stop, wait_for_http
from harness.svc import ENCRYPTION_KEY, ServiceProc, service_env, setup_integration
from snowmcp.service.config import Settings
from snowmcp.service.crypto import KeyRing, hash_secret
from snowmcp.service.store import UserRecord, open_store
from snowmcp.service.tokens import access_aad, refresh_aad
from snowmcp.service.vault.client import VaultClient
from snowmcp.service.vault.transit import TransitCipher
from tests.service.vaultkit import SECRET_SETTINGS, vault_service

THREADS, CONNECTIONS = 2, 32
TOKEN = "ver:1-hint:" + "A" * 64  # the emulator's access tokens have this shape and length

# ---------------------------------------------------------------- the floor
_FLOOR_BODY = json.dumps({"access_token": TOKEN, "token_type": "Bearer", "expires_at": 1900000000,
                          "username": "user00000@example.com"}, separators=(",", ":"))  # fmt: skip


def floor_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def token(request: Request) -> Response:
        return Response(_FLOOR_BODY, media_type="application/json", headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/v1/token", token), Route("/healthz", token)])


def serve_floor(port: int) -> None:
    import uvicorn

    from snowmcp.service.server import uvicorn_options

    uvicorn.run(floor_app(), host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(Settings()))


# ---------------------------------------------------------------- in process
async def _drive(app: Any, keys: list[str], n: int) -> float:
    """Microseconds per cached GET /v1/token through the ASGI app itself: no socket, no HTTP
    parsing, no other process - the app's own work, which the machine's load barely moves."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    started = time.perf_counter()
    for i in range(n):
        headers = [(b"host", b"127.0.0.1"), (b"authorization", b"Bearer " + keys[i % len(keys)].encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": "/v1/token", "raw_path": b"/v1/token", "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080), "state": {}, "app": app}  # fmt: skip
        await app(scope, receive, send)
    return (time.perf_counter() - started) * 1e6 / n


def in_process_us(env: dict[str, str] | None, keys: list[str], audit: Path, rounds: int = 8, n: int = 5000) -> float:
    """The best of `rounds` runs of `n` requests: floor (env None) or the service configured by `env`."""
    from snowmcp.service.app import build_app
    from snowmcp.service.config import load_settings

    async def run() -> float:
        if env is None:
            return min([await _drive(floor_app(), keys, n) for _ in range(rounds)])
        app = build_app(load_settings(environ={**env, "SNOWMCP_LISTEN": "127.0.0.1:1", "SNOWMCP_PUBLIC_URL": "http://127.0.0.1:1",
                                               "SNOWMCP_AUDIT_LOG": str(audit)}))  # fmt: skip
        async with app.router.lifespan_context(app):
            await _drive(app, keys, len(keys))  # first touch: records opened, answers cached
            return min([await _drive(app, keys, n) for _ in range(rounds)])

    return asyncio.run(run())


# ---------------------------------------------------------------- seeding
async def seed(store_url: str, users: int, cipher: Any) -> list[str]:
    store = open_store(store_url)
    if hasattr(store, "_db"):
        store._db.execute("PRAGMA synchronous=OFF")  # set-up only; the service keeps FULL
    now = time.time()
    keys = []
    for i in range(users):
        user = f"user{i:05d}@example.com"
        key = f"smcp_bench_{i:05d}_{os.urandom(16).hex()}"
        keys.append(key)
        sealer = await cipher.sealer()  # Vault mode: a new data key per record, as at sign-in
        rec = UserRecord(
            username=user, login=user, version=1, api_key_hash=hash_secret(key),
            refresh_token=sealer.seal(f"bench-refresh-{i}", refresh_aad(user)), refresh_token_expires_at=now + 86400,
            access_token=sealer.seal(TOKEN, access_aad(user)), access_token_expires_at=now + 3600,
            access_token_issued_at=now, created_at=now, updated_at=now, last_sign_in_at=now,
        )  # fmt: skip
        assert await store.save(rec, 0)
    await store.close()
    return keys


def root_cipher(bao: OpenBao, work: Path) -> tuple[VaultClient, TransitCipher]:
    token_file = work / "root-token"
    token_file.write_text(bao.root_token)
    token_file.chmod(0o600)
    client = VaultClient(Settings(vault_addr=bao.url, vault_auth="token_file", vault_token_file=str(token_file)))
    return client, TransitCipher(client, "transit", "snowmcp-token-service")


# ---------------------------------------------------------------- wrk
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, keys: list[str], seconds: float, work: Path) -> dict[str, Any]:
    script = work / "keys.lua"
    script.write_text("local keys = {" + ",".join(f'"{k}"' for k in keys) + "}\nlocal i = 0\n"
                      "request = function()\n  i = i + 1\n  return wrk.format('GET', '/v1/token', "
                      "{['Authorization'] = 'Bearer ' .. keys[(i % #keys) + 1]})\nend\n")  # fmt: skip
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": float(p50.group(1)) * _UNIT[p50.group(2)],  # type: ignore[union-attr]
            "p99_ms": float(p99.group(1)) * _UNIT[p99.group(2)],  # type: ignore[union-attr]
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}  # fmt: skip


def first_touch(url: str, keys: list[str]) -> float:
    """One GET /v1/token per user, one at a time: in a new process each opens its record
    (Vault mode: one transit/decrypt per record). Mean milliseconds per user."""
    started = time.perf_counter()
    for key in keys:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            assert resp.status == 200
    return (time.perf_counter() - started) * 1000 / len(keys)


# ---------------------------------------------------------------- first refresh
def first_refresh(svc: ServiceProc, emu: Emulator, rounds: int) -> dict[str, float]:
    """Median latency of the first /v1/token needing a refresh in a new process (cold), and of
    one in the same process (warm)."""
    svc.start()
    key = login(svc, "alice@example.com")
    cold, warm = [], []
    for _ in range(rounds):
        svc.stop()
        _, me = _me(svc, key, restart=True)
        time.sleep(max(0.0, me["access_token_expires_at"] - time.time()) + 0.5)
        cold.append(_timed_token(svc, key))
        _, me = svc.request("GET", "/v1/me", key)
        time.sleep(max(0.0, me["access_token_expires_at"] - time.time()) + 0.5)
        warm.append(_timed_token(svc, key))
    svc.stop()
    return {"cold_ms": statistics.median(cold), "warm_ms": statistics.median(warm)}


def _me(svc: ServiceProc, key: str, restart: bool) -> tuple[int, Any]:
    if restart:
        svc.start()
    return svc.request("GET", "/v1/me", key)


def _timed_token(svc: ServiceProc, key: str) -> float:
    started = time.perf_counter()
    status, body = svc.request("GET", "/v1/token", key)
    elapsed = (time.perf_counter() - started) * 1000
    assert status == 200, body
    return elapsed


async def transit_call_ms(cipher: TransitCipher, n: int = 50) -> float:
    sealer = await cipher.sealer()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await cipher.vault.request("POST", "transit/decrypt/snowmcp-token-service", {"ciphertext": sealer.wrapped})
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="first-refresh rounds")
    p.add_argument("--load-rounds", type=int, default=3, help="interleaved wrk rounds per server")
    p.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return 0
    if shutil.which("wrk") is None:
        print("bench.vault_token needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="snowmcp-bench-vault-"))
    bao = OpenBao(work / "openbao").start()
    emu = Emulator(work / "emu", extra_args=["--access-token-ttl", "4"]).start()
    procs: list[Any] = []
    results: dict[str, Any] = {"users": args.users, "seconds": args.seconds, "load": "wrk -t2 -c32", "cores": os.cpu_count(),
                               "loadavg_before": os.getloadavg()}  # fmt: skip
    try:
        print(f"bench.vault_token: {args.users} users, wrk {THREADS} threads {CONNECTIONS} connections, "
              f"{args.seconds:g} s per run; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
        integ = setup_integration(emu, "http://127.0.0.1:1/v1/oauth/callback")
        bao.provision_service(secret={"client_id": integ.client_id, "client_secret": integ.secret,
                                      "client_secret_next": integ.secret_2, "admin_keys": ""})  # fmt: skip

        async def prepare() -> tuple[list[str], float]:
            client, cipher = root_cipher(bao, work)  # one event loop for its connection pool
            try:
                keys = await seed(f"sqlite:///{work / 'vault.db'}", args.users, cipher)
                return keys, await transit_call_ms(cipher)
            finally:
                await client.close()

        vault_keys, results["transit_decrypt_ms"] = asyncio.run(prepare())
        file_keys = asyncio.run(seed(f"sqlite:///{work / 'file.db'}", args.users, KeyRing.from_strings([ENCRYPTION_KEY])))

        # The three servers run side by side (idle when not measured); each round measures
        # floor, file-key and Vault mode one after the other, so a change in the machine's
        # load hits all three alike; the medians over the rounds are reported.
        port = free_port()
        floor_log = (work / "floor.log").open("ab")
        floor = subprocess.Popen([sys.executable, "-m", "bench.vault_token", "--serve-floor", str(port)],
                                 stdout=floor_log, stderr=subprocess.STDOUT)  # fmt: skip
        procs.append(floor)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", floor, work / "floor.log")
        file_svc = ServiceProc(work / "file-svc", {**service_env(emu, integ, ""), "SNOWMCP_STORE": f"sqlite:///{work / 'file.db'}"})
        procs.append(file_svc)
        file_svc.start()
        vault_svc = vault_service(work / "vault-svc", emu, bao, integ, f"sqlite:///{work / 'vault.db'}")
        procs.append(vault_svc)
        vault_svc.start()
        targets = {"floor": (f"http://127.0.0.1:{port}/v1/token", file_keys),
                   "file": (file_svc.url + "/v1/token", file_keys), "vault": (vault_svc.url + "/v1/token", vault_keys)}  # fmt: skip
        print("cached GET /v1/token, first request per user in a new process (one at a time):", flush=True)
        for name, (url, keys) in targets.items():
            results[name] = {"first_touch_ms": first_touch(url, keys), "runs": []}
            wrk(url, keys, min(4.0, args.seconds), work)  # warm-up
            print(f"  {name:10} {results[name]['first_touch_ms']:6.2f} ms", flush=True)
        print(f"cached GET /v1/token under load ({args.load_rounds} interleaved rounds):", flush=True)
        for round_no in range(args.load_rounds):
            for name, (url, keys) in targets.items():
                run = wrk(url, keys, args.seconds, work)
                results[name]["runs"].append(run)
                print(f"  round {round_no + 1} {name:6} {run['rps']:9.0f} req/s  p50 {run['p50_ms']:6.2f} ms  "
                      f"p99 {run['p99_ms']:7.2f} ms  non-2xx {run['non2xx']}", flush=True)  # fmt: skip
        for name in targets:
            runs = results[name]["runs"]
            results[name]["rps"] = statistics.median(r["rps"] for r in runs)
            results[name]["p99_ms"] = statistics.median(r["p99_ms"] for r in runs)
        print("medians:")
        for name in targets:
            r = results[name]
            r["of_floor"] = r["rps"] / results["floor"]["rps"]
            goal = "" if name == "floor" else "  (goal: >= 60% of the floor, p99 < 10 ms)"
            print(f"  {name:10} {r['rps']:9.0f} req/s  {r['of_floor']:5.0%} of the floor  p99 {r['p99_ms']:7.2f} ms{goal}")
        for proc in (file_svc, vault_svc):
            proc.stop()
        stop(floor)
        # The same requests through each ASGI app in this process: the per-request work of
        # the app alone, without the server, the sockets and wrk (and so without their noise).
        print("cached GET /v1/token in process (the ASGI app called directly, best of 8 x 5,000):", flush=True)
        envs = {"floor": None, "file": file_svc.env, "vault": vault_svc.env}
        for name, (_url, keys) in targets.items():
            results[name]["in_process_us"] = us = in_process_us(envs[name], keys, work / f"{name}-in-process-audit.jsonl")
            extra = "" if name == "floor" else f"  (+{us - results['floor']['in_process_us']:.1f} us over the floor)"
            print(f"  {name:10} {us:6.1f} us per request{extra}", flush=True)

        # first refresh, cold process: file-key vs Vault mode
        print(f"first refresh after a restart (median of {args.rounds}):", flush=True)
        for mode in ("file", "vault"):
            db = f"sqlite:///{work / (mode + '-refresh.db')}"
            sport = free_port()
            redirect = f"http://127.0.0.1:{sport}/v1/oauth/callback"
            integ = setup_integration(emu, redirect)
            if mode == "file":
                svc = ServiceProc(work / "file-refresh", service_env(emu, integ, db), port=sport)
            else:
                svc = vault_service(work / "vault-refresh", emu, bao, integ, db)
                svc.port = sport
            svc.env = {k: v for k, v in svc.env.items() if mode == "file" or k not in SECRET_SETTINGS}
            procs.append(svc)
            results[f"refresh_{mode}"] = first_refresh(svc, emu, args.rounds)
            r = results[f"refresh_{mode}"]
            print(f"  {mode:10} cold process {r['cold_ms']:7.1f} ms   same process {r['warm_ms']:7.1f} ms", flush=True)
        # A file-key process's first refresh is also its first outbound httpx request (lazy
        # imports, first connection); a Vault-mode process made those at start (KV read). So
        # what Vault adds is read inside Vault mode: first refresh in a new process (data key
        # unwrapped through Transit) minus a refresh with the key in memory.
        added = results["refresh_vault"]["cold_ms"] - results["refresh_vault"]["warm_ms"]
        results["first_refresh_added_ms"] = added
        print(f"  Vault mode: the first refresh of a record in a new process takes {added:.1f} ms more than one "
              f"with the data key in memory (one transit/decrypt alone: {results['transit_decrypt_ms']:.1f} ms)")
        results["loadavg_after"] = os.getloadavg()
        print(json.dumps(results, default=float))
    finally:
        for proc in procs:
            if isinstance(proc, ServiceProc):
                proc.stop()
            else:
                stop(proc)
        emu.stop()
        bao.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
