"""Benchmark: the account play's no-op re-run in each `mcp_auth_mode`, side by side.

Reproduce:  .venv/bin/python -m bench.auth_modes                 (from the repository root)
            .venv/bin/python -m bench.auth_modes --users 200     (quicker)
            .venv/bin/python -m bench.auth_modes --schemas 5     (servers spread over 5 schemas)

What it does, in one run (the same set-up as bench.converge: an emulator seeded with
N users, default 1,000, answering every request after 100 ms like a real account's
round trip; 20 MCP roles, 5 MCP servers, every user holding 2 roles):
- converges the account in token_service mode, then re-runs it (the no-op);
- switches to snowflake_oauth (PUBLIC integration, OAUTH_SCOPES_SUPPORTED), re-runs;
- switches to external_oauth (External OAuth integration, both parameters), re-runs;
- switches back to token_service keeping the native settings (so it cleans up), re-runs;
and prints for each no-op re-run: wall time, query requests, logins, how many of the
requests were SHOW PARAMETERS reads, and the emulator's and Ansible's CPU seconds.
The parameter reads are one per distinct account / database / schema of the servers,
never one per server: the run checks that (goal printed at the end).
Measured on a shared, busy 2-core machine: wall times vary from run to run; request
counts do not.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.converge import LATENCY_MS, SERVERS, make_inventory, make_seed, measured
from bench.helpers import ROOT
from harness.procs import Emulator

PLAYBOOK = ROOT / "playbooks" / "snowflake_account.yml"
EXTERNAL = {
    "name": "SNOWMCP_IDP", "type": "okta", "issuer": "https://example.okta.com/oauth2/default",
    "jws_keys_url": "https://example.okta.com/oauth2/default/v1/keys", "audience_list": ["api://snowflake"],
    "user_mapping_claim": "sub", "snowflake_user_mapping_attribute": "login_name",
}  # fmt: skip


def write(path: Path, variables: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"vars": variables}}, sort_keys=False))
    return path


def parameter_reads(emu: Emulator) -> int:
    return int(emu.stats().get("queries", {}).get("SHOW_PARAMETERS", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--schemas", type=int, default=1, help="spread the servers over this many schemas"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-auth-modes-"))
    seed = work / "seed.yml"
    make_seed(seed, args.users)
    if args.schemas > 1:
        data = yaml.safe_load(seed.read_text())
        for n in range(1, args.schemas):
            data["databases"]["AICOLLEGE"][f"S{n}"] = {}
        seed.write_text(yaml.safe_dump(data, sort_keys=False))
    emu = Emulator(
        work / "emulator", seed=seed, extra_args=["--latency-ms", str(LATENCY_MS)]
    ).start()
    try:
        base = make_inventory(work / "base.yml", emu, args.users)
        for i, server in enumerate(base["snowflake_mcp_servers"]):
            server["schema"] = "PUBLIC" if i % args.schemas == 0 else f"S{i % args.schemas}"
        native = {"callback_port": 8765, "client_id": "0oa-claude-code"}
        modes: dict[str, dict[str, Any]] = {
            "token_service": {"mcp_auth_mode": "token_service"},
            "snowflake_oauth": {
                "mcp_auth_mode": "snowflake_oauth",
                "mcp_native_oauth": {"callback_port": 8765},
            },
            "external_oauth": {
                "mcp_auth_mode": "external_oauth",
                "mcp_native_oauth": native,
                "snowflake_external_oauth_integration": EXTERNAL,
            },
            # Back to the service with the native settings kept (so the play cleans up).
            "token_service (back)": {
                "mcp_auth_mode": "token_service",
                "mcp_native_oauth": native,
                "snowflake_external_oauth_integration": EXTERNAL,
            },
        }
        rows: dict[str, dict[str, float]] = {}
        switches: dict[str, dict[str, float]] = {}
        for mode, extra in modes.items():
            inv = write(
                work / f"{mode.split()[0]}-{len(rows)}.yml", {**copy.deepcopy(base), **extra}
            )
            switches[mode] = measured(emu, inv, PLAYBOOK)  # first converge / the switch
            before = parameter_reads(emu)
            rows[mode] = measured(emu, inv, PLAYBOOK)  # the no-op re-run
            rows[mode]["parameter_reads"] = parameter_reads(emu) - before
    finally:
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)

    schemas = len({s["schema"] for s in base["snowflake_mcp_servers"]})
    print(f"auth modes benchmark: {args.users} users, 20 roles, {SERVERS} MCP servers in {schemas} schema(s), "
          f"{LATENCY_MS} ms per request")  # fmt: skip
    print(
        f"reproduce: .venv/bin/python -m bench.auth_modes --users {args.users} --schemas {args.schemas}"
    )
    print()
    header = f"{'no-op re-run':28} " + " ".join(f"{m:>20}" for m in modes)
    print(header)
    print("-" * len(header))
    for key, label, fmt in (
        ("wall_s", "wall time (s)", "{:20.1f}"),
        ("query_requests", "query requests", "{:20.0f}"),
        ("logins", "logins", "{:20.0f}"),
        ("parameter_reads", "  of which SHOW PARAMETERS", "{:20.0f}"),
        ("emulator_cpu_s", "emulator CPU (s)", "{:20.2f}"),
        ("ansible_cpu_s", "Ansible CPU (s)", "{:20.1f}"),
    ):
        print(f"{label:28} " + " ".join(fmt.format(rows[m][key]) for m in modes))
    for key, label in (
        ("wall_s", "switch into it, wall (s)"),
        ("query_requests", "switch into it, requests"),
    ):
        print(f"{label:28} " + " ".join(f"{switches[m][key]:20.1f}" for m in modes))
    expected = 1 + 1 + schemas  # the account, the one database, each schema
    reads = {m: int(rows[m]["parameter_reads"]) for m in modes}
    # An inventory that never mentions a native mode (the first column) reads no parameter.
    ok = all(r == (0 if m == "token_service" else expected) for m, r in reads.items())
    print()
    print(
        f"goal: parameter reads = 1 account + 1 database + {schemas} schema(s) = {expected} per run, "
        f"not one per server ({SERVERS}); 0 for an inventory that never used a native mode: "
        f"{reads} -> {'OK' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
