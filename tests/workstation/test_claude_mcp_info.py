"""claude_mcp_info: one read of Claude Code's files, entry names only, the same refusals as the editor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.workstation.moduleutil import ROOT, run_module

MODULE = ROOT / "plugins" / "modules" / "claude_mcp_info.py"
OURS = "/home/alice/.local/bin/snowmcp headers"
MACHINE = "/usr/local/bin/snowmcp headers"
SECRETS = ("ghp_not_for_output", "sk-live-not-for-output", "https://api.example.com/mcp?key=url-secret")


def write(path: Path, servers: dict[str, object], **other: object) -> Path:
    path.write_text(json.dumps({**other, "mcpServers": servers}, indent=2))
    return path


def test_names_the_entries_of_each_helper_and_shows_no_value(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write(home / "real-claude.json", {
        "gong_mcp": {"type": "http", "url": "https://a/gong", "headersHelper": OURS},
        "docs_mcp": {"type": "http", "url": "https://a/docs", "headersHelper": OURS},
        "github": {"type": "http", "url": SECRETS[2], "headers": {"Authorization": SECRETS[0]}},
        "local": {"type": "stdio", "command": "x", "env": {"API_KEY": SECRETS[1]}},
        "machine_copy": {"type": "http", "url": "https://a/m", "headersHelper": MACHINE},
        "odd": "not an object",
    }, numStartups=3)  # fmt: skip
    (home / "real-claude.json").rename(home / ".claude.json")
    write(home / ".mcp.json", {"gong_mcp": {"type": "http", "url": "https://a/gong", "headersHelper": OURS + " "}})

    result, raw = run_module(tmp_path, module=MODULE, home=str(home), project_dir=str(home), headers_helpers=[OURS, MACHINE])
    assert result["changed"] is False and not result.get("failed"), result
    assert result["user"] == {
        "path": str(home / ".claude.json"),
        "exists": True,
        "servers": ["docs_mcp", "github", "gong_mcp", "local", "machine_copy", "odd"],
        "by_helper": {OURS: ["docs_mcp", "gong_mcp"], MACHINE: ["machine_copy"]},
    }
    # Exactly the helper's command: one with a trailing space is someone else's entry.
    assert result["project"]["by_helper"] == {OURS: [], MACHINE: []} and result["project"]["servers"] == ["gong_mcp"]
    assert result["managed"]["path"] in ("/etc/claude-code/managed-mcp.json",
                                         "/Library/Application Support/ClaudeCode/managed-mcp.json")  # fmt: skip
    assert set(result["managed"]) == {"path", "exists", "servers", "by_helper"}
    for secret in SECRETS:
        assert secret not in raw


def test_missing_files_are_empty_and_the_project_is_optional(tmp_path: Path) -> None:
    result, _ = run_module(tmp_path, module=MODULE, home=str(tmp_path), headers_helpers=[OURS])
    assert result["user"] == {"path": str(tmp_path / ".claude.json"), "exists": False, "servers": [], "by_helper": {OURS: []}}
    assert "project" not in result
    assert list(tmp_path.iterdir()) == [], "reading creates nothing"


@pytest.mark.parametrize(("text", "message"), [
    ('{"mcpServers": {"a": 1,}}', "is not valid JSON (line 1, column 24"),
    ("[1, 2]", "the top level is not a JSON object"),
    ('{"mcpServers": []}', "mcpServers is not a JSON object"),
])  # fmt: skip
def test_refuses_what_the_editor_would_refuse_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".mcp.json").write_text(text)
    result, _ = run_module(tmp_path, module=MODULE, home=str(tmp_path), project_dir=str(tmp_path))
    assert result.get("failed") is True, result
    assert result["msg"].startswith(f"{tmp_path / '.mcp.json'}") and message in result["msg"], result["msg"]
