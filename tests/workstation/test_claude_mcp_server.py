"""claude_mcp_server: edits exactly one entry, never loses or corrupts anything else."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.workstation.moduleutil import modules_run_by, run_module, run_module_with_ansible

URL = "https://org-acct.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/gong_mcp"
HELPER = "/home/alice/.local/bin/snowmcp headers"

# What Claude Code keeps in ~/.claude.json (2-space JSON, no trailing newline), plus things a
# re-serialiser would change: escapes, number spellings, a compact nested object, a project-level
# mcpServers that must not be touched, and another user-added server.
CLAUDE_STATE = (
    '{\n  "numStartups": 12,\n  "installMethod": "npm",\n  "firstStartTime": "2026-11-27T08:04:21.058Z",\n'
    '  "machineID": "7ba0ab8ec2a4",\n  "tipsHistory": {"new-user-warmup": 1, "ide": 3},\n'
    '  "ratio": 1.50, "big": 1e3, "name": "Andr\\u00e9 \\"quoted\\" \\/ caf\u00e9",\n'
    '  "projects": {\n    "/home/alice/work": {\n      "allowedTools": [],\n'
    '      "mcpServers": {"proj-only": {"type": "stdio", "command": "x"}},\n'
    '      "hasTrustDialogAccepted": true\n    }\n  },\n'
    '  "mcpServers": {\n    "github": {\n      "type": "http",\n      "url": "https://api.githubcopilot.com/mcp/"\n    }\n  },\n'
    '  "userID": "abc"\n}'
)


def claude_file(home: Path, text: str = CLAUDE_STATE, mode: int = 0o600) -> Path:
    path = home / ".claude.json"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_creates_a_missing_file_with_mode_0600(tmp_path: Path) -> None:
    result, _ = run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(tmp_path))
    path = tmp_path / ".claude.json"
    assert result["changed"] and result["action"] == "added"
    assert json.loads(path.read_text()) == {"mcpServers": {"gong_mcp": {"type": "http", "url": URL, "headersHelper": HELPER}}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".claude.json"], "no temporary file may be left behind"


def test_add_keeps_every_other_byte_and_remove_restores_the_file(tmp_path: Path) -> None:
    path = claude_file(tmp_path)
    result, _ = run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(tmp_path))
    assert result["changed"] and not result["reserialized"]
    text = path.read_text()
    data = json.loads(text)
    assert data["mcpServers"]["gong_mcp"] == {"type": "http", "url": URL, "headersHelper": HELPER}
    assert data["mcpServers"]["github"] == {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}
    assert data["projects"]["/home/alice/work"]["mcpServers"] == {"proj-only": {"type": "stdio", "command": "x"}}
    # Everything before the insertion point is untouched text, escapes and number spellings included.
    head = CLAUDE_STATE[: CLAUDE_STATE.index('\n    }\n  },\n  "userID"') + len("\n    }")]
    assert text.startswith(head)
    assert text.endswith('\n  },\n  "userID": "abc"\n}')
    assert '"ratio": 1.50, "big": 1e3' in text and "\\u00e9" in text and "\\/" in text

    result, _ = run_module(tmp_path, name="gong_mcp", state="absent", home=str(tmp_path))
    assert result["changed"] and result["action"] == "removed"
    assert path.read_text() == CLAUDE_STATE


def test_update_replaces_only_that_entry(tmp_path: Path) -> None:
    path = claude_file(tmp_path)
    run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(tmp_path))
    before = path.read_text()
    new_url = URL.replace("org-acct", "org-other")
    result, _ = run_module(tmp_path, name="gong_mcp", url=new_url, headers_helper=HELPER, home=str(tmp_path))
    assert result["action"] == "updated"
    after = path.read_text()
    assert after == before.replace(URL, new_url)


def test_second_run_changes_nothing_and_does_not_rewrite(tmp_path: Path) -> None:
    path = claude_file(tmp_path)
    run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(tmp_path))
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    result, _ = run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(tmp_path))
    assert not result["changed"] and result["action"] == "none"
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)


def test_check_mode_reports_without_writing_and_diff_shows_only_the_entry(tmp_path: Path) -> None:
    path = claude_file(tmp_path)
    result, _ = run_module(tmp_path, check=True, diff=True, name="gong_mcp", url=URL, headers_helper=HELPER,
                           home=str(tmp_path))  # fmt: skip
    assert result["changed"] and result["action"] == "added"
    assert path.read_text() == CLAUDE_STATE
    assert result["diff"]["before"] == ""
    assert json.loads(result["diff"]["after"]) == {"type": "http", "url": URL, "headersHelper": HELPER}
    assert "machineID" not in json.dumps(result["diff"])


def test_static_header_values_never_appear_in_output(tmp_path: Path) -> None:
    claude_file(tmp_path)
    result, raw = run_module(tmp_path, diff=True, name="static", url=URL, headers={"X-Api-Key": "s3cret-value"},
                             home=str(tmp_path))  # fmt: skip
    assert result["changed"]
    assert "s3cret-value" not in raw
    assert json.loads((tmp_path / ".claude.json").read_text())["mcpServers"]["static"]["headers"] == {
        "X-Api-Key": "s3cret-value"
    }
    # An existing secret header shown in a later diff is masked too.
    _, raw = run_module(tmp_path, diff=True, name="static", url=URL + "2", headers={"X-Api-Key": "other-secret"},
                        home=str(tmp_path))  # fmt: skip
    assert "s3cret-value" not in raw and "other-secret" not in raw


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"mcpServers": {"a": 1},,}', "not valid JSON (line 1, column 25"),
        ('{\n  "projects": {}\n  "oops": 1\n}', "not valid JSON (line 3"),
        ("[1, 2]", "top level is not a JSON object"),
        ('{"mcpServers": []}', "mcpServers is not a JSON object"),
        ("", "not valid JSON"),
    ],
)
def test_invalid_file_is_never_overwritten(tmp_path: Path, text: str, expected: str) -> None:
    path = claude_file(tmp_path, text, mode=0o644)
    result, _ = run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(tmp_path))
    assert result.get("failed") and expected in result["msg"], result
    assert "left untouched" in result["msg"]
    assert path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_symlinked_file_is_refused_not_followed(tmp_path: Path) -> None:
    """Issue 23: the module used to resolve a symlinked ~/.claude.json and edit (and chmod 0600)
    its target; run as root over a user's home that let the user point root at any JSON file.
    A dotfile manager's link is now refused with a clear message: replace the link by the file."""
    real = tmp_path / "dotfiles" / "claude.json"
    real.parent.mkdir()
    real.write_text(CLAUDE_STATE)
    real.chmod(0o644)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").symlink_to(real)
    result, _ = run_module(tmp_path, name="gong_mcp", url=URL, headers_helper=HELPER, home=str(home))
    assert result.get("failed") and result["msg"] == (
        f"{home / '.claude.json'} is a symbolic link, not a regular file; refusing to use it; left untouched"
    ), result
    assert (home / ".claude.json").is_symlink() and os.readlink(home / ".claude.json") == str(real)
    assert real.read_text() == CLAUDE_STATE and stat.S_IMODE(real.stat().st_mode) == 0o644


def test_mode_only_change_is_reported(tmp_path: Path) -> None:
    path = claude_file(tmp_path)
    run_module(tmp_path, name="gong_mcp", url=URL, home=str(tmp_path))
    path.chmod(0o664)
    text = path.read_text()
    result, _ = run_module(tmp_path, name="gong_mcp", url=URL, home=str(tmp_path))
    assert result["changed"] and result["action"] == "none"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == text


def test_project_scope_writes_mcp_json(tmp_path: Path) -> None:
    result, _ = run_module(tmp_path, name="gong_mcp", scope="project", project_dir=str(tmp_path), url=URL,
                           headers_helper="snowmcp headers")  # fmt: skip
    assert result["path"] == str(tmp_path / ".mcp.json")
    assert json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]["gong_mcp"]["headersHelper"] == "snowmcp headers"
    assert not (tmp_path / ".claude.json").exists()


def test_one_line_file_stays_one_line_and_empty_servers_object_is_filled(tmp_path: Path) -> None:
    path = claude_file(tmp_path, '{"a":1,"mcpServers":{}}')
    run_module(tmp_path, name="one", url=URL, home=str(tmp_path))
    text = path.read_text()
    assert "\n" not in text and json.loads(text) == {"a": 1, "mcpServers": {"one": {"type": "http", "url": URL}}}
    run_module(tmp_path, name="two", url=URL, home=str(tmp_path))
    assert list(json.loads(path.read_text())["mcpServers"]) == ["one", "two"]
    run_module(tmp_path, name="one", state="absent", home=str(tmp_path))
    run_module(tmp_path, name="two", state="absent", home=str(tmp_path))
    assert path.read_text() == '{"a":1}'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"name": "bad name", "url": URL}, "may only hold letters"),
        ({"name": "ok", "url": "ftp://x"}, "url must be an http(s) URL"),
        ({"name": "ok", "url": URL, "headers_helper": "a\nb"}, "one-line command"),
        ({"name": "ok", "url": URL, "mode": "0999"}, "octal"),
        ({"name": "ok"}, "url"),
    ],
)
def test_bad_input_fails_before_any_change(tmp_path: Path, args: dict[str, str], expected: str) -> None:
    path = claude_file(tmp_path)
    result, _ = run_module(tmp_path, home=str(tmp_path), **args)
    assert result.get("failed") and expected in result["msg"], result
    assert path.read_text() == CLAUDE_STATE


def test_absent_on_missing_file_is_a_no_op(tmp_path: Path) -> None:
    result, _ = run_module(tmp_path, name="gong_mcp", state="absent", home=str(tmp_path))
    assert not result["changed"] and not os.path.exists(tmp_path / ".claude.json")


def test_removing_the_only_entry_of_a_file_the_module_created_deletes_it(tmp_path: Path) -> None:
    run_module(tmp_path, name="gong_mcp", url=URL, home=str(tmp_path))
    result, _ = run_module(tmp_path, name="gong_mcp", state="absent", home=str(tmp_path))
    assert result["changed"] and not (tmp_path / ".claude.json").exists()


def test_runs_on_a_python_39_target_through_ansible(tmp_path: Path, python39: Path) -> None:
    """macOS's own Python is 3.9: the module and its module_utils must run there, shipped by Ansible."""
    path = claude_file(tmp_path, mode=0o644)
    added = run_module_with_ansible(tmp_path, python39, name="gong_mcp", url=URL, headers_helper=HELPER,
                                    home=str(tmp_path))  # fmt: skip
    assert added.get("changed") is True and added.get("action") == "added", added
    assert json.loads(path.read_text())["mcpServers"]["gong_mcp"] == {"type": "http", "url": URL, "headersHelper": HELPER}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    removed = run_module_with_ansible(tmp_path, python39, name="gong_mcp", state="absent", home=str(tmp_path))
    assert removed.get("action") == "removed", removed
    assert path.read_text() == CLAUDE_STATE, "every other byte is kept"
    assert modules_run_by(tmp_path) == ["AnsiballZ_claude_mcp_server.py"] * 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".claude.json"]


def test_managed_scope_writes_a_world_readable_file_and_keeps_other_entries(tmp_path: Path) -> None:
    # path= stands in for /etc/claude-code/managed-mcp.json (the real folder is used by the
    # Claude Code test in test_e2e_claude.py); everything else is the managed scope's behaviour.
    managed = tmp_path / "managed-mcp.json"
    it_owned = '{\n    "mcpServers": {\n        "wiki": {"type": "http", "url": "https://wiki.example.com/mcp"}\n    }\n}\n'
    managed.write_text(it_owned)
    managed.chmod(0o644)
    result, _ = run_module(tmp_path, name="GONG_MCP", url=URL, headers_helper="/usr/local/bin/snowmcp headers",
                           scope="managed", path=str(managed))  # fmt: skip
    assert result["changed"] and result["action"] == "added"
    assert stat.S_IMODE(managed.stat().st_mode) == 0o644
    data = json.loads(managed.read_text())
    assert data["mcpServers"]["wiki"] == {"type": "http", "url": "https://wiki.example.com/mcp"}
    assert data["mcpServers"]["GONG_MCP"]["headersHelper"] == "/usr/local/bin/snowmcp headers"
    result, _ = run_module(tmp_path, name="GONG_MCP", state="absent", scope="managed", path=str(managed))
    assert result["action"] == "removed" and managed.read_text() == it_owned


def test_managed_scope_targets_the_file_claude_code_reads_on_each_os(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.snowmcp.core.plugins.module_utils import claude_config
    from ansible_collections.snowmcp.core.plugins.modules import claude_mcp_server as mod

    params = {"path": None, "scope": "managed", "home": None, "project_dir": None}
    monkeypatch.setattr(claude_config.sys, "platform", "linux")
    assert mod.target_path(params) == "/etc/claude-code/managed-mcp.json"
    monkeypatch.setattr(claude_config.sys, "platform", "darwin")
    assert mod.target_path(params) == "/Library/Application Support/ClaudeCode/managed-mcp.json"
