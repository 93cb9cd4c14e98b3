"""Speech analytics in the web UI: "calls where someone said…" and the per-agent QA averages.

``/calls/said?q=`` (JSON twin ``/api/transcripts/search?q=``): a full-text search across the
transcripts (SQLite FTS5, see :func:`cti.speech.worker.jobs.search`, which quotes every word so
people's text is never read as an FTS operator). Its matches are resolved to calls and listed
with their snippet. Why a page of its own and not one more keyset filter of ``/calls``: FTS
ranks by relevance, the call log sorts by time with a keyset cursor; mixing both would make
either the ranking or the pages wrong. ``/calls?said=…`` redirects here. Agents only get the
calls whose recordings they may hear (the rule of :mod:`cti.webapp.recordings_web`).

``/quality`` (JSON ``/api/quality``), supervisors only: per agent extension over a period
(today, this week, this month in the viewer's zone, by the call's start): calls scored, the
average score, each rule's pass rate (skipped rules not counted), the alerts raised; and what
callers said in the satisfaction survey (``surveys``, by the survey's start; see
:mod:`cti.webapp.survey_view`): surveys, responses, response rate, average and per question.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from aiohttp import web

from cti.errors import ValidationError
from cti.speech.worker import jobs
from cti.users import User
from cti.webapp.api import json_response
from cti.webapp.auth import current_user, require_role
from cti.webapp.calllog import NumberFormat, viewer_tz
from cti.webapp.calllog_filters import period_bounds
from cti.webapp.keys import CLIENTS, STORE, USERS
from cti.webapp.speech_view import may_read
from cti.webapp.survey_view import survey_by_agent
from cti.webapp.templating import render

SEARCH_LIMIT = 50
QUALITY_PERIODS: tuple[str, ...] = ("today", "week", "month")
QUALITY_PERIOD_LABELS = {"today": "Today", "week": "This week", "month": "This month"}
_HIT = re.compile(r"\[([^\]]*)\]")


def snippet_parts(snippet: str) -> list[dict[str, Any]]:
    """``"a [refund] please"`` → text and matched parts, for ``<mark>`` without markup."""
    parts: list[dict[str, Any]] = []
    pos = 0
    for m in _HIT.finditer(snippet):
        if m.start() > pos:
            parts.append({"text": snippet[pos:m.start()], "hit": False})
        parts.append({"text": m.group(1), "hit": True})
        pos = m.end()
    if pos < len(snippet):
        parts.append({"text": snippet[pos:], "hit": False})
    return parts


async def said_matches(request: web.Request, user: User, query: str) -> list[dict[str, Any]]:
    """The calls whose transcripts match ``query`` that ``user`` may read, best first."""
    store = request.app[STORE]
    supervisor = user.at_least("supervisor")
    rows = await jobs.search(store, query, limit=SEARCH_LIMIT if supervisor else 4 * SEARCH_LIMIT)
    fmt = NumberFormat(request.app[CLIENTS])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    refused: set[tuple[str, str]] = set()
    for row in rows:
        if not row["call_id"]:
            continue
        key = (str(row["pbx"]), str(row["call_id"]))
        if key in found:
            found[key]["snippets"].append(row["snippet"])
            continue
        if key in refused:
            continue
        call = await store.get_call(*key)
        if call is None or not may_read(call, user):
            refused.add(key)
            continue
        found[key] = {
            "pbx": key[0], "call_id": key[1], "url": f"/calls/{key[0]}/{key[1]}",
            "started_at": call["started_at"], "direction": call["direction"],
            "status": call["status"], "extension": call.get("extension"),
            "caller": fmt(call["caller"]["number"]), "callee": fmt(call["callee"]["number"]),
            "caller_name": call["caller"].get("name") or "", "snippets": [row["snippet"]]}
        if len(found) >= SEARCH_LIMIT:
            break
    return list(found.values())


def _query(request: web.Request) -> str:
    return (request.query.get("q") or request.query.get("said") or "").strip()[:200]


async def said_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    query = _query(request)
    matches = await said_matches(request, user, query) if query else []
    for m in matches:
        m["parts"] = [snippet_parts(s) for s in m["snippets"]]
    return render(request, "calls_said.html", {"q": query, "matches": matches})


async def api_search(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    query = _query(request)
    matches = await said_matches(request, user, query) if query else []
    return json_response({"q": query, "calls": matches})


# --------------------------------------------------------------------------- QA averages
async def quality_data(request: web.Request, *,
                       now: dt.datetime | None = None) -> dict[str, Any]:
    user = current_user(request)
    period = (request.query.get("period") or "week").strip()
    if period not in QUALITY_PERIODS:
        raise ValidationError("period", f"one of {', '.join(QUALITY_PERIODS)}")
    since, until = period_bounds(period, viewer_tz(request, user), now or dt.datetime.now(dt.UTC))
    rows = await request.app[STORE].query(
        "SELECT q.agent, q.score, q.result FROM call_quality q JOIN calls c "
        "ON c.pbx = q.pbx AND c.call_id = q.call_id "
        "WHERE c.started_at >= ? AND c.started_at < ? ORDER BY q.agent", (since, until))
    people: dict[str, User] = {}
    for u in await request.app[USERS].list_all():
        for ext in u.extensions:
            people.setdefault(ext, u)
    agents: dict[str, dict[str, Any]] = {}
    rule_names: list[str] = []
    for row in rows:
        ext = str(row["agent"] or "")
        a = agents.setdefault(ext, {"extension": ext, "calls": 0, "total": 0.0, "alerts": 0,
                                    "rules": {}})
        a["calls"] += 1
        a["total"] += float(row["score"])
        result = json.loads(row["result"] or "{}")
        a["alerts"] += len(result.get("alerts") or ())
        for rule in result.get("rules") or ():
            if rule.get("skipped"):
                continue
            name = str(rule.get("name", ""))
            if name not in rule_names:
                rule_names.append(name)
            counts = a["rules"].setdefault(name, [0, 0])
            counts[0] += 1 if rule.get("passed") else 0
            counts[1] += 1
    out = []
    for ext, a in sorted(agents.items()):
        person = people.get(ext)
        link = (f"agent={person.username}" if person is not None and ext
                else f"ext={ext}" if ext else "")
        out.append({
            "extension": ext, "name": person.label if person else "",
            "username": person.username if person else None,
            "calls": a["calls"], "average": round(a["total"] / a["calls"], 1),
            "alerts": a["alerts"],
            "pass_rates": {n: round(100 * p / c) for n, (p, c) in a["rules"].items() if c},
            "link": f"/calls?{link}&period={period}" if link else f"/calls?period={period}"})
    return {"period": period, "since": since, "until": until, "rules": rule_names,
            "agents": out, "surveys": await survey_by_agent(request, since, until, people)}


@require_role("supervisor")
async def quality_page(request: web.Request) -> web.StreamResponse:
    data = await quality_data(request)
    return render(request, "quality.html", {
        **data, "periods": QUALITY_PERIODS, "period_labels": QUALITY_PERIOD_LABELS,
        "rule_labels": {n: n.replace("_", " ").capitalize() for n in data["rules"]}})


@require_role("supervisor")
async def api_quality(request: web.Request) -> web.StreamResponse:
    return json_response(await quality_data(request))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/calls/said", said_page, name="calls_said")
    r.add_get("/api/transcripts/search", api_search, name="api_transcripts_search")
    r.add_get("/quality", quality_page, name="quality")
    r.add_get("/api/quality", api_quality, name="api_quality")
