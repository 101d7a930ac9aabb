"""Where Claude Code keeps its MCP server entries, and reading those files safely.

Shared by claude_mcp_server (which edits one entry) and claude_mcp_info (which reads them all).
Every file is reached through safe_files: no symlinked file, no folder symlinked by anyone but
root, only a regular file owned by its folder's owner, and no bigger than a cap.
Runs on the workstation, so Python 3.9 must be able to run it (no runtime `X | Y`).
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.safe_files import FolderMissingError, SafeFile, UnsafeFileError

MANAGED_FILES = {
    "darwin": "/Library/Application Support/ClaudeCode/managed-mcp.json",
    "linux": "/etc/claude-code/managed-mcp.json",  # also WSL
}

# ~/.claude.json is Claude Code's whole state, and older versions kept every prompt of every
# project in it: files of 15 MB to over 100 MB are reported (anthropics/claude-code #6394, #2593).
# A cap of a few MiB would lock those users out; 128 MiB still bounds what a user can make a root
# run read and parse (about a second and a few hundred MB of memory).
MAX_USER_FILE = 128 * 1024 * 1024
# .mcp.json and the managed files hold server entries only, written by hand or by IT: 4 MiB is
# thousands of entries.
MAX_SMALL_FILE = 4 * 1024 * 1024


class ClaudeConfigError(Exception):
    """A file that must not be edited (unsafe, not UTF-8, not JSON, wrong shape); the message names it."""


def own_home() -> str:
    """The running user's home as `~` means it: $HOME, else the password database."""
    return os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir


def managed_path() -> str:
    """Where Claude Code reads the machine's managed MCP servers, on this OS."""
    return MANAGED_FILES["darwin" if sys.platform == "darwin" else "linux"]


def max_size_for(path: str) -> int:
    return MAX_USER_FILE if os.path.basename(path) == ".claude.json" else MAX_SMALL_FILE


def system_owner(path: str) -> int | None:
    """root (0) for the machine's own managed file, whose folder must be root's; None for others."""
    return 0 if os.path.normpath(os.path.abspath(path)) in MANAGED_FILES.values() else None


def open_config(path: str, create_folder_mode: int | None = None) -> SafeFile:
    """The file's folder, opened safely (the caller closes it); ClaudeConfigError when unsafe."""
    try:
        return SafeFile(path, max_size_for(path), create_folder_mode, folder_owner=system_owner(path))
    except UnsafeFileError as exc:
        raise ClaudeConfigError(f"{exc}; left untouched") from None


def load_config(target: SafeFile) -> tuple[str | None, dict[str, Any] | None, os.stat_result | None]:
    """The file's text, parsed object and stat ((None, None, None) when missing).

    Raises ClaudeConfigError for anything that is unsafe to read or edit, with the position of a JSON error.
    """
    path = target.path
    try:
        raw, st = target.read()
    except UnsafeFileError as exc:
        raise ClaudeConfigError(f"{exc}; left untouched") from None
    except OSError as exc:
        raise ClaudeConfigError(f"cannot read {path}: {exc.strerror}") from None
    if raw is None:
        return None, None, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClaudeConfigError(f"{path} is not UTF-8 text ({exc.reason}); left untouched") from None
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
    return text, data, st


def read_config(path: str) -> tuple[str | None, dict[str, Any] | None]:
    """The file's text and parsed object ((None, None) when missing or its folder is missing).

    Raises ClaudeConfigError for anything that is unsafe to read or edit.
    """
    try:
        target = SafeFile(path, max_size_for(path), folder_owner=system_owner(path))
    except FolderMissingError:
        return None, None  # nothing to read
    except UnsafeFileError as exc:
        raise ClaudeConfigError(f"{exc}; left untouched") from None
    with target:
        text, data, _st = load_config(target)
    return text, data
