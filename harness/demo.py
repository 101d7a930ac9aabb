"""`make demo` / `make demo-stop`: the whole of snowmcp on one machine, from a checkout.

Not part of the snowmcp package (it needs the repository's inventory/demo and
seed): `python -m harness.demo start` from the repository root:
1. stops anything a previous demo left running (so `start` is idempotent),
2. generates the demo's secrets into `.demo/` (mode 0600, never committed):
   random passwords for the emulator's users, written into a copy of
   `inventory/demo-emulator-seed.yml`, and a fresh RSA key pair for the
   automation user ADMIN (private key `.demo/snowflake-automation.p8`, its
   public key set as ADMIN's RSA_PUBLIC_KEY in that copy),
3. starts the Snowflake emulator in the background (pid + log in `.demo/`),
4. writes `.demo/settings.json` (what `inventory/demo` reads: ports, paths,
   the automation user's key file: Ansible signs in with the key pair) and `.demo/env`
   (the SNOWMCP_DEMO_* variables of docs/demo.md, SNOWMCP_DEMO_DIR among them),
5. if the Ansible content is there: runs `ansible-playbook site.yml -i
   inventory/demo`, which converges the emulated account, deploys a
   `process`-runtime token service and configures a workstation whose HOME is
   `.demo/home`; then signs the demo user in through a scripted browser (real
   HTTP redirects: token service -> emulator sign-in page -> token service ->
   the CLI's loopback listener) and shows that user's MCP server answering
   `tools/list` through a token fetched from the token service.
   Without the Ansible content (early in the project) it runs the seed guide's
   Step 1 SQL through the real connector instead.

`python -m harness.demo stop` stops every process the demo started, by the pid
files it wrote (checking each pid still runs what we started).

Also used by `$BROWSER` during the demo: `python harness/demo.py browser URL`
(it signs in through harness/browser.py's scripted browser).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from snowmcp._files import write_private

ROOT = Path(__file__).resolve().parents[1]
DEMO_USER = "alice@example.com"
ACCOUNT = "DEMO-ACCOUNT"
# Outside inventory/demo: Ansible would try to read any YAML file in there as inventory.
SEED_TEMPLATE = ROOT / "inventory" / "demo-emulator-seed.yml"
INVENTORY = ROOT / "inventory" / "demo"
# The automation user's private key, generated at `make demo` time (never committed).
AUTOMATION_KEY = "snowflake-automation.p8"
# `$BROWSER` for `snowmcp login`: this file run as a script, so any working folder works.
BROWSER = f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} browser %s"


def demo_dir() -> Path:
    return Path(os.environ.get("SNOWMCP_DEMO_DIR", str(ROOT / ".demo"))).resolve()


def bin_dir() -> Path:
    return Path(sys.executable).parent


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """Everything the demo inventory and `.demo/env` are derived from."""

    dir: Path
    emulator_port: int
    service_port: int
    passwords: dict[str, str]  # login_name -> emulator password

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    @property
    def home(self) -> Path:
        return self.dir / "home"

    def to_json(self) -> str:
        return json.dumps(
            {
                "demo_dir": str(self.dir),
                "emulator_port": self.emulator_port,
                "emulator_url": self.emulator_url,
                "service_port": self.service_port,
                "service_url": self.service_url,
                "home": str(self.home),
                "snowflake_user": "ADMIN",
                "snowflake_private_key_file": str(self.dir / AUTOMATION_KEY),
                "demo_user": DEMO_USER,
            },
            indent=2,
        )


def write_settings(directory: Path, emulator_port: int, service_port: int, passwords: dict[str, str]) -> Settings:
    """Write `settings.json`, read by inventory/demo. Tests call this with their own emulator."""
    settings = Settings(directory, emulator_port, service_port, passwords)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    write_private(directory / "settings.json", settings.to_json() + "\n")
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings


def make_seed(directory: Path, template: Path = SEED_TEMPLATE) -> dict[str, str]:
    """Copy the committed seed with a fresh random password per user and a fresh key pair
    for the automation user ADMIN; returns the passwords."""
    seed = yaml.safe_load(template.read_text())
    passwords: dict[str, str] = {}
    for user in seed["users"]:
        user["password"] = secrets.token_urlsafe(18)
        passwords[user["login_name"]] = user["password"]
        if user["login_name"] == "ADMIN":
            user["rsa_public_key"] = make_key_pair(directory / AUTOMATION_KEY)
    write_private(directory / "emulator-seed.yml", yaml.safe_dump(seed, sort_keys=False))
    return passwords


def make_key_pair(path: Path) -> str:
    """Write a new RSA private key (PKCS#8 PEM, 0600) to `path`; return the public key's
    base64 DER, the value of RSA_PUBLIC_KEY. Unencrypted: it lives and dies with `.demo/`."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(path, pem.decode())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def seed_passwords(directory: Path) -> dict[str, str]:
    """The passwords `make_seed` wrote into the emulator seed, by login name."""
    seed = yaml.safe_load((directory / "emulator-seed.yml").read_text())
    return {u["login_name"]: u["password"] for u in seed["users"]}


def load_settings(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / "settings.json").read_text()))


def service_credentials(directory: Path) -> dict[str, Any]:
    """The token service's secret store as the token_service role keeps it (process runtime)."""
    path = directory / "service" / "credentials.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def write_env(settings: Settings) -> Path:
    creds = service_credentials(settings.dir)
    admin_keys = creds.get("admin_keys") or [""]
    lines = {
        "SNOWMCP_DEMO_EMULATOR_URL": settings.emulator_url,
        "SNOWMCP_DEMO_SERVICE_URL": settings.service_url,
        "SNOWMCP_DEMO_ADMIN_KEY": admin_keys[0],
        "SNOWMCP_DEMO_HOME": str(settings.home),
        "SNOWMCP_DEMO_INVENTORY": str(INVENTORY),
        # What inventory/demo reads its settings from, for the commands of docs/demo.md.
        "SNOWMCP_DEMO_DIR": str(settings.dir),
    }
    text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in lines.items())
    path = settings.dir / "env"
    write_private(path, "# source me: . .demo/env (written by `make demo`)\n" + text)
    return path


# --------------------------------------------------------------------------- processes


def _pid_alive(pid: int, marker: str) -> bool:
    """True when `pid` runs and its command line mentions `marker` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return marker in cmdline


def _stop_pidfile(pidfile: Path, marker: str) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    stopped = False
    if _pid_alive(pid, marker):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _pid_alive(pid, marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid, marker):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    pidfile.unlink(missing_ok=True)
    return stopped


def start_emulator(directory: Path, port: int) -> None:
    # Imported here: `python harness/demo.py browser URL` runs this file without the package.
    from harness.procs import wait_for_http

    log = directory / "emulator.log"
    cmd = [
        str(bin_dir() / "snowmcp-emulator"), "serve", "--port", str(port),
        "--seed", str(directory / "emulator-seed.yml"), "--state", str(directory / "emulator-state.json"),
    ]  # fmt: skip
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            cmd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (directory / "emulator.pid").write_text(f"{proc.pid}\n")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/__emulator/stats", proc, log, timeout=30)
    except (RuntimeError, TimeoutError) as exc:
        raise SystemExit(f"the emulator did not start: {exc}") from None


# Pid files the demo (or the token_service role's process runtime, under
# .demo/service) writes, with the command-line marker each process must carry.
PIDFILES = (("emulator.pid", "snowmcp-emulator"), ("service/data/gunicorn.pid", "gunicorn"))


def stop(directory: Path) -> None:
    for rel, marker in PIDFILES:
        if _stop_pidfile(directory / rel, marker):
            say(f"stopped {rel.removesuffix('.pid')}")
    (directory / "env").unlink(missing_ok=True)


# --------------------------------------------------------------------------- step 1 SQL

# The seed guide's Step 1, corrected: `$$` around the MCP spec (the guide's
# single `$` is a syntax error on real Snowflake) and the demo's ANALYST role
# standing in for "YOUR_EXISTING_SSO_ROLE".
STEP1_SQL = [
    """CREATE OR REPLACE SECURITY INTEGRATION claude_code_mcp_oauth
  TYPE = OAUTH
  OAUTH_CLIENT = CUSTOM
  ENABLED = TRUE
  OAUTH_CLIENT_TYPE = 'CONFIDENTIAL'
  OAUTH_REDIRECT_URI = 'http://127.0.0.1:3000/oauth/callback'
  OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE
  OAUTH_ISSUE_REFRESH_TOKENS = TRUE
  OAUTH_REFRESH_TOKEN_VALIDITY = 7776000""",
    "SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('CLAUDE_CODE_MCP_OAUTH')",
    "USE DATABASE AICOLLEGE",
    "USE SCHEMA PUBLIC",
    """CREATE OR REPLACE MCP SERVER gong_mcp
  FROM SPECIFICATION $$
    tools:
      - name: "call-search"
        type: "CORTEX_SEARCH_SERVICE_QUERY"
        identifier: "AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED"
        description: "cortex search for gong calls"
        title: "Gong Search"
  $$""",
    "CREATE ROLE IF NOT EXISTS MCP_USERS",
    "GRANT USAGE ON DATABASE AICOLLEGE TO ROLE MCP_USERS",
    "GRANT USAGE ON SCHEMA AICOLLEGE.PUBLIC TO ROLE MCP_USERS",
    "GRANT USAGE ON CORTEX SEARCH SERVICE AICOLLEGE.PUBLIC.GONG_CALLS_SEARCH_ENRICHED TO ROLE MCP_USERS",
    "GRANT ROLE MCP_USERS TO ROLE ANALYST",
    "DESCRIBE MCP SERVER gong_mcp",
    "SHOW GRANTS TO ROLE MCP_USERS",
]


def redact(value: Any) -> Any:
    """Mask OAuth client secrets in a result cell (SYSTEM$SHOW_OAUTH_CLIENT_SECRETS)."""
    if isinstance(value, str) and "OAUTH_CLIENT_SECRET" in value:
        try:
            data = json.loads(value)
        except ValueError:
            return "<redacted>"
        return json.dumps({k: (v if k == "OAUTH_CLIENT_ID" else "<redacted>") for k, v in data.items()})
    return value


def run_step1(settings: Settings) -> None:
    import snowflake.connector

    say("\n== The seed guide's Step 1 SQL, through snowflake-connector-python, against the emulator")
    conn = snowflake.connector.connect(
        account=ACCOUNT, user="ADMIN", authenticator="SNOWFLAKE_JWT",
        private_key_file=str(settings.dir / AUTOMATION_KEY),
        host="127.0.0.1", port=settings.emulator_port, protocol="http",
        login_timeout=10, request_timeout=30,
        enable_server_session_keep_alive_auto_detection=False,
    )  # fmt: skip
    try:
        cur = conn.cursor()
        for sql in STEP1_SQL:
            say(f"\nsql> {sql};")
            cur.execute(sql)
            names = [d[0] for d in cur.description or []]
            for row in cur.fetchall():
                cells = {n: redact(v) for n, v in zip(names, row, strict=True)}
                say("     " + json.dumps(cells, default=str))
    finally:
        conn.close()


# --------------------------------------------------------------------------- browser sign-in


def browser_main(url: str) -> int:
    """`$BROWSER` entry point: sign the demo user in, in the background.

    Python's webbrowser waits for a `$BROWSER` command to exit, and the CLI
    answers the final redirect only once `webbrowser.open` has returned, so the
    actual browsing happens in a detached child while this process exits at once.
    """
    if os.environ.get("SNOWMCP_DEMO_BROWSER_CHILD") != "1":
        env = dict(os.environ, SNOWMCP_DEMO_BROWSER_CHILD="1")
        subprocess.Popen(  # the log goes to .demo/browser.log
            [sys.executable, "-m", "harness.demo", "browser", url], cwd=ROOT,
            env=env, start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return 0
    directory = demo_dir()
    user = os.environ.get("SNOWMCP_DEMO_SIGN_IN_AS", DEMO_USER)
    password = seed_passwords(directory)[user]
    # The child runs as `-m harness.demo` from the checkout, so the package import works.
    from harness.browser import sign_in  # the tests' scripted browser: real redirects, the IdP form

    try:
        sign_in(url, user, password)
        outcome = f"{user}: signed in (the CLI's loopback callback answered)"
    except Exception as exc:  # logged for the person running the demo
        outcome = f"{user}: error: {exc}"
    with (directory / "browser.log").open("a") as handle:
        handle.write(outcome + "\n")
    return 0


# --------------------------------------------------------------------------- full demo


def full_demo_available() -> bool:
    needed = [ROOT / "site.yml", ROOT / "playbooks" / "snowflake_account.yml", bin_dir() / "snowmcp-service",
              bin_dir() / "snowmcp", ROOT / "roles" / "mcp_workstation"]  # fmt: skip
    return all(p.exists() for p in needed)


def run_site(settings: Settings) -> None:
    say("\n== ansible-playbook site.yml -i inventory/demo")
    env = dict(os.environ, SNOWMCP_DEMO_DIR=str(settings.dir), PATH=f"{bin_dir()}:{os.environ.get('PATH', '')}")
    cmd = [str(bin_dir() / "ansible-playbook"), "site.yml", "-i", str(INVENTORY)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"site.yml failed (exit {proc.returncode}); services left running, `make demo-stop` stops them")


def client_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HOME=str(settings.home), SNOWMCP_DEMO_DIR=str(settings.dir),
               PATH=f"{bin_dir()}:{env.get('PATH', '')}")  # fmt: skip
    env.pop("SNOWMCP_DEMO_BROWSER_CHILD", None)
    return env


def onboard(settings: Settings) -> None:
    say(f"\n== {DEMO_USER} signs in once: `snowmcp login` with a scripted browser")
    env = client_env(settings)
    env["BROWSER"] = BROWSER
    env["SNOWMCP_DEMO_SIGN_IN_AS"] = DEMO_USER
    proc = subprocess.run([str(bin_dir() / "snowmcp"), "login"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    say(_indent(proc.stdout + proc.stderr))
    browser_log = settings.dir / "browser.log"
    if browser_log.exists():
        say("   browser hops:\n" + _indent(browser_log.read_text(), "     "))
    if proc.returncode != 0:
        raise SystemExit("sign-in failed")
    status = subprocess.run([str(bin_dir() / "snowmcp"), "status"], env=env, capture_output=True, text=True,
                            check=False)  # fmt: skip
    say(_indent(status.stdout + status.stderr))


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines())


def mcp_servers(home: Path) -> dict[str, Any]:
    data = json.loads((home / ".claude.json").read_text())
    return dict(data.get("mcpServers", {}))


def show_tools(settings: Settings) -> None:
    env = client_env(settings)
    servers = mcp_servers(settings.home)
    if not servers:
        raise SystemExit(f"no MCP server configured in {settings.home / '.claude.json'}")
    for name, entry in servers.items():
        helper = entry.get("headersHelper", f"{bin_dir() / 'snowmcp'} headers")
        say(f"\n== {name}: tools/list through a token from the token service")
        say(f"   ~/.claude.json entry: {json.dumps(entry)}")
        out = subprocess.run(helper, shell=True, env=env, capture_output=True, text=True, check=True)  # noqa: S602 - the configured helper, as Claude Code runs it
        headers = json.loads(out.stdout)
        say("   headersHelper printed: {\"Authorization\": \"Bearer <access token, "
            f"{len(headers.get('Authorization', ''))} chars>\"}}")
        init = _jsonrpc(entry["url"], headers, "initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "snowmcp-demo", "version": "0"}})  # fmt: skip
        say(f"   initialize -> server {json.dumps(init.get('result', init).get('serverInfo', {}))}")
        listed = _jsonrpc(entry["url"], headers, "tools/list", {})
        tools = listed.get("result", {}).get("tools", [])
        for tool in tools:
            say(f"   tools/list -> {tool.get('name')}: {tool.get('title') or ''} — {tool.get('description') or ''}")
        search = next((t for t in tools if "search" in t.get("name", "")), None)
        if search:
            called = _jsonrpc(entry["url"], headers, "tools/call",
                              {"name": search["name"], "arguments": {"query": "databricks", "limit": 3}})  # fmt: skip
            content = called.get("result", {}).get("content", [])
            text = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
            say(f"   tools/call {search['name']}(query='databricks') -> {text[:600]}")


def _jsonrpc(url: str, headers: dict[str, str], method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - demo URL, loopback
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json, text/event-stream")
    for key, value in headers.items():
        req.add_header(key, value)
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        raw = resp.read().decode()
    if raw.lstrip().startswith("event:") or raw.lstrip().startswith("data:"):
        raw = next(line[5:] for line in raw.splitlines() if line.startswith("data:"))
    return dict(json.loads(raw))


def start() -> int:
    from harness.procs import free_port  # below the ephemeral range, like the tests' ports

    directory = demo_dir()
    stop(directory)
    for stale in ("emulator-state.json", "browser.log", "settings.json"):
        (directory / stale).unlink(missing_ok=True)
    # A fresh account means fresh OAuth credentials: the old service state would not match it.
    shutil.rmtree(directory / "home", ignore_errors=True)
    shutil.rmtree(directory / "service", ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    passwords = make_seed(directory)
    settings = write_settings(directory, free_port(), free_port(), passwords)
    say(f"== Starting the Snowflake emulator on {settings.emulator_url} (log: {directory / 'emulator.log'})")
    start_emulator(directory, settings.emulator_port)
    write_env(settings)
    if full_demo_available():
        run_site(settings)
        write_env(settings)
        onboard(settings)
        show_tools(settings)
    else:
        say("(site.yml and its pieces are not all in place yet: showing the seed guide's Step 1 instead)")
        run_step1(settings)
    say(f"""
== The demo is running.
   emulator:       {settings.emulator_url}
   token service:  {settings.service_url if full_demo_available() else '(not deployed)'}
   demo HOME:      {settings.home}
   . {directory / 'env'}   # SNOWMCP_DEMO_* variables for poking at it
   make demo-stop          # stops everything (python -m harness.demo stop)""")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.demo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="(re)start the demo")
    sub.add_parser("stop", help="stop everything the demo started")
    sub.add_parser("step1", help="run the seed guide's Step 1 SQL against the running demo emulator")
    sub.add_parser("env", help="rewrite .demo/env (e.g. after rotate_credentials.yml changed the admin key)")
    browser = sub.add_parser("browser", help="scripted browser used as $BROWSER during the demo")
    browser.add_argument("url")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start()
    if args.command == "stop":
        stop(demo_dir())
        say("demo stopped")
        return 0
    if args.command == "env":
        data = load_settings(demo_dir())
        say(str(write_env(Settings(demo_dir(), int(data["emulator_port"]), int(data["service_port"]), {}))))
        return 0
    if args.command == "step1":
        data = load_settings(demo_dir())
        passwords = seed_passwords(demo_dir())
        run_step1(Settings(demo_dir(), int(data["emulator_port"]), int(data["service_port"]), passwords))
        return 0
    return browser_main(args.url)


if __name__ == "__main__":
    sys.exit(main())
