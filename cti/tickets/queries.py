"""Lists of tickets: the ticket pages' filters and the action center's "mine" and "my groups'".

Visibility is applied in SQL (the same rule as :func:`cti.tickets.service.visible_to`), so a
page of results never holds a ticket the viewer may not see and counts are right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cti.store.sqlite import Store
from cti.store.tickets_schema import TICKET_KINDS, TICKET_PRIORITIES, TICKET_STATUSES
from cti.tickets.model import Ticket
from cti.tickets.service import Viewer
from cti.tickets.workflow import OPEN

MAX_PAGE = 500
PRIORITY_ORDER = ("CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 "
                  "WHEN 'normal' THEN 2 ELSE 3 END")


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """``None`` means any. ``status="open"`` is every open status; ``mine`` the viewer's own
    (assigned to them), ``groups`` those sitting with one of the viewer's groups."""

    status: str | None = None
    kind: str | None = None
    priority: str | None = None
    assignee: str | None = None
    group_id: int | None = None
    client_id: int | None = None
    text: str | None = None  # number, subject, contact, equipment
    mine: bool = False
    groups: bool = False

    def __post_init__(self) -> None:
        if self.status not in (None, "open", *TICKET_STATUSES):
            raise ValueError(f"status must be open or one of {TICKET_STATUSES}")
        if self.kind not in (None, *TICKET_KINDS):
            raise ValueError(f"kind must be one of {TICKET_KINDS}")
        if self.priority not in (None, *TICKET_PRIORITIES):
            raise ValueError(f"priority must be one of {TICKET_PRIORITIES}")


def _visibility(viewer: Viewer) -> tuple[str, list[Any]]:
    if viewer.supervisor:
        return "1", []
    groups = ", ".join("?" for _ in viewer.groups) or "NULL"
    return (f"(t.public = 1 OR t.created_by = ? OR t.assignee = ? OR t.group_id IN ({groups}))",
            [viewer.username, viewer.username, *viewer.groups])


def _where(q: TicketQuery, viewer: Viewer) -> tuple[list[str], list[Any]]:
    vis, params = _visibility(viewer)
    where = [vis]
    if q.status == "open":
        where.append(f"t.status IN ({', '.join('?' for _ in OPEN)})")
        params.extend(OPEN)
    elif q.status:
        where.append("t.status = ?")
        params.append(q.status)
    for column in ("kind", "priority", "assignee", "group_id", "client_id"):
        value = getattr(q, column)
        if value is not None:
            where.append(f"t.{column} = ?")
            params.append(value)
    if q.mine:
        where.append("t.assignee = ?")
        params.append(viewer.username)
    if q.groups:
        groups = ", ".join("?" for _ in viewer.groups) or "NULL"
        where.append(f"t.group_id IN ({groups})")
        params.extend(viewer.groups)
    if q.text:
        like = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(t.number LIKE ? ESCAPE '\\' OR t.subject LIKE ? ESCAPE '\\' "
                     "OR t.contact LIKE ? ESCAPE '\\' OR t.equipment LIKE ? ESCAPE '\\')")
        params.extend([like] * 4)
    return where, params


async def list_tickets(store: Store, q: TicketQuery, viewer: Viewer, *, limit: int = 100,
                       offset: int = 0) -> list[Ticket]:
    """Most urgent first, then most recently changed."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    where, params = _where(q, viewer)
    rows = await store.query(
        f"SELECT t.* FROM tickets t WHERE {' AND '.join(where)} "
        f"ORDER BY {PRIORITY_ORDER}, t.updated_at DESC, t.id DESC LIMIT ? OFFSET ?",
        (*params, limit, max(0, offset)))
    return [Ticket.from_row(r) for r in rows]


async def count_by_status(store: Store, q: TicketQuery, viewer: Viewer) -> dict[str, int]:
    where, params = _where(q, viewer)
    rows = await store.query(
        f"SELECT t.status, COUNT(*) AS n FROM tickets t WHERE {' AND '.join(where)} "
        "GROUP BY t.status", params)
    return {r["status"]: int(r["n"]) for r in rows}
