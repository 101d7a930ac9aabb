"""StoreKit: several store objects over one backing database, for the store contract tests.

A module of its own so tests import it by name (a conftest is never imported by name: with
several test folders `conftest` may be another folder's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from snowmcp.service.store import Store


class StoreKit:
    """Makes stores over one backing database (several = several processes/replicas).

    `run(coro)` runs a test coroutine and then closes the stores in the same event loop
    (redis clients are bound to the loop that made them).
    """

    def __init__(self, make: Callable[[], Store]) -> None:
        self._make = make
        self.made: list[Store] = []

    def __call__(self) -> Store:
        self.made.append(self._make())
        return self.made[-1]

    def run(self, coro: Any) -> Any:
        async def wrapped() -> Any:
            try:
                return await coro
            finally:
                for s in self.made:
                    await s.close()
                self.made.clear()

        return asyncio.run(wrapped())
