"""Where the client keeps its files.

The config folder is `~/.config/snowmcp` (or `$SNOWMCP_CONFIG_DIR`). It does
NOT follow `$XDG_CONFIG_HOME`: the onboarding role writes the config from an
Ansible session that cannot see the variables of the user's login shell, and
Claude Code starts the headers helper with yet another environment. A single
fixed place (with one explicit override) is the only one all three agree on.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR_ENV = "SNOWMCP_CONFIG_DIR"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".config" / "snowmcp"


def config_file() -> Path:
    return config_dir() / "config.toml"


def credentials_file() -> Path:
    return config_dir() / "credentials"


def claude_user_config() -> Path:
    """Claude Code's user-scope file (its `mcpServers` apply in every folder)."""
    return Path.home() / ".claude.json"
