"""The reminder scheduler: when a callback falls due, tell its people (in the app, by mail).

It sleeps until the next pending callback's due time, read from the table (``callbacks``),
and reads it again whenever a callback changes (:meth:`ReminderScheduler.wake`, called by the
callback service's listeners). When the time comes, each due callback not reminded yet is, in
**one transaction**: marked ``reminded_at``, given an in-app notification for its assignee (or
every active member of its group), and, if it asks for mail and the person has an address, a
row in ``mail_outbox`` (the mail sender delivers it, with retries). So a reminder is never lost
and never sent twice:

* **Restart.** Nothing lives in memory: on start the scheduler fires everything due while the
  daemon was down (``reminded_at`` is still NULL), then waits for the next one.
* **Twice.** ``UPDATE … WHERE reminded_at IS NULL`` inside the transaction is the claim; a
  second scheduler (or a second pass) finds nothing to claim.
* **Never crashes.** A failing pass is logged and retried a little later; a callback whose
  reminder keeps failing is not retried in a tight loop.

``clock`` and ``sleep`` are handed in, so a test runs hours of schedule in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.callbacks import Callback, CallbackChange, CallbackService
from cti.tickets.notifications import Notification, NotificationService

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]

#: The longest nap: even with nothing due, look again now and then (a clock that jumped,
#: rows written by another process).
MAX_WAIT = 300.0
RETRY_AFTER = 30.0
BATCH = 100

_MAIL: dict[str, tuple[str, str]] = {
    "fr": ("Rappel : {who}", "Rappel prévu le {due}.\n\n{kind}\nNuméro : {number}\n{note}"),
    "en": ("Callback: {who}", "Callback due {due}.\n\n{kind}\nNumber: {number}\n{note}"),
}
_KINDS: dict[str, dict[str, str]] = {
    "fr": {"to_call_back": "Rappeler le client.",
           "will_call_back": "Le client devait rappeler : le relancer s'il ne l'a pas fait."},
    "en": {"to_call_back": "Call the client back.",
           "will_call_back": "The client said they would call: chase them if they did not."},
}


def who(callback: Callback) -> str:
    """What the reminder is about, in a few words: client, ticket, number."""
    parts = [p for p in (callback.client_name, callback.ticket_number,
                         callback.display or callback.number) if p]
    return " · ".join(parts) or f"#{callback.id}"


class ReminderScheduler:
    def __init__(self, store: Store, callbacks: CallbackService,
                 notifications: NotificationService, clock: Callable[[], float] = time.time,
                 sleep: Sleep = asyncio.sleep, *, language: str = "fr",
                 max_wait: float = MAX_WAIT, on_mail: Callable[[], None] | None = None
                 ) -> None:
        self.store = store
        self.callbacks = callbacks
        self.notifications = notifications
        self.clock = clock
        self.sleep = sleep
        self.language = language if language in _MAIL else "en"
        self.max_wait = max_wait
        self.on_mail = on_mail  # the mail outbox's wake(): a queued reminder goes out now
        self.fired = 0  # reminders sent (notifications' callbacks), for status and tests
        self.errors = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is None:
            self.callbacks.listeners.append(self._on_change)
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._on_change in self.callbacks.listeners:
            self.callbacks.listeners.remove(self._on_change)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Something changed: read the next due time again."""
        self._wake.set()

    def _on_change(self, change: CallbackChange) -> None:
        self.wake()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # a change during the pass below sets it again: no nap then
            try:
                await self.run_once()
                due = await self.callbacks.next_due()
                delay = self.max_wait if due is None else min(self.max_wait, due - self.clock())
            except Exception:
                self.errors += 1
                log.exception("reminders: pass failed; trying again in %.0f s", RETRY_AFTER)
                delay = RETRY_AFTER
            if delay > 0:
                await self._nap(delay)

    async def _nap(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or until :meth:`wake`."""
        sleeper = asyncio.ensure_future(self.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    # ------------------------------------------------------------------ firing
    async def run_once(self) -> int:
        """Fire every due callback not reminded yet; returns how many fired."""
        fired = 0
        while True:
            rows = await self.store.query(
                "SELECT id FROM callbacks WHERE status = 'pending' AND reminded_at IS NULL "
                "AND due_at <= ? ORDER BY due_at, id LIMIT ?", (self.clock(), BATCH))
            done = 0
            for row in rows:
                try:
                    if await self.fire(int(row["id"])):
                        fired += 1
                    done += 1
                except Exception:
                    self.errors += 1
                    log.exception("reminders: callback %s failed", row["id"])
            if len(rows) < BATCH or not done:
                return fired

    async def fire(self, callback_id: int) -> bool:
        """Claim and send one reminder; False when it was claimed already (or is not due)."""
        callback = await self.callbacks.get(callback_id)
        mail_column = await self._users_have_email()
        now = self.clock()
        payload = callback.to_json(now)

        async def work(tx: Tx) -> list[Notification] | None:
            await tx.execute("UPDATE callbacks SET reminded_at = ? WHERE id = ? AND due_at <= ? "
                             "AND reminded_at IS NULL AND status = 'pending'",
                             (now, callback_id, now))
            if not await tx.changes():
                return None  # claimed already, done, cancelled, or not due
            people = await self._people(tx, callback)
            notes = []
            for person in people:
                notes.append(await self.notifications.add_in(
                    tx, person, "callback_due", f"Callback due: {who(callback)}", "/actions",
                    {"callback": payload}))
            if callback.email and mail_column and await self._queue_mail(tx, callback, people,
                                                                          now):
                mailed.append(callback.id)
            return notes

        mailed: list[int] = []
        notes = await self.store.transaction(work)
        if notes is None:
            return False
        if mailed and self.on_mail is not None:
            self.on_mail()
        self.fired += 1
        self.notifications.announce(notes)
        log.info("reminders: callback %s due, told %s", callback_id,
                 ", ".join(n.username for n in notes) or "nobody")
        return True

    async def _people(self, tx: Tx, callback: Callback) -> list[str]:
        if callback.assignee:
            return [callback.assignee]
        if callback.group_id is None:  # nobody's: its creator, if a person made it
            rows = await tx.fetch("SELECT username FROM users WHERE username = ? AND active = 1",
                                  (callback.created_by,))
            return [r["username"] for r in rows]
        rows = await tx.fetch(
            "SELECT m.username FROM group_members m JOIN users u ON u.username = m.username "
            "WHERE m.group_id = ? AND u.active = 1 ORDER BY m.username", (callback.group_id,))
        return [r["username"] for r in rows]

    async def _users_have_email(self) -> bool:
        """The ``users.email`` column comes with the mail feature's migration: no column, no
        address, no mail."""
        rows = await self.store.query("PRAGMA table_info(users)")
        return any(r["name"] == "email" for r in rows)

    async def _queue_mail(self, tx: Tx, callback: Callback, people: list[str],
                          now: float) -> int:
        """One ``mail_outbox`` row per person with an address; returns how many."""
        if not people:
            return 0
        marks = ", ".join("?" for _ in people)
        rows = await tx.fetch(f"SELECT username, email FROM users WHERE username IN ({marks})",
                              people)
        subject_t, body_t = _MAIL[self.language]
        due = dt.datetime.fromtimestamp(callback.due_at, self.callbacks.tz)
        values = {"who": who(callback), "due": due.strftime("%d/%m/%Y %H:%M"),
                  "kind": _KINDS[self.language].get(callback.kind, ""),
                  "number": callback.display or callback.number or "-", "note": callback.note}
        queued = 0
        for row in rows:
            address = (row["email"] or "").strip()
            if not address:
                continue
            queued += 1
            await tx.execute(
                "INSERT INTO mail_outbox (kind, ticket_id, recipient, subject, body, created_at, "
                "next_try_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ("callback_due", callback.ticket_id, address, subject_t.format(**values),
                 body_t.format(**values).strip() + "\n", now, now))
        return queued
