"""``/api/calls/{pbx}/{call_id}/wrapup``: the wrap-up an agent writes about a call.

``POST`` (JSON ``{subject, reason, response, result, note}``, CSRF token required like every
state change) saves the caller's own wrap-up of the call, replacing a previous one, and may file
a ticket and a callback in the same step; ``GET`` lists the call's wrap-ups.

Who may: a supervisor, or an agent who **took part** — one of their extensions rang, answered,
placed the call or was a transfer's end. The call is looked up live first (the form is offered
right after hangup, before the store has written the call's row), then in the call log. A call
that is in neither is 404 for everyone.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cti.live import LiveCall
from cti.users import User
from cti.webapp import wrapup_tickets
from cti.webapp.api import json_object, json_response
from cti.webapp.auth import current_user
from cti.webapp.calllog import viewer_tz
from cti.webapp.errors import HttpError
from cti.webapp.keys import HUB, LIVE, STORE, WRAPUPS

PATH = "/api/calls/{pbx}/{call_id}/wrapup"


def involved_in_record(call: dict[str, Any]) -> set[str]:
    """Extensions of a finished call (``calls`` row as JSON): rung, answering, the one that
    placed an outbound or internal call, both ends of each transfer."""
    found = set(call.get("extensions_rung") or ())
    if call.get("extension"):
        found.add(call["extension"])
    if call.get("direction") in ("outbound", "internal"):
        number = (call.get("caller") or {}).get("number")
        if number:
            found.add(number)
    for t in call.get("transfers") or ():
        found.update(x for x in (t.get("from"), t.get("to")) if x)
    return found


async def involved(request: web.Request, pbx: str, call_id: str) -> set[str]:
    live: LiveCall | None = request.app[LIVE].get(pbx, call_id)
    if live is not None:
        return set(live.extensions)
    stored = await request.app[STORE].get_call(pbx, call_id)
    if stored is None:
        raise HttpError(404, "No such call.", code="not_found")
    return involved_in_record(stored)


async def check_part(request: web.Request) -> tuple[User, str, str]:
    """The user, if they may see and write this call's wrap-ups; else 404/403."""
    user = current_user(request)
    pbx, call_id = request.match_info["pbx"], request.match_info["call_id"]
    exts = await involved(request, pbx, call_id)
    if not user.at_least("supervisor") and not exts & set(user.extensions):
        raise HttpError(403, "Only the agents who took part in the call may do this.")
    return user, pbx, call_id


async def save_wrapup(request: web.Request) -> web.StreamResponse:
    """The wrap-up, and in the same submit the optional ``ticket`` (``{"action": "new",
    "kind", "priority"}`` or ``{"action": "update", "id"}``) and ``callback`` (``{"kind":
    "to_call_back"|"will_call_back", "due_at"}``): see :mod:`cti.webapp.wrapup_tickets`."""
    user, pbx, call_id = await check_part(request)
    body = await json_object(request)
    spec, callback = wrapup_tickets.parse_specs(body, viewer_tz(request, user))
    existing = await wrapup_tickets.check_specs(request, user, spec, callback)
    service = request.app[WRAPUPS]
    existed = await service.get(pbx, call_id, user.username) is not None
    saved = await service.save(pbx, call_id, username=user.username, user_id=user.id,
                               fields=body)
    filed = await wrapup_tickets.apply(request, user, pbx, call_id, saved, spec, existing,
                                       callback)
    request.app[HUB].note_wrapup(pbx, call_id, user.username)
    return json_response({**saved.to_json(), **filed}, status=200 if existed else 201)


async def list_wrapups(request: web.Request) -> web.StreamResponse:
    _, pbx, call_id = await check_part(request)
    found = await request.app[WRAPUPS].of_call(pbx, call_id)
    return json_response({"wrapups": [w.to_json() for w in found]})


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, save_wrapup, name="api_call_wrapup")
    app.router.add_get(PATH, list_wrapups)
