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

This is the only module that imports :mod:`aiosqlite`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from cti.calls.model import CallRecord, DomainEvent
from cti.errors import CtiError
from cti.store.schema import (
    INSERT_EVENT,
    MIGRATIONS,
    UPSERT_CALL,
    UPSERT_LEG,
    Migration,
    Rows,
    build_where,
    call_json,
    event_json,
    leg_from_row,
    leg_json,
    record_from_row,
    rows_for,
)

__all__ = ["Store", "StoreError", "StoreStats", "record_from_row"]

log = logging.getLogger(__name__)

Item = CallRecord | DomainEvent

#: Failures logged with a traceback per batch; the rest are summarised in one line.
_LOGGED_FAILURES_PER_BATCH = 5
_MAX_LIMIT = 10_000
#: Items converted to rows (on the event loop) between two yields: ~1.5 ms of JSON encoding.
_CONVERT_CHUNK = 250


class StoreError(CtiError):
    """The store cannot be opened or used (bad path, not a database, writer stopped)."""


@dataclass(frozen=True)
class StoreStats:
    """Counters for the health page and logs. ``failed`` items were dropped (and logged).

    Deliberately not slotted, so ``vars(stats)`` gives the JSON-ready dict."""

    submitted: int
    written: int
    failed: int
    pending: int
    batches: int


class _Ticket:
    """Resolves once the writer has processed ``remaining`` more items (and committed them).

    A flush is a ticket for zero items placed at the end of the queue; ``save_call`` is a
    ticket for its own items. Its result is how many of those items failed."""

    __slots__ = ("failed", "future", "remaining")

    def __init__(self, future: asyncio.Future[int], remaining: int) -> None:
        self.future = future
        self.remaining = remaining
        self.failed = 0


_Entry = tuple[Item | None, _Ticket | None]


class Store:
    """Call store over one SQLite file. Create with ``await Store.open(path)``."""

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
        self.path = path
        self._writer = writer
        self._reader = reader
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._clock = clock
        self._queue: deque[_Entry] = deque()
        self._queued = 0  # items (not flush markers) in the queue
        self._urgent = 0  # tickets waiting: do not linger to fill a batch
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._closed = False
        self._submitted = 0
        self._written = 0
        self._failed = 0
        self._batches = 0
        self._inflight: list[_Entry] = []  # the batch being written, for _writer_stopped
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"store:{path}")
        self._task.add_done_callback(self._writer_stopped)

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
        self._closing = True
        self._wake.set()
        self._full.set()
        try:
            await self._task
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # close() itself is being cancelled; connections still get closed
            # else the writer was cancelled earlier; _writer_stopped has logged it
        except Exception:
            pass  # the writer crashed; _writer_stopped has logged it
        finally:
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
    def submit(self, item: Item) -> None:
        """Queue a :class:`CallRecord` or a domain event for writing; never waits.

        A ``CallEnded`` event saves its record too. Raises ``TypeError`` for anything else and
        :class:`StoreError` once the store is closing or its writer has stopped (a bug)."""
        if not isinstance(item, CallRecord | DomainEvent):
            raise TypeError(f"the call store takes CallRecord or DomainEvent, not {item!r}")
        self._check_open()
        self._queue.append((item, None))
        self._queued += 1
        self._submitted += 1
        self._wake.set()
        if self._queued >= self._batch_size:
            self._full.set()

    async def flush(self) -> None:
        """Wait until everything submitted before this call is committed (or failed)."""
        await self._ticket([])

    async def save_call(self, record: CallRecord) -> None:
        """Write one record now (through the writer) and wait for it; raises if it failed."""
        if await self._ticket([record]):
            raise StoreError(f"could not save call {record.pbx}/{record.call_id}; see log")

    async def add_events(self, events: Iterable[DomainEvent]) -> None:
        """Write these events now (through the writer) and wait; raises if any failed."""
        failed = await self._ticket(list(events))
        if failed:
            raise StoreError(f"could not save {failed} event(s); see log")

    @property
    def stats(self) -> StoreStats:
        return StoreStats(
            submitted=self._submitted,
            written=self._written,
            failed=self._failed,
            pending=self._queued,
            batches=self._batches,
        )

    def _check_open(self) -> None:
        if self._closing:
            raise StoreError(f"call store {self.path} is closed")
        if self._task.done():
            raise StoreError(f"call store {self.path}: writer task has stopped")

    async def _ticket(self, items: list[Item]) -> int:
        for item in items:
            if not isinstance(item, CallRecord | DomainEvent):
                raise TypeError(f"the call store takes CallRecord or DomainEvent, not {item!r}")
        self._check_open()
        ticket = _Ticket(asyncio.get_running_loop().create_future(), len(items))
        if items:
            self._queue.extend((item, ticket) for item in items)
        else:
            self._queue.append((None, ticket))
        self._queued += len(items)
        self._submitted += len(items)
        self._urgent += 1
        self._wake.set()
        self._full.set()
        return await asyncio.shield(ticket.future)

    async def _run(self) -> None:
        """The writer task: wait for work, gather a batch, write it, settle tickets, repeat."""
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._queued < self._batch_size and not self._urgent and not self._closing:
                self._full.clear()
                try:
                    async with asyncio.timeout(self._batch_interval):
                        await self._full.wait()
                except TimeoutError:
                    pass
            entries = self._inflight = self._take()
            items = [item for item, _ in entries if item is not None]
            ok: list[bool]
            try:
                ok = await self._write(items) if items else []
            except Exception:  # _write handles its own errors; this is the last line
                log.exception("call store %s: batch of %d lost", self.path, len(items))
                await self._rollback_quietly()
                ok = [False] * len(items)
            self._settle(entries, ok)
            self._inflight = []

    def _take(self) -> list[_Entry]:
        entries: list[_Entry] = []
        count = 0
        while self._queue and count < self._batch_size:
            entry = self._queue.popleft()
            entries.append(entry)
            if entry[0] is not None:
                count += 1
        self._queued -= count
        return entries

    def _settle(self, entries: list[_Entry], ok: list[bool]) -> None:
        good = sum(ok)
        self._written += good
        self._failed += len(ok) - good
        self._batches += bool(ok)
        results = iter(ok)
        for item, ticket in entries:
            success = next(results) if item is not None else True
            if ticket is None:
                continue
            if item is not None:
                ticket.remaining -= 1
                ticket.failed += not success
            if ticket.remaining <= 0:
                self._urgent -= 1
                if not ticket.future.done():
                    ticket.future.set_result(ticket.failed)

    async def _write(self, items: list[Item]) -> list[bool]:
        """Write one batch in one transaction; on failure retry item by item."""
        now = self._clock()
        converted: list[Rows | None] = []
        problems: list[tuple[Item, BaseException]] = []
        for n, item in enumerate(items, 1):
            if n % _CONVERT_CHUNK == 0:
                await asyncio.sleep(0)  # JSON encoding runs on the loop: let others in
            try:
                converted.append(rows_for(item, now))
            except Exception as exc:  # e.g. a detail value JSON cannot encode
                converted.append(None)
                problems.append((item, exc))
        try:
            await self._commit([r for r in converted if r is not None])
            ok = [r is not None for r in converted]
        except Exception as exc:
            await self._rollback_quietly()
            log.warning(
                "call store %s: batch of %d failed (%s); retrying item by item",
                self.path,
                len(items),
                exc,
            )
            ok, more = await self._commit_one_by_one(items, converted)
            problems.extend(more)
        self._log_problems(problems)
        return ok

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

    def _log_problems(self, problems: list[tuple[Item, BaseException]]) -> None:
        for item, exc in problems[:_LOGGED_FAILURES_PER_BATCH]:
            log.error(
                "call store %s: dropped %s %s/%s",
                self.path,
                type(item).__name__,
                getattr(item, "pbx", "?"),
                getattr(item, "call_id", "?"),
                exc_info=exc,
            )
        if len(problems) > _LOGGED_FAILURES_PER_BATCH:
            log.error(
                "call store %s: ... and %d more dropped items in the same batch",
                self.path,
                len(problems) - _LOGGED_FAILURES_PER_BATCH,
            )

    async def _rollback_quietly(self) -> None:
        try:
            if self._writer.in_transaction:
                await self._writer.execute("ROLLBACK")
        except Exception:
            log.exception("call store %s: rollback failed", self.path)

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        """Never die silently: log, and fail whoever waits on a ticket."""
        unwritten = self._queued + sum(item is not None for item, _ in self._inflight)
        if task.cancelled():
            error = StoreError(f"call store {self.path}: writer was cancelled")
            log.error("call store %s: writer cancelled, %d items unwritten", self.path, unwritten)
        elif task.exception() is not None:
            error = StoreError(f"call store {self.path}: writer crashed: {task.exception()!r}")
            log.critical("call store %s: writer crashed", self.path, exc_info=task.exception())
        else:
            return
        for _, ticket in (*self._inflight, *self._queue):
            if ticket is not None and not ticket.future.done():
                ticket.future.set_exception(error)

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
