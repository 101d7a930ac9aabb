#!/usr/bin/python
# Copyright: snowmcp maintainers
# Apache-2.0
"""Ansible module: one MCP server entry in Claude Code's ~/.claude.json, a project's .mcp.json or managed-mcp.json."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: claude_mcp_server
short_description: Manage one MCP server entry in Claude Code's configuration
version_added: "0.1.0"
description:
  - Adds, updates or removes one entry of the top-level C(mcpServers) object in
    Claude Code's user file C(~/.claude.json) (O(scope=user), servers available in every folder),
    in a project's C(.mcp.json) (O(scope=project), servers need the user's approval), or in the
    machine's C(managed-mcp.json) (O(scope=managed), servers for every user of the machine, which
    users cannot change or remove).
  - C(~/.claude.json) also holds Claude Code's own state (machine id, onboarding flags,
    per-project settings). The module edits the text of the one entry in place, so every
    other byte of the file (other keys, their order, whitespace, number formats, escapes)
    stays exactly as it was. Only if that in-place edit cannot be verified does it
    re-serialise the whole file (values preserved, formatting normalised to the file's
    indentation) and return RV(reserialized=true).
  - Writes atomically - a temporary file created in the same folder (through the folder's
    descriptor, never by a path that could be swapped), given the owner and group of the
    existing file (of the folder for a new file) and O(mode), fsynced, then renamed over the
    file. The text is never readable beyond O(mode).
  - Safe to run as root over a user's home. It refuses, naming the file and the reason and
    before changing anything, a file that is a symbolic link (it is never followed, so
    C(~/.claude.json -> /etc/claude-code/managed-mcp.json) cannot make root edit, chmod or
    delete the link's target), a folder on the way that is a symbolic link not owned by root in
    a root-owned folder, anything but a regular file (a FIFO, a device, a folder), a file not
    owned by the owner of its folder (the home's owner in a home, root in C(/etc/claude-code),
    which must itself be root's; this also refuses a hard link to someone else's file), and a file bigger than 128 MiB
    (C(~/.claude.json), which older Claude Code versions filled with prompt history) or 4 MiB
    (C(.mcp.json), C(managed-mcp.json)). The same checks run again on what is opened, and the
    file is only replaced or removed if it is still the one that was read, so swapping it
    between two module runs or during one changes nothing but this refusal.
  - A symlinked C(~/.claude.json) (dotfile managers) is therefore refused, not followed as it was
    before; replace the link by the file.
  - A file that is not valid JSON, or whose top level or C(mcpServers) is not an object, is
    never overwritten; the module fails with the position of the error instead.
  - Supports check mode and diff mode. The diff shows only this entry, with header values masked.
options:
  name:
    description: Server name as Claude Code shows it (letters, digits, C(_) and C(-)).
    type: str
    required: true
  state:
    description: Whether the entry should exist.
    type: str
    choices: [present, absent]
    default: present
  scope:
    description:
      - V(user) edits C(<home>/.claude.json); V(project) edits C(<project_dir>/.mcp.json).
      - V(managed) edits the administrator-owned file Claude Code reads for every user of the machine -
        C(/etc/claude-code/managed-mcp.json) on Linux and WSL,
        C(/Library/Application Support/ClaudeCode/managed-mcp.json) on macOS. Its folder is created
        (mode 0755) when missing. Needs root (C(become)); the file stays owned by the folder's owner.
      - With a C(managed-mcp.json) present, users get exactly its servers and cannot add their own.
    type: str
    choices: [user, project, managed]
    default: user
  home:
    description: Home folder for O(scope=user). Defaults to the home of the user running the module.
    type: path
  project_dir:
    description: Project root for O(scope=project). Required with that scope unless O(path) is given.
    type: path
  path:
    description: Explicit file to edit; overrides what O(scope), O(home) and O(project_dir) imply.
    type: path
  type:
    description: Transport of the server.
    type: str
    choices: [http, sse]
    default: http
  url:
    description: Server URL (http or https). Required when O(state=present).
    type: str
  headers_helper:
    description:
      - Shell command Claude Code runs when it connects; must print one JSON object of headers,
        for example C(/home/alice/.local/bin/snowmcp headers).
    type: str
    aliases: [headersHelper]
  headers:
    description:
      - Static headers. Values may be secret, so they are never shown in output or diffs.
        C(headersHelper) output overrides headers of the same name.
    type: dict
  oauth:
    description:
      - >-
        Claude Code signs in to the server itself with this pre-registered OAuth client (authorization code
        with PKCE in the user's browser; Claude Code keeps and refreshes the tokens). The entry gets an
        C(oauth) object with C(clientId) and C(callbackPort), exactly what
        C(claude mcp add --transport http --client-id ID --callback-port PORT) writes.
      - Only public clients; a client secret never goes into the file (Claude Code keeps one in its own
        credential store), so there is no option for it.
      - Mutually exclusive with O(headers_helper).
    type: dict
    suboptions:
      client_id:
        description: The OAuth client id (Snowflake's C(OAUTH_CLIENT_ID), or the identity provider application's).
        type: str
        required: true
      callback_port:
        description:
          - The fixed local port Claude Code listens on for the redirect (C(--callback-port)); the authorization
            server must accept C(http://localhost:<port>/callback) as redirect URI. Omitted, Claude Code picks one.
        type: int
  mode:
    description:
      - File mode to enforce. Default C(0600) (Claude Code itself keeps C(~/.claude.json) at 0600), and
        C(0644) for O(scope=managed), which every user's Claude Code must be able to read.
    type: raw
notes:
  - The entry is managed as a whole; keys of an existing entry that are not options here are removed.
  - Claude Code may rewrite C(~/.claude.json) while it runs; the module re-reads the file just
    before replacing it and starts over if it changed in between.
author:
  - snowmcp maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Snowflake MCP server for every folder, token from the snowmcp CLI
  snowmcp.core.claude_mcp_server:
    name: gong_mcp
    url: https://myorg-myaccount.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp
    headers_helper: /home/alice/.local/bin/snowmcp headers

- name: Project-scoped entry (needs approval in Claude Code)
  snowmcp.core.claude_mcp_server:
    name: gong_mcp
    scope: project
    project_dir: /srv/analytics
    url: https://myorg-myaccount.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp
    headers_helper: snowmcp headers

- name: The server for every user of this machine (enterprise-managed; users cannot remove it)
  snowmcp.core.claude_mcp_server:
    name: gong_mcp
    scope: managed
    url: https://myorg-myaccount.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp
    headers_helper: /usr/local/bin/snowmcp headers
  become: true

- name: Claude Code signs in itself (Snowflake OAuth public client or the corporate IdP), no helper
  snowmcp.core.claude_mcp_server:
    name: gong_mcp
    url: https://myorg-myaccount.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp
    oauth:
      client_id: 3dR9kZx0aQ1y2b7WmV8pLcN4sTe=
      callback_port: 8765

- name: Remove the entry again
  snowmcp.core.claude_mcp_server:
    name: gong_mcp
    state: absent
"""

RETURN = r"""
path:
  description: The file the module looked at (as given, normalised; symlinks are refused, never resolved).
  returned: always
  type: str
  sample: /home/alice/.claude.json
action:
  description: What happened to the entry.
  returned: always
  type: str
  sample: added
  choices: [added, updated, removed, none]
entry:
  description: The entry as it is now (header values masked); null when absent.
  returned: always
  type: dict
  sample: {"type": "http", "url": "https://...", "headersHelper": "/home/alice/.local/bin/snowmcp headers"}
  contains:
    oauth:
      description: The pre-registered OAuth client, with O(oauth).
      returned: with O(oauth)
      type: dict
      sample: {"clientId": "3dR9kZx0aQ1y2b7WmV8pLcN4sTe=", "callbackPort": 8765}
reserialized:
  description: True when the in-place edit could not be verified and the whole file was rewritten.
  returned: always
  type: bool
  sample: false
"""

import json
import os
import re
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snowmcp.core.plugins.module_utils.claude_config import (
    ClaudeConfigError,
    load_config,
    managed_path,
    open_config,
    own_home,
)
from ansible_collections.snowmcp.core.plugins.module_utils.safe_files import SafeFile, UnsafeFileError

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OAUTH_CLIENT_ID_RE = re.compile(r"^[!-~]{1,255}$")
WS = " \t\r\n"
MASK = "********"


class Member:
    """Where one `"key": value` pair sits in the text (indices into the file)."""

    def __init__(self, key: str, start: int, value_start: int, value_end: int) -> None:
        self.key, self.start, self.value_start, self.value_end = key, start, value_start, value_end


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in WS:
        i += 1
    return i


def _string_end(text: str, i: int) -> int:
    """Index just past the JSON string starting at text[i] == '"'."""
    i += 1
    while True:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        else:
            i += 1


def _value_end(text: str, i: int) -> int:
    """Index just past the JSON value starting at i (the text is known to be valid JSON)."""
    c = text[i]
    if c == '"':
        return _string_end(text, i)
    if c in "{[":
        depth = 0
        while True:
            c = text[i]
            if c == '"':
                i = _string_end(text, i)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    while i < len(text) and text[i] not in WS + ",]}":
        i += 1
    return i


def scan_object(text: str, i: int) -> tuple[list[Member], int]:
    """Members of the object whose '{' is at i, and the index of its closing '}'."""
    members: list[Member] = []
    i = _skip_ws(text, i + 1)
    if text[i] == "}":
        return members, i
    while True:
        start = i
        key_end = _string_end(text, i)
        key = json.loads(text[start:key_end])
        i = _skip_ws(text, key_end)  # at ':'
        value_start = _skip_ws(text, i + 1)
        value_end = _value_end(text, value_start)
        members.append(Member(key, start, value_start, value_end))
        i = _skip_ws(text, value_end)
        if text[i] == "}":
            return members, i
        i = _skip_ws(text, i + 1)  # past ','


def _line_indent(text: str, i: int) -> str:
    """The whitespace that starts the line containing index i."""
    line_start = text.rfind("\n", 0, i) + 1
    j = line_start
    while j < len(text) and text[j] in " \t":
        j += 1
    return text[line_start:j]


def _unit(text: str, members: list[Member]) -> str | None:
    """The file's indentation unit (None for a one-line file)."""
    if not members or "\n" not in text[: members[0].start]:
        return None
    return _line_indent(text, members[0].start) or "  "


def _dump(value: Any, unit: str | None, indent: str) -> str:
    if unit is None:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + indent)


def _find(members: list[Member], key: str) -> Member | None:
    found = None
    for m in members:
        if m.key == key:
            found = m  # JSON parsers keep the last duplicate: edit that one
    return found


def set_member(text: str, obj_start: int, key: str, value: Any, unit: str | None) -> str:
    """Text with `key` set to `value` in the object at obj_start, touching nothing else."""
    members, close = scan_object(text, obj_start)
    existing = _find(members, key)
    if existing is not None:
        indent = _line_indent(text, existing.start)
        return text[: existing.value_start] + _dump(value, unit, indent) + text[existing.value_end :]
    if members:
        last = members[-1]
        if unit is None:
            piece = ", " + json.dumps(key, ensure_ascii=False) + ": " + _dump(value, None, "")
        else:
            indent = _line_indent(text, last.start)
            piece = ",\n" + indent + json.dumps(key, ensure_ascii=False) + ": " + _dump(value, unit, indent)
        return text[: last.value_end] + piece + text[last.value_end :]
    # Empty object: lay it out like its surroundings.
    if unit is None:
        body = "{" + json.dumps(key, ensure_ascii=False) + ": " + _dump(value, None, "") + "}"
    else:
        outer = _line_indent(text, obj_start)
        inner = outer + unit
        body = "{\n" + inner + json.dumps(key, ensure_ascii=False) + ": " + _dump(value, unit, inner) + "\n" + outer + "}"
    return text[:obj_start] + body + text[close + 1 :]


def remove_member(text: str, obj_start: int, key: str) -> str:
    members, close = scan_object(text, obj_start)
    for idx in range(len(members) - 1, -1, -1):
        if members[idx].key != key:
            continue
        m = members[idx]
        if len(members) == 1:
            text = text[: obj_start + 1] + text[close:]
        elif idx < len(members) - 1:
            text = text[: m.start] + text[members[idx + 1].start :]
        else:
            text = text[: members[idx - 1].value_end] + text[m.value_end :]
        members, close = scan_object(text, obj_start)
    return text


def edit_text(text: str, name: str, entry: dict[str, Any] | None, unit_default: str = "  ") -> str:
    """The file text with mcpServers[name] set to entry (None removes it)."""
    top = _skip_ws(text, 0)
    members = scan_object(text, top)[0]
    unit = _unit(text, members) if members else unit_default
    servers = _find(members, "mcpServers")
    if entry is None:
        if servers is None:
            return text
        text = remove_member(text, servers.value_start, name)
        # An mcpServers left empty goes too (Claude Code treats a missing one as empty), so
        # adding then removing the only server gives back the original file byte for byte.
        if not scan_object(text, servers.value_start)[0]:
            text = remove_member(text, top, "mcpServers")
        return text
    if servers is None:
        return set_member(text, top, "mcpServers", {name: entry}, unit)
    return set_member(text, servers.value_start, name, entry, unit)


def masked(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: MASK for k in out["headers"]}
    return out


def target_path(params: dict[str, Any]) -> str:
    if params["path"]:
        path = params["path"]
    elif params["scope"] == "managed":
        path = managed_path()
    elif params["scope"] == "user":
        path = os.path.join(params["home"] or own_home(), ".claude.json")
    else:
        path = os.path.join(params["project_dir"], ".mcp.json")
    # The options are type=path (already expanded). Never resolved: a symlink is refused, not followed.
    return os.path.normpath(os.path.abspath(path))


def parse_mode(module: AnsibleModule, raw: Any) -> int:
    try:
        mode = int(str(raw), 8) if not isinstance(raw, int) else raw
    except ValueError:
        module.fail_json(msg=f"mode must be an octal string like '0600', got {raw!r}")
    if mode & ~0o7777:
        module.fail_json(msg=f"mode {raw!r} is out of range")
    return mode


def read(module: AnsibleModule, target: SafeFile) -> tuple[str | None, dict[str, Any] | None, os.stat_result | None]:
    """The file's text, parsed object and stat (all None when missing); fails on anything unsafe."""
    try:
        return load_config(target)
    except ClaudeConfigError as exc:
        module.fail_json(msg=str(exc), path=target.path)
        raise AssertionError("unreachable") from None


def desired_entry(params: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": params["type"], "url": params["url"]}
    if params["headers_helper"]:
        entry["headersHelper"] = params["headers_helper"]
    if params["headers"]:
        entry["headers"] = {str(k): str(v) for k, v in params["headers"].items()}
    oauth = params["oauth"]
    if oauth:
        # Key names and order as `claude mcp add --client-id ID --callback-port PORT` writes them
        # (checked with Claude Code 2.1.197: "headers" before "oauth", "clientId" before "callbackPort").
        entry["oauth"] = {"clientId": oauth["client_id"]}
        if oauth["callback_port"] is not None:
            entry["oauth"]["callbackPort"] = oauth["callback_port"]
    return entry


def validate(module: AnsibleModule, params: dict[str, Any]) -> None:
    if not NAME_RE.match(params["name"]):
        module.fail_json(msg=f"name {params['name']!r} may only hold letters, digits, '_' and '-' (1-64)")
    if params["scope"] == "project" and not params["path"] and not params["project_dir"]:
        module.fail_json(msg="scope=project needs project_dir (or path)")
    if params["state"] == "present":
        url = params["url"] or ""
        if not re.match(r"^https?://[^/\s]+", url):
            module.fail_json(msg=f"url must be an http(s) URL, got {url!r}")
        helper = params["headers_helper"]
        if helper is not None and (not helper.strip() or "\n" in helper):
            module.fail_json(msg="headers_helper must be a one-line command")
        oauth = params["oauth"]
        if oauth:
            if not OAUTH_CLIENT_ID_RE.match(oauth["client_id"] or ""):
                module.fail_json(msg="oauth.client_id must be 1-255 printable characters without spaces")
            port = oauth["callback_port"]
            # Claude Code runs as the user: it cannot listen on a privileged port.
            if port is not None and not 1024 <= port <= 65535:
                module.fail_json(msg=f"oauth.callback_port must be 1024-65535, got {port}")


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    validate(module, params)
    default_mode = "0644" if params["scope"] == "managed" else "0600"
    mode = parse_mode(module, params["mode"] if params["mode"] is not None else default_mode)
    path = target_path(params)
    name = params["name"]
    want = desired_entry(params) if params["state"] == "present" else None
    folder = os.path.dirname(path)
    create_folder = None
    if params["scope"] == "managed" and not os.path.lexists(folder):
        if want is None:
            return {"changed": False, "path": path, "action": "none", "entry": None, "reserialized": False}
        if module.check_mode:
            return {"changed": True, "path": path, "action": "added", "entry": masked(want), "reserialized": False}
        # The system folder Claude Code reads; readable by every user, writable by its owner only.
        create_folder = 0o755
    try:
        target = open_config(path, create_folder)
    except ClaudeConfigError as exc:
        hint = " (scope=managed needs become)" if create_folder is not None else ""
        module.fail_json(msg=f"{exc}{hint}", path=path)
        raise AssertionError("unreachable") from None
    with target:
        return edit(module, target, name, want, mode)


def edit(module: AnsibleModule, target: SafeFile, name: str, want: dict[str, Any] | None, mode: int) -> dict[str, Any]:
    """The edit itself, every read and write through the folder's descriptor `target` holds."""
    path = target.path
    for _attempt in range(3):
        text, data, old_stat = read(module, target)
        have = (data or {}).get("mcpServers", {}).get(name)
        content_change = have != want
        # The mode is enforced on files we keep an entry in, not on files we only remove from.
        mode_change = want is not None and old_stat is not None and stat.S_IMODE(old_stat.st_mode) != mode
        action = "none"
        if content_change:
            action = "removed" if want is None else ("updated" if have is not None else "added")
        result: dict[str, Any] = {
            "changed": content_change or mode_change, "path": path, "action": action,
            "entry": masked(want), "reserialized": False,
        }  # fmt: skip
        if module._diff and content_change:
            result["diff"] = {
                "before_header": f"{path} mcpServers.{name}",
                "after_header": f"{path} mcpServers.{name}",
                "before": json.dumps(masked(have), indent=2) + "\n" if have is not None else "",
                "after": json.dumps(masked(want), indent=2) + "\n" if want is not None else "",
            }
        if module.check_mode or not result["changed"]:
            return result
        try:
            if not content_change:
                if old_stat is None:  # mode_change implies an existing file
                    raise AssertionError("a mode change without a file")
                target.chmod(mode, old_stat)
                return result
            new_text = updated_text(text, data, name, want, result)
            # Claude Code may have written the file since we read it: start over if so.
            current, _data, current_stat = read(module, target)
            if current != text or not same(old_stat, current_stat):
                continue
            if new_text is None:
                # Nothing but our entry was ever in it (we created it): remove the file itself.
                if old_stat is None:  # only an existing file can hold our entry
                    raise AssertionError("an entry to remove without a file")
                target.unlink(old_stat)
                return result
            target.replace(new_text.encode("utf-8"), mode, old_stat)
        except UnsafeFileError as exc:
            module.fail_json(msg=f"{exc}; left untouched", path=path)
        except OSError as exc:
            module.fail_json(msg=f"cannot write {path}: {exc.strerror}", path=path)
        return result
    module.fail_json(msg=f"{path} kept changing while being edited; try again", path=path)
    raise AssertionError("unreachable")


def same(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    """Both missing, or the same file (device and inode)."""
    if a is None or b is None:
        return a is b
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def updated_text(text: str | None, data: dict[str, Any] | None, name: str, want: dict[str, Any] | None,
                 result: dict[str, Any]) -> str | None:  # fmt: skip
    """The new file text (None: the file should go, it held nothing but this entry)."""
    expected = dict(data or {})
    servers = dict(expected.get("mcpServers", {}))
    if want is None:
        servers.pop(name, None)
    else:
        servers[name] = want
    expected["mcpServers"] = servers
    if not servers:
        del expected["mcpServers"]
    if want is None and not expected:
        return None
    if text is None:
        return json.dumps({"mcpServers": {name: want}}, indent=2, ensure_ascii=False) + "\n"
    try:
        new_text = edit_text(text, name, want)
        ok = json.loads(new_text) == expected
    except (ValueError, IndexError):
        ok = False
    if not ok:
        # Should not happen with valid JSON; values are still kept exactly.
        new_text = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
        result["reserialized"] = True
    return new_text


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "scope": {"type": "str", "choices": ["user", "project", "managed"], "default": "user"},
            "home": {"type": "path"},
            "project_dir": {"type": "path"},
            "path": {"type": "path"},
            "type": {"type": "str", "choices": ["http", "sse"], "default": "http"},
            "url": {"type": "str"},
            "headers_helper": {"type": "str", "aliases": ["headersHelper"]},
            "headers": {"type": "dict", "no_log": True},
            "oauth": {
                "type": "dict",
                "options": {
                    "client_id": {"type": "str", "required": True},
                    "callback_port": {"type": "int"},
                },
            },
            "mode": {"type": "raw"},
        },
        required_if=[("state", "present", ("url",))],
        mutually_exclusive=[("oauth", "headers_helper")],
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
