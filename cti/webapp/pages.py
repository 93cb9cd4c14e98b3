"""The home page, the health probe and the status API.

``/healthz`` is for load balancers and service managers: no login, and no details (versions,
PBX names and counters tell an attacker more than a probe needs) — 200 ``{"status": "ok"}``
when the database answers *and* every PBX's AMI link is logged in, 503
``{"status": "unavailable"}`` otherwise (a cti that cannot hear its PBX pops nothing and logs
nothing: it is not healthy). Which check failed, and each PBX's link state, are in
``/api/status`` (``health``), behind the login.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from cti import __version__
from cti.webapp.api import json_response
from cti.webapp.auth import current_user, public
from cti.webapp.i18n import translator
from cti.webapp.i18n_pop import script_strings
from cti.webapp.keys import LANG, PBX_STATES, SETTINGS, STATUS, STORE
from cti.webapp.templating import render

log = logging.getLogger(__name__)


async def home(request: web.Request) -> web.StreamResponse:
    """The agent's desk: the screen pops (``pop.html`` + ``pop.js``) with their strings."""
    lang = request.get(LANG) or request.app[SETTINGS].language
    return render(request, "home.html", {"pop_strings": script_strings(translator(lang))})


async def health(request: web.Request) -> dict[str, Any]:
    """``{"ok": bool, "db": "ok"|"error", "pbx": {name: state}}``."""
    try:
        await request.app[STORE].query_one("SELECT 1 AS ok")
        db = "ok"
    except Exception as exc:  # any failure of the database means "not healthy"
        log.warning("health: database check failed: %s", exc)
        db = "error"
    pbx = request.app[PBX_STATES]()
    ok = db == "ok" and all(state == "connected" for state in pbx.values())
    return {"ok": ok, "db": db, "pbx": pbx}


@public
async def healthz(request: web.Request) -> web.StreamResponse:
    if (await health(request))["ok"]:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable"}, status=503)


async def api_status(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    return json_response({
        "version": __version__,
        "time": time.time(),
        "user": user.to_json(),
        "daemon": request.app[STATUS](),
        "health": await health(request),
    })
