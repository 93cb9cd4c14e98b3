"""The wrap-up's "one step": after a call, the same form files the request as a ticket (a new
one, or the call added to one of the client's open tickets) and sets a callback.

The seeds' workflow ("Centre d'Actions"): the phone rings, the agent notes subject, reason,
response, result; if the answer could not be given at once, the request becomes a ticket that
someone owns, and "the client will call back" or "to call back at …" is set there and then.
Doing it from the pop, in one submit, is what keeps agents from skipping it.

The specs are checked *before* anything is saved (a bad date must not leave a wrap-up without
its ticket); the ticket and the callback are then written by their services, with their own
rules (workflow, visibility, validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cti.errors import ValidationError
from cti.store.calls_queries import clients_of_calls
from cti.store.tickets_schema import TICKET_KINDS, TICKET_PRIORITIES
from cti.tickets.model import Ticket, clean_time
from cti.tickets.service import Viewer, visible_to
from cti.users import User
from cti.webapp.calllog import viewer_tz
from cti.webapp.errors import HttpError
from cti.webapp.keys import CALLBACKS, GROUPS, HUB, LIVE, STORE, TICKETS
from cti.wrapups import Wrapup

CALLBACK_KINDS = ("to_call_back", "will_call_back")


@dataclass(frozen=True, slots=True)
class TicketSpec:
    action: str  # "new" or "update"
    ticket_id: int | None = None
    kind: str = "hotline"
    priority: str = "normal"


@dataclass(frozen=True, slots=True)
class CallbackSpec:
    kind: str
    due_at: float


def _spec_object(value: Any, name: str) -> dict[str, Any] | None:
    if value in (None, "", {}):
        return None
    if not isinstance(value, dict):
        raise ValidationError(name, "must be an object")
    return value


def parse_specs(body: dict[str, Any], tz: Any) -> tuple[TicketSpec | None, CallbackSpec | None]:
    """Take ``ticket`` and ``callback`` out of the wrap-up body and check them."""
    raw_ticket = _spec_object(body.pop("ticket", None), "ticket")
    raw_callback = _spec_object(body.pop("callback", None), "callback")
    ticket = None
    if raw_ticket is not None:
        action = raw_ticket.get("action")
        if action == "new":
            kind = raw_ticket.get("kind") or "hotline"
            priority = raw_ticket.get("priority") or "normal"
            if kind not in TICKET_KINDS:
                raise ValidationError("ticket.kind", f"one of {', '.join(TICKET_KINDS)}")
            if priority not in TICKET_PRIORITIES:
                raise ValidationError("ticket.priority",
                                      f"one of {', '.join(TICKET_PRIORITIES)}")
            ticket = TicketSpec("new", None, kind, priority)
        elif action == "update":
            tid = raw_ticket.get("id")
            if isinstance(tid, bool) or not isinstance(tid, int | str) or not str(tid).isdigit():
                raise ValidationError("ticket.id", "must be a ticket number")
            ticket = TicketSpec("update", int(tid))
        else:
            raise ValidationError("ticket.action", "new or update")
    callback = None
    if raw_callback is not None:
        kind = raw_callback.get("kind")
        if kind not in CALLBACK_KINDS:
            raise ValidationError("callback.kind", f"one of {', '.join(CALLBACK_KINDS)}")
        due = clean_time("callback.due_at", raw_callback.get("due_at"), tz)
        if due is None:
            raise ValidationError("callback.due_at", "is required")
        callback = CallbackSpec(str(kind), due)
    return ticket, callback


async def viewer_of(request: web.Request, user: User) -> Viewer:
    groups = await request.app[GROUPS].of_user(user.username)
    return Viewer(user.username, user.at_least("supervisor"), tuple(groups))


async def _call_facts(request: web.Request, pbx: str, call_id: str) -> tuple[list[int], str, str]:
    """The call's linked clients (best first), the outside party's callback number (E.164
    when known) and its caller-id name, from the live call or the log."""
    builder = request.app[HUB].builder
    live = request.app[LIVE].get(pbx, call_id)
    if live is not None:
        number, name = live.outside.number, live.outside.name
        client_ids = list(live.client_ids)
    else:
        stored = await request.app[STORE].get_call(pbx, call_id) or {}
        outbound = stored.get("direction") == "outbound"
        party = (stored.get("callee") if outbound else stored.get("caller")) or {}
        number, name = str(party.get("number") or ""), str(party.get("name") or "")
        client_ids = []
    if not client_ids:
        linked = await clients_of_calls(request.app[STORE], [(pbx, call_id)])
        client_ids = [int(c["id"]) for c in linked.get((pbx, call_id), [])]
    dial = builder.human(number)["dial"] if number else None
    return client_ids, dial or "", name


async def check_specs(request: web.Request, user: User, spec: TicketSpec | None,
                      callback: CallbackSpec | None) -> Ticket | None:
    """Refuse what cannot be done before the wrap-up is saved; returns the ticket to update."""
    if callback is not None and request.app.get(CALLBACKS) is None:
        raise HttpError(503, "Callbacks are not available.")
    if spec is None or spec.action != "update" or spec.ticket_id is None:
        return None
    tickets = request.app[TICKETS]
    try:
        ticket = await tickets.get(spec.ticket_id)
    except LookupError:
        raise HttpError(404, "No such ticket.", code="not_found") from None
    if not visible_to(await viewer_of(request, user), ticket):
        raise HttpError(404, "No such ticket.", code="not_found")
    if not ticket.is_open:
        raise HttpError(409, "This ticket is closed: reopen it first.", code="conflict")
    return ticket


async def apply(request: web.Request, user: User, pbx: str, call_id: str, wrapup: Wrapup,
                spec: TicketSpec | None, existing: Ticket | None,
                callback: CallbackSpec | None) -> dict[str, Any]:
    """File the ticket and the callback; returns what to tell the pop."""
    out: dict[str, Any] = {}
    tickets = request.app[TICKETS]
    client_ids, dial, name = await _call_facts(request, pbx, call_id)
    ticket: Ticket | None = existing
    if spec is not None and spec.action == "new":
        subject = wrapup.subject or wrapup.reason or f"Call {dial or call_id}"
        ticket = await tickets.create(user.username, {
            "subject": subject[:200], "reason": wrapup.reason, "response": wrapup.response,
            "result": wrapup.result, "kind": spec.kind, "priority": spec.priority,
            "client_id": client_ids[0] if client_ids else None, "contact": name[:200],
        }, assignee=user.username, calls=[(pbx, call_id)])
        if wrapup.note:
            await tickets.comment(ticket.id, user.username, wrapup.note)
        out["ticket"] = {"id": ticket.id, "number": ticket.number, "created": True,
                         "url": f"/tickets/{ticket.id}"}
    elif existing is not None:
        await tickets.link_call(existing.id, user.username, pbx, call_id)
        changes = {k: v for k, v in (("response", wrapup.response), ("result", wrapup.result))
                   if v}
        if changes:
            await tickets.update(existing.id, user.username, changes)
        summary = " · ".join(x for x in (wrapup.subject, wrapup.reason, wrapup.note) if x)
        if summary:
            await tickets.comment(existing.id, user.username, summary)
        out["ticket"] = {"id": existing.id, "number": existing.number, "created": False,
                         "url": f"/tickets/{existing.id}"}
    if callback is not None:
        creator = request.app[CALLBACKS]
        made = await creator.create(
            user.username, kind=callback.kind, due_at=callback.due_at,
            ticket_id=ticket.id if ticket else None,
            client_id=client_ids[0] if client_ids else None, number=dial,
            note=wrapup.subject or wrapup.note)
        out["callback"] = made.to_json() if hasattr(made, "to_json") else {}
    return out


def tz_of(request: web.Request, user: User) -> Any:
    return viewer_tz(request, user)
