"""The outgoing mail queue (``mail_outbox``) and the sender that drains it.

A notification is a row written by :func:`enqueue` inside the transaction of the change that
caused it (see :mod:`cti.tickets.notify`), so a ticket change and its mail are saved together
or not at all. :class:`MailOutbox` sends what is due, one message at a time, outside any
ticket transaction:

* **A failure delays, never blocks or loses.** The row keeps ``attempts``, ``last_error`` and a
  ``next_try_at`` pushed back exponentially (30 s, 1 min, 2 min… capped at an hour). After
  ``mail.retry_max`` attempts it stays in the table as *failed*, for an admin to see
  (:func:`mail_rows`, ``GET /api/mail``).
* **A dead server is tried once per round**, not once per mail: after a connection-level
  failure the rest of the due batch gets the same error and backoff without another attempt.
* **Sent mail leaves a trace on the ticket**: a ``email`` timeline entry (internal), written in
  the same transaction that marks the row sent.
* **Prompt without polling**: the loop sleeps until the next row is due or until
  :meth:`MailOutbox.wake` (called after a commit that queued mail).
* With ``mail.smtp_host`` empty nothing is sent: rows stay queued.

Delivery is at-least-once: a crash between the server's "250 OK" and the row's update sends
that one mail again after restart, which beats losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cti.calls.model import iso_utc
from cti.mail import MailError, SmtpSettings, build_message, send
from cti.store.sqlite import Store
from cti.store.tx import Tx

log = logging.getLogger(__name__)

BACKOFF_FIRST = 30.0  # seconds before the first retry; doubles per attempt
BACKOFF_MAX = 3600.0
BATCH = 50  # rows per round (a big backlog is sent in several rounds, newest work interleaved)
ERROR_PAUSE = 30.0  # after an unexpected error in a round (database trouble…)


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1, 2, …)."""
    return min(BACKOFF_FIRST * 2.0 ** max(attempts - 1, 0), BACKOFF_MAX)


async def enqueue(tx: Tx, *, kind: str, recipient: str, subject: str, body: str, now: float,
                  ticket_id: int | None = None) -> int:
    """Queue one mail inside the caller's transaction; returns its id."""
    return await tx.execute(
        "INSERT INTO mail_outbox (kind, ticket_id, recipient, subject, body, created_at, "
        "next_try_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, ticket_id, recipient, subject, body, now, now))


@dataclass(frozen=True, slots=True)
class QueuedMail:
    id: int
    kind: str
    ticket_id: int | None
    recipient: str
    subject: str
    created_at: float
    attempts: int
    next_try_at: float
    last_error: str
    sent_at: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueuedMail:
        return cls(**{name: row[name] for name in cls.__slots__})

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        for name in ("created_at", "next_try_at", "sent_at"):
            out[name] = iso_utc(out[name])
        return out


async def mail_rows(store: Store, *, retry_max: int, failed: bool,
                    limit: int = 200) -> list[QueuedMail]:
    """Unsent mail: still to be tried (``failed=False``) or given up on (``failed=True``),
    oldest first."""
    test = ">=" if failed else "<"
    rows = await store.query(
        "SELECT id, kind, ticket_id, recipient, subject, created_at, attempts, next_try_at, "
        f"last_error, sent_at FROM mail_outbox WHERE sent_at IS NULL AND attempts {test} ? "
        "ORDER BY created_at, id LIMIT ?", (retry_max, limit))
    return [QueuedMail.from_row(r) for r in rows]


class MailOutbox:
    def __init__(self, store: Store, settings: SmtpSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sent = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one round at a time (the loop, or a caller of drain)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="mail-outbox")

    async def close(self) -> None:
        """Stop the loop. A message being handed to the server is let finish and marked
        (its thread cannot be interrupted; cancelling would send it again after restart),
        within the SMTP timeout; the rest of the round waits for the next start."""
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self.settings.timeout + 5.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """New rows were committed: send them now rather than at the next timer."""
        self._wake.set()

    async def run(self) -> None:
        """Drain, sleep until the next due row or a wake, forever; never raises."""
        if not self.settings.enabled:
            log.info("mail: mail.smtp_host is empty; notifications are queued, not sent")
            return
        while not self._stopping:
            self._wake.clear()
            delay: float | None
            try:
                await self.drain()
                delay = await self._next_delay()
            except Exception:  # a bug or a database hiccup must not end mail for good
                log.exception("mail: sending round failed")
                delay = ERROR_PAUSE
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    # ------------------------------------------------------------------ queries
    async def pending(self) -> list[QueuedMail]:
        return await mail_rows(self.store, retry_max=self.settings.retry_max, failed=False)

    async def failed(self) -> list[QueuedMail]:
        return await mail_rows(self.store, retry_max=self.settings.retry_max, failed=True)

    # ------------------------------------------------------------------ sending
    async def drain(self) -> int:
        """Send every due row (one batch); returns how many were sent."""
        if not self.settings.enabled:
            return 0
        async with self._lock:
            rows = await self.store.query(
                "SELECT * FROM mail_outbox WHERE sent_at IS NULL AND next_try_at <= ? "
                "AND attempts < ? ORDER BY next_try_at, id LIMIT ?",
                (self.clock(), self.settings.retry_max, BATCH))
            sent = 0
            down: str | None = None
            for row in rows:
                if self._stopping:
                    break
                if down is not None:  # the server is unreachable: same verdict, no new try
                    await self._failed(row, down)
                    continue
                try:
                    message = build_message(self.settings.sender, row["recipient"],
                                            row["subject"], row["body"])
                    await send(self.settings, message)
                except MailError as exc:
                    log.warning("mail %s to %s not sent: %s", row["id"], row["recipient"], exc)
                    await self._failed(row, str(exc))
                    if exc.server_down:
                        down = str(exc)
                    continue
                except Exception as exc:  # a bug: keep it visible, keep the queue moving
                    log.exception("mail %s: unexpected failure", row["id"])
                    await self._failed(row, f"{type(exc).__name__}: {exc}")
                    continue
                await self._sent(row)
                sent += 1
            return sent

    async def _sent(self, row: dict[str, Any]) -> None:
        now = self.clock()

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE mail_outbox SET sent_at = ?, attempts = attempts + 1, "
                             "last_error = '' WHERE id = ?", (now, row["id"]))
            if row["ticket_id"] is not None:
                data = {"mail_id": row["id"], "mail": row["kind"],
                        "recipient": row["recipient"], "subject": row["subject"]}
                await tx.execute(
                    "INSERT INTO ticket_events (ticket_id, at, actor, kind, internal, data) "
                    "SELECT id, ?, 'system', 'email', 1, ? FROM tickets WHERE id = ?",
                    (now, json.dumps(data, ensure_ascii=False), row["ticket_id"]))

        await self.store.transaction(work)
        self.sent += 1

    async def _failed(self, row: dict[str, Any], error: str) -> None:
        attempts = int(row["attempts"]) + 1
        now = self.clock()

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE mail_outbox SET attempts = ?, last_error = ?, "
                             "next_try_at = ? WHERE id = ?",
                             (attempts, error[:1000], now + backoff(attempts), row["id"]))

        await self.store.transaction(work)
        self.failures += 1
        if attempts >= self.settings.retry_max:
            log.error("mail %s to %s given up after %d attempts: %s", row["id"],
                      row["recipient"], attempts, error)

    async def _next_delay(self) -> float | None:
        """Seconds until the next row is due (0: some are due now), None when none wait."""
        row = await self.store.query_one(
            "SELECT MIN(next_try_at) AS at FROM mail_outbox WHERE sent_at IS NULL "
            "AND attempts < ?", (self.settings.retry_max,))
        if row is None or row["at"] is None:
            return None
        return min(max(float(row["at"]) - self.clock(), 0.0), BACKOFF_MAX)


__all__ = ["MailOutbox", "QueuedMail", "backoff", "enqueue", "mail_rows"]
