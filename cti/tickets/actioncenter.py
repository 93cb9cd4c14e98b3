"""The personal action center ("Centre d'Actions"): what each person has to do.

Their callbacks (:mod:`cti.tickets.callbacks`) and tickets (:mod:`cti.tickets.queries`) live
elsewhere; this module adds the rest and counts it all:

* **Follow-ups** of quotes and offers: a subject, a client or ticket, a date to chase, and an
  outcome (``won``, ``lost`` with the refusal reason, which is required: it is what the sales
  manager reads, ``cancelled``). Each person's own.
* **Personal notes**: private to their owner, whoever asks (supervisors included).
* **Missed calls not handled yet**: the call log's unanswered inbound calls of the last days
  (``missed``, ``abandoned``, ``busy``, ``no_answer``) minus the keys in ``missed_handled``.
  An agent sees those that rang one of their extensions, a supervisor all of them.
* :meth:`ActionCenter.counts`: the badges of the navigation bar.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cti.calls.model import iso_utc
from cti.errors import NotFound, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.callbacks import CallbackService
from cti.tickets.model import clean_choice, clean_id, clean_text, clean_time
from cti.tickets.notifications import NotificationService
from cti.tickets.queries import TicketQuery, count_by_status
from cti.tickets.service import Viewer

FOLLOWUP_STATUSES: tuple[str, ...] = ("open", "won", "lost", "cancelled")
MISSED_STATUSES: tuple[str, ...] = ("missed", "abandoned", "busy", "no_answer")
MISSED_DAYS = 7  # today and the six days before
MISSED_LIMIT = 500
_FOLLOWUP_FIELDS = ("subject", "client_id", "ticket_id", "due_at", "status", "comment",
                    "lost_reason")


@dataclass(frozen=True, slots=True)
class Followup:
    id: int
    owner: str
    client_id: int | None
    ticket_id: int | None
    subject: str
    due_at: float | None
    status: str
    comment: str
    lost_reason: str
    created_at: float
    updated_at: float
    client_name: str | None = None

    def overdue(self, now: float) -> bool:
        return self.status == "open" and self.due_at is not None and self.due_at <= now

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        for name in ("due_at", "created_at", "updated_at"):
            out[name] = iso_utc(out[name])
        out["overdue"] = self.overdue(time.time() if now is None else now)
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Followup:
        values: dict[str, Any] = {name: row.get(name) for name in cls.__slots__}
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    owner: str
    text: str
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "text": self.text,
                "created_at": iso_utc(self.created_at), "updated_at": iso_utc(self.updated_at)}


class ActionCenter:
    def __init__(self, store: Store, callbacks: CallbackService,
                 notifications: NotificationService, tz: dt.tzinfo,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.callbacks = callbacks
        self.notifications = notifications
        self.tz = tz
        self.clock = clock

    # ------------------------------------------------------------------ follow-ups
    async def followups(self, owner: str, *, status: str | None = "open") -> list[Followup]:
        """Open ones by date to chase (undated last); ``status=None``: all, newest first."""
        sql = ("SELECT f.*, c.name AS client_name FROM followups f "
               "LEFT JOIN clients c ON c.id = f.client_id WHERE f.owner = ?")
        params: list[Any] = [owner]
        if status is not None:
            sql += " AND f.status = ?"
            params.append(clean_choice("status", status, FOLLOWUP_STATUSES))
            sql += " ORDER BY f.due_at IS NULL, f.due_at, f.id LIMIT 500"
        else:
            sql += " ORDER BY f.updated_at DESC, f.id DESC LIMIT 500"
        return [Followup.from_row(r) for r in await self.store.query(sql, params)]

    async def followup(self, followup_id: int, owner: str) -> Followup:
        """Someone else's follow-up is :class:`NotFound`, as is a missing one."""
        row = await self.store.query_one(
            "SELECT f.*, c.name AS client_name FROM followups f "
            "LEFT JOIN clients c ON c.id = f.client_id WHERE f.id = ? AND f.owner = ?",
            (followup_id, owner))
        if row is None:
            raise NotFound(f"no follow-up {followup_id}")
        return Followup.from_row(row)

    async def add_followup(self, owner: str, data: Mapping[str, Any]) -> Followup:
        values = await self._followup_values({"status": "open", **data}, None)
        now = self.clock()

        async def work(tx: Tx) -> int:
            columns = [*values, "owner", "created_at", "updated_at"]
            return await tx.execute(
                f"INSERT INTO followups ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                [*values.values(), owner, now, now])

        return await self.followup(await self.store.transaction(work), owner)

    async def update_followup(self, followup_id: int, owner: str,
                              data: Mapping[str, Any]) -> Followup:
        """Change what is given; moving to ``lost`` needs ``lost_reason`` (given now or
        already there)."""
        before = await self.followup(followup_id, owner)
        values = await self._followup_values(data, before)
        if not values:
            return before

        async def work(tx: Tx) -> None:
            sets = ", ".join(f"{k} = ?" for k in values)
            await tx.execute(f"UPDATE followups SET {sets}, updated_at = ? WHERE id = ?",
                             (*values.values(), self.clock(), followup_id))

        await self.store.transaction(work)
        return await self.followup(followup_id, owner)

    async def _followup_values(self, data: Mapping[str, Any],
                               before: Followup | None) -> dict[str, Any]:
        unknown = sorted(k for k in data if k not in _FOLLOWUP_FIELDS)
        if unknown:
            raise ValidationError(unknown[0], "is not a follow-up field")
        out: dict[str, Any] = {}
        if "subject" in data or before is None:
            out["subject"] = clean_text("subject", data.get("subject"), 200)
            if not out["subject"]:
                raise ValidationError("subject", "is required")
        for name in ("comment", "lost_reason"):
            if name in data:
                out[name] = clean_text(name, data[name], 4000 if name == "comment" else 500)
        if "status" in data:
            out["status"] = clean_choice("status", data["status"], FOLLOWUP_STATUSES)
        if "due_at" in data:
            out["due_at"] = clean_time("due_at", data["due_at"], self.tz)
        for name, table in (("client_id", "clients"), ("ticket_id", "tickets")):
            if name in data:
                out[name] = clean_id(name, data[name])
                if out[name] is not None and await self.store.query_one(
                        f"SELECT id FROM {table} WHERE id = ?", (out[name],)) is None:
                    raise ValidationError(name, f"no {table[:-1]} {out[name]}")
        status = out.get("status", before.status if before else "open")
        reason = out.get("lost_reason", before.lost_reason if before else "")
        if status == "lost" and not reason:
            raise ValidationError("lost_reason", "is required when the offer is lost")
        if status != "lost" and "lost_reason" not in data and before and before.lost_reason:
            out["lost_reason"] = ""  # reopened or won after all: the old reason no longer holds
        return out

    # ------------------------------------------------------------------ personal notes
    async def notes(self, owner: str) -> list[Note]:
        rows = await self.store.query(
            "SELECT * FROM personal_notes WHERE owner = ? ORDER BY updated_at DESC, id DESC "
            "LIMIT 500", (owner,))
        return [Note(**r) for r in rows]

    async def note(self, note_id: int, owner: str) -> Note:
        """Only the owner's: anybody else's note is :class:`NotFound` (not even "forbidden":
        whether it exists is none of their business)."""
        row = await self.store.query_one(
            "SELECT * FROM personal_notes WHERE id = ? AND owner = ?", (note_id, owner))
        if row is None:
            raise NotFound(f"no note {note_id}")
        return Note(**row)

    async def add_note(self, owner: str, text: str) -> Note:
        text = self._note_text(text)
        now = self.clock()

        async def work(tx: Tx) -> int:
            return await tx.execute("INSERT INTO personal_notes (owner, text, created_at, "
                                    "updated_at) VALUES (?, ?, ?, ?)", (owner, text, now, now))

        return await self.note(await self.store.transaction(work), owner)

    async def update_note(self, note_id: int, owner: str, text: str) -> Note:
        await self.note(note_id, owner)
        text = self._note_text(text)

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE personal_notes SET text = ?, updated_at = ? WHERE id = ? "
                             "AND owner = ?", (text, self.clock(), note_id, owner))

        await self.store.transaction(work)
        return await self.note(note_id, owner)

    async def delete_note(self, note_id: int, owner: str) -> None:
        await self.note(note_id, owner)

        async def work(tx: Tx) -> None:
            await tx.execute("DELETE FROM personal_notes WHERE id = ? AND owner = ?",
                             (note_id, owner))

        await self.store.transaction(work)

    @staticmethod
    def _note_text(text: Any) -> str:
        value = clean_text("text", text, 8000)
        if not value:
            raise ValidationError("text", "is required")
        return value

    # ------------------------------------------------------------------ missed calls
    def missed_since(self) -> tuple[float, float]:
        """(start of the window, start of today), epoch seconds, in the business's zone."""
        today = dt.datetime.fromtimestamp(self.clock(), self.tz).replace(
            hour=0, minute=0, second=0, microsecond=0)
        start = today - dt.timedelta(days=MISSED_DAYS - 1)
        return start.timestamp(), today.timestamp()

    def _missed_where(self, scope: Sequence[str] | None) -> tuple[str, list[Any]]:
        since, _ = self.missed_since()
        statuses = ", ".join("?" for _ in MISSED_STATUSES)
        sql = (f"c.direction = 'inbound' AND c.status IN ({statuses}) AND c.started_at >= ? "
               "AND NOT EXISTS (SELECT 1 FROM missed_handled h WHERE h.pbx = c.pbx "
               "AND h.call_id = c.call_id)")
        params: list[Any] = [*MISSED_STATUSES, since]
        if scope is not None:
            marks = ", ".join("?" for _ in scope) or "NULL"
            sql += (" AND (c.pbx, c.call_id) IN (SELECT pbx, call_id FROM call_extensions "
                    f"WHERE extension IN ({marks}) AND started_at >= ?)")
            params.extend((*scope, since))
        return sql, params

    async def missed(self, scope: Sequence[str] | None) -> list[dict[str, Any]]:
        """Unhandled missed calls, newest first. ``scope``: the viewer's extensions (None:
        every call, for supervisors). ``today`` tells today's from the days before."""
        where, params = self._missed_where(scope)
        _, today = self.missed_since()
        rows = await self.store.query(
            "SELECT c.pbx, c.call_id, c.status, c.started_at, c.caller_number, c.caller_name, "
            "c.queue, c.ring_seconds, c.extensions_rung, "
            "(SELECT cl.name FROM call_clients cc JOIN clients cl ON cl.id = cc.client_id "
            " WHERE cc.pbx = c.pbx AND cc.call_id = c.call_id ORDER BY cc.at LIMIT 1) "
            f"AS client_name FROM calls c WHERE {where} "
            "ORDER BY c.started_at DESC LIMIT ?", (*params, MISSED_LIMIT))
        return [{"key": f"{r['pbx']}/{r['call_id']}", "pbx": r["pbx"], "call_id": r["call_id"],
                 "status": r["status"], "started_at": iso_utc(r["started_at"]),
                 "today": r["started_at"] >= today, "number": r["caller_number"],
                 "name": r["caller_name"], "client_name": r["client_name"],
                 "queue": r["queue"], "ring_seconds": r["ring_seconds"]} for r in rows]

    async def mark_handled(self, keys: Iterable[tuple[str, str]], actor: str,
                           how: str = "") -> int:
        """Mark these missed calls handled (called back, ticket opened, nothing to do…);
        returns how many were newly marked. A key that is not an unanswered inbound call is a
        :class:`ValidationError`."""
        how = clean_text("how", how, 200)
        wanted = list(dict.fromkeys((str(p), str(c)) for p, c in keys))
        if not wanted:
            return 0
        statuses = ", ".join("?" for _ in MISSED_STATUSES)
        values = ", ".join("(?, ?)" for _ in wanted)
        found = await self.store.query(
            f"SELECT pbx, call_id FROM calls WHERE (pbx, call_id) IN (VALUES {values}) "
            f"AND direction = 'inbound' AND status IN ({statuses})",
            (*[v for k in wanted for v in k], *MISSED_STATUSES))
        known = {(r["pbx"], r["call_id"]) for r in found}
        missing = [k for k in wanted if k not in known]
        if missing:
            raise ValidationError("keys", f"no missed call {missing[0][0]}/{missing[0][1]}")
        now = self.clock()

        async def work(tx: Tx) -> int:
            count = 0
            for pbx, call_id in wanted:
                await tx.execute("INSERT OR IGNORE INTO missed_handled (pbx, call_id, "
                                 "handled_by, handled_at, how) VALUES (?, ?, ?, ?, ?)",
                                 (pbx, call_id, actor, now, how))
                count += await tx.changes()
            return count

        return await self.store.transaction(work)

    async def mark_all_handled(self, scope: Sequence[str] | None, actor: str,
                               how: str = "") -> int:
        """Every missed call the viewer sees now (same ``scope`` as :meth:`missed`)."""
        rows = await self.missed(scope)
        return await self.mark_handled([(r["pbx"], r["call_id"]) for r in rows], actor, how)

    async def missed_count(self, scope: Sequence[str] | None) -> int:
        where, params = self._missed_where(scope)
        row = await self.store.query_one(f"SELECT COUNT(*) AS n FROM calls c WHERE {where}",
                                         params)
        return int(row["n"]) if row else 0

    # ------------------------------------------------------------------ the badges
    async def counts(self, viewer: Viewer, extensions: Sequence[str] = ()) -> dict[str, int]:
        """``callbacks_due`` (pending, due now), ``callbacks`` (pending), open tickets held
        (``tickets_mine_open``) and sitting with the viewer's groups (``tickets_groups_open``),
        ``missed_unhandled`` (``extensions`` scope the agent's; supervisors see all) and
        ``notifications_unread``. Supervisors' callbacks include those nobody holds."""
        now = self.clock()
        mine = await self.callbacks.mine(viewer.username, viewer.groups,
                                         unassigned=viewer.supervisor)
        open_q = TicketQuery(status="open", mine=True)
        groups_q = TicketQuery(status="open", groups=True)
        scope = None if viewer.supervisor else tuple(extensions)
        return {
            "callbacks_due": sum(1 for c in mine if c.overdue(now)),
            "callbacks": len(mine),
            "tickets_mine_open": sum((await count_by_status(self.store, open_q,
                                                            viewer)).values()),
            "tickets_groups_open": sum((await count_by_status(self.store, groups_q,
                                                              viewer)).values())
            if viewer.groups else 0,
            "missed_unhandled": await self.missed_count(scope),
            "notifications_unread": await self.notifications.unread_count(viewer.username),
        }
