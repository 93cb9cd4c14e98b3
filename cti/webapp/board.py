"""The supervisors' live board: calls in progress, agents' line states, missed calls today.

``GET /board`` is the page (``board.html`` + ``board.js``); ``GET /api/board`` the data it
starts from: the agents and their extensions with each line's state, today's missed calls,
and the calls in progress. Both are for supervisors and admins only (agents get 403).

Why it is built this way:

* **One source for live calls.** The page follows ``/ws?scope=all``, the screen-pop hub's
  "every call" feed, so the board gets exactly what the pops get (client cards included, and
  the ``overlong`` flag the moment ``CallOverlong`` reaches :class:`~cti.live.LiveCalls`)
  with no second fan-out to keep in step. The API's ``calls`` is a plain snapshot for scripts
  and tests; the browser takes its calls from the socket's own snapshot.
* **Line states are derived, not stored.** :func:`line_state` reads them off the live calls
  (the script applies the same rules to the calls it holds, so a line turns red without a
  round trip). Nothing here can drift from what the tracker saw.
* **"Today" is the viewer's day.** Missed calls are those started since local midnight in the
  supervisor's time zone (user setting, browser, then ``web.timezone``), as the call log's
  ``today`` filter reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from cti.calls.model import iso_utc
from cti.live import LiveCall
from cti.store.calls_queries import CallQuery, clients_of_calls, list_calls
from cti.users import User
from cti.webapp.api import json_response
from cti.webapp.auth import current_user, require_role
from cti.webapp.calllog import can_see_client, viewer_tz
from cti.webapp.calllog_filters import period_bounds
from cti.webapp.i18n import translator
from cti.webapp.i18n_board import script_strings
from cti.webapp.keys import HUB, LANG, LIVE, SETTINGS, STORE, USERS
from cti.webapp.templating import render

#: Inbound calls nobody served: the ones a supervisor wants called back (a caller who hung up
#: in the queue, rang out, or got busy is the same lost client).
MISSED_STATUSES: tuple[str, ...] = ("missed", "abandoned", "busy", "no_answer")
MISSED_LIMIT = 200
#: Answered calls of the day read to tell which missed callers were reached since.
REACHED_LIMIT = 5000

LineState = str  # "idle" | "ringing" | "in_call"


def line_state(extension: str, calls: Iterable[LiveCall]) -> LineState:
    """``in_call`` beats ``ringing`` beats ``idle``. A line is in a call when it holds an
    answered call, or has placed a call still running (dialling out keeps the phone busy)."""
    state: LineState = "idle"
    for call in calls:
        if call.state == "ended":
            continue
        if call.state == "up" and extension in (call.extension, call.origin):
            return "in_call"
        if call.state == "ringing" and extension == call.origin:
            return "in_call"
        if extension in call.ringing:
            state = "ringing"
    return state


def lines(users: Iterable[User], calls: list[LiveCall]) -> list[dict[str, Any]]:
    """Every active user bound to an extension, with each extension's state."""
    out = []
    for user in users:
        if not user.active or not user.extensions:
            continue
        out.append({"username": user.username, "label": user.label, "role": user.role,
                    "extensions": [{"extension": ext, "state": line_state(ext, calls)}
                                   for ext in user.extensions]})
    return out


async def missed_today(request: web.Request, user: User, *,
                       now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Today's unserved inbound calls (viewer's day), newest first, with the callback number
    (``caller.dial``), the linked client's name, and ``reached``: an answered call with the
    same number (either way) started after it, so nobody calls a client back twice."""
    tz = viewer_tz(request, user)
    since, until = period_bounds("today", tz, now or dt.datetime.now(dt.UTC))
    store = request.app[STORE]
    rows: list[dict[str, Any]] = []
    for status in MISSED_STATUSES:
        page, _ = await list_calls(store, CallQuery(since=since, until=until, status=status,
                                                    direction="inbound"), limit=MISSED_LIMIT)
        rows.extend(page)
    rows.sort(key=lambda c: c["started_at"] or "", reverse=True)
    rows = rows[:MISSED_LIMIT]
    linked = await clients_of_calls(store, [(c["pbx"], c["call_id"]) for c in rows])
    builder = request.app[HUB].builder
    reached = await _reached(request, since)
    out = []
    for c in rows:
        number = builder.human(c["caller"]["number"] or "")
        clients = [k for k in linked.get((c["pbx"], c["call_id"]), []) if can_see_client(user, k)]
        last = reached.get(number["dial"] or "")
        out.append({"key": f"{c['pbx']}/{c['call_id']}", "pbx": c["pbx"],
                    "call_id": c["call_id"], "status": c["status"],
                    "started_at": c["started_at"], "queue": c["queue"],
                    "ring_seconds": c["ring_seconds"], "rung": c["extensions_rung"],
                    "caller": {**number, "name": c["caller"]["name"] or ""},
                    "client": clients[0]["name"] if clients else None,
                    "reached": bool(last and c["started_at"] and last > c["started_at"])})
    return out


async def _reached(request: web.Request, since: float | None) -> dict[str, str]:
    """``{E.164 or raw number: start of the latest answered call with it}`` since ``since``."""
    rows = await request.app[STORE].query(
        "SELECT caller_number, callee_number, started_at FROM calls "
        "WHERE status = 'answered' AND started_at >= ? ORDER BY started_at DESC LIMIT ?",
        (since or 0.0, REACHED_LIMIT))
    builder = request.app[HUB].builder
    out: dict[str, str] = {}
    for r in rows:
        when = iso_utc(r["started_at"])
        for raw in (r["caller_number"], r["callee_number"]):
            dial = builder.human(raw or "")["dial"]
            if dial and when and dial not in out:
                out[dial] = when
    return out


async def board_data(request: web.Request, user: User) -> dict[str, Any]:
    calls = request.app[LIVE].all()
    people = await request.app[USERS].list_all()
    return {"lines": lines(people, calls),
            "missed": await missed_today(request, user),
            "calls": [c.to_json() for c in calls if c.state != "ended"],
            "now": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}


@require_role("supervisor")
async def board_page(request: web.Request) -> web.StreamResponse:
    lang = request.get(LANG) or request.app[SETTINGS].language
    return render(request, "board.html",
                  {"board_strings": script_strings(translator(lang))})


@require_role("supervisor")
async def board_api(request: web.Request) -> web.StreamResponse:
    return json_response(await board_data(request, current_user(request)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/board", board_page, name="board")
    app.router.add_get("/api/board", board_api, name="api_board")
