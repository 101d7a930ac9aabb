"""claude_mcp_server driven through pytest-ansible's `localhost` fixture.

The other module tests run `ansible-playbook`; this one goes through
pytest-ansible's host manager, the way a collection's integration tests call a
module directly, and still reads the file back to judge the result.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

URL = "https://acme.snowflakecomputing.com/api/v2/databases/AICOLLEGE/schemas/PUBLIC/mcp-servers/GONG_MCP"
STATE = '{\n  "numStartups": 7,\n  "machineID": "ab12",\n  "projects": {"/w": {"allowedTools": []}}\n}\n'


def _one(result: Any) -> dict[str, Any]:
    return dict(result["localhost"])


def test_entry_added_idempotently_and_removed_back_to_the_original(localhost: Any, tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    path.write_text(STATE)
    path.chmod(0o644)
    args = {"name": "GONG_MCP", "path": str(path), "url": URL, "headers_helper": "/home/a/.local/bin/snowmcp headers"}

    first = _one(localhost.claude_mcp_server(**args))
    assert first["changed"] is True
    data = json.loads(path.read_text())
    assert data["mcpServers"]["GONG_MCP"] == {"type": "http", "url": URL,
                                              "headersHelper": "/home/a/.local/bin/snowmcp headers"}  # fmt: skip
    assert data["numStartups"] == 7 and data["projects"] == {"/w": {"allowedTools": []}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    written = path.read_text()
    assert _one(localhost.claude_mcp_server(**args))["changed"] is False
    assert path.read_text() == written, "an unchanged run leaves the file as it was"

    gone = _one(localhost.claude_mcp_server(name="GONG_MCP", path=str(path), state="absent"))
    assert gone["changed"] is True
    assert path.read_text() == STATE


def test_invalid_json_fails_and_is_left_untouched(localhost: Any, tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    path.write_text('{"numStartups": 7,,}')
    result = _one(localhost.claude_mcp_server(name="X", path=str(path), url=URL, headers_helper="h headers"))
    assert result.get("failed") is True and "line 1" in result["msg"]
    assert path.read_text() == '{"numStartups": 7,,}'
