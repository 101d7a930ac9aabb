"""Redis store: shared by several service replicas.

Layout under a prefix (default `snowmcp:`): `user:<username>` JSON record,
`key:<api key hash>` -> username, `users` set, `once:<key>` one-time values with a
TTL, `lease:<name>` lock owner tokens with a TTL. Compare-and-set, key-index updates
and lease renew/release run as Lua scripts so each is one atomic round trip.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from snowmcp.service.store.base import (
    ParsedRecords,
    Store,
    StoreError,
    UserRecord,
    check_version,
    once_kind,
)

_SAVE = """
local cur = redis.call('GET', KEYS[1])
local v = 0
local oldkey = ''
if cur then
  local d = cjson.decode(cur)
  v = tonumber(d['version'])
  if type(d['api_key_hash']) == 'string' then oldkey = d['api_key_hash'] end
end
if v ~= tonumber(ARGV[1]) then return 0 end
if oldkey ~= '' and oldkey ~= ARGV[3] then redis.call('DEL', ARGV[4] .. 'key:' .. oldkey) end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', ARGV[4] .. 'key:' .. ARGV[3], ARGV[5]) end
redis.call('SADD', ARGV[4] .. 'users', ARGV[5])
return 1
"""
_GET_BY_KEY = """
local u = redis.call('GET', KEYS[1])
if not u then return false end
return redis.call('GET', ARGV[1] .. 'user:' .. u)
"""
_DELETE = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local d = cjson.decode(cur)
if ARGV[3] ~= '' and d['api_key_hash'] ~= ARGV[3] then return 0 end
if type(d['api_key_hash']) == 'string' and d['api_key_hash'] ~= '' then
  redis.call('DEL', ARGV[1] .. 'key:' .. d['api_key_hash'])
end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. 'users', ARGV[2])
return 1
"""
# One-time values of a kind are also indexed in a sorted set scored by expiry, so the cap
# counts only live ones: drop the expired, count, add - atomically.
_PUT_ONCE = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local cap = tonumber(ARGV[5])
if cap > 0 and redis.call('ZCARD', KEYS[2]) >= cap then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1])
return 1
"""
_TAKE_ONCE = """
local v = redis.call('GETDEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
return v
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore(Store):
    def __init__(self, url: str, prefix: str = "snowmcp:") -> None:
        self.prefix = prefix
        # redis-py's async type hints mix sync/async unions; treat the client as Any.
        self._r: Any = aioredis.Redis.from_url(
            url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=30,
            # A pooled connection goes stale when redis restarts: retry a few times on a fresh
            # one. Safe for every command here: a replayed compare-and-set fails its version
            # check, and a replayed SET NX reports "not acquired" (the lease then just expires).
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            retry_on_error=[RedisConnectionError],
        )  # fmt: skip
        self._save = self._r.register_script(_SAVE)
        self._get_by_key = self._r.register_script(_GET_BY_KEY)
        self._delete = self._r.register_script(_DELETE)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)
        self._put_once = self._r.register_script(_PUT_ONCE)
        self._take_once = self._r.register_script(_TAKE_ONCE)
        self._parsed = ParsedRecords()
        self._once_kinds: set[str] = set()  # kinds this process wrote: purge_expired trims their index

    def _k(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def get(self, username: str) -> UserRecord | None:
        try:
            raw = await self._r.get(self._k("user", username))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None
        return UserRecord.from_json(raw) if raw else None

    async def get_by_key(self, api_key_hash: str) -> UserRecord | None:
        try:
            raw = await self._get_by_key(keys=[self._k("key", api_key_hash)], args=[self.prefix])
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None
        return self._parsed.parse(raw) if raw else None

    async def save(self, record: UserRecord, expected_version: int) -> bool:
        check_version(record, expected_version)
        args: list[str | int] = [expected_version, record.to_json(), record.api_key_hash, self.prefix, record.username]
        try:
            return bool(await self._save(keys=[self._k("user", record.username)], args=args))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def delete(self, username: str, *, api_key_hash: str = "") -> bool:
        try:
            args = [self.prefix, username, api_key_hash]
            return bool(await self._delete(keys=[self._k("user", username)], args=args))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def list_users(self) -> list[UserRecord]:
        try:
            names = sorted(n.decode() for n in await self._r.smembers(self.prefix + "users"))
            out: list[UserRecord] = []
            for i in range(0, len(names), 500):
                chunk = await self._r.mget([self._k("user", n) for n in names[i : i + 500]])
                out.extend(UserRecord.from_json(raw) for raw in chunk if raw)
            return out
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    def _once_keys(self, key: str) -> list[str]:
        return [self._k("once", key), self._k("once-index", once_kind(key))]

    async def put_once(self, key: str, value: dict[str, Any], ttl: float, *, cap: int = 0) -> bool:
        now = time.time()
        self._once_kinds.add(once_kind(key))
        args: list[str | int | float] = [json.dumps(value), max(1, int(ttl * 1000)), now, now + ttl, cap]
        try:
            return bool(await self._put_once(keys=self._once_keys(key), args=args))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def take_once(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self._take_once(keys=self._once_keys(key))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None
        return dict(json.loads(raw)) if raw else None

    async def purge_expired(self) -> int:
        # Values and leases expire in redis itself; only the cap's indexes need trimming.
        try:
            return sum([int(await self._r.zremrangebyscore(self._k("once-index", kind), "-inf", time.time()))
                        for kind in sorted(self._once_kinds)])  # fmt: skip
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        try:
            return bool(await self._r.set(self._k("lease", name), owner, nx=True, px=int(ttl * 1000)))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        try:
            return bool(await self._renew(keys=[self._k("lease", name)], args=[owner, int(ttl * 1000)]))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def release_lease(self, name: str, owner: str) -> bool:
        try:
            return bool(await self._release(keys=[self._k("lease", name)], args=[owner]))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def ping(self) -> None:
        try:
            await self._r.ping()
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from None

    async def close(self) -> None:
        await self._r.aclose()

    async def raw_dump(self) -> bytes:
        parts: list[bytes] = []
        async for key in self._r.scan_iter(match=self.prefix + "*"):
            kind = await self._r.type(key)
            if kind == b"string":
                parts.append(key + b"=" + (await self._r.get(key) or b""))
            elif kind == b"set":
                parts.append(key + b"=" + b",".join(await self._r.smembers(key)))
        return b"\n".join(parts)
