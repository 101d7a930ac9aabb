"""Where the client keeps its files.

The config folder is `~/.config/snowmcp` (or `$SNOWMCP_CONFIG_DIR`). It does
NOT follow `$XDG_CONFIG_HOME`: the onboarding role writes the config from an
Ansible session that cannot see the variables of the user's login shell, and
Claude Code starts the headers helper with yet another environment. A single
fixed place (with one explicit override) is the only one all three agree on.

On a machine set up in managed mode the role writes no per-user config: the client then
reads the system-wide `/etc/snowmcp/config.toml` (or `$SNOWMCP_SYSTEM_CONFIG`), which holds
only the service URL. The API key always stays per user, under the user's own home.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_DIR_ENV = "SNOWMCP_CONFIG_DIR"
SYSTEM_CONFIG_ENV = "SNOWMCP_SYSTEM_CONFIG"
SYSTEM_CONFIG = Path("/etc/snowmcp/config.toml")


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".config" / "snowmcp"


def config_file() -> Path:
    return config_dir() / "config.toml"


def system_config_file() -> Path:
    """The machine's config (managed mode), read only when the user has no config of their own."""
    override = os.environ.get(SYSTEM_CONFIG_ENV)
    return Path(override).expanduser() if override else SYSTEM_CONFIG


def config_files() -> list[Path]:
    """Where the config may be, in lookup order: the user's own, then the machine's."""
    return [config_file(), system_config_file()]


def credentials_file() -> Path:
    return config_dir() / "credentials"


def claude_user_config() -> Path:
    """Claude Code's user-scope file (its `mcpServers` apply in every folder)."""
    return Path.home() / ".claude.json"


def claude_managed_config() -> Path:
    """Claude Code's machine-wide `managed-mcp.json` (IT's servers; written in managed mode).

    The same two places as the collection's module_utils/claude_config.py: the client cannot
    import the collection, and Claude Code fixes these paths per OS.
    """
    if sys.platform == "darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-mcp.json")
    return Path("/etc/claude-code/managed-mcp.json")
