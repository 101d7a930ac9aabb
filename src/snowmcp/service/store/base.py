"""The store contract: user records with compare-and-set, one-time values, and leases.

Both implementations (sqlite, redis) pass the same contract tests
(tests/service/test_store_contract.py). Tokens inside a record are already
encrypted by the caller; the store never sees a plaintext token or API key.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any

ACTIVE = "active"
REAUTH_REQUIRED = "reauth_required"
STATES = (ACTIVE, REAUTH_REQUIRED)


@dataclass(frozen=True)
class UserRecord:
    """One user's stored state. Frozen: the stores hand the same parsed object to every
    request that reads the same stored text (ParsedRecords), so nobody may change it in
    place; a write is `dataclasses.replace(rec, version=rec.version + 1, ...)`."""

    username: str  # normalised login (lower case): the key
    login: str  # the name as Snowflake returned it
    state: str = ACTIVE
    version: int = 1  # bumped by every write; saves compare-and-set on it
    api_key_hash: str = ""
    refresh_token: str = ""  # ciphertext
    refresh_token_expires_at: float = 0.0
    access_token: str = ""  # ciphertext
    access_token_expires_at: float = 0.0
    access_token_issued_at: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0
    last_sign_in_at: float = 0.0
    last_refresh_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> UserRecord:
        data = json.loads(text)
        known = _RECORD_FIELDS if cls is UserRecord else frozenset(f.name for f in fields(cls))
        return cls(**{k: v for k, v in data.items() if k in known})

    def public(self) -> dict[str, Any]:
        """What admins and the user may see: no ciphertexts, no key hash."""
        return {
            "username": self.login,
            "state": self.state,
            "refresh_token_expires_at": self.refresh_token_expires_at,
            "access_token_expires_at": self.access_token_expires_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_sign_in_at": self.last_sign_in_at,
            "last_refresh_at": self.last_refresh_at,
        }


# Read on every /v1/token (the record is parsed per request): dataclasses.fields() is not free.
_RECORD_FIELDS = frozenset(f.name for f in fields(UserRecord))


class ParsedRecords:
    """Records parsed once per distinct stored text, for the API-key lookup of every request.

    The store is still read on every request - that read is what makes a revocation, a new
    sign-in or a refresh by another worker or replica visible at once - but a text seen
    before is not parsed again: equal text, equal (frozen) record. Parsing was a third of
    the service's own work per cached `GET /v1/token`. Bounded: cleared when full (a
    stale entry can never be returned, only re-parsed).
    """

    def __init__(self, max_records: int = 20_000) -> None:
        self.max_records = max_records
        self._by_text: dict[str | bytes, UserRecord] = {}

    def parse(self, text: str | bytes) -> UserRecord:
        rec = self._by_text.get(text)
        if rec is None:
            if len(self._by_text) >= self.max_records:
                self._by_text.clear()
            rec = self._by_text[text] = UserRecord.from_json(text)
        return rec


class StoreError(Exception):
    """The store cannot be reached or answered with an error."""


class Store(ABC):
    @abstractmethod
    async def get(self, username: str) -> UserRecord | None: ...

    @abstractmethod
    async def get_by_key(self, api_key_hash: str) -> UserRecord | None: ...

    @abstractmethod
    async def save(self, record: UserRecord, expected_version: int) -> bool:
        """Write `record` if the stored version equals `expected_version` (0 = absent).

        `record.version` must be expected_version + 1. Also maintains the API key
        index (a replaced key stops resolving). Returns False on a version conflict.
        """

    @abstractmethod
    async def delete(self, username: str, *, api_key_hash: str = "") -> bool:
        """Delete the record (and its key). With `api_key_hash`: only while the record still
        holds that key, so a logout racing a new sign-in does not delete the new one."""

    @abstractmethod
    async def list_users(self) -> list[UserRecord]: ...

    @abstractmethod
    async def put_once(self, key: str, value: dict[str, Any], ttl: float, *, cap: int = 0) -> bool:
        """Store a value that `take_once` returns exactly once, until `ttl` seconds pass.

        `cap` > 0: store it only while fewer than `cap` unexpired values of the same kind
        (the key's part before the first ':') are held; returns False when full.
        """

    @abstractmethod
    async def purge_expired(self) -> int:
        """Drop expired one-time values and leases; run periodically, off the request path."""

    @abstractmethod
    async def take_once(self, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool: ...

    @abstractmethod
    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool: ...

    @abstractmethod
    async def release_lease(self, name: str, owner: str) -> bool: ...

    @abstractmethod
    async def ping(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def raw_dump(self) -> bytes:
        """Everything the store holds, as bytes: for tests that scan for plaintext."""


def once_kind(key: str) -> str:
    """The kind of a one-time value ("login", "code"): what `put_once`'s cap counts."""
    return key.partition(":")[0]


def check_version(record: UserRecord, expected_version: int) -> None:
    if record.version != expected_version + 1:
        raise ValueError("record.version must be expected_version + 1")
