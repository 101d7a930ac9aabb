"""`snowmcp-emulator serve`: run the emulated Snowflake account under uvicorn."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.model import Account


class _AnnouncingServer(uvicorn.Server):
    """Prints one line once the socket is bound, so scripts can wait for it."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self._line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self._line, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snowmcp-emulator", description="A local Snowflake account emulator."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the emulated account over HTTP")
    serve.add_argument("--port", type=int, required=True, metavar="N", help="TCP port to listen on")
    serve.add_argument(
        "--host", default="127.0.0.1", metavar="HOST", help="address to bind (default 127.0.0.1)"
    )
    serve.add_argument(
        "--seed",
        type=Path,
        required=True,
        metavar="FILE",
        help="seed YAML file (used when there is no state yet)",
    )
    serve.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="JSON state file: loaded if present, rewritten after every change",
    )
    serve.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        metavar="MS",
        help="delay every query request by this much",
    )
    serve.add_argument(
        "--access-token-ttl",
        type=int,
        metavar="S",
        help="OAuth access-token lifetime in seconds (overrides the integration)",
    )
    return parser


def load_account(seed: Path, state: Path | None) -> Account:
    """The saved state when there is one (a restart keeps everything), else the seed."""
    if state is not None and state.exists():
        return Account.from_state(json.loads(state.read_text()))
    from snowmcp.emulator.seed import load_seed

    return load_seed(seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.latency_ms < 0:
        print("snowmcp-emulator: --latency-ms must be >= 0", file=sys.stderr)
        return 2
    if args.access_token_ttl is not None and args.access_token_ttl <= 0:
        print("snowmcp-emulator: --access-token-ttl must be > 0", file=sys.stderr)
        return 2
    try:
        account = load_account(args.seed, args.state)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"snowmcp-emulator: cannot load the account: {exc}", file=sys.stderr)
        return 2
    host_for_url = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    ctx = EmulatorContext(
        account=account,
        state_file=args.state,
        latency_ms=args.latency_ms,
        access_token_ttl=args.access_token_ttl,
        base_url=f"http://{host_for_url}:{args.port}",
    )
    # Write the state file at once so a seeded start survives a crash too.
    ctx.save()

    from snowmcp.emulator.app import create_app

    app = create_app(ctx)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        # Access logs would print query strings (OAuth codes, states): keep them off.
        access_log=False,
        lifespan="off",
    )
    server = _AnnouncingServer(config, f"snowmcp-emulator listening on {ctx.base_url}")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
