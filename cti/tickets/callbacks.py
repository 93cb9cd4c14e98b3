"""Callbacks: "call this client back at 14:30" as a row with a due time, for a person or a group.

``kind`` says who calls whom: ``to_call_back`` (we call the client: a number is required, it is
what the one-click call button dials) or ``will_call_back`` (the client said they would call:
the reminder is a prompt to chase them if they did not). A callback belongs to its
**assignee**, or to a **group** (every member's business until one of them deals with it);
created with neither, it is the creator's own.

Why it is built this way:

* **Rows, not timers** (see :mod:`cti.store.actions_schema`): the reminder scheduler
  (:mod:`cti.tickets.reminders`) re-reads the next due row after every change, which is what
  the **listeners** are for, and after a restart. This service never sleeps.
* **The ticket's timeline tells the story.** A callback on a ticket writes a ``callback``
  entry on creation and ``callback_attempt``/``callback_done``/``callback_cancelled`` later,
  through :meth:`TicketService.add_event`, so whoever opens the ticket sees that the client
  is to be called back, who tried and how it ended.
* **Numbers in E.164** (:mod:`cti.phone`) whenever they can be read, so the call button dials
  the same thing the client card does and the call log matches it; an extension or a number
  the metadata cannot read is kept as typed (a real number is never dropped).

Who may act on a callback is :func:`can_act`; the web layer enforces it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cti.calls.model import iso_utc
from cti.errors import Conflict, NotFound, ValidationError
from cti.phone import format_international, format_national, normalize
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.model import clean_bool, clean_choice, clean_id, clean_text, clean_time
from cti.tickets.service import TicketService, Viewer

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("to_call_back", "will_call_back")
STATUSES: tuple[str, ...] = ("pending", "done", "cancelled")

#: The row and what is joined to it for people: the client's name, the ticket's number.
_SELECT = ("SELECT cb.*, c.name AS client_name, t.number AS ticket_number, "
           "g.name AS group_name FROM callbacks cb "
           "LEFT JOIN clients c ON c.id = cb.client_id "
           "LEFT JOIN tickets t ON t.id = cb.ticket_id "
           "LEFT JOIN groups g ON g.id = cb.group_id")


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    kind: str
    ticket_id: int | None
    client_id: int | None
    number: str
    due_at: float
    assignee: str | None
    group_id: int | None
    note: str
    email: bool
    status: str
    reminded_at: float | None
    attempts: int
    result: str
    done_at: float | None
    done_by: str | None
    created_by: str
    created_at: float
    updated_at: float
    client_name: str | None = None
    ticket_number: str | None = None
    group_name: str | None = None
    display: str = ""  # the number as people of the business's country write it

    def overdue(self, now: float) -> bool:
        return self.status == "pending" and self.due_at <= now

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        """``dial`` is what a call button sends; ``overdue`` is read on ``now`` (default: the
        system clock)."""
        out = {name: getattr(self, name) for name in self.__slots__}
        for name in ("due_at", "reminded_at", "done_at", "created_at", "updated_at"):
            out[name] = iso_utc(out[name])
        out["dial"] = self.number or None
        out["overdue"] = self.overdue(time.time() if now is None else now)
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any], region: str = "FR") -> Callback:
        names = [n for n in cls.__slots__ if n != "display"]
        values: dict[str, Any] = {n: row.get(n) for n in names}
        values["email"] = bool(values["email"])
        return cls(**values, display=display_number(str(row["number"] or ""), region))


@dataclass(frozen=True, slots=True)
class CallbackChange:
    """``kind``: ``created``, ``attempt``, ``done``, ``cancelled``; ``before`` None on
    creation."""

    kind: str
    callback: Callback
    before: Callback | None
    actor: str


Listener = Callable[[CallbackChange], None]


def display_number(number: str, region: str) -> str:
    """``+33612345678`` → ``06 12 34 56 78`` at home, international abroad, else as stored."""
    if not number.startswith("+"):
        return number
    parsed = normalize(number, region)
    if parsed.region == region.upper():
        return format_national(number)
    return format_international(number)


def can_act(viewer: Viewer, callback: Callback) -> bool:
    """Supervisors act on every callback; others on their own and their groups'."""
    return (viewer.supervisor or callback.assignee == viewer.username
            or (callback.group_id is not None and callback.group_id in viewer.groups))


class CallbackService:
    def __init__(self, store: Store, tz: dt.tzinfo, clock: Callable[[], float] = time.time, *,
                 tickets: TicketService | None = None, region: str = "FR") -> None:
        self.store = store
        self.tz = tz
        self.clock = clock
        self.tickets = tickets
        self.region = region.upper()
        self.listeners: list[Listener] = []

    # ------------------------------------------------------------------ reading
    async def get(self, callback_id: int) -> Callback:
        row = await self.store.query_one(_SELECT + " WHERE cb.id = ?", (callback_id,))
        if row is None:
            raise NotFound(f"no callback {callback_id}")
        return Callback.from_row(row, self.region)

    async def mine(self, username: str, groups: tuple[int, ...] | list[int] = (), *,
                   unassigned: bool = False) -> list[Callback]:
        """Pending callbacks of ``username`` and of their groups: overdue first (the most
        overdue on top), then by due time. ``unassigned``: also those nobody holds (made by
        a rule), which supervisors dispatch."""
        marks = ", ".join("?" for _ in groups) or "NULL"
        orphans = " OR (cb.assignee IS NULL AND cb.group_id IS NULL)" if unassigned else ""
        rows = await self.store.query(
            _SELECT + f" WHERE cb.status = 'pending' AND (cb.assignee = ? OR cb.group_id IN "
            f"({marks}){orphans}) ORDER BY cb.due_at, cb.id LIMIT 500", (username, *groups))
        return [Callback.from_row(r, self.region) for r in rows]

    async def for_ticket(self, ticket_id: int) -> list[Callback]:
        rows = await self.store.query(_SELECT + " WHERE cb.ticket_id = ? ORDER BY cb.due_at",
                                      (ticket_id,))
        return [Callback.from_row(r, self.region) for r in rows]

    async def next_due(self) -> float | None:
        """When the next reminder is due (pending, not reminded yet): the scheduler's alarm."""
        row = await self.store.query_one(
            "SELECT MIN(due_at) AS due FROM callbacks WHERE status = 'pending' "
            "AND reminded_at IS NULL")
        return None if row is None or row["due"] is None else float(row["due"])

    # ------------------------------------------------------------------ changing
    async def create(self, actor: str, *, kind: str, due_at: float | str,
                     ticket_id: int | None = None, client_id: int | None = None,
                     number: str = "", assignee: str | None = None,
                     group_id: int | None = None, note: str = "",
                     email: bool = False) -> Callback:
        kind = clean_choice("kind", kind, KINDS)
        when = clean_time("due_at", due_at, self.tz)
        if when is None:
            raise ValidationError("due_at", "is required")
        ticket_id = clean_id("ticket_id", ticket_id)
        client_id = clean_id("client_id", client_id)
        group_id = clean_id("group_id", group_id)
        note = clean_text("note", note, 2000)
        wants_mail = clean_bool("email", email)
        assignee = clean_text("assignee", assignee, 64) or None
        ticket = await self._ticket(ticket_id)
        if client_id is None and ticket is not None and ticket["client_id"] is not None:
            client_id = int(ticket["client_id"])  # the ticket's client is the one to call
        await self._check_client(client_id)
        dial = await self._number(number, client_id)
        if kind == "to_call_back" and not dial:
            raise ValidationError("number", "is required to call the client back")
        if group_id is not None and await self.store.query_one(
                "SELECT id FROM groups WHERE id = ?", (group_id,)) is None:
            raise ValidationError("group_id", f"no group {group_id}")
        if assignee is not None:
            row = await self.store.query_one(
                "SELECT username FROM users WHERE username = ? AND active = 1", (assignee,))
            if row is None:
                raise ValidationError("assignee", f"no active user {assignee!r}")
            assignee = str(row["username"])
        elif group_id is None and await self.store.query_one(
                "SELECT id FROM users WHERE username = ? AND active = 1", (actor,)):
            assignee = actor  # "remind me": nobody named, so it is the creator's own
        # (else a rule, "system", made it: left unassigned, in the supervisors' lists)
        now = self.clock()

        async def work(tx: Tx) -> int:
            return await tx.execute(
                "INSERT INTO callbacks (kind, ticket_id, client_id, number, due_at, assignee, "
                "group_id, note, email, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, ticket_id, client_id, dial, when, assignee, group_id, note,
                 int(wants_mail), actor, now, now))

        callback = await self.get(await self.store.transaction(work))
        await self._timeline(callback, actor, "callback", {
            "callback_id": callback.id, "kind": kind, "due_at": iso_utc(when),
            "number": dial, "assignee": assignee, "group_id": group_id, "note": note})
        self._tell(CallbackChange("created", callback, None, actor))
        return callback

    async def done(self, callback_id: int, actor: str, result: str) -> Callback:
        """The client was reached (or the matter settled): ``result`` says how it ended."""
        result = clean_text("result", result, 4000)
        return await self._finish(callback_id, actor, "done", result)

    async def cancel(self, callback_id: int, actor: str) -> Callback:
        return await self._finish(callback_id, actor, "cancelled", "")

    async def attempt(self, callback_id: int, actor: str) -> Callback:
        """A call was placed for this callback (the call button): counted, and logged on the
        ticket, whether or not the client answered."""
        before = await self.get(callback_id)
        if before.status != "pending":
            raise Conflict(f"The callback is already {before.status}.")

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE callbacks SET attempts = attempts + 1, updated_at = ? "
                             "WHERE id = ?", (self.clock(), callback_id))

        await self.store.transaction(work)
        after = await self.get(callback_id)
        await self._timeline(after, actor, "callback_attempt", {
            "callback_id": callback_id, "attempt": after.attempts, "number": after.number})
        self._tell(CallbackChange("attempt", after, before, actor))
        return after

    async def _finish(self, callback_id: int, actor: str, status: str,
                      result: str) -> Callback:
        now = self.clock()

        async def work(tx: Tx) -> None:
            rows = await tx.fetch("SELECT status FROM callbacks WHERE id = ?", (callback_id,))
            if not rows:
                raise NotFound(f"no callback {callback_id}")
            if rows[0]["status"] != "pending":
                raise Conflict(f"The callback is already {rows[0]['status']}.")
            await tx.execute(
                "UPDATE callbacks SET status = ?, result = ?, done_at = ?, done_by = ?, "
                "updated_at = ? WHERE id = ?", (status, result, now, actor, now, callback_id))

        before = await self.get(callback_id)
        await self.store.transaction(work)
        after = await self.get(callback_id)
        data: dict[str, Any] = {"callback_id": callback_id}
        if result:
            data["result"] = result
        await self._timeline(after, actor, f"callback_{status}", data)
        self._tell(CallbackChange(status, after, before, actor))
        return after

    # ------------------------------------------------------------------ helpers
    async def _ticket(self, ticket_id: int | None) -> dict[str, Any] | None:
        if ticket_id is None:
            return None
        row = await self.store.query_one("SELECT id, client_id FROM tickets WHERE id = ?",
                                         (ticket_id,))
        if row is None:
            raise ValidationError("ticket_id", f"no ticket {ticket_id}")
        return row

    async def _check_client(self, client_id: int | None) -> None:
        if client_id is not None and await self.store.query_one(
                "SELECT id FROM clients WHERE id = ?", (client_id,)) is None:
            raise ValidationError("client_id", f"no client {client_id}")

    async def _number(self, number: Any, client_id: int | None) -> str:
        """The number to dial: the one given (E.164 when it can be read), else the client's
        first phone."""
        raw = clean_text("number", number, 40)
        if not raw and client_id is not None:
            row = await self.store.query_one(
                "SELECT COALESCE(e164, raw) AS dial FROM client_phones WHERE client_id = ? "
                "ORDER BY position LIMIT 1", (client_id,))
            return str(row["dial"]) if row else ""
        if not raw:
            return ""
        parsed = normalize(raw, self.region)
        if parsed.status == "anonymous":
            raise ValidationError("number", "is not a phone number")
        return parsed.e164 or raw

    async def _timeline(self, callback: Callback, actor: str, kind: str,
                        data: dict[str, Any]) -> None:
        """The ticket's timeline entry; the callback is saved already, so a failure here is
        logged, never undoes it."""
        if self.tickets is None or callback.ticket_id is None:
            return
        try:
            await self.tickets.add_event(callback.ticket_id, actor, kind, data)
        except Exception:
            log.exception("cannot log %s on ticket %s", kind, callback.ticket_id)

    def _tell(self, change: CallbackChange) -> None:
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:  # a listener's bug must not hide a saved change
                log.exception("callback listener failed on %s", change.kind)
