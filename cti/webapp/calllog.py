"""The call log: the list (``/calls``), one call (``/calls/{pbx}/{call_id}``), their JSON twins
under ``/api/calls`` and the CSV export (``/calls.csv``, in :mod:`cti.webapp.calllog_csv`).

Who sees what: an agent sees the calls where one of their extensions rang, answered or
dialled (another's call is a 404, as if it did not exist); supervisors and admins see all.
The filters, periods and page cursors are read in :mod:`cti.webapp.calllog_filters`; the SQL
is in :mod:`cti.store.calls_queries`.

Numbers are shown as people write them: national form for the default region
(``06 12 34 56 78``), international otherwise (``+32 471 12 34 56``), extensions as they are.
Times are in the viewer's zone, grouped by day.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.calls.model import DIRECTIONS, STATUSES, parse_iso_utc
from cti.clients.directory import ClientDirectory
from cti.errors import NotFound
from cti.pbx.dialing import is_dialable
from cti.phone import format_international, format_national
from cti.store import calls_queries as cq
from cti.users import User
from cti.webapp.api import json_response
from cti.webapp.auth import current_user
from cti.webapp.calllog_filters import PERIODS, Filters, encode_cursor, parse_filters, query_json
from cti.webapp.i18n import Translator, pick_timezone, translator
from cti.webapp.i18n_calllog import (
    DIRECTION_LABELS,
    PERIOD_LABELS,
    SORT_LABELS,
    STATUS_LABELS,
    TRANSFER_LABELS,
    WRAPUP_LABELS,
)
from cti.webapp.keys import CLIENTS, LANG, SETTINGS, STORE, USERS, WRAPUPS
from cti.webapp.recordings_web import REC_HELP, REC_LABELS, recordings_of_call, recordings_usage
from cti.webapp.speech_view import speech_of_call, transcript_turns
from cti.webapp.survey_view import survey_of_call
from cti.webapp.templating import TZ_COOKIE, render

LABELS = {"direction": DIRECTION_LABELS, "status": STATUS_LABELS, "period": PERIOD_LABELS,
          "sort": SORT_LABELS, "transfer": TRANSFER_LABELS, "wrapup": WRAPUP_LABELS}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class NumberFormat:
    """Raw PBX number → what people read (``+33612345678`` → ``06 12 34 56 78`` in France)."""

    def __init__(self, directory: ClientDirectory) -> None:
        self.directory = directory
        self.region = directory.settings.default_region

    def __call__(self, raw: str | None) -> str:
        if not raw:
            return ""
        parsed = self.directory.normalize(raw)
        if parsed.e164 is None:
            return raw
        if parsed.region == self.region:
            return format_national(parsed.e164)
        return format_international(parsed.e164)


def viewer_tz(request: web.Request, user: User) -> ZoneInfo:
    return pick_timezone(user.timezone, request.cookies.get(TZ_COOKIE),
                         request.app[SETTINGS].timezone)


def can_see_client(user: User, client: dict[str, Any]) -> bool:
    return (client.get("visibility") != "private" or client.get("owner") == user.username
            or user.at_least("supervisor"))


def present(call: dict[str, Any], fmt: NumberFormat, user: User,
            clients: list[dict[str, Any]]) -> dict[str, Any]:
    """A call as the pages and the JSON API show it: the record plus display strings."""
    out = {k: v for k, v in call.items() if k != "_keys"}
    caller, callee = call["caller"]["number"], call["callee"]["number"]
    out["display"] = {"caller": fmt(caller), "callee": fmt(callee),
                      "caller_dialable": is_dialable(caller) and caller not in user.extensions,
                      # an inbound call's callee is our own number (the DID): no button
                      "callee_dialable": is_dialable(callee) and callee not in user.extensions
                      and call["direction"] != "inbound"}
    out["clients"] = [{"id": c["id"], "name": c["name"], "type": c["type"]}
                      for c in clients if can_see_client(user, c)]
    out["url"] = f"/calls/{call['pbx']}/{call['call_id']}"
    return out


def day_label(day: dt.date, today: dt.date, _: Translator) -> str:
    if day == today:
        return _("Today")
    if day == today - dt.timedelta(days=1):
        return _("Yesterday")
    return f"{_(WEEKDAYS[day.weekday()])} {day.strftime('%d/%m/%Y')}"


def by_day(calls: list[dict[str, Any]], tz: ZoneInfo,
           _: Translator) -> list[tuple[str, list[dict[str, Any]]]]:
    """Consecutive calls of the same local day together, labelled Today/Yesterday/date."""
    today = dt.datetime.now(tz).date()
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    last: dt.date | None = None
    for call in calls:
        started = parse_iso_utc(call["started_at"]) or 0.0
        day = dt.datetime.fromtimestamp(started, tz).date()
        if day != last:
            groups.append((day_label(day, today, _), []))
            last = day
        groups[-1][1].append(call)
    return groups


async def _page(request: web.Request) -> tuple[User, Filters, list[dict[str, Any]],
                                               str | None, int]:
    user = current_user(request)
    filters = await parse_filters(request, user, viewer_tz(request, user))
    store = request.app[STORE]
    calls, cursor = await cq.list_calls(store, filters.query, limit=filters.limit,
                                        after=filters.after)
    linked = await cq.clients_of_calls(store, [(c["pbx"], c["call_id"]) for c in calls])
    fmt = NumberFormat(request.app[CLIENTS])
    shown = [present(c, fmt, user, linked.get((c["pbx"], c["call_id"]), [])) for c in calls]
    total = await cq.count_calls(store, filters.query)
    return user, filters, shown, encode_cursor(cursor), total


async def calls_page(request: web.Request) -> web.StreamResponse:
    said = (request.query.get("said") or "").strip()
    if said:  # words spoken in the call: ranked FTS matches, on a page of their own
        raise web.HTTPFound("/calls/said?" + urlencode({"q": said}))
    user, filters, calls, after, total = await _page(request)
    tz = viewer_tz(request, user)
    _ = translator(request.get(LANG) or request.app[SETTINGS].language)
    agents = []
    if user.at_least("supervisor"):
        agents = [u for u in await request.app[USERS].list_all() if u.extensions]
    return render(request, "calls.html", {
        "groups": by_day(calls, tz, _), "total": total, "filters": filters,
        "form": filters.form,
        "next_link": filters.link(after=after) if after else None,
        "first_link": filters.link(after=None) if filters.after else None,
        "csv_link": filters.link(after=None, limit=None),
        "periods": PERIODS, "directions": DIRECTIONS, "statuses": STATUSES,
        "sorts": cq.SORTS, "queues": await cq.queues(request.app[STORE]), "agents": agents,
        "can_dial": bool(user.extensions), "labels": LABELS,
        "usage": await recordings_usage(request) if user.at_least("supervisor") else None,
    })


async def api_calls(request: web.Request) -> web.StreamResponse:
    _user, filters, calls, after, total = await _page(request)
    return json_response({"calls": calls, "next": after, "total": total,
                          "limit": filters.limit, "filters": query_json(filters)})


# --------------------------------------------------------------------------- one call
def _event_text(kind: str, d: dict[str, Any], fmt: NumberFormat, _: Translator) -> str:
    if kind == "call_started":
        caller = (d.get("caller") or {}).get("number", "")
        callee = (d.get("callee") or {}).get("number", "")
        return _("Call started: {caller} → {callee}", caller=fmt(caller) or "?",
                 callee=fmt(callee) or "?")
    if kind == "call_ringing":
        return _("Ringing at {extension}", extension=d.get("extension") or "?")
    if kind == "call_answered":
        return _("Answered by {extension}", extension=d.get("extension") or "?")
    if kind == "call_transferred":
        kind = str(d.get("transfer_kind", ""))
        return _("Transferred ({kind}) from {source} to {target}",
                 kind=_(TRANSFER_LABELS.get(kind, kind)), source=d.get("from_", "?"),
                 target=d.get("to", "?"))
    if kind == "recording_started":
        return _("Recording started: {name}", name=os.path.basename(str(d.get("path", ""))))
    if kind == "call_overlong":
        return _("Overlong call ({seconds} s)", seconds=round(float(d.get("seconds") or 0)))
    if kind == "client_matched":
        return _("Client found") if not d.get("auto_created") else _("Client created")
    if kind == "call_ended":
        return _("Call ended")
    return kind


async def _call(request: web.Request) -> dict[str, Any]:
    user = current_user(request)
    pbx, call_id = request.match_info["pbx"], request.match_info["call_id"]
    store = request.app[STORE]
    scope = None if user.at_least("supervisor") else user.extensions
    if not await cq.call_row_visible(store, pbx, call_id, scope):
        raise NotFound(f"no call {pbx}/{call_id}")
    call = await store.get_call(pbx, call_id)
    if call is None:
        raise NotFound(f"no call {pbx}/{call_id}")
    row = await store.query_one("SELECT callee_name FROM calls WHERE pbx = ? AND call_id = ?",
                                (pbx, call_id))
    call["callee"]["name"] = row["callee_name"] if row else ""
    fmt = NumberFormat(request.app[CLIENTS])
    clients = await request.app[CLIENTS].clients_of_call(pbx, call_id)
    linked = [{"id": c.id, "name": c.name, "type": c.type, "visibility": c.visibility,
               "owner": c.owner} for c in clients]
    wrapups: list[dict[str, Any]] = []
    service = request.app.get(WRAPUPS)
    if service is not None:
        wrapups = [w.to_json() for w in await service.of_call(pbx, call_id)]
    _ = translator(request.get(LANG) or request.app[SETTINGS].language)
    events = []
    for ev in await store.call_events(pbx, call_id):
        events.append({**ev, "text": _event_text(ev["kind"], ev["detail"], fmt, _)})
    return {"call": present(call, fmt, user, linked), "events": events,
            "legs": await store.call_legs(pbx, call_id), "wrapups": wrapups,
            "recordings": await recordings_of_call(request, call, user),
            **await speech_of_call(request, call, user),  # transcripts, quality
            **await survey_of_call(request, call, user)}  # the caller's survey answers


async def call_page(request: web.Request) -> web.StreamResponse:
    data = await _call(request)
    user = current_user(request)
    return render(request, "call.html", {**data, "can_dial": bool(user.extensions),
                                         "turns": transcript_turns(data["transcripts"],
                                                                   data["quality"]),
                                         "labels": LABELS, "rec_labels": REC_LABELS,
                                         "rec_help": REC_HELP})


async def api_call(request: web.Request) -> web.StreamResponse:
    return json_response(await _call(request))


def add_routes(app: web.Application) -> None:
    from cti.webapp import calllog_csv, quality_pages, scorecard_admin, speech_admin

    r = app.router
    r.add_get("/calls", calls_page, name="calls")
    r.add_get("/calls.csv", calllog_csv.export, name="calls_csv")
    r.add_get("/calls/{pbx}/{call_id}", call_page, name="call")
    r.add_get("/api/calls", api_calls, name="api_calls")
    r.add_get("/api/calls/{pbx}/{call_id}", api_call, name="api_call")
    quality_pages.add_routes(app)  # /calls/said, /api/transcripts/search, /quality
    speech_admin.add_routes(app)  # /admin/speech: the transcription queue
    scorecard_admin.add_routes(app)  # /admin/scorecard: the quality rules, for admins
