#!/usr/bin/python
# Copyright: snowmcp maintainers
# Apache-2.0
"""Ansible module: the MCP server entries in Claude Code's three files, read in one step."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: claude_mcp_info
short_description: Read the MCP server entries Claude Code has for a user and a machine
version_added: "0.1.0"
description:
  - Reads, in one module run, the three files Claude Code takes MCP servers from - the user's
    C(~/.claude.json), a project's C(.mcp.json) and the machine's C(managed-mcp.json)
    (C(/etc/claude-code/managed-mcp.json) on Linux and WSL,
    C(/Library/Application Support/ClaudeCode/managed-mcp.json) on macOS) - and says which
    entries use the given C(headersHelper) commands, that is which entries a tool that writes
    them with a known helper added before.
  - Fails, naming the file and the position of the error, when a file that exists is not UTF-8,
    not valid JSON, or its top level or C(mcpServers) is not an object. These are the files
    M(snowmcp.core.claude_mcp_server) refuses to edit, so asking this module first stops a play
    before it changes anything.
  - Refuses (fails, naming the file and the reason, before reading it) a file that is a symbolic
    link, a folder on the way that is a symbolic link not owned by root in a root-owned folder
    (for example C(~/.config -> /home/other/.config)), anything but a regular file (a FIFO, a
    device, a folder), a file not owned by the owner of its folder (the home's owner in a home,
    root in C(/etc/claude-code), which must itself be root's; this also refuses a hard link to someone else's file), and a
    file bigger than 128 MiB (C(~/.claude.json)) or 4 MiB (C(.mcp.json), C(managed-mcp.json)).
    Running as root over a user's home, the play can therefore not be made to read another
    user's or root's file, nor hang on a FIFO. A symlinked C(~/.claude.json) (dotfile managers)
    must be replaced by the file itself.
  - Returns entry names only, never their URLs, headers, commands or environment, which may
    hold secrets.
  - Changes nothing; runs the same in check mode.
options:
  home:
    description: Home folder whose C(.claude.json) is read. Defaults to the home of the user running the module.
    type: path
  project_dir:
    description: Project root whose C(.mcp.json) is read. Not read when omitted.
    type: path
  headers_helpers:
    description:
      - C(headersHelper) commands to recognise; RV(user.by_helper) and the others list, for each,
        the entries whose C(headersHelper) is exactly that command.
    type: list
    elements: str
    default: []
  oauth_account_urls:
    description:
      - Snowflake account base URLs (such as C(https://myorg-myaccount.snowflakecomputing.com)). With them,
        RV(user.oauth) and the others list the entries through which Claude Code signs in itself (they have an
        C(oauth) object, see M(snowmcp.core.claude_mcp_server)) to an MCP server of one of these accounts
        (C(<account>/api/v2/databases/.../mcp-servers/...)), whatever their client id - the native sign-in
        entries a tool wrote before, also after the client id changed.
    type: list
    elements: str
author:
  - snowmcp maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Find the entries the snowmcp client serves
  snowmcp.core.claude_mcp_info:
    home: /home/alice
    project_dir: /home/alice
    headers_helpers:
      - /home/alice/.local/bin/snowmcp headers
      - /usr/local/bin/snowmcp headers
  register: claude

- name: Also find the entries through which Claude Code signs in to the account itself
  snowmcp.core.claude_mcp_info:
    home: /home/alice
    oauth_account_urls: [https://myorg-myaccount.snowflakecomputing.com]
  register: claude_native

- name: Show them
  ansible.builtin.debug:
    msg: "{{ claude.user.by_helper['/home/alice/.local/bin/snowmcp headers'] }}"
"""

RETURN = r"""
user:
  description: The user's C(~/.claude.json) (servers for every folder).
  returned: always
  type: dict
  contains:
    path:
      description: The file (as given, normalised; symlinks are refused, never resolved).
      type: str
      sample: /home/alice/.claude.json
    exists:
      description: Whether the file exists.
      type: bool
    servers:
      description: Names of every entry of C(mcpServers), sorted.
      type: list
      elements: str
      sample: [github, gong_mcp]
    by_helper:
      description: For each of O(headers_helpers), the sorted names of the entries that use it.
      type: dict
      sample: {"/home/alice/.local/bin/snowmcp headers": [gong_mcp]}
    oauth:
      description: The sorted names of the entries with an C(oauth) client whose URL is an MCP server of O(oauth_account_urls).
      type: list
      elements: str
      returned: when O(oauth_account_urls) is given
      sample: [gong_mcp]
project:
  description: The project's C(.mcp.json), the same keys as RV(user); only with O(project_dir).
  returned: when O(project_dir) is given
  type: dict
managed:
  description: The machine's C(managed-mcp.json), the same keys as RV(user).
  returned: always
  type: dict
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snowmcp.core.plugins.module_utils.claude_config import (
    ClaudeConfigError,
    managed_path,
    own_home,
    read_config,
)


def native_entry(entry: Any, accounts: list[str]) -> bool:
    """Whether Claude Code signs in itself (an `oauth` object) to an MCP server of one of `accounts`."""
    if not isinstance(entry, dict) or not isinstance(entry.get("oauth"), dict):
        return False
    url = entry.get("url")
    return isinstance(url, str) and "/mcp-servers/" in url and any(
        url.startswith(account.rstrip("/") + "/api/v2/databases/") for account in accounts
    )


def describe(path: str, helpers: list[str], accounts: list[str] | None = None) -> dict[str, Any]:
    """What one file holds: entry names, which entries use each known helper (and which sign in themselves)."""
    path = os.path.normpath(os.path.abspath(path))
    text, data = read_config(path)
    servers = (data or {}).get("mcpServers", {})
    by_helper: dict[str, list[str]] = {helper: [] for helper in helpers}
    for name, entry in servers.items():
        helper = entry.get("headersHelper") if isinstance(entry, dict) else None
        if isinstance(helper, str) and helper in by_helper:
            by_helper[helper].append(name)
    described: dict[str, Any] = {
        "path": path,
        "exists": text is not None,
        "servers": sorted(servers),
        "by_helper": {helper: sorted(names) for helper, names in by_helper.items()},
    }
    if accounts is not None:
        described["oauth"] = sorted(name for name, entry in servers.items() if native_entry(entry, accounts))
    return described


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "home": {"type": "path"},
            "project_dir": {"type": "path"},
            "headers_helpers": {"type": "list", "elements": "str", "default": []},
            "oauth_account_urls": {"type": "list", "elements": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    helpers = list(params["headers_helpers"])
    result: dict[str, Any] = {"changed": False}
    files = {"user": os.path.join(params["home"] or own_home(), ".claude.json"), "managed": managed_path()}
    if params["project_dir"]:
        files["project"] = os.path.join(params["project_dir"], ".mcp.json")
    for key, path in files.items():
        try:
            result[key] = describe(path, helpers, params["oauth_account_urls"])
        except ClaudeConfigError as exc:
            module.fail_json(msg=str(exc), path=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
