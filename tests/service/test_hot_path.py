"""The pieces the cached GET /v1/token leans on (bench/vault_token.py measures them):
audit lines built by hand, records parsed once per stored text, answers cached per version."""

from __future__ import annotations

import json
import random
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from snowmcp.service.audit import AuditLog
from snowmcp.service.store.base import ParsedRecords, UserRecord

_VALUES: list[object] = ["x", "é\u2028\"\\\n\t", "\ud800", "", 1, 0, -3, 1.5, 1e300, True, False, None, [1, "a"], {"k": "v"}]


def test_audit_lines_are_what_json_dumps_writes(tmp_path: Path) -> None:
    rng = random.Random(7)
    log = AuditLog(str(tmp_path / "audit.jsonl"))
    written = []
    for _ in range(2000):
        fields = {f"k{j}{chr(rng.randrange(32, 0x3000))}": rng.choice(_VALUES) for j in range(rng.randrange(6))}
        event = rng.choice(["token", 'sign"in', "é"])
        log.write(event, **fields)
        written.append((event, fields))
    log.close()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == len(written)
    for line, (event, fields) in zip(lines, written, strict=True):
        ts = json.loads(line)["ts"]
        assert isinstance(ts, float) and ts > 1.7e9
        expected = json.dumps({"ts": ts, "event": event, **fields}, separators=(",", ":"))
        # Same members, same order, same encoding; only the time's spelling may differ (1.5 vs 1.500).
        assert json.loads(line) == json.loads(expected)
        assert line.split(",", 1)[1] == expected.split(",", 1)[1]


def _record(**changes: object) -> UserRecord:
    rec = UserRecord(username="ann@example.com", login="Ann@example.com", api_key_hash="ab" * 32,
                     access_token="ciphertext", access_token_expires_at=2e9)  # fmt: skip
    return replace(rec, **changes)  # type: ignore[arg-type]


def test_records_are_parsed_once_per_stored_text_and_cannot_be_changed_in_place() -> None:
    parsed = ParsedRecords(max_records=3)
    text = _record().to_json()
    first = parsed.parse(text)
    assert parsed.parse(text) is first  # same text: the same object, no parse
    assert parsed.parse(text.encode()) == first  # Redis hands bytes
    newer = parsed.parse(_record(version=2).to_json())
    assert newer.version == 2 and newer is not first  # another version: parsed on its own
    with pytest.raises(FrozenInstanceError):
        first.version = 5  # type: ignore[misc]
    for v in range(3, 10):  # bounded: full means cleared, never a stale answer
        assert parsed.parse(_record(version=v).to_json()).version == v
    assert len(parsed._by_text) <= 3
