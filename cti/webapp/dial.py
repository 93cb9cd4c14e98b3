"""Click-to-dial over HTTP: ``POST /api/dial`` and ``GET /api/dial/{id}``.

The view only translates: the checks, the AMI action and the audit are the service's
(:class:`cti.pbx.actions.PbxActions`), whose refusals carry their HTTP status — 400 for a
number that is not one (CR/LF, letters, ``&``…: nothing is sent to the PBX), 403 for a blocked
prefix or another's extension, 409 without an extension, 429 past the rate limit (with
``Retry-After``), 502/503 when the PBX refuses or cannot be reached. The CSRF token is checked
by the auth middleware before this runs.

``GET /api/dial/{id}`` tells the page how far the call got (``queued`` → ``ringing`` →
``dialling`` → ``connected`` → ``ended``, or ``failed`` with a reason); only the person who
asked (or a supervisor) may read it. ``GET /api/audit`` lists the audit log (supervisors).
"""

from __future__ import annotations

import math

from aiohttp import web

from cti.pbx.dialing import DialRefused
from cti.webapp.api import int_param, json_object, json_response, str_param
from cti.webapp.auth import client_ip, current_user, require_role
from cti.webapp.errors import HttpError
from cti.webapp.keys import ACTIONS


async def dial(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = await json_object(request)
    extension = body.get("extension")
    pbx = body.get("pbx")
    if extension is not None and not isinstance(extension, str):
        raise HttpError(400, "The extension must be text.", code="invalid_extension")
    if pbx is not None and not isinstance(pbx, str):
        raise HttpError(400, "Unknown phone system.", code="unknown_pbx")
    try:
        request_ = await request.app[ACTIONS].dial(user, body.get("number"),
                                                   extension=extension, pbx=pbx,
                                                   ip=client_ip(request))
    except DialRefused as exc:
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        raise HttpError(exc.status, exc.message, code=exc.code, headers=headers) from None
    return json_response(request_.to_json(), status=202,
                         headers={"Location": f"/api/dial/{request_.id}"})


async def dial_status(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    found = request.app[ACTIONS].get(request.match_info["id"])
    if found is None or (found.user_id != user.id and not user.at_least("supervisor")):
        raise HttpError(404)
    return json_response(found.to_json())


@require_role("supervisor")
async def audit_log(request: web.Request) -> web.StreamResponse:
    """``?user=&action=&limit=``: the audit log, newest first (supervisors: who called what)."""
    limit = int_param(request, "limit", 100, low=1, high=1000)
    rows = await request.app[ACTIONS].audit.recent(
        limit=limit, username=str_param(request, "user"), action=str_param(request, "action"))
    return json_response({"entries": rows, "limit": limit})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/dial", dial, name="api_dial")
    app.router.add_get("/api/dial/{id}", dial_status, name="api_dial_status")
    app.router.add_get("/api/audit", audit_log, name="api_audit")
