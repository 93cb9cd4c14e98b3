"""In-app notifications: "a callback is due", "ticket T-… was given to you".

They are **rows** (table ``notifications``), so a person who was offline when it happened sees
it, unread, at their next page; the websocket only makes them instant: the **listeners** are
told after the commit (the web layer pushes the new counts and, for a due callback, the
reminder toast).

A row is written either on its own (:meth:`NotificationService.add`) or inside someone else's
transaction (:meth:`NotificationService.add_in`, then :meth:`NotificationService.announce`
once that transaction has committed), so that a change and its notification are saved
together or not at all: the ticket hook (:meth:`NotificationService.watch_tickets`) and the
reminder scheduler do the latter.

``text`` is a plain English sentence for logs and scripts; pages show their own translated
wording from ``kind`` and ``data`` when they know the kind.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cti.calls.model import iso_utc
from cti.errors import NotFound, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.service import TicketChange, TicketService

log = logging.getLogger(__name__)

MAX_LIST = 200


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    username: str
    kind: str
    text: str
    link: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    read_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "kind": self.kind,
                "text": self.text, "link": self.link, "data": self.data,
                "created_at": iso_utc(self.created_at), "read_at": iso_utc(self.read_at),
                "read": self.read_at is not None}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Notification:
        try:
            data = json.loads(row["data"])
        except ValueError:
            data = {}
        return cls(row["id"], row["username"], row["kind"], row["text"], row["link"],
                   data if isinstance(data, dict) else {}, row["created_at"], row["read_at"])


#: ``listener(username, notification)``: a new notification, or None when some of that
#: person's notifications were marked read.
Listener = Callable[[str, Notification | None], None]


class NotificationService:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.listeners: list[Listener] = []
        self._pending: list[Notification] = []  # written by the ticket hook, not committed yet

    # ------------------------------------------------------------------ writing
    async def add(self, username: str, kind: str, text: str, link: str = "",
                  data: Mapping[str, Any] | None = None) -> Notification:
        async def work(tx: Tx) -> Notification:
            return await self.add_in(tx, username, kind, text, link, data)

        note = await self.store.transaction(work)
        self.announce([note])
        return note

    async def add_in(self, tx: Tx, username: str, kind: str, text: str, link: str = "",
                     data: Mapping[str, Any] | None = None) -> Notification:
        """Write inside ``tx``; call :meth:`announce` after it commits."""
        if not username or not kind:
            raise ValidationError("username" if not username else "kind", "is required")
        now = self.clock()
        payload = json.dumps(dict(data or {}), ensure_ascii=False)
        nid = await tx.execute(
            "INSERT INTO notifications (username, kind, text, link, data, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (username, kind, text[:1000], link[:500], payload, now))
        return Notification(nid, username, kind, text[:1000], link[:500], dict(data or {}), now)

    def announce(self, notes: Iterable[Notification]) -> None:
        for note in notes:
            self._tell(note.username, note)

    async def mark_read(self, username: str, notification_id: int | None = None) -> int:
        """Mark one of ``username``'s notifications read, or all of them (``None``); returns
        how many changed. Someone else's notification is :class:`NotFound`."""
        now = self.clock()

        async def work(tx: Tx) -> int:
            if notification_id is None:
                await tx.execute("UPDATE notifications SET read_at = ? "
                                 "WHERE username = ? AND read_at IS NULL", (now, username))
                return await tx.changes()
            rows = await tx.fetch("SELECT read_at FROM notifications WHERE id = ? "
                                  "AND username = ?", (notification_id, username))
            if not rows:
                raise NotFound(f"no notification {notification_id}")
            if rows[0]["read_at"] is not None:
                return 0
            await tx.execute("UPDATE notifications SET read_at = ? WHERE id = ?",
                             (now, notification_id))
            return 1

        changed = await self.store.transaction(work)
        if changed:
            self._tell(username, None)
        return changed

    # ------------------------------------------------------------------ reading
    async def unread(self, username: str, limit: int = 50) -> list[Notification]:
        rows = await self.store.query(
            "SELECT * FROM notifications WHERE username = ? AND read_at IS NULL "
            "ORDER BY created_at DESC, id DESC LIMIT ?", (username, min(limit, MAX_LIST)))
        return [Notification.from_row(r) for r in rows]

    async def recent(self, username: str, limit: int = 50) -> list[Notification]:
        """Read or not, newest first."""
        rows = await self.store.query(
            "SELECT * FROM notifications WHERE username = ? ORDER BY created_at DESC, id DESC "
            "LIMIT ?", (username, min(limit, MAX_LIST)))
        return [Notification.from_row(r) for r in rows]

    async def unread_count(self, username: str) -> int:
        row = await self.store.query_one(
            "SELECT COUNT(*) AS n FROM notifications WHERE username = ? AND read_at IS NULL",
            (username,))
        return int(row["n"]) if row else 0

    # ------------------------------------------------------------------ tickets
    def watch_tickets(self, tickets: TicketService) -> None:
        """Notify whoever a ticket is given to (created assigned, assigned, transferred), but
        not the person who gave it: they know. A ticket given to a group notifies its members.
        Rows are written in the ticket change's transaction; listeners hear after commit."""
        if self._on_ticket not in tickets.hooks:
            tickets.hooks.append(self._on_ticket)
            tickets.listeners.append(self._after_ticket)

    async def _on_ticket(self, tx: Tx, change: TicketChange) -> None:
        self._pending = []  # left by a change that rolled back: never announce those
        ticket, before = change.ticket, change.before
        if change.kind not in ("created", "assigned"):
            return
        old = (before.assignee, before.group_id) if before else (None, None)
        if (ticket.assignee, ticket.group_id) == old:
            return
        people: list[str] = []
        if ticket.assignee:
            people = [ticket.assignee]
        elif ticket.group_id is not None:
            rows = await tx.fetch(
                "SELECT m.username FROM group_members m JOIN users u ON u.username = m.username "
                "WHERE m.group_id = ? AND u.active = 1 ORDER BY m.username", (ticket.group_id,))
            people = [r["username"] for r in rows]
        data = {"ticket_id": ticket.id, "number": ticket.number, "subject": ticket.subject,
                "by": change.actor, "group_id": ticket.group_id,
                "transfer": bool(before and (before.assignee or before.group_id))}
        for person in people:
            if person == change.actor:
                continue
            self._pending.append(await self.add_in(
                tx, person, "ticket_assigned",
                f"Ticket {ticket.number} given to you by {change.actor}: {ticket.subject}",
                f"/tickets/{ticket.id}", data))

    def _after_ticket(self, change: TicketChange) -> None:
        pending, self._pending = self._pending, []
        self.announce(pending)

    def _tell(self, username: str, note: Notification | None) -> None:
        for listener in self.listeners:
            try:
                listener(username, note)
            except Exception:
                log.exception("notification listener failed for %s", username)
