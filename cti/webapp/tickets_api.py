"""``/api/tickets``: tickets as JSON, for scripts and the screen pop.

* ``GET /api/tickets`` — the list's filters (``status`` = ``open``, ``any`` (the default
  here: a script asks for what it wants) or one status; ``kind``, ``priority``, ``assignee``,
  ``group_id``, ``client_id``, ``q``, ``mine=1``, ``groups=1``), ``limit``/``offset``; with the
  counts by status and the total.
* ``POST /api/tickets`` — the fields (:data:`cti.tickets.model.EDITABLE`) plus ``assignee``,
  ``group_id`` and ``calls`` (``["pbx/call_id"]`` or ``[{"pbx":…, "call_id":…}]``) → 201.
* ``GET /api/tickets/{id}`` — the ticket, its timeline, calls, attachments and the moves the
  caller may make; ``PATCH`` changes fields (status and assignment have their own actions).
* ``POST /api/tickets/{id}/status`` ``{"status", "note"}``, ``/reopen`` ``{"note"}``,
  ``/assign`` ``{"assignee", "group_id", "note"}``, ``/comments`` ``{"text", "internal"}``,
  ``/calls`` ``{"call": "pbx/call_id"}`` (or ``pbx`` and ``call_id``).

The rules are the pages' (:mod:`cti.webapp.tickets_common`): a ticket the caller may not see
is 404; a move the workflow refuses is 409 with the service's message (``A closed ticket must
be reopened before it can be in_progress.``); a wrong value is 422 naming the field. Every
POST/PATCH needs the session's ``X-CSRF-Token``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from cti.errors import Conflict, NotFound, ValidationError
from cti.tickets.queries import MAX_PAGE, count_by_status, list_tickets
from cti.tickets.workflow import OPEN
from cti.users import User
from cti.webapp.api import int_param, json_object, json_response, path_id
from cti.webapp.auth import current_user
from cti.webapp.keys import ATTACHMENTS, PHRASES, STORE, TICKETS
from cti.webapp.tickets_common import (
    call_facts,
    can_reopen,
    check_move,
    linked_calls,
    moves,
    names_of,
    parse_call_key,
    parse_listing,
    ticket_json,
    viewer_of,
    visible_ticket,
)

BASE = "/api/tickets"


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(name, "must be text")
    return value


def _group_id(body: dict[str, Any]) -> int | None:
    value = body.get("group_id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("group_id", "must be a number")
    return value


def _call_key(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        pbx, call_id = value.get("pbx"), value.get("call_id")
        if isinstance(pbx, str) and isinstance(call_id, str) and pbx and call_id:
            return pbx, call_id
        raise ValidationError("calls", "a call is given as <pbx>/<call id>")
    if isinstance(value, str):
        return parse_call_key(value)
    raise ValidationError("calls", "a call is given as <pbx>/<call id>")


async def _checked_call(request: web.Request, user: User, key: tuple[str, str]) -> None:
    try:
        await call_facts(request, user, *key)
    except NotFound:
        raise ValidationError("calls", f"no call {key[0]}/{key[1]} you may see") from None


async def list_api(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    viewer = await viewer_of(request, user)
    listing = parse_listing(request, default_status="any")
    limit = int_param(request, "limit", 50, low=1, high=MAX_PAGE)
    store = request.app[STORE]
    found = await list_tickets(store, listing.query, viewer, limit=limit,
                               offset=listing.offset)
    counts = await count_by_status(store, dataclasses.replace(listing.query, status=None),
                                   viewer)
    status = listing.form["status"]
    total = (sum(counts.values()) if status == "any"
             else sum(counts.get(s, 0) for s in OPEN) if status == "open"
             else counts.get(status, 0))
    names = await names_of(request)
    return json_response({"tickets": [ticket_json(t, names) for t in found], "counts": counts,
                          "total": total, "limit": limit, "offset": listing.offset})


async def create_api(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = await json_object(request)
    assignee = _text(body, "assignee").strip() or None
    group_id = _group_id(body)
    raw_calls = body.get("calls") or []
    if not isinstance(raw_calls, list) or len(raw_calls) > 20:
        raise ValidationError("calls", "must be a list of calls")
    calls = [_call_key(c) for c in raw_calls]
    for key in calls:
        await _checked_call(request, user, key)
    data = {k: v for k, v in body.items() if k not in ("assignee", "group_id", "calls")}
    ticket = await request.app[TICKETS].create(user.username, data, assignee=assignee,
                                               group_id=group_id, calls=calls)
    await request.app[PHRASES].note_used(data)
    out = ticket_json(ticket, await names_of(request))
    return json_response(out, status=201, headers={"Location": f"{BASE}/{ticket.id}"})


async def _full(request: web.Request, user: User, ticket_id: int) -> dict[str, Any]:
    service = request.app[TICKETS]
    ticket = await service.get(ticket_id)
    return {
        "ticket": ticket_json(ticket, await names_of(request)),
        "timeline": [ev.to_json() for ev in await service.timeline(ticket.id)],
        "calls": await linked_calls(request, user, await service.calls(ticket.id)),
        "attachments": [a.to_json() for a in await request.app[ATTACHMENTS].list(ticket.id)],
        "moves": moves(user, ticket), "can_reopen": can_reopen(ticket),
    }


async def get_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    return json_response(await _full(request, user, ticket.id))


async def patch_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    body = await json_object(request)
    for name in ("status", "assignee", "group_id"):
        if name in body:
            raise ValidationError(name, f"is changed through {BASE}/{{id}}/"
                                        f"{'status' if name == 'status' else 'assign'}")
    updated = await request.app[TICKETS].update(ticket.id, user.username, body)
    await request.app[PHRASES].note_used(body, {f: getattr(ticket, f)
                                                for f in ("reason", "response", "result")})
    return json_response(ticket_json(updated, await names_of(request)))


async def status_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    body = await json_object(request)
    status = _text(body, "status")
    check_move(user, ticket, status)
    updated = await request.app[TICKETS].set_status(ticket.id, user.username, status,
                                                    _text(body, "note"))
    return json_response(ticket_json(updated, await names_of(request)))


async def reopen_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    body = await json_object(request)
    if ticket.is_open:
        raise Conflict("The ticket is open already.")
    updated = await request.app[TICKETS].reopen(ticket.id, user.username, _text(body, "note"))
    return json_response(ticket_json(updated, await names_of(request)))


async def assign_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    body = await json_object(request)
    updated = await request.app[TICKETS].assign(
        ticket.id, user.username, assignee=_text(body, "assignee").strip() or None,
        group_id=_group_id(body), note=_text(body, "note"))
    return json_response(ticket_json(updated, await names_of(request)))


async def comments_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    body = await json_object(request)
    internal = body.get("internal", True)
    if not isinstance(internal, bool):
        raise ValidationError("internal", "must be true or false")
    event = await request.app[TICKETS].comment(ticket.id, user.username, _text(body, "text"),
                                               internal=internal)
    return json_response(event.to_json(), status=201)


async def calls_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    body = await json_object(request)
    key = _call_key(body.get("call", body))
    try:
        await call_facts(request, user, *key)
    except NotFound:
        raise ValidationError("call", f"no call {key[0]}/{key[1]} you may see") from None
    linked = await request.app[TICKETS].link_call(ticket.id, user.username, *key)
    return json_response({"linked": linked, "pbx": key[0], "call_id": key[1]},
                         status=201 if linked else 200)


def add_routes(app: web.Application) -> None:
    r = app.router
    one = BASE + r"/{id:\d+}"
    r.add_get(BASE, list_api, name="api_tickets")
    r.add_post(BASE, create_api)
    r.add_get(one, get_api, name="api_ticket")
    r.add_patch(one, patch_api)
    r.add_post(one + "/status", status_api, name="api_ticket_status")
    r.add_post(one + "/reopen", reopen_api, name="api_ticket_reopen")
    r.add_post(one + "/assign", assign_api, name="api_ticket_assign")
    r.add_post(one + "/comments", comments_api, name="api_ticket_comments")
    r.add_post(one + "/calls", calls_api, name="api_ticket_calls")
