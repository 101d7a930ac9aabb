"""Module claude_managed_settings against a temporary managed-settings.json (path=): the merge keeps
every setting and entry it does not own, check mode and bad files change nothing, and it runs on a
Python 3.9 target. The real /etc/claude-code is used by test_managed.py only.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.workstation.moduleutil import ROOT, modules_run_by, run_module, run_module_with_ansible

MODULE = ROOT / "plugins" / "modules" / "claude_managed_settings.py"
IT = '{\n    "permissions": {"deny": ["WebFetch"]},\n    "allowedMcpServers": [\n        {"serverUrl": "https://mcp.example.com/*"},\n        {"serverName": "it-tools"}\n    ]\n}\n'


def settings(tmp_path: Path, **args: object) -> dict[str, object]:
    result, _ = run_module(tmp_path, module=MODULE, path=str(tmp_path / "managed-settings.json"), **args)
    return result


def test_merge_keeps_other_settings_and_entries_then_removes_only_its_own(tmp_path: Path) -> None:
    path = tmp_path / "managed-settings.json"
    path.write_text(IT)
    result = settings(tmp_path, allowed_servers=["GONG_MCP", "it-tools"], remove_servers=["OLD_MCP"])
    assert result["changed"] and result["added"] == ["GONG_MCP"] and result["removed"] == []
    data = json.loads(path.read_text())
    assert data["permissions"] == {"deny": ["WebFetch"]}
    assert data["allowedMcpServers"] == [{"serverUrl": "https://mcp.example.com/*"}, {"serverName": "it-tools"},
                                         {"serverName": "GONG_MCP"}]  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and '\n    "permissions"' in path.read_text()
    assert not settings(tmp_path, allowed_servers=["GONG_MCP"])["changed"]

    result = settings(tmp_path, remove_servers=["GONG_MCP"])
    assert result["removed"] == ["GONG_MCP"]
    assert json.loads(path.read_text()) == json.loads(IT)


def test_check_mode_and_diff_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "managed-settings.json"
    path.write_text(IT)
    result, _ = run_module(tmp_path, module=MODULE, check=True, diff=True, path=str(path), allowed_servers=["GONG_MCP"])
    assert result["changed"] and '"serverName": "GONG_MCP"' in result["diff"]["after"]
    assert path.read_text() == IT


def test_a_file_it_created_goes_when_its_last_entry_goes(tmp_path: Path) -> None:
    path = tmp_path / "managed-settings.json"
    settings(tmp_path, allowed_servers=["GONG_MCP"])
    assert json.loads(path.read_text()) == {"allowedMcpServers": [{"serverName": "GONG_MCP"}]}
    # An empty allowedMcpServers would block every server: the key goes, and with it the file.
    assert settings(tmp_path, remove_servers=["GONG_MCP"])["allowed_mcp_servers"] is None
    assert not path.exists()


@pytest.mark.parametrize("text", ['{"allowedMcpServers": {}}', '{"a": 1,}', "[]"])
def test_files_it_cannot_merge_are_left_untouched(tmp_path: Path, text: str) -> None:
    path = tmp_path / "managed-settings.json"
    path.write_text(text)
    result = settings(tmp_path, allowed_servers=["GONG_MCP"])
    assert result.get("failed") and "left untouched" in str(result["msg"])
    assert path.read_text() == text
    assert settings(tmp_path, allowed_servers=["bad name"]).get("failed")


def test_runs_on_a_python_39_target(tmp_path: Path, python39: Path) -> None:
    path = tmp_path / "managed-settings.json"
    result = run_module_with_ansible(tmp_path, python39, "snowmcp.core.claude_managed_settings", path=str(path),
                                     allowed_servers=["GONG_MCP"])  # fmt: skip
    assert result.get("changed") is True, result
    assert modules_run_by(tmp_path) and json.loads(path.read_text())["allowedMcpServers"] == [{"serverName": "GONG_MCP"}]
