#!/usr/bin/python
# Copyright: snowmcp maintainers
# Apache-2.0
"""Ansible module: MCP server names in allowedMcpServers of Claude Code's managed-settings.json."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: claude_managed_settings
short_description: Merge MCP server names into the allow-list of Claude Code's managed-settings.json
version_added: "0.1.0"
description:
  - Claude Code reads administrator settings from C(managed-settings.json) beside C(managed-mcp.json)
    (Linux and WSL C(/etc/claude-code/managed-settings.json), macOS
    C(/Library/Application Support/ClaudeCode/managed-settings.json)). Its C(allowedMcpServers) list
    restricts which MCP servers users may use; managed settings outrank user and project settings.
  - This module makes sure an entry with only C(serverName) set to the name exists for each of O(allowed_servers) and
    that none exists for any of O(remove_servers). Every other key of the file and every other entry of
    the list (C(serverUrl), C(serverCommand) and name entries of other servers) is kept, so the settings
    IT manages by other means are never clobbered.
  - One merging module for both operating systems (macOS has no drop-in folder, so a merge is needed
    there anyway). The file is rewritten with its own indentation only when something changes, atomically,
    mode 0644 (every user's Claude Code reads it), owned by root when created by root.
  - When removing entries leaves C(allowedMcpServers) empty, the key goes too, since an empty list
    would block every server, which removing this module's entries never means. A file left holding
    no setting at all is removed.
  - A file that is not valid JSON, whose top level is not an object or whose C(allowedMcpServers) is
    not a list is never overwritten; the module fails before changing anything.
  - It also refuses, before changing anything, a file that is a symbolic link (never followed,
    so it cannot be pointed at another file), a folder on the way that is a symbolic link not
    owned by root in a root-owned folder, anything but a regular file (a FIFO, a device), a
    file not owned by the owner of its folder (root for C(/etc/claude-code), which must itself be
    root's) and a file bigger
    than 4 MiB. It writes a temporary file in the same folder through the folder's descriptor,
    gives it the old file's owner (the folder's for a new file) and O(mode), fsyncs and renames
    it over the file; a mode-only fix and a removal act on the file that was read, never on a
    path that could have been swapped.
  - Supports check mode and diff mode (the diff shows C(allowedMcpServers) only).
options:
  allowed_servers:
    description: Server names that must be in C(allowedMcpServers).
    type: list
    elements: str
    default: []
  remove_servers:
    description:
      - Server names whose C(serverName) entries must not be in C(allowedMcpServers) (this
        role's stale entries). A name in both options stays.
    type: list
    elements: str
    default: []
  path:
    description: Explicit file to edit instead of the one Claude Code reads on this OS.
    type: path
  mode:
    description: File mode to enforce.
    type: raw
    default: "0644"
notes:
  - Needs root (C(become)) for the system folder; the folder is created (mode 0755) when missing.
author:
  - snowmcp maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Allow the machine's Snowflake MCP servers, drop one that is gone
  snowmcp.core.claude_managed_settings:
    allowed_servers: [GONG_MCP, DOCS_MCP]
    remove_servers: [OLD_MCP]
  become: true

- name: Remove this role's entries again
  snowmcp.core.claude_managed_settings:
    remove_servers: [GONG_MCP, DOCS_MCP]
  become: true
"""

RETURN = r"""
path:
  description: The file the module looked at.
  returned: always
  type: str
  sample: /etc/claude-code/managed-settings.json
added:
  description: Names whose entries were added.
  returned: always
  type: list
  elements: str
  sample: [GONG_MCP]
removed:
  description: Names whose entries were removed.
  returned: always
  type: list
  elements: str
  sample: [OLD_MCP]
allowed_mcp_servers:
  description: C(allowedMcpServers) as it is now (null when the key is absent).
  returned: always
  type: list
  elements: dict
  sample: [{"serverName": "github"}, {"serverName": "GONG_MCP"}]
"""

import json
import os
import re
import stat
import sys
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snowmcp.core.plugins.module_utils.safe_files import (
    FolderMissingError,
    SafeFile,
    UnsafeFileError,
)

KEY = "allowedMcpServers"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The settings file holds IT's settings, written by hand or by tools: 4 MiB is far more than any.
MAX_SIZE = 4 * 1024 * 1024
SETTINGS_FILES = {
    "darwin": "/Library/Application Support/ClaudeCode/managed-settings.json",
    "linux": "/etc/claude-code/managed-settings.json",  # also WSL
}


def system_owner(path: str) -> int | None:
    """root (0) for the machine's own settings file, whose folder must be root's; None for a `path` elsewhere."""
    return 0 if path in SETTINGS_FILES.values() else None


def settings_path() -> str:
    """Where Claude Code reads the machine's managed settings, on this OS."""
    return SETTINGS_FILES["darwin" if sys.platform == "darwin" else "linux"]


def read(module: AnsibleModule, target: SafeFile) -> tuple[str | None, dict[str, Any], os.stat_result | None]:
    """The file's text (None when missing), object and stat; fails on anything it must not overwrite."""
    path = target.path
    try:
        raw, st = target.read()
        text = raw.decode("utf-8") if raw is not None else None
    except UnsafeFileError as exc:
        module.fail_json(msg=f"{exc}; left untouched", path=path)
        raise AssertionError("unreachable") from None
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}; left untouched", path=path)
        raise AssertionError("unreachable") from None
    if text is None:
        return None, {}, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        module.fail_json(msg=f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                         "left untouched - fix or move it, then run again", path=path)  # fmt: skip
    if not isinstance(data, dict):
        module.fail_json(msg=f"{path}: the top level is not a JSON object; left untouched", path=path)
    if KEY in data and not isinstance(data[KEY], list):
        module.fail_json(msg=f"{path}: {KEY} is not a list; left untouched", path=path)
    return text, data, st


def merged(current: list[Any] | None, allowed: list[str], remove: list[str]) -> tuple[list[Any] | None, list[str], list[str]]:
    """The new list (None: drop the key), the names added and the names removed."""
    entries = list(current or [])
    stale = set(remove) - set(allowed)

    def name_of(entry: Any) -> str | None:
        # Only a pure {"serverName": x} entry is one this module could have written.
        if isinstance(entry, dict) and set(entry) == {"serverName"} and isinstance(entry["serverName"], str):
            return str(entry["serverName"])
        return None

    removed = [n for n in (name_of(e) for e in entries) if n is not None and n in stale]
    kept = [e for e in entries if name_of(e) not in stale]
    present = {name_of(e) for e in kept}
    added = [n for n in dict.fromkeys(allowed) if n not in present]
    kept.extend({"serverName": n} for n in added)
    if current is None and not kept:
        return None, [], []
    if not kept and removed:
        return None, added, removed
    return kept, added, removed


def indent_of(text: str | None) -> str | None:
    """The file's indentation unit (None: one line), so a rewrite looks like the original."""
    if text is None:
        return "  "
    match = re.search(r"\n([ \t]+)\S", text)
    return match.group(1) if match else (None if "\n" not in text.strip() else "  ")


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    for name in params["allowed_servers"] + params["remove_servers"]:
        if not NAME_RE.match(name):
            module.fail_json(msg=f"server name {name!r} may only hold letters, digits, '_' and '-' (1-64)")
    try:
        mode = int(str(params["mode"]), 8) if not isinstance(params["mode"], int) else params["mode"]
    except ValueError:
        module.fail_json(msg=f"mode must be an octal string like '0644', got {params['mode']!r}")
    # Never resolved: a symlinked file is refused, a symlinked folder followed only if it is root's.
    path = os.path.normpath(os.path.abspath(params["path"] or settings_path()))
    try:
        target = SafeFile(path, MAX_SIZE, folder_owner=system_owner(path))
    except FolderMissingError:
        target = None  # no file either: created below, folder and all, only if something is to be added
    except UnsafeFileError as exc:
        module.fail_json(msg=f"{exc}; left untouched", path=path)
        raise AssertionError("unreachable") from None
    try:
        return edit(module, target, path, mode)
    finally:
        if target is not None:
            target.close()


def edit(module: AnsibleModule, target: SafeFile | None, path: str, mode: int) -> dict[str, Any]:
    params = module.params
    text, data, old_stat = read(module, target) if target is not None else (None, {}, None)
    current = data.get(KEY)
    new_list, added, removed = merged(current, params["allowed_servers"], params["remove_servers"])
    content_change = new_list != current
    mode_change = old_stat is not None and new_list is not None and stat.S_IMODE(old_stat.st_mode) != mode
    result: dict[str, Any] = {"changed": content_change or mode_change, "path": path, "added": added,
                              "removed": removed, "allowed_mcp_servers": new_list}  # fmt: skip
    if module._diff and content_change:
        result["diff"] = {"before_header": f"{path} {KEY}", "after_header": f"{path} {KEY}",
                          "before": json.dumps(current, indent=2) + "\n" if current is not None else "",
                          "after": json.dumps(new_list, indent=2) + "\n" if new_list is not None else ""}  # fmt: skip
    if module.check_mode or not result["changed"]:
        return result
    new_data = dict(data)
    if new_list is None:
        new_data.pop(KEY, None)
    else:
        new_data[KEY] = new_list
    try:
        if target is not None and old_stat is not None and not content_change:
            target.chmod(mode, old_stat)
        elif not new_data:
            if target is not None and old_stat is not None:
                target.unlink(old_stat)  # nothing but this module's entries was in it
        else:
            if target is None:
                # The system folder Claude Code reads; readable by every user, writable by its owner only.
                target = SafeFile(path, MAX_SIZE, create_folder_mode=0o755, folder_owner=system_owner(path))
            with target:
                target.replace((json.dumps(new_data, indent=indent_of(text), ensure_ascii=False) + "\n").encode("utf-8"),
                               mode, old_stat)  # fmt: skip
    except UnsafeFileError as exc:
        module.fail_json(msg=f"{exc}; left untouched", path=path)
    except OSError as exc:
        module.fail_json(msg=f"cannot write {path}: {exc.strerror} (needs become)", path=path)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "allowed_servers": {"type": "list", "elements": "str", "default": []},
            "remove_servers": {"type": "list", "elements": "str", "default": []},
            "path": {"type": "path"},
            "mode": {"type": "raw", "default": "0644"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
