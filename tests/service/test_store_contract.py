"""One contract, both stores (sqlite file, real redis-server): CAS, key index, one-time values, leases."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from snowmcp.service.store import ACTIVE, REAUTH_REQUIRED, UserRecord
from tests.service.storekit import StoreKit


def rec(name: str = "alice@example.com", key: str = "k1", version: int = 1) -> UserRecord:
    return UserRecord(username=name, login=name, version=version, api_key_hash=key,
                      refresh_token="enc-r", access_token="enc-a", created_at=time.time())  # fmt: skip


def test_save_get_and_key_index(store_factory: StoreKit) -> None:
    async def go() -> None:
        s = store_factory()
        assert await s.get("alice@example.com") is None
        original = rec()
        assert await s.save(original, 0)
        got = await s.get("alice@example.com")
        assert got == original, "a record must read back field for field"
        assert got is not None and got.api_key_hash == "k1" and got.state == ACTIVE
        by_key = await s.get_by_key("k1")
        assert by_key is not None and by_key.username == "alice@example.com"
        assert await s.get_by_key("nope") is None

    store_factory.run(go())


def test_compare_and_set_refuses_stale_versions(store_factory: StoreKit) -> None:
    async def go() -> None:
        s = store_factory()
        assert await s.save(rec(), 0)
        assert not await s.save(rec(), 0), "creating over an existing record must conflict"
        v2 = replace(rec(), version=2, state=REAUTH_REQUIRED)
        assert await s.save(v2, 1)
        assert not await s.save(replace(rec(), version=2), 1), "a writer holding version 1 must lose"
        got = await s.get("alice@example.com")
        assert got is not None and got.version == 2 and got.state == REAUTH_REQUIRED
        with pytest.raises(ValueError):
            await s.save(replace(rec(), version=5), 2)

    store_factory.run(go())


def test_concurrent_writers_one_wins(store_factory: StoreKit) -> None:
    """Two 'replicas' (separate store objects) race a CAS from the same version: exactly one wins."""

    async def go() -> None:
        a, b = store_factory(), store_factory()
        assert await a.save(rec(), 0)
        results = await asyncio.gather(*[
            (a if i % 2 else b).save(replace(rec(), version=2, refresh_token=f"r{i}"), 1) for i in range(10)
        ])  # fmt: skip
        assert results.count(True) == 1
        winner = results.index(True)
        got = await b.get("alice@example.com")
        assert got is not None and got.refresh_token == f"r{winner}" and got.version == 2

    store_factory.run(go())


def test_new_api_key_replaces_old(store_factory: StoreKit) -> None:
    async def go() -> None:
        s = store_factory()
        assert await s.save(rec(key="old"), 0)
        assert await s.save(replace(rec(key="new"), version=2), 1)
        assert await s.get_by_key("old") is None
        got = await s.get_by_key("new")
        assert got is not None and got.version == 2

    store_factory.run(go())


def test_delete_and_list(store_factory: StoreKit) -> None:
    async def go() -> None:
        s = store_factory()
        for i, name in enumerate(["bob@example.com", "alice@example.com", "carol@example.com"]):
            assert await s.save(rec(name, key=f"k{i}"), 0)
        assert [u.username for u in await s.list_users()] == [
            "alice@example.com", "bob@example.com", "carol@example.com"]  # fmt: skip
        assert await s.delete("bob@example.com")
        assert not await s.delete("bob@example.com")
        assert await s.get("bob@example.com") is None
        assert await s.get_by_key("k0") is None, "a deleted user's key must stop resolving"
        assert [u.username for u in await s.list_users()] == ["alice@example.com", "carol@example.com"]

    store_factory.run(go())


def test_take_once_is_single_use_and_expires(store_factory: StoreKit) -> None:
    async def go() -> None:
        a, b = store_factory(), store_factory()
        await a.put_once("code:x", {"v": 1}, 60)
        got = await asyncio.gather(a.take_once("code:x"), b.take_once("code:x"), a.take_once("code:x"))
        assert sorted(g is not None for g in got) == [False, False, True]
        assert [g for g in got if g] == [{"v": 1}]
        await a.put_once("code:y", {"v": 2}, 0.05)
        await asyncio.sleep(0.3)
        assert await b.take_once("code:y") is None

    store_factory.run(go())


def test_pending_values_are_capped_per_kind_and_purged_off_the_request_path(store_factory: StoreKit) -> None:
    async def go() -> None:
        a, b = store_factory(), store_factory()  # two processes/replicas share the cap
        assert all([await a.put_once(f"login:{i}", {"i": i}, 60, cap=3) for i in range(2)])
        assert await b.put_once("login:2", {"i": 2}, 60, cap=3)
        assert not await a.put_once("login:3", {"i": 3}, 60, cap=3), "full"
        assert await a.take_once("login:3") is None, "a refused value is not stored"
        assert await a.put_once("code:1", {}, 60, cap=3), "another kind has its own count"
        assert await b.take_once("login:0") == {"i": 0}
        assert await a.put_once("login:3", {"i": 3}, 60, cap=3), "taking one frees its place"
        # Expired values free their place too, and purge_expired (not put_once) removes them.
        await a.put_once("once:short", {}, 0.05)
        await asyncio.sleep(0.2)
        assert await a.put_once("login:4", {}, 60, cap=4)
        for i in range(3):
            assert await a.put_once(f"late:{i}", {}, 0.05, cap=3)
        await asyncio.sleep(0.2)
        assert await a.put_once("late:3", {}, 60, cap=3), "expired ones do not count"
        await a.purge_expired()
        assert await a.take_once("once:short") is None and await a.take_once("late:0") is None
        assert await a.take_once("late:3") == {}

    store_factory.run(go())


def test_delete_with_a_key_only_deletes_while_the_record_holds_it(store_factory: StoreKit) -> None:
    async def go() -> None:
        s = store_factory()
        await s.save(UserRecord("alice@example.com", "alice@example.com", api_key_hash="new"), 0)
        assert not await s.delete("alice@example.com", api_key_hash="old"), "a newer sign-in replaced that key"
        assert await s.get("alice@example.com") is not None
        assert await s.delete("alice@example.com", api_key_hash="new")
        assert await s.get("alice@example.com") is None and await s.get_by_key("new") is None

    store_factory.run(go())


def test_leases_exclusive_token_checked_and_expiring(store_factory: StoreKit) -> None:
    async def go() -> None:
        a, b = store_factory(), store_factory()
        assert await a.acquire_lease("refresh:u", "owner-a", 0.5)
        assert not await b.acquire_lease("refresh:u", "owner-b", 0.5)
        assert not await b.release_lease("refresh:u", "owner-b"), "release must check the owner token"
        assert not await b.renew_lease("refresh:u", "owner-b", 5)
        assert await a.renew_lease("refresh:u", "owner-a", 0.5)
        assert await a.release_lease("refresh:u", "owner-a")
        assert await b.acquire_lease("refresh:u", "owner-b", 0.2)
        await asyncio.sleep(0.5)  # owner-b "died": its lease lapses
        assert await a.acquire_lease("refresh:u", "owner-a2", 5)
        assert not await b.renew_lease("refresh:u", "owner-b", 5), "an expired holder cannot renew"

    store_factory.run(go())


def test_ping_and_raw_dump(store_factory: StoreKit) -> None:
    async def go() -> None:
        s = store_factory()
        await s.ping()
        assert await s.save(rec(), 0)
        assert b"enc-r" in await s.raw_dump()

    store_factory.run(go())
