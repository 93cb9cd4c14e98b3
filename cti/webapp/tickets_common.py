"""What the ticket pages and the ticket API share: who may see and do what, the list's
filters, the calls a ticket may be linked to, and the names shown for people and groups.

Rules (the server's, whatever the page shows):

* **Seeing.** Supervisors and admins see every ticket; an agent sees public tickets and the
  private ones they created, hold, or that sit with one of their groups
  (:func:`cti.tickets.service.visible_to`, the same rule in SQL for lists). A ticket an agent
  may not see is a 404, as if it did not exist.
* **Working.** Whoever may see a ticket may work it: edit it, move it in the workflow, give it
  to someone else or to a group (with a note), comment, link calls, attach files, reopen it.
  A help desk runs on colleagues picking up each other's requests; the timeline keeps who did
  what.
* **Cancelling** makes a request vanish from every open list without an answer for the
  client, so it needs a supervisor, except for its creator while it is still ``new`` and
  nobody has worked on it (the duplicate opened by mistake is undone at once).
* **Linking a call.** The call must be one the viewer may see: in the call log (an agent's
  own extensions), or in progress / just ended on one of their extensions (the pop opens a
  ticket before the call's row is written). A key of a call they may not see is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cti.errors import NotFound, ValidationError
from cti.store import calls_queries as cq
from cti.store.tickets_schema import TICKET_KINDS, TICKET_PRIORITIES, TICKET_STATUSES
from cti.tickets.model import Ticket
from cti.tickets.queries import TicketQuery
from cti.tickets.service import Viewer, visible_to
from cti.tickets.workflow import FINAL, allowed
from cti.users import User
from cti.webapp.api import str_param
from cti.webapp.auth import current_user
from cti.webapp.errors import HttpError
from cti.webapp.keys import GROUPS, LIVE, STORE, TICKETS, USERS

PAGE = 50
MAX_CALL_KEY = 200


async def viewer_of(request: web.Request, user: User) -> Viewer:
    groups = await request.app[GROUPS].of_user(user.username)
    return Viewer(user.username, user.at_least("supervisor"), tuple(groups))


async def visible_ticket(request: web.Request, ticket_id: int,
                         ) -> tuple[User, Viewer, Ticket]:
    """The ticket if the logged-in user may see it; a 404 otherwise (unknown or private)."""
    user = current_user(request)
    viewer = await viewer_of(request, user)
    ticket = await request.app[TICKETS].get(ticket_id)
    if not visible_to(viewer, ticket):
        raise NotFound(f"no ticket {ticket_id}")
    return user, viewer, ticket


def can_cancel(user: User, ticket: Ticket) -> bool:
    return user.at_least("supervisor") or (ticket.created_by == user.username
                                           and ticket.status == "new")


def moves(user: User, ticket: Ticket) -> list[str]:
    """The statuses this user may move the ticket to now, in workflow order."""
    nexts = allowed(ticket.status)
    return [s for s in TICKET_STATUSES
            if s in nexts and (s != "cancelled" or can_cancel(user, ticket))]


def can_reopen(ticket: Ticket) -> bool:
    return ticket.status in FINAL


def check_move(user: User, ticket: Ticket, status: str) -> None:
    """Refuse what the role forbids; the workflow itself is the service's to check."""
    if status == "cancelled" and not can_cancel(user, ticket):
        raise HttpError(403, "Only a supervisor can cancel a ticket that is being worked on.")


# --------------------------------------------------------------------------- list filters
@dataclass(frozen=True, slots=True)
class Listing:
    """The list's filters as understood (``query``) and as typed (``form``, to show again and
    to build links). ``status`` ``open`` (the default) is every open status, ``any`` all."""

    query: TicketQuery
    form: dict[str, str]
    offset: int

    def link(self, **changes: str | int | None) -> str:
        values: dict[str, Any] = {**self.form, "offset": self.offset or ""}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None, 0)})


FILTER_NAMES = ("status", "kind", "priority", "assignee", "group", "client", "q", "mine",
                "groups")


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise ValidationError(name, f"must be one of {', '.join(choices)}")
    return value


def _number(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValidationError(name, "must be a number")
    return int(value)


def parse_listing(request: web.Request, *, default_status: str = "open") -> Listing:
    """``?status=&kind=&priority=&assignee=&group=&client=&q=&mine=1&groups=1&offset=``
    (the API also takes ``group_id`` and ``client_id``)."""
    raw = {name: str_param(request, name) for name in FILTER_NAMES}
    raw["group"] = raw["group"] or str_param(request, "group_id")
    raw["client"] = raw["client"] or str_param(request, "client_id")
    status = raw["status"] or default_status
    _choice("status", status, ("open", "any", *TICKET_STATUSES))
    q = (raw["q"] or "")[:200]
    query = TicketQuery(
        status=None if status == "any" else status,
        kind=_choice("kind", raw["kind"], TICKET_KINDS),
        priority=_choice("priority", raw["priority"], TICKET_PRIORITIES),
        assignee=(raw["assignee"] or "")[:64] or None,
        group_id=_number("group", raw["group"]), client_id=_number("client", raw["client"]),
        text=q or None, mine=raw["mine"] in ("1", "on", "true"),
        groups=raw["groups"] in ("1", "on", "true"))
    offset = _number("offset", str_param(request, "offset")) or 0
    form = {name: raw[name] or "" for name in FILTER_NAMES}
    form.update(status=status, q=q, mine="1" if query.mine else "",
                groups="1" if query.groups else "")
    return Listing(query, form, offset)


# --------------------------------------------------------------------------- calls
def parse_call_key(text: str | None) -> tuple[str, str]:
    """``main/1700000000.12`` → ``("main", "1700000000.12")``."""
    pbx, sep, call_id = (text or "").strip().partition("/")
    if not sep or not pbx or not call_id or len(text or "") > MAX_CALL_KEY:
        raise ValidationError("call", "a call is given as <pbx>/<call id>")
    return pbx, call_id


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What a new ticket may take from a call: the other party and the linked clients."""

    pbx: str
    call_id: str
    number: str
    name: str
    client_ids: tuple[int, ...]


async def call_facts(request: web.Request, user: User, pbx: str, call_id: str) -> CallFacts:
    """The call if ``user`` may see it (recorded, or live on one of their extensions);
    NotFound otherwise."""
    store = request.app[STORE]
    scope = None if user.at_least("supervisor") else user.extensions
    if await cq.call_row_visible(store, pbx, call_id, scope):
        call = await store.get_call(pbx, call_id)
        if call is not None:
            party = call["callee"] if call["direction"] == "outbound" else call["caller"]
            linked = (await cq.clients_of_calls(store, [(pbx, call_id)])).get((pbx, call_id), [])
            ids = tuple(int(c["id"]) for c in linked
                        if c["visibility"] != "private" or c["owner"] == user.username
                        or user.at_least("supervisor"))
            return CallFacts(pbx, call_id, party.get("number") or "", party.get("name") or "",
                             ids)
    live = request.app[LIVE].get(pbx, call_id)
    if live is not None and (scope is None or live.extensions & set(scope)):
        party = live.outside
        return CallFacts(pbx, call_id, party.number or "", party.name or "", live.client_ids)
    raise NotFound(f"no call {pbx}/{call_id}")


async def linked_calls(request: web.Request, user: User,
                       keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The ticket's calls as the page shows them: status, times and duration from the call
    log (``recorded`` False while the call's row is not written yet), and whether the viewer
    may open the call's page."""
    store = request.app[STORE]
    scope = None if user.at_least("supervisor") else user.extensions
    out = []
    for pbx, call_id in keys:
        row = await store.query_one(
            "SELECT direction, status, caller_number, caller_name, callee_number, started_at, "
            "talk_seconds, ring_seconds, answered FROM calls WHERE pbx = ? AND call_id = ?",
            (pbx, call_id))
        item: dict[str, Any] = {"pbx": pbx, "call_id": call_id, "recorded": row is not None,
                                "url": f"/calls/{pbx}/{call_id}", "can_open": False}
        if row is not None:
            item.update(row)
            item["answered"] = bool(row["answered"])
            item["can_open"] = await cq.call_row_visible(store, pbx, call_id, scope)
        out.append(item)
    return out


# --------------------------------------------------------------------------- names
@dataclass(frozen=True, slots=True)
class Names:
    """Labels of people (username → display name) and groups (id → name), and the choices
    the forms offer (active users, every group)."""

    people: dict[str, str]
    groups: dict[int, str]
    assignable: list[User]

    def person(self, username: str | None) -> str:
        if not username:
            return ""
        return self.people.get(username.lower(), username)

    def group(self, group_id: int | None) -> str:
        if group_id is None:
            return ""
        return self.groups.get(group_id, f"#{group_id}")


async def names_of(request: web.Request) -> Names:
    users = await request.app[USERS].list_all()
    groups = await request.app[GROUPS].list_all()
    return Names({u.username.lower(): u.label for u in users},
                 {g.id: g.name for g in groups}, [u for u in users if u.active])


def ticket_json(ticket: Ticket, names: Names | None = None) -> dict[str, Any]:
    out = ticket.to_json()
    out["url"] = f"/tickets/{ticket.id}"
    if names is not None:
        out["assignee_name"] = names.person(ticket.assignee)
        out["group_name"] = names.group(ticket.group_id)
    return out
