"""SQLite store: one file (mode 0600), WAL, for a single node.

Calls are synchronous on the event loop thread on purpose: an indexed lookup on a
local file takes microseconds, far less than a thread hand-off would. Writes use
BEGIN IMMEDIATE so compare-and-set holds across processes sharing the file, and
synchronous=FULL so a rotated refresh token is on disk before the caller answers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from snowmcp.service.store.base import (
    ParsedRecords,
    Store,
    StoreError,
    UserRecord,
    check_version,
    once_kind,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    api_key_hash TEXT,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_api_key ON users(api_key_hash);
CREATE TABLE IF NOT EXISTS once (k TEXT PRIMARY KEY, v TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS once_expires ON once(expires);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""


class SqliteStore(Store):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if not self.path.exists():
                # Create the file 0600 before SQLite does (it would honour the umask);
                # SQLite gives the -wal and -shm files the database file's mode.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._identity = self._file_identity()
            self._parsed = ParsedRecords()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open sqlite store {self.path}: {exc}") from None

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        # sqlite:///rel/path -> rel/path; sqlite:////abs/path -> /abs/path
        return cls(url[len("sqlite:///") :])

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from None

    async def get(self, username: str) -> UserRecord | None:
        rows = self._q("SELECT data FROM users WHERE username = ?", (username,))
        return UserRecord.from_json(rows[0][0]) if rows else None

    async def get_by_key(self, api_key_hash: str) -> UserRecord | None:
        rows = self._q("SELECT data FROM users WHERE api_key_hash = ?", (api_key_hash,))
        return self._parsed.parse(rows[0][0]) if rows else None

    async def save(self, record: UserRecord, expected_version: int) -> bool:
        check_version(record, expected_version)
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT version FROM users WHERE username = ?", (record.username,)).fetchone()
                current = row[0] if row else 0
                if current != expected_version:
                    db.execute("ROLLBACK")
                    return False
                key = record.api_key_hash or None
                if key:
                    # Another user holding this hash is impossible with random keys; be safe anyway.
                    db.execute("UPDATE users SET api_key_hash = NULL WHERE api_key_hash = ? AND username != ?",
                               (key, record.username))  # fmt: skip
                db.execute(
                    "INSERT INTO users(username, api_key_hash, version, data) VALUES(?,?,?,?) "
                    "ON CONFLICT(username) DO UPDATE SET api_key_hash=excluded.api_key_hash, "
                    "version=excluded.version, data=excluded.data",
                    (record.username, key, record.version, record.to_json()),
                )
                db.execute("COMMIT")
                return True
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from None

    async def delete(self, username: str, *, api_key_hash: str = "") -> bool:
        try:
            if api_key_hash:
                return self._db.execute("DELETE FROM users WHERE username = ? AND api_key_hash = ?",
                                        (username, api_key_hash)).rowcount > 0  # fmt: skip
            return self._db.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount > 0
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from None

    async def list_users(self) -> list[UserRecord]:
        return [UserRecord.from_json(r[0]) for r in self._q("SELECT data FROM users ORDER BY username")]

    async def put_once(self, key: str, value: dict[str, Any], ttl: float, *, cap: int = 0) -> bool:
        # Expired rows are left to purge_expired(): deleting them here made every sign-in pay
        # for a table scan. The cap counts a key range of the primary key (bounded by the cap).
        now = time.time()
        row = (key, json.dumps(value), now + ttl)
        if cap <= 0:
            self._q("INSERT OR REPLACE INTO once(k, v, expires) VALUES(?,?,?)", row)
            return True
        kind = once_kind(key)
        # One statement: the count and the insert cannot interleave with another process's.
        rows = self._q(
            "INSERT OR REPLACE INTO once(k, v, expires) SELECT ?,?,? WHERE (SELECT count(*) FROM once "
            "WHERE k >= ? AND k < ? AND expires >= ?) < ? RETURNING k",
            (*row, kind + ":", kind + ";", now, cap),
        )
        return bool(rows)

    async def purge_expired(self) -> int:
        now = time.time()
        gone = len(self._q("DELETE FROM once WHERE expires < ? RETURNING k", (now,)))
        self._q("DELETE FROM leases WHERE expires < ?", (now,))
        return gone

    async def take_once(self, key: str) -> dict[str, Any] | None:
        # DELETE ... RETURNING is atomic: two callers racing for one code cannot both get it.
        rows = self._q("DELETE FROM once WHERE k = ? RETURNING v, expires", (key,))
        if not rows or rows[0][1] < time.time():
            return None
        return dict(json.loads(rows[0][0]))

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        rows = self._q(
            "INSERT INTO leases(name, owner, expires) VALUES(?,?,?) ON CONFLICT(name) DO UPDATE "
            "SET owner=excluded.owner, expires=excluded.expires WHERE leases.expires < ? RETURNING owner",
            (name, owner, now + ttl, now),
        )
        return bool(rows) and rows[0][0] == owner

    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        rows = self._q("UPDATE leases SET expires = ? WHERE name = ? AND owner = ? RETURNING name",
                       (time.time() + ttl, name, owner))  # fmt: skip
        return bool(rows)

    async def release_lease(self, name: str, owner: str) -> bool:
        return bool(self._q("DELETE FROM leases WHERE name = ? AND owner = ? RETURNING name", (name, owner)))

    def _file_identity(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_dev, st.st_ino

    async def ping(self) -> None:
        # `SELECT 1` never touches the file. Read a table, and check that the path still names
        # the file we have open: one deleted or replaced under us would be lost at restart.
        self._q("SELECT count(*) FROM leases")
        try:
            same = self._file_identity() == self._identity
        except OSError:
            same = False
        if not same:
            raise StoreError(f"sqlite store {self.path} was deleted or replaced while open")

    async def close(self) -> None:
        self._db.close()

    async def raw_dump(self) -> bytes:
        self._q("PRAGMA wal_checkpoint(FULL)")
        out = self.path.read_bytes()
        wal = Path(str(self.path) + "-wal")
        return out + (wal.read_bytes() if wal.exists() else b"")
