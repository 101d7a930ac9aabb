"""The `snowmcp` command.

`headers` is Claude Code's headersHelper and runs on every MCP connection, so
this module imports only the standard library at the top and pulls in the
rest (argparse aside) per command. Only the JSON object goes to stdout; every
message goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from snowmcp.client.errors import EXIT_UNAVAILABLE, ClientError


class _Deadline:
    """Fail after `seconds` in total, whatever the keyring or the service does.

    Socket timeouts bound each connect/read separately; a service that drips bytes could still
    keep the helper past Claude Code's 10 s limit, and so could an OS keyring waiting on a
    prompt. A real-time timer bounds the whole call; `waiting_for` names what it waits on.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.waiting_for = "the OS keyring"

    def __enter__(self) -> _Deadline:
        if hasattr(signal, "setitimer"):
            signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _expire(self, signum: int, frame: object) -> None:
        raise ClientError(f"{self.waiting_for} did not answer within {self.seconds:g}s", EXIT_UNAVAILABLE)


def _access_token(service_override: str | None) -> str:
    from snowmcp.client import config, credentials, service_api

    cfg = config.load(service_override)
    with _Deadline(cfg.timeout) as deadline:
        creds = credentials.load()
        # The key belongs to the service it was issued by; the config may point elsewhere
        # after a migration, in which case the user must sign in there.
        service = cfg.service_url or creds.service_url
        if service != creds.service_url:
            raise ClientError(f"signed in at {creds.service_url}, but configured for {service}: run `snowmcp login`")
        deadline.waiting_for = f"token service {service}"
        data = service_api.request("GET", f"{service}/v1/token", api_key=creds.api_key, timeout=cfg.timeout)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ClientError("the token service answered without an access token")
    return token


def cmd_headers(args: argparse.Namespace) -> int:
    token = _access_token(args.service)
    sys.stdout.write(json.dumps({"Authorization": f"Bearer {token}"}) + "\n")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    sys.stdout.write(_access_token(args.service) + "\n")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from snowmcp.client import config, login

    cfg = config.load(args.service)
    service = config.require_service(cfg)
    creds = login.login(service, open_browser=not args.no_browser, port=args.port, timeout=args.timeout)
    where = "the OS keyring" if creds.storage == "keyring" else "~/.config/snowmcp/credentials (mode 0600)"
    print(f"Signed in as {creds.username}; API key stored in {where}.", file=sys.stderr)
    if cfg.login and creds.username.lower() != cfg.login.lower():
        print(f"snowmcp: warning: this machine was onboarded for {cfg.login}", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from snowmcp.client import status

    report = status.collect(args.service)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(status.render(report))
    return 0 if report["signed_in"] and report["service_ok"] else 1


def _revoke_at_service() -> str:
    """Revoke this machine's API key at the service that issued it (DELETE /v1/me, which
    needs only the key), so a copy of the key elsewhere stops working too."""
    from snowmcp.client import config, credentials, service_api

    try:
        timeout = config.load(None).timeout
        with _Deadline(timeout) as deadline:
            creds = credentials.load()
            deadline.waiting_for = f"token service {creds.service_url}"
            service_api.request("DELETE", f"{creds.service_url}/v1/me", api_key=creds.api_key, timeout=timeout)
    except service_api.ServiceError as exc:
        if exc.status == 401:
            return "the service no longer knew the key"
        return f"the service did not revoke the key ({exc}); ask your administrator to revoke it"
    except ClientError as exc:
        return f"the key could not be revoked at the service ({exc}); ask your administrator to revoke it"
    return "the key was revoked at the service"


def cmd_logout(args: argparse.Namespace) -> int:
    from snowmcp.client import credentials

    revoked = _revoke_at_service()
    if not credentials.delete():
        print("Not signed in.", file=sys.stderr)
        return 0
    print(f"Signed out: {revoked} and removed from this machine.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snowmcp", description="Snowflake MCP access for Claude Code.")
    parser.add_argument("--service", metavar="URL", help="token service base URL (default: config file)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("login", help="sign in through the browser")
    p.add_argument("--service", metavar="URL", default=argparse.SUPPRESS, help="token service base URL")
    p.add_argument("--no-browser", action="store_true", help="print the URL only (SSH sessions)")
    p.add_argument("--port", type=int, default=0, help="loopback port for the callback (default: any)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the sign-in")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("headers", help="print Claude Code headers (headersHelper)")
    p.set_defaults(func=cmd_headers)
    p = sub.add_parser("token", help="print a bare access token")
    p.set_defaults(func=cmd_token)
    p = sub.add_parser("status", help="who you are and how long the sign-in lasts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("logout", help="revoke the API key at the service and remove it from this machine")
    p.set_defaults(func=cmd_logout)
    return parser


def _refuse_a_users_home_as_root(command: str) -> None:
    """Run as root, act only on root's own files: never on a HOME (or config folder) of another user.

    Everything the client does reads and writes files under HOME, and a user controls what is in
    their home (symlinks, keyring configuration, a damaged credentials file). A root play on a
    shared machine must run the client as that user instead (Ansible: become_user).
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    from snowmcp.client import paths

    for label, folder in (("HOME", os.environ.get("HOME") or ""), ("the config folder", str(paths.config_dir()))):
        try:
            owner = os.stat(folder).st_uid if folder else 0
        except OSError:
            continue  # missing: nothing of anyone's to act on there
        if owner != 0:
            try:
                import pwd

                who = pwd.getpwuid(owner).pw_name
            except (ImportError, KeyError):
                who = f"uid {owner}"
            raise ClientError(
                f"refusing to run as root on {label} {folder}, which belongs to {who}: "
                f"run it as that user (sudo -u {who} -H snowmcp {command})"
            )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _refuse_a_users_home_as_root(str(args.command))
        return int(args.func(args))
    except ClientError as exc:
        print(f"snowmcp: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("snowmcp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
