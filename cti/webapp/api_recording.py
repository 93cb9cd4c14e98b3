"""``/api/calls/{pbx}/{call_id}/recording``: pause, resume or stop a running call's recording.

``GET`` says the state (``recording``, ``paused``, ``stopped``, ``none``); ``POST {"action":
"pause"|"resume"|"stop"}`` (CSRF token required) asks the PBX (see
:mod:`cti.pbx.recording_control`) and answers the new state. Who may: the agents who took part
in the call (the pop's button) and supervisors (the board), as for wrap-ups.
"""

from __future__ import annotations

from aiohttp import web

from cti.pbx.recording_control import RecordingRefused
from cti.webapp.api import json_object, json_response
from cti.webapp.api_wrapup import check_part
from cti.webapp.errors import HttpError
from cti.webapp.keys import RECORDING_CONTROL

PATH = "/api/calls/{pbx}/{call_id}/recording"


async def recording_state(request: web.Request) -> web.StreamResponse:
    _, pbx, call_id = await check_part(request)
    return json_response({"state": request.app[RECORDING_CONTROL].state(pbx, call_id)})


async def recording_action(request: web.Request) -> web.StreamResponse:
    user, pbx, call_id = await check_part(request)
    body = await json_object(request)
    action = body.get("action")
    if action not in ("pause", "resume", "stop"):
        raise HttpError(422, "The action must be pause, resume or stop.", code="validation")
    try:
        state = await request.app[RECORDING_CONTROL].control(user, pbx, call_id, str(action),
                                                              ip=request.remote or "")
    except RecordingRefused as exc:
        raise HttpError(exc.status, exc.message, code=exc.code) from None
    return json_response({"state": state})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, recording_state, name="api_call_recording")
    app.router.add_post(PATH, recording_action)
