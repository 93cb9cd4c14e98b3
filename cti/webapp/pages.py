"""The home page, the health probe and the status API.

``/healthz`` is for load balancers and service managers: no login, and no details (versions,
PBX names and counters tell an attacker more than a probe needs) — 200 ``ok`` when the
database answers, 503 otherwise. The details are in ``/api/status``, behind the login.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from cti import __version__
from cti.webapp.api import json_response
from cti.webapp.auth import current_user, public
from cti.webapp.keys import STATUS, STORE
from cti.webapp.templating import render

log = logging.getLogger(__name__)


async def home(request: web.Request) -> web.StreamResponse:
    return render(request, "home.html")


@public
async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[STORE].query_one("SELECT 1 AS ok")
    except Exception as exc:  # any failure of the database means "not healthy"
        log.warning("healthz: database check failed: %s", exc)
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def api_status(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    return json_response({
        "version": __version__,
        "time": time.time(),
        "user": user.to_json(),
        "daemon": request.app[STATUS](),
    })
