"""The call store: finished calls, their legs and their event timeline in one SQLite file.

Why it is built this way:

* **One writer.** SQLite allows one writer at a time; a second writing connection would only
  queue on the database lock (``database is locked``) and spread transactions thin. So every
  write goes through one connection owned by one background task, and writes arrive through
  :meth:`Store.submit`, which never waits: the bus keeps flowing whatever the disk does.
* **Batched.** A transaction costs one fsync-ish commit; a row costs microseconds. The writer
  drains its queue in transactions of up to ``batch_size`` items (or whatever came in within
  ``batch_interval`` seconds) with ``executemany``, which is what lets a daemon ingesting
  thousands of calls a second keep up.
* **WAL, synchronous=NORMAL.** With write-ahead logging, readers (the web UI, a separate read
  connection here) never block the writer nor the writer them; NORMAL syncs at checkpoints rather
  than at every commit, which in WAL mode can lose the last commits on power loss but never
  corrupts the file.
* **Idempotent.** Calls and legs are upserts that only touch a row whose values differ; events
  are ``INSERT OR IGNORE`` against a UNIQUE key. Replaying a capture, re-saving after a restart or
  retrying a batch therefore leaves exactly the same rows.
* **Bad items do not stop the writer.** If a batch fails, it is retried item by item (each under
  a SAVEPOINT) so only the offending items are dropped; they are logged and counted in
  :attr:`Store.stats`.

The queue, its batches and tickets are plain asyncio, in :mod:`cti.store.writer`; this module
opens the file, runs the migrations, writes the rows and reads them back. It is the only module
that imports :mod:`aiosqlite`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiosqlite

from cti.calls.model import CallRecord
from cti.store.rows import Rows, call_json, event_json, leg_from_row, leg_json, record_from_row
from cti.store.schema import (
    INSERT_EVENT,
    MIGRATIONS,
    UPSERT_CALL,
    UPSERT_LEG,
    Migration,
    build_where,
)
from cti.store.tx import Tx
from cti.store.writer import BatchWriter, Item, StoreError, StoreStats

T = TypeVar("T")

__all__ = ["Store", "StoreError", "StoreStats", "record_from_row"]

log = logging.getLogger(__name__)

_MAX_LIMIT = 10_000


class Store(BatchWriter):
    """Call store over one SQLite file. Create with ``await Store.open(path)``.

    Queueing, batching and tickets (``submit``, ``flush``, ``save_call``, ``add_events``,
    ``stats``) come from :class:`~cti.store.writer.BatchWriter`; this class writes the rows."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        *,
        batch_size: int,
        batch_interval: float,
        clock: Callable[[], float],
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._closed = False
        super().__init__(path, batch_size=batch_size, batch_interval=batch_interval, clock=clock)

    # ------------------------------------------------------------------ opening and closing
    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 1000,
        batch_interval: float = 0.05,
        clock: Callable[[], float] = time.time,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Store:
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        Raises :class:`StoreError` naming the path if its folder is missing, the path is a folder,
        the file is not a SQLite database, or it was written by a newer schema."""
        if batch_size < 1 or batch_interval < 0:
            raise ValueError("batch_size must be >= 1 and batch_interval >= 0")
        p = Path(path)
        if not p.parent.is_dir():
            raise StoreError(f"cannot open call store {p}: folder {p.parent} does not exist")
        if p.is_dir():
            raise StoreError(f"cannot open call store {p}: it is a folder, not a file")
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            # isolation_level=None: no implicit transactions, we say BEGIN/COMMIT ourselves.
            writer = await aiosqlite.connect(p, isolation_level=None)
            mode = await _scalar(writer, "PRAGMA journal_mode=WAL")
            if str(mode).lower() != "wal":
                log.warning("call store %s: WAL not available, journal_mode=%s", p, mode)
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=5000")
            await _migrate(writer, p, migrations, clock)
            reader = await aiosqlite.connect(p, isolation_level=None)
            reader.row_factory = aiosqlite.Row
            await reader.execute("PRAGMA query_only=ON")
            await reader.execute("PRAGMA busy_timeout=5000")
        except BaseException as exc:
            for conn in (reader, writer):
                if conn is not None:
                    await _close_quietly(conn)
            if isinstance(exc, aiosqlite.Error):
                raise StoreError(f"cannot open call store {p}: {exc}") from exc
            raise
        return cls(
            p, writer, reader, batch_size=batch_size, batch_interval=batch_interval, clock=clock
        )

    async def close(self) -> None:
        """Write everything submitted so far, then close both connections. Idempotent."""
        if self._closed:
            return
        try:
            await self._finish()  # raises only if close() itself is being cancelled
        finally:  # and even then the connections get closed
            self._closed = True
            await _close_quietly(self._writer)
            await _close_quietly(self._reader)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ writing
    async def _commit(self, rows: list[Rows]) -> None:
        calls = [r.call for r in rows if r.call is not None]
        legs = [leg for r in rows for leg in r.legs]
        events = [r.event for r in rows if r.event is not None]
        db = self._writer
        await db.execute("BEGIN IMMEDIATE")
        # Calls before legs: a leg's foreign key needs its call row.
        if calls:
            await db.executemany(UPSERT_CALL, calls)
        if legs:
            await db.executemany(UPSERT_LEG, legs)
        if events:
            await db.executemany(INSERT_EVENT, events)
        await db.execute("COMMIT")

    async def _commit_one_by_one(
        self, items: list[Item], converted: list[Rows | None]
    ) -> tuple[list[bool], list[tuple[Item, BaseException]]]:
        db = self._writer
        ok: list[bool] = []
        problems: list[tuple[Item, BaseException]] = []
        try:
            await db.execute("BEGIN IMMEDIATE")
            for item, rows in zip(items, converted, strict=True):
                if rows is None:
                    ok.append(False)  # conversion problem, already recorded
                    continue
                await db.execute("SAVEPOINT item")
                try:
                    if rows.call is not None:
                        await db.execute(UPSERT_CALL, rows.call)
                    if rows.legs:
                        await db.executemany(UPSERT_LEG, rows.legs)
                    if rows.event is not None:
                        await db.execute(INSERT_EVENT, rows.event)
                except Exception as exc:
                    await db.execute("ROLLBACK TO item")
                    ok.append(False)
                    problems.append((item, exc))
                else:
                    ok.append(True)
                await db.execute("RELEASE item")
            await db.execute("COMMIT")
        except Exception as exc:  # the database itself is failing (disk full, I/O)
            await self._rollback_quietly()
            log.error("call store %s: cannot write batch of %d: %s", self.path, len(items), exc)
            return [False] * len(items), problems
        return ok, problems

    async def _rollback_quietly(self) -> None:
        try:
            if self._writer.in_transaction:
                await self._writer.execute("ROLLBACK")
        except Exception:
            log.exception("call store %s: rollback failed", self.path)

    # ------------------------------------------------------------------ services' tables
    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work(tx)`` in one ``BEGIN IMMEDIATE`` transaction on the writer connection,
        between the call batches (services such as clients and users write through here, so
        SQLite keeps a single writer). Rolled back if ``work`` raises."""
        self._check_open()
        async with self._db_lock:
            db = self._writer
            await db.execute("BEGIN IMMEDIATE")
            try:
                result = await work(Tx(db))
            except BaseException:
                await self._rollback_quietly()
                raise
            await db.execute("COMMIT")
            return result

    async def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query (read connection; sees committed data) as dicts."""
        return [dict(row) for row in await self._all(sql, params)]

    async def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        row = await self._one(sql, params)
        return None if row is None else dict(row)

    # ------------------------------------------------------------------ reading
    async def get_call(self, pbx: str, call_id: str) -> dict[str, Any] | None:
        """The call in the shape of ``CallRecord.to_json()``, or None."""
        row = await self._one("SELECT * FROM calls WHERE pbx = ? AND call_id = ?", (pbx, call_id))
        return None if row is None else call_json(row)

    async def get_record(self, pbx: str, call_id: str) -> CallRecord | None:
        """The call rebuilt as a :class:`CallRecord`, legs included, or None."""
        row = await self._one("SELECT * FROM calls WHERE pbx = ? AND call_id = ?", (pbx, call_id))
        if row is None:
            return None
        legs = await self._all(_LEGS_SQL, (pbx, call_id))
        return record_from_row(row, tuple(leg_from_row(leg) for leg in legs))

    async def list_calls(
        self, limit: int = 100, before: tuple[str, str] | None = None, **filters: object
    ) -> list[dict[str, Any]]:
        """Calls newest first (by ``started_at``, then pbx, call_id), at most ``limit``.

        ``before`` is the ``(pbx, call_id)`` of the last call of the previous page (keyset
        pagination: stable while calls are being added). Filters: ``pbx``, ``direction``,
        ``status``, ``extension``, ``caller_number``, ``callee_number``, ``number`` (caller or
        callee), ``queue``, ``answered``, ``overlong``, ``since``/``until`` (epoch seconds on
        ``started_at``, until exclusive). A filter given as None is ignored."""
        if not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {_MAX_LIMIT}, not {limit}")
        where, params = build_where(filters)
        if before is not None:
            cursor = await self._one(
                "SELECT started_at FROM calls WHERE pbx = ? AND call_id = ?", before
            )
            if cursor is None:
                raise LookupError(f"unknown page cursor {before[0]}/{before[1]}")
            where.append("(started_at, pbx, call_id) < (?, ?, ?)")
            params.extend((cursor["started_at"], before[0], before[1]))
        sql = "SELECT * FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, pbx DESC, call_id DESC LIMIT ?"
        rows = await self._all(sql, (*params, limit))
        return [call_json(row) for row in rows]

    async def count_calls(self, **filters: object) -> int:
        """How many calls match (same filters as :meth:`list_calls`)."""
        where, params = build_where(filters)
        sql = "SELECT COUNT(*) AS n FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        row = await self._one(sql, params)
        return 0 if row is None else int(row["n"])

    async def call_events(self, pbx: str, call_id: str) -> list[dict[str, Any]]:
        """The call's timeline, oldest first: ``{pbx, call_id, kind, at, detail}``."""
        rows = await self._all(
            "SELECT * FROM call_events WHERE pbx = ? AND call_id = ? ORDER BY at, id",
            (pbx, call_id),
        )
        return [event_json(row) for row in rows]

    async def call_legs(self, pbx: str, call_id: str) -> list[dict[str, Any]]:
        """The call's channels, in order of creation."""
        rows = await self._all(_LEGS_SQL, (pbx, call_id))
        return [leg_json(row) for row in rows]

    async def _one(self, sql: str, params: Iterable[Any]) -> aiosqlite.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Iterable[Any]) -> list[aiosqlite.Row]:
        if self._closed:
            raise StoreError(f"call store {self.path} is closed")
        return list(await self._reader.execute_fetchall(sql, tuple(params)))


_LEGS_SQL = "SELECT * FROM call_legs WHERE pbx = ? AND call_id = ? ORDER BY created_at, uniqueid"


async def _scalar(db: aiosqlite.Connection, sql: str) -> Any:
    async with db.execute(sql) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def _migrate(
    db: aiosqlite.Connection,
    path: Path,
    migrations: Sequence[Migration],
    clock: Callable[[], float],
) -> None:
    """Apply each migration not yet recorded in ``schema_migrations``, each in its own
    transaction, so a failed step leaves the database at the previous version."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n in order, got {versions}")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    latest = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
    done = await _scalar(db, latest)
    if done > len(migrations):
        raise StoreError(
            f"call store {path} has schema version {done}, newer than this cti "
            f"(which knows up to {len(migrations)}); upgrade cti"
        )
    for migration in migrations[done:]:
        # BEGIN IMMEDIATE takes the write lock before re-reading the version, so two processes
        # opening the same file cannot both apply a step.
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await _scalar(db, latest) < migration.version:
                for statement in migration.statements:
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, clock()),
                )
                log.info(
                    "call store %s: applied migration %d (%s)",
                    path,
                    migration.version,
                    migration.name,
                )
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise


async def _close_quietly(db: aiosqlite.Connection) -> None:
    try:
        await db.close()
    except Exception:
        log.exception("closing a call store connection failed")
