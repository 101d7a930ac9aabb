"""Where Claude Code keeps its MCP server entries, and reading those files safely.

Shared by claude_mcp_server (which edits one entry) and claude_mcp_info (which reads them all).
Runs on the workstation, so Python 3.9 must be able to run it (no runtime `X | Y`).
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from typing import Any

MANAGED_FILES = {
    "darwin": "/Library/Application Support/ClaudeCode/managed-mcp.json",
    "linux": "/etc/claude-code/managed-mcp.json",  # also WSL
}


class ClaudeConfigError(Exception):
    """A file that must not be edited (not UTF-8, not JSON, wrong shape); the message names it."""


def own_home() -> str:
    """The running user's home as `~` means it: $HOME, else the password database."""
    return os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir


def managed_path() -> str:
    """Where Claude Code reads the machine's managed MCP servers, on this OS."""
    return MANAGED_FILES["darwin" if sys.platform == "darwin" else "linux"]


def read_config(path: str) -> tuple[str | None, dict[str, Any] | None]:
    """The file's text and parsed object ((None, None) when missing).

    Raises ClaudeConfigError for anything that is unsafe to edit, with the position of a JSON error.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, None
    except UnicodeDecodeError as exc:
        raise ClaudeConfigError(f"{path} is not UTF-8 text ({exc.reason}); left untouched") from None
    except OSError as exc:
        raise ClaudeConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClaudeConfigError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "left untouched - fix or move it, then run again"
        ) from None
    if not isinstance(data, dict):
        raise ClaudeConfigError(f"{path}: the top level is not a JSON object; left untouched")
    if "mcpServers" in data and not isinstance(data["mcpServers"], dict):
        raise ClaudeConfigError(f"{path}: mcpServers is not a JSON object; left untouched")
    return text, data
