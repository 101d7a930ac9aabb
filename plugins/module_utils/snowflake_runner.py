"""Run SQL for a module: read, plan, apply - and record every statement.

- `read()` / `read_many()` run SHOW/DESCRIBE/SELECT statements (also in check
  mode: planning needs current state). `read_many()` runs independent reads
  on a few threads over one connection (the connector allows threads to share
  a connection; each thread gets its own cursor).
- `apply()` runs write statements. In check mode it only records them: check
  mode returns the plan. Otherwise it sends them in batches through the
  connector's multi-statement mode (`num_statements=N`, one query request
  per batch) because every request is a 100-400 ms round trip.
- Every statement lands in `queries` (in order) with secret values masked.
- Connector errors become `SnowflakeError`s that name what was being done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.snowmcp.core.plugins.module_utils.snowflake_connection import (
    SECRET_KEYS,
    connect,
)

# Statements per multi-statement request: large enough that a first converge
# of 1,000 users is a handful of requests, small enough for one request body.
BATCH_SIZE = 500
READ_PARALLELISM = 4
MASK = "********"
# Snowflake's "object does not exist or not authorized" error number.
DOES_NOT_EXIST = 2003


class SnowflakeError(Exception):
    """A failure talking to Snowflake, with a message fit for the user."""


class Runner:
    def __init__(
        self,
        params: dict[str, Any],
        check_mode: bool = False,
        secrets: Iterable[str] = (),
        connector: Callable[[dict[str, Any]], Any] = connect,
    ) -> None:
        self.params = params
        self.check_mode = check_mode
        self.queries: list[str] = []
        self.requests = 0
        self._secrets = {s for s in secrets if s}
        self._secrets.update(str(params[k]) for k in SECRET_KEYS if params.get(k))
        self._connector = connector
        self._conn: Any = None

    # ---- secrets ------------------------------------------------------------
    def add_secret(self, value: str | None) -> None:
        if value:
            self._secrets.add(value)

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    # ---- connection ------------------------------------------------------------
    @property
    def conn(self) -> Any:
        return self.open_connection()

    def open_connection(self) -> Any:
        """The connection, opened on first use."""
        if self._conn is None:
            try:
                self._conn = self._connector(self.params)
            except Exception as exc:
                raise SnowflakeError(
                    f"cannot connect to Snowflake account {self.params.get('account') or self.params.get('connection_name')!r}: "
                    f"{self.mask(str(exc))}"
                ) from None
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: S110 - closing is best effort; the work is done
                pass
            self._conn = None

    # ---- reads -----------------------------------------------------------------
    def _fetch(self, sql: str, what: str, missing_ok: bool = False) -> list[dict[str, Any]] | None:
        cur = self.conn.cursor()
        try:
            cur.execute(sql)
            if cur.description is None:
                return []
            names = [d[0].lower() for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        except SnowflakeError:
            raise
        except Exception as exc:
            if missing_ok and getattr(exc, "errno", None) == DOES_NOT_EXIST:
                return None
            raise SnowflakeError(f"{what} failed: {self.mask(_message(exc))} (statement: {self.mask(sql)})") from None
        finally:
            cur.close()

    def read(self, sql: str, what: str) -> list[dict[str, Any]]:
        """Run one read statement (also in check mode) and return rows keyed by lower-case column."""
        self.queries.append(self.mask(sql))
        self.requests += 1
        return self._fetch(sql, what) or []

    def describe(self, sql: str, what: str) -> list[dict[str, Any]] | None:
        """Run a DESCRIBE; None when the object does not exist (Snowflake error 002003).

        Saves the SHOW ... LIKE round trip an existence check would cost.
        """
        self.queries.append(self.mask(sql))
        self.requests += 1
        return self._fetch(sql, what, missing_ok=True)

    def read_many(self, reads: list[tuple[str, str]]) -> list[list[dict[str, Any]]]:
        """Run independent reads, a few at a time; results in input order."""
        return [rows or [] for rows in self._fetch_many(reads, missing_ok=False)]

    def describe_many(self, reads: list[tuple[str, str]]) -> list[list[dict[str, Any]] | None]:
        """Run independent DESCRIBEs, a few at a time; None for each object that does not exist."""
        return self._fetch_many(reads, missing_ok=True)

    def _fetch_many(self, reads: list[tuple[str, str]], missing_ok: bool) -> list[list[dict[str, Any]] | None]:
        if not reads:
            return []
        self.queries.extend(self.mask(sql) for sql, _what in reads)
        self.requests += len(reads)
        self.open_connection()  # once, before the threads share it
        if len(reads) == 1:
            sql, what = reads[0]
            return [self._fetch(sql, what, missing_ok=missing_ok)]
        with ThreadPoolExecutor(max_workers=min(READ_PARALLELISM, len(reads))) as pool:
            return list(pool.map(lambda item: self._fetch(item[0], item[1], missing_ok=missing_ok), reads))

    # ---- writes ----------------------------------------------------------------
    def apply(self, statements: list[str], what: str) -> None:
        """Run write statements in as few requests as possible (record only, in check mode)."""
        for sql in statements:
            self.queries.append(self.mask(sql))
        if self.check_mode or not statements:
            return
        for start in range(0, len(statements), BATCH_SIZE):
            batch = statements[start : start + BATCH_SIZE]
            self._execute_batch(batch, what)

    def _execute_batch(self, batch: list[str], what: str) -> None:
        cur = self.conn.cursor()
        self.requests += 1
        try:
            if len(batch) == 1:
                cur.execute(batch[0])
            else:
                cur.execute(";\n".join(batch), num_statements=len(batch))
        except Exception as exc:
            shown = "; ".join(self.mask(s) for s in batch[:3]) + (" ..." if len(batch) > 3 else "")
            note = (
                ""
                if len(batch) == 1
                else f" (one of {len(batch)} statements sent together; those before it are applied, "
                "and a re-run converges the rest)"
            )
            raise SnowflakeError(f"{what} failed: {self.mask(_message(exc))}{note}; statements: {shown}") from None
        finally:
            cur.close()


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return " ".join(str(msg).split())


def rows_named(rows: list[dict[str, Any]], name: str, column: str = "name") -> list[dict[str, Any]]:
    """Rows whose `column` equals the stored name exactly (SHOW ... LIKE is case-insensitive)."""
    return [r for r in rows if r.get(column) == name]
