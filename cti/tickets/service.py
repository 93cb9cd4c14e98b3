"""The ticket service: create, edit, move through the workflow, assign, comment, link calls.

Every change is one transaction that updates the ticket row *and* appends its timeline
entries, then runs the **hooks** inside that same transaction (the mail queue and in-app
notifications write their rows there, so a change and its notifications are saved together or
not at all), and after the commit tells the **listeners** (the websocket counts) what changed.
People are usernames; ``actor`` is whoever does the change (``system`` for rules).

Who may *see* a ticket is :func:`visible_to`; the web layer enforces it (and what an agent may
do). This service validates values and workflow moves, whoever asks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from cti.errors import NotFound, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.model import EDITABLE, Ticket, TicketEvent, clean_fields, clean_text, format_number
from cti.tickets.workflow import FINAL, OPEN, check_transition, reopened_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TicketChange:
    """What one action did: ``kind`` is ``created``, ``updated``, ``status``, ``assigned``,
    ``reopened``, ``comment``, ``call`` or ``attachment``; ``before`` is None on creation."""

    kind: str
    ticket: Ticket
    before: Ticket | None
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


TxHook = Callable[[Tx, TicketChange], Awaitable[None]]
Listener = Callable[[TicketChange], None]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks: enough to decide visibility without importing the user service."""

    username: str
    supervisor: bool
    groups: tuple[int, ...] = ()


def visible_to(viewer: Viewer, ticket: Ticket) -> bool:
    """Supervisors see everything; others see public tickets, and private ones they created,
    hold, or that sit with one of their groups."""
    return (viewer.supervisor or ticket.public or ticket.created_by == viewer.username
            or ticket.assignee == viewer.username
            or (ticket.group_id is not None and ticket.group_id in viewer.groups))


class TicketService:
    def __init__(self, store: Store, *, prefix: str = "T-", tz: ZoneInfo | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.prefix = prefix
        self.tz = tz or ZoneInfo("UTC")
        self.clock = clock
        self.hooks: list[TxHook] = []
        self.listeners: list[Listener] = []

    # ------------------------------------------------------------------ reading
    async def get(self, ticket_id: int) -> Ticket:
        row = await self.store.query_one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            raise NotFound(f"no ticket {ticket_id}")
        return Ticket.from_row(row)

    async def get_by_number(self, number: str) -> Ticket:
        row = await self.store.query_one("SELECT * FROM tickets WHERE number = ?", (number,))
        if row is None:
            raise NotFound(f"no ticket {number}")
        return Ticket.from_row(row)

    async def timeline(self, ticket_id: int, *, internal: bool = True) -> list[TicketEvent]:
        sql = "SELECT * FROM ticket_events WHERE ticket_id = ?"
        if not internal:
            sql += " AND internal = 0"
        rows = await self.store.query(sql + " ORDER BY at, id", (ticket_id,))
        return [TicketEvent.from_row(r) for r in rows]

    async def calls(self, ticket_id: int) -> list[tuple[str, str]]:
        rows = await self.store.query(
            "SELECT pbx, call_id FROM ticket_calls WHERE ticket_id = ? ORDER BY linked_at",
            (ticket_id,))
        return [(r["pbx"], r["call_id"]) for r in rows]

    async def for_call(self, pbx: str, call_id: str) -> list[Ticket]:
        rows = await self.store.query(
            "SELECT t.* FROM ticket_calls tc JOIN tickets t ON t.id = tc.ticket_id "
            "WHERE tc.pbx = ? AND tc.call_id = ? ORDER BY t.id", (pbx, call_id))
        return [Ticket.from_row(r) for r in rows]

    async def open_for_clients(self, client_ids: Sequence[int]) -> list[Ticket]:
        """Open tickets of these clients, most urgent then newest first (the pop's list)."""
        if not client_ids:
            return []
        marks = ", ".join("?" for _ in client_ids)
        states = ", ".join("?" for _ in OPEN)
        rows = await self.store.query(
            f"SELECT * FROM tickets WHERE client_id IN ({marks}) AND status IN ({states}) "
            "ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 "
            "WHEN 'normal' THEN 2 ELSE 3 END, updated_at DESC LIMIT 50",
            (*client_ids, *OPEN))
        return [Ticket.from_row(r) for r in rows]

    async def open_count(self, client_ids: Sequence[int]) -> int:
        return len(await self.open_for_clients(client_ids))

    # ------------------------------------------------------------------ changing
    async def create(self, actor: str, data: Mapping[str, Any], *,
                     assignee: str | None = None, group_id: int | None = None,
                     calls: Iterable[tuple[str, str]] = ()) -> Ticket:
        values = clean_fields(data, self.tz, partial=False)
        assignee = await self._check_refs(values.get("client_id"), assignee, group_id)
        now = self.clock()
        year = dt.datetime.fromtimestamp(now, self.tz).year
        status = "assigned" if assignee or group_id else "new"
        links = list(calls)

        async def work(tx: Tx) -> Ticket:
            seq = await self._next_seq(tx, year)
            number = format_number(self.prefix, year, seq)
            columns = ["number", *values, "status", "assignee", "group_id", "created_by",
                       "created_at", "updated_at"]
            params = [number, *values.values(), status, assignee, group_id, actor, now, now]
            tid = await tx.execute(
                f"INSERT INTO tickets ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})", params)
            await self._event(tx, tid, actor, "created", {"number": number, "status": status},
                              now)
            if assignee or group_id:
                await self._event(tx, tid, actor, "assigned",
                                  {"assignee": assignee, "group_id": group_id}, now)
            for pbx, call_id in links:
                await self._link(tx, tid, actor, pbx, call_id, now)
            ticket = await self._load(tx, tid)
            await self._run_hooks(tx, TicketChange("created", ticket, None, actor,
                                                   {"calls": links}))
            return ticket

        ticket = await self.store.transaction(work)
        self._tell(TicketChange("created", ticket, None, actor, {"calls": links}))
        return ticket

    async def update(self, ticket_id: int, actor: str, data: Mapping[str, Any]) -> Ticket:
        """Change fields; one ``field`` timeline entry per field that really changed."""
        values = clean_fields(data, self.tz, partial=True)
        if "client_id" in values:
            await self._check_refs(values["client_id"], None, None)

        async def work(tx: Tx) -> TicketChange | None:
            before = await self._load(tx, ticket_id)
            changed = {k: v for k, v in values.items() if getattr(before, k) != v}
            if not changed:
                return None
            now = self.clock()
            sets = ", ".join(f"{k} = ?" for k in changed)
            await tx.execute(f"UPDATE tickets SET {sets}, updated_at = ? WHERE id = ?",
                             (*changed.values(), now, ticket_id))
            for name, value in changed.items():
                await self._event(tx, ticket_id, actor, "field",
                                  {"field": name, "old": getattr(before, name), "new": value},
                                  now)
            after = await self._load(tx, ticket_id)
            change = TicketChange("updated", after, before, actor, {"fields": sorted(changed)})
            await self._run_hooks(tx, change)
            return change

        change = await self.store.transaction(work)
        if change is None:
            return await self.get(ticket_id)
        self._tell(change)
        return change.ticket

    async def set_status(self, ticket_id: int, actor: str, status: str,
                         note: str = "") -> Ticket:
        """Move the ticket in the workflow (:mod:`cti.tickets.workflow`). Taking a ticket
        nobody holds (``in_progress`` or ``assigned`` with no assignee) makes ``actor`` its
        assignee: the one working on it."""
        note = clean_text("note", note, 4000)

        async def work(tx: Tx) -> TicketChange:
            before = await self._load(tx, ticket_id)
            check_transition(before.status, status)
            now = self.clock()
            assignee = before.assignee
            if status in ("in_progress", "assigned") and not assignee and (
                    status == "in_progress" or before.group_id is None):
                assignee = actor
            closed = now if status in FINAL else None
            await tx.execute("UPDATE tickets SET status = ?, assignee = ?, closed_at = ?, "
                             "updated_at = ? WHERE id = ?",
                             (status, assignee, closed, now, ticket_id))
            await self._event(tx, ticket_id, actor, "status",
                              {"old": before.status, "new": status, "note": note}, now)
            if assignee != before.assignee:
                await self._event(tx, ticket_id, actor, "assigned",
                                  {"assignee": assignee, "group_id": before.group_id,
                                   "old_assignee": before.assignee}, now)
            change = TicketChange("status", await self._load(tx, ticket_id), before, actor,
                                  {"old": before.status, "new": status, "note": note})
            await self._run_hooks(tx, change)
            return change

        change = await self.store.transaction(work)
        self._tell(change)
        return change.ticket

    async def reopen(self, ticket_id: int, actor: str, note: str = "") -> Ticket:
        note = clean_text("note", note, 4000)

        async def work(tx: Tx) -> TicketChange:
            before = await self._load(tx, ticket_id)
            if before.is_open:
                raise ValidationError("status", "the ticket is open already")
            status = reopened_status(bool(before.assignee or before.group_id))
            now = self.clock()
            await tx.execute("UPDATE tickets SET status = ?, closed_at = NULL, updated_at = ? "
                             "WHERE id = ?", (status, now, ticket_id))
            await self._event(tx, ticket_id, actor, "reopened",
                              {"old": before.status, "new": status, "note": note}, now)
            change = TicketChange("reopened", await self._load(tx, ticket_id), before, actor,
                                  {"old": before.status, "new": status, "note": note})
            await self._run_hooks(tx, change)
            return change

        change = await self.store.transaction(work)
        self._tell(change)
        return change.ticket

    async def assign(self, ticket_id: int, actor: str, *, assignee: str | None,
                     group_id: int | None, note: str = "") -> Ticket:
        """Give (transfer) the ticket to a person and/or a group, with a note for them. A
        ``new`` ticket becomes ``assigned``; a finished one must be reopened first."""
        note = clean_text("note", note, 4000)
        if not assignee and group_id is None:
            raise ValidationError("assignee", "choose a person or a group")
        assignee = await self._check_refs(None, assignee, group_id)

        async def work(tx: Tx) -> TicketChange:
            before = await self._load(tx, ticket_id)
            if not before.is_open:
                check_transition(before.status, "assigned")
            now = self.clock()
            status = "assigned" if before.status == "new" else before.status
            await tx.execute("UPDATE tickets SET assignee = ?, group_id = ?, status = ?, "
                             "updated_at = ? WHERE id = ?",
                             (assignee, group_id, status, now, ticket_id))
            data = {"assignee": assignee, "group_id": group_id, "note": note,
                    "old_assignee": before.assignee, "old_group_id": before.group_id}
            await self._event(tx, ticket_id, actor, "assigned", data, now)
            change = TicketChange("assigned", await self._load(tx, ticket_id), before, actor,
                                  data)
            await self._run_hooks(tx, change)
            return change

        change = await self.store.transaction(work)
        self._tell(change)
        return change.ticket

    async def comment(self, ticket_id: int, actor: str, text: str, *,
                      internal: bool = True) -> TicketEvent:
        """A note on the timeline; ``internal=False`` marks it as visible to the client."""
        text = clean_text("text", text, 8000)
        if not text:
            raise ValidationError("text", "is required")
        return await self.add_event(ticket_id, actor, "comment", {"text": text},
                                    internal=internal)

    async def add_event(self, ticket_id: int, actor: str, kind: str, data: Mapping[str, Any],
                        *, internal: bool = True) -> TicketEvent:
        """Append one timeline entry (comments, and the entries other services write: mail
        sent, attachment, callback…) and touch the ticket."""

        async def work(tx: Tx) -> tuple[TicketEvent, TicketChange]:
            before = await self._load(tx, ticket_id)
            now = self.clock()
            eid = await self._event(tx, ticket_id, actor, kind, dict(data), now,
                                    internal=internal)
            await tx.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))
            rows = await tx.fetch("SELECT * FROM ticket_events WHERE id = ?", (eid,))
            event = TicketEvent.from_row(rows[0])
            change = TicketChange("comment" if kind == "comment" else kind,
                                  await self._load(tx, ticket_id), before, actor,
                                  {"event": event.to_json()})
            await self._run_hooks(tx, change)
            return event, change

        event, change = await self.store.transaction(work)
        self._tell(change)
        return event

    async def link_call(self, ticket_id: int, actor: str, pbx: str, call_id: str) -> bool:
        """Link a call; False when it was linked already (nothing written)."""
        pbx, call_id = clean_text("pbx", pbx, 64), clean_text("call_id", call_id, 128)
        if not pbx or not call_id:
            raise ValidationError("call", "a call is (pbx, call_id)")

        async def work(tx: Tx) -> TicketChange | None:
            before = await self._load(tx, ticket_id)
            if not await self._link(tx, ticket_id, actor, pbx, call_id, self.clock()):
                return None
            change = TicketChange("call", await self._load(tx, ticket_id), before, actor,
                                  {"pbx": pbx, "call_id": call_id})
            await self._run_hooks(tx, change)
            return change

        change = await self.store.transaction(work)
        if change is not None:
            self._tell(change)
        return change is not None

    # ------------------------------------------------------------------ inside transactions
    async def _load(self, tx: Tx, ticket_id: int) -> Ticket:
        rows = await tx.fetch("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        if not rows:
            raise NotFound(f"no ticket {ticket_id}")
        return Ticket.from_row(rows[0])

    async def _next_seq(self, tx: Tx, year: int) -> int:
        await tx.execute("INSERT INTO ticket_counters (year, last) VALUES (?, 1) "
                         "ON CONFLICT (year) DO UPDATE SET last = last + 1", (year,))
        rows = await tx.fetch("SELECT last FROM ticket_counters WHERE year = ?", (year,))
        return int(rows[0]["last"])

    async def _event(self, tx: Tx, ticket_id: int, actor: str, kind: str,
                     data: dict[str, Any], at: float, *, internal: bool = True) -> int:
        return await tx.execute(
            "INSERT INTO ticket_events (ticket_id, at, actor, kind, internal, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (ticket_id, at, actor, kind, int(internal), json.dumps(data, ensure_ascii=False)))

    async def _link(self, tx: Tx, ticket_id: int, actor: str, pbx: str, call_id: str,
                    at: float) -> bool:
        await tx.execute("INSERT OR IGNORE INTO ticket_calls (ticket_id, pbx, call_id, "
                         "linked_by, linked_at) VALUES (?, ?, ?, ?, ?)",
                         (ticket_id, pbx, call_id, actor, at))
        if not await tx.changes():
            return False
        await self._event(tx, ticket_id, actor, "call", {"pbx": pbx, "call_id": call_id}, at)
        return True

    async def _run_hooks(self, tx: Tx, change: TicketChange) -> None:
        for hook in self.hooks:
            await hook(tx, change)  # a failing hook rolls the change back: never half-saved

    def _tell(self, change: TicketChange) -> None:
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:  # a listener's bug must not undo or hide a saved change
                log.exception("ticket listener failed on %s", change.kind)

    async def _check_refs(self, client_id: int | None, assignee: str | None,
                          group_id: int | None) -> str | None:
        """Raise for a client, user or group that does not exist; returns the assignee's
        username as stored (case as registered)."""
        if client_id is not None and await self.store.query_one(
                "SELECT id FROM clients WHERE id = ?", (client_id,)) is None:
            raise ValidationError("client_id", f"no client {client_id}")
        if group_id is not None and await self.store.query_one(
                "SELECT id FROM groups WHERE id = ?", (group_id,)) is None:
            raise ValidationError("group_id", f"no group {group_id}")
        if assignee:
            row = await self.store.query_one(
                "SELECT username FROM users WHERE username = ? AND active = 1", (assignee,))
            if row is None:
                raise ValidationError("assignee", f"no active user {assignee!r}")
            return str(row["username"])
        return None


__all__ = ["EDITABLE", "TicketChange", "TicketService", "Viewer", "visible_to"]
