"""The call log's query string → a :class:`~cti.store.calls_queries.CallQuery`, and back.

Periods are days **in the viewer's time zone**: "today" for an agent in Bucharest starts at
their midnight, not the server's nor UTC's; a week starts on Monday (ISO 8601, as in France
and Romania); a custom range is two dates, both days included. DST is handled by building
local midnights with ``zoneinfo`` and converting each to UTC (a day may last 23 or 25 hours).

Who sees what is decided here too: an agent's query is always scoped to their own extensions
(whatever the URL says), a supervisor may pick an agent or an extension.

Page cursors travel in URLs as base64url JSON (opaque to people, checked on the way back in:
a forged cursor is a 422, never an SQL error).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.calls.model import DIRECTIONS, STATUSES
from cti.errors import ValidationError
from cti.store.calls_queries import SORTS, CallQuery, Cursor, check_cursor, fragment_match
from cti.users import User
from cti.webapp.keys import USERS

PERIODS: tuple[str, ...] = ("all", "today", "yesterday", "week", "month", "custom")


def period_bounds(period: str, tz: ZoneInfo, now: dt.datetime,
                  start: dt.date | None = None,
                  end: dt.date | None = None) -> tuple[float | None, float | None]:
    """``(since, until)`` epoch seconds of ``period`` in ``tz`` (until exclusive)."""
    today = now.astimezone(tz).date()
    first: dt.date | None
    last: dt.date | None
    if period == "all":
        return None, None
    if period == "today":
        first, last = today, today
    elif period == "yesterday":
        first = last = today - dt.timedelta(days=1)
    elif period == "week":
        first = today - dt.timedelta(days=today.weekday())
        last = first + dt.timedelta(days=6)
    elif period == "month":
        first = today.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    elif period == "custom":
        first, last = start, end
    else:
        raise ValidationError("period", f"one of {', '.join(PERIODS)}")
    if first is not None and last is not None and last < first:
        raise ValidationError("to", "must not be before the start date")
    since = _midnight(first, tz) if first is not None else None
    until = _midnight(last + dt.timedelta(days=1), tz) if last is not None else None
    return since, until


def _midnight(day: dt.date, tz: ZoneInfo) -> float:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()


def _date(request: web.Request, name: str) -> dt.date | None:
    text = (request.query.get(name) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(name, "a date as YYYY-MM-DD") from None


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = (request.query.get(name) or "").strip()
    if not value:
        return None
    if value not in choices:
        raise ValidationError(name, f"one of {', '.join(choices)}")
    return value


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    raw = json.dumps(list(cursor), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, sort: str) -> Cursor | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
        if not isinstance(value, list):
            raise ValueError
        return check_cursor(value, sort)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("after", "not a page of this list") from None


@dataclass
class Filters:
    """The parsed query string: ``query`` for the store, ``form`` to fill the filter form
    again, ``after`` the page cursor."""

    query: CallQuery
    form: dict[str, str] = field(default_factory=dict)
    after: Cursor | None = None
    limit: int = 50

    def link(self, **changes: str | None) -> str:
        """This list's query string with ``changes`` (None removes a parameter)."""
        params = {k: v for k, v in {**self.form, **changes}.items() if v}
        return urlencode(params)


FORM_KEYS = ("period", "from", "to", "direction", "status", "agent", "ext", "queue",
             "client", "number", "overlong", "sort", "limit")


async def parse_filters(request: web.Request, user: User, tz: ZoneInfo, *,
                        now: dt.datetime | None = None, default_limit: int = 50,
                        max_limit: int = 500) -> Filters:
    """Read and check the query string; ValidationError (422) naming the bad parameter."""
    q = request.query
    form = {k: (q.get(k) or "").strip() for k in FORM_KEYS}
    period = _choice(request, "period", PERIODS) or "all"
    start, end = _date(request, "from"), _date(request, "to")
    if period != "custom" and (start or end):
        period = form["period"] = "custom"
    since, until = period_bounds(period, tz, now or dt.datetime.now(dt.UTC), start, end)
    sort = _choice(request, "sort", SORTS) or "newest"
    number = form["number"] or None
    if number is not None:
        try:
            fragment_match(number)
        except ValueError as exc:
            raise ValidationError("number", str(exc)) from None
    client_id = None
    if form["client"]:
        if not form["client"].isdigit():
            raise ValidationError("client", "a client id")
        client_id = int(form["client"])
    limit = default_limit
    if form["limit"]:
        if not form["limit"].isdigit() or not 1 <= int(form["limit"]) <= max_limit:
            raise ValidationError("limit", f"between 1 and {max_limit}")
        limit = int(form["limit"])
    scope: tuple[str, ...] | None = None
    extension = form["ext"] or None
    if not user.at_least("supervisor"):
        scope = user.extensions  # agents: their own calls, whatever the URL asks
    elif form["agent"]:
        agent = await request.app[USERS].get_by_username(form["agent"])
        if agent is None:
            raise ValidationError("agent", "no such user")
        scope = agent.extensions
    query = CallQuery(
        since=since, until=until, direction=_choice(request, "direction", DIRECTIONS),
        status=_choice(request, "status", STATUSES), extension=extension, scope=scope,
        queue=form["queue"] or None, client_id=client_id, number=number,
        overlong=True if form["overlong"] in ("1", "true", "on") else None, sort=sort)
    return Filters(query, form, decode_cursor(q.get("after"), sort), limit)


def query_json(f: Filters) -> dict[str, Any]:
    """The filters as the JSON API echoes them."""
    return {k: v for k, v in f.form.items() if v}
