"""`snowmcp status`: who you are, whether the service answers, how long the sign-in lasts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from snowmcp.client import config, credentials, paths, service_api
from snowmcp.client.errors import ClientError

WARN_DAYS = 7
# A Snowflake-managed MCP server's endpoint (the path after the account URL).
SNOWFLAKE_MCP_PATH = re.compile(r"/api/v2/databases/[^/]+/schemas/[^/]+/mcp-servers/[^/]+$")


def servers_in(path: Path, scope: str) -> list[dict[str, str]]:
    """The file's Snowflake MCP servers (none if it is missing or unreadable), each with how it signs in.

    `auth` is "headersHelper" for the entries whose headers come from this CLI (token service mode),
    "oauth" for the Snowflake MCP servers Claude Code signs in to itself (the native sign-in modes:
    an `oauth` client in the entry; this CLI plays no part in them).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return []
    found = []
    for name, entry in servers.items():
        helper = entry.get("headersHelper", "") if isinstance(entry, dict) else ""
        if isinstance(helper, str) and "snowmcp" in helper and helper.rstrip().endswith(" headers"):
            found.append({"name": str(name), "url": str(entry.get("url", "")), "scope": scope, "auth": "headersHelper"})
        elif isinstance(entry, dict) and isinstance(entry.get("oauth"), dict) and not helper:
            url = str(entry.get("url", ""))
            if SNOWFLAKE_MCP_PATH.search(url):
                found.append({"name": str(name), "url": url, "scope": scope, "auth": "oauth"})
    return found


def configured_servers() -> list[dict[str, str]]:
    """Claude Code servers using this CLI: the user's own (`~/.claude.json`), then the machine's
    (`managed-mcp.json`, where a machine set up in managed mode lists them)."""
    return servers_in(paths.claude_user_config(), "user") + servers_in(paths.claude_managed_config(), "managed")


def collect(service_override: str | None) -> dict[str, Any]:
    """Everything `status` shows, as data (also `snowmcp status --json`)."""
    report: dict[str, Any] = {"signed_in": False, "service_ok": False, "warnings": [], "problems": []}
    try:
        cfg = config.load(service_override)
    except ClientError as exc:
        report["problems"].append(str(exc))
        cfg = config.Config(service_url=None)
    record = credentials.peek()
    service = cfg.service_url or (record or {}).get("service_url")
    report["service_url"] = service
    report["servers"] = configured_servers()
    if record:
        report["username"] = record.get("username")
        report["key_storage"] = record.get("storage")
        if service and record.get("service_url") != service:
            report["warnings"].append(
                f"signed in at {record.get('service_url')} but configured for {service}: run `snowmcp login`"
            )
    if cfg.login and record and str(record.get("username", "")).lower() != cfg.login.lower():
        report["warnings"].append(f"signed in as {record.get('username')} but onboarded as {cfg.login}")
    if not service:
        report["problems"].append("no token service configured")
        return report
    try:
        service_api.request("GET", f"{service}/healthz", timeout=cfg.timeout)
        report["service_ok"] = True
    except ClientError as exc:
        report["problems"].append(str(exc))
        return report
    if not record:
        report["problems"].append("not signed in: run `snowmcp login`")
        return report
    try:
        creds = credentials.load()
        me = service_api.request("GET", f"{service}/v1/me", api_key=creds.api_key, timeout=cfg.timeout)
    except ClientError as exc:
        report["problems"].append(str(exc))
        return report
    report["signed_in"] = True
    report["username"] = me.get("username", report.get("username"))
    report["state"] = me.get("state")
    expires = me.get("refresh_token_expires_at")
    if isinstance(expires, (int, float)):
        days = (float(expires) - time.time()) / 86400
        report["refresh_token_expires_at"] = expires
        report["days_left"] = round(days, 1)
        if days < WARN_DAYS:
            report["warnings"].append(
                f"your Snowflake sign-in ends in {max(days, 0):.1f} days: run `snowmcp login` to renew it"
            )
    if me.get("state") not in (None, "active"):
        # The key still works for /v1/me, but no token will come: not usable until a new sign-in.
        report["signed_in"] = False
        report["problems"].append(f"the service reports your sign-in as {me.get('state')}: run `snowmcp login`")
    return report


def render(report: dict[str, Any]) -> str:
    lines = []
    who = report.get("username") or "nobody"
    lines.append(f"signed in as: {who if report['signed_in'] else who + ' (not usable)'}")
    if report.get("key_storage"):
        lines.append(f"API key in:   {'OS keyring' if report['key_storage'] == 'keyring' else paths.credentials_file()}")
    lines.append(f"service:      {report.get('service_url') or '-'} ({'answers' if report['service_ok'] else 'NOT answering'})")
    if "days_left" in report:
        lines.append(f"sign-in left: {report['days_left']} days")
    servers = report.get("servers") or []
    places = {"user": paths.claude_user_config(), "managed": paths.claude_managed_config()}
    lines.append(f"servers:      {len(servers)} configured" + ("" if servers else f" in {' or '.join(map(str, places.values()))}"))
    lines.extend(
        f"  - {s['name']}: {s['url']} ({places[s.get('scope', 'user')]})"
        + (" - OAuth: Claude Code signs in itself (/mcp in Claude Code)" if s.get("auth") == "oauth" else "")
        for s in servers
    )
    lines.extend(f"warning: {w}" for w in report["warnings"])
    lines.extend(f"problem: {p}" for p in report["problems"])
    return "\n".join(lines)
