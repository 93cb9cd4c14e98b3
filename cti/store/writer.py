"""The store's write path, short of the database: one queue, drained by one task in batches.

:class:`~cti.store.sqlite.Store` is a :class:`BatchWriter` that supplies the transactions
(``_commit``, ``_commit_one_by_one``, ``_rollback_quietly``); everything here is plain asyncio:

* **submit never waits.** It appends to a queue and wakes the writer task, so the bus keeps
  flowing whatever the disk does.
* **Batches.** The writer takes up to ``batch_size`` items, or whatever came in within
  ``batch_interval`` seconds, converts them to rows (yielding to the loop now and then: JSON
  encoding runs on it) and hands them to one transaction.
* **Tickets.** ``flush``, ``save_call`` and ``add_events`` put a ticket in the queue and wait for
  the writer to reach it; a waiting ticket makes the writer stop lingering to fill a batch.
* **Bad items do not stop the writer.** Items that fail are counted, logged (a few with their
  traceback) and dropped; if the writer task itself dies, whoever waits on a ticket is told.

This module holds no connection and imports no database driver.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cti.calls.model import CallRecord, DomainEvent
from cti.errors import CtiError
from cti.store.rows import Rows, rows_for

# The store's logger: these messages kept their name when this code moved out of sqlite.py.
log = logging.getLogger("cti.store.sqlite")

Item = CallRecord | DomainEvent

#: Failures logged with a traceback per batch; the rest are summarised in one line.
_LOGGED_FAILURES_PER_BATCH = 5
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


class BatchWriter(abc.ABC):
    """The queue, batching and tickets of the call store; a subclass writes the rows."""

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int,
        batch_interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._clock = clock
        self._queue: deque[_Entry] = deque()
        self._queued = 0  # items (not flush markers) in the queue
        self._urgent = 0  # tickets waiting: do not linger to fill a batch
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._submitted = 0
        self._written = 0
        self._failed = 0
        self._batches = 0
        self._inflight: list[_Entry] = []  # the batch being written, for _writer_stopped
        # One writer connection, two users: the batch task and Store.transaction(). The lock
        # keeps their transactions from interleaving on that connection.
        self._db_lock = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"store:{path}")
        self._task.add_done_callback(self._writer_stopped)

    # ------------------------------------------------------------------ what a subclass supplies
    @abc.abstractmethod
    async def _commit(self, rows: list[Rows]) -> None:
        """Write these rows in one transaction, or raise (leaving it to be rolled back)."""

    @abc.abstractmethod
    async def _commit_one_by_one(
        self, items: list[Item], converted: list[Rows | None]
    ) -> tuple[list[bool], list[tuple[Item, BaseException]]]:
        """Write each item on its own (``None``: not convertible, fails); say which succeeded."""

    @abc.abstractmethod
    async def _rollback_quietly(self) -> None:
        """Roll back an open transaction, if any; log rather than raise."""

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

    async def _finish(self) -> None:
        """Have the writer write everything submitted so far, then stop.

        Raises only if the caller itself is being cancelled; a writer that crashed or was
        cancelled earlier has already been logged by ``_writer_stopped``."""
        self._closing = True
        self._wake.set()
        self._full.set()
        try:
            await self._task
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the caller is being cancelled
            # else the writer was cancelled earlier; _writer_stopped has logged it
        except Exception:
            pass  # the writer crashed; _writer_stopped has logged it

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
                async with self._db_lock:
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
