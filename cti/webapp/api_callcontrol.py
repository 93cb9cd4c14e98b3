"""Call control from the pop and the board (see :mod:`cti.pbx.call_control`).

* ``GET /api/calls/{pbx}/{call_id}/control`` — what can be done now: ``{live, held, space,
  held_by, consulting, groups}``;
* ``POST /api/calls/{pbx}/{call_id}/control`` ``{"action": "hangup"|"transfer"|"attended"|
  "complete"|"cancel"|"hold"|"resume", "target"?: "1002"|"<group>"}`` — carry it out, answer
  the new state. Agents who took part in the call (as for wrap-ups) and supervisors;
* ``POST /api/calls/{pbx}/{call_id}/spy`` ``{"mode": "listen"|"whisper"|"barge"}`` —
  supervisors and admins only (403 for agents, checked by the service so that the attempt is
  audited too): their own phone rings and spies on the agent (202: it rings, nothing is
  connected yet).

Every POST needs the session's CSRF token (the auth middleware checks it). Refusals are
``{"error": code, "message": …}`` with the message in the user's language; a PBX that says no
is 409 ``refused`` with its own words.
"""

from __future__ import annotations

from aiohttp import web

from cti.pbx.control_rules import ControlRefused
from cti.pbx.supervision import Supervision
from cti.users import User
from cti.webapp.api import json_object, json_response
from cti.webapp.api_wrapup import check_part
from cti.webapp.auth import current_user
from cti.webapp.errors import HttpError
from cti.webapp.i18n import translate
from cti.webapp.keys import CALL_CONTROL, LANG, LIVE, SETTINGS

PATH = "/api/calls/{pbx}/{call_id}/control"
SPY_PATH = "/api/calls/{pbx}/{call_id}/spy"


def _holder(request: web.Request, pbx: str, call_id: str) -> str | None:
    live = request.app[LIVE].get(pbx, call_id)
    return live.extension if live is not None else None


def _refusal(request: web.Request, exc: ControlRefused) -> HttpError:
    lang = request.get(LANG) or request.app[SETTINGS].language
    return HttpError(exc.status, translate(lang, exc.msgid, **exc.values), code=exc.code)


async def control_state(request: web.Request) -> web.StreamResponse:
    _, pbx, call_id = await check_part(request)
    return json_response(request.app[CALL_CONTROL].state(pbx, call_id))


async def control_action(request: web.Request) -> web.StreamResponse:
    user, pbx, call_id = await check_part(request)
    body = await json_object(request)
    try:
        state = await request.app[CALL_CONTROL].control(
            user, pbx, call_id, str(body.get("action"))[:20], body.get("target"),
            holder=_holder(request, pbx, call_id), ip=request.remote or "")
    except ControlRefused as exc:
        raise _refusal(request, exc) from None
    return json_response(state)


async def spy(request: web.Request) -> web.StreamResponse:
    user: User = current_user(request)
    pbx, call_id = request.match_info["pbx"], request.match_info["call_id"]
    body = await json_object(request)
    service = Supervision(request.app[CALL_CONTROL])
    try:
        started = await service.spy(user, pbx, call_id, body.get("mode"),
                                    holder=_holder(request, pbx, call_id),
                                    ip=request.remote or "")
    except ControlRefused as exc:
        raise _refusal(request, exc) from None
    return json_response(started, status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, control_state, name="api_call_control")
    app.router.add_post(PATH, control_action)
    app.router.add_post(SPY_PATH, spy, name="api_call_spy")
