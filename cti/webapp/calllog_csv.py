"""``/calls.csv``: the filtered call log as a spreadsheet file.

Written for Excel first, like the client export: UTF-8 with a BOM (without it Excel reads
"Hélène" in the local code page), CRLF line ends, ``?sep=;`` for French and Romanian Excel
(which split on semicolons), durations in whole seconds (no decimal separator to disagree
about) and times in the viewer's zone as ``YYYY-MM-DD HH:MM:SS``. Caller names come from
outside (the PBX, the trunk), so a cell that a spreadsheet would run as a formula (``=…``,
``@…``) gets a leading quote; phone numbers (``+33…``) are left alone.

The file is streamed page by page (keyset pages of :data:`PAGE`), so exporting a year of calls
holds one page in memory, not the year; :data:`MAX_ROWS` bounds one export.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from aiohttp import web

from cti.calls.model import parse_iso_utc
from cti.clients.export import FORMULA_START
from cti.errors import ValidationError
from cti.store import calls_queries as cq
from cti.webapp.auth import current_user
from cti.webapp.calllog import NumberFormat, can_see_client, viewer_tz
from cti.webapp.calllog_filters import parse_filters
from cti.webapp.keys import CLIENTS, STORE

PAGE = 500
MAX_ROWS = 200_000

COLUMNS = ("date", "direction", "status", "caller_number", "caller_name", "callee_number",
           "extension", "extensions_rung", "queue", "clients", "ring_seconds", "talk_seconds",
           "duration_seconds", "overlong", "transfers", "recordings", "hangup_cause", "pbx",
           "call_id")

_PLAIN_NUMBER = re.compile(r"[+-]?[\d .]+")


def safe_cell(value: object) -> str:
    """A leading quote before formula-like text (CSV injection); numbers stay as they are."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _separator(request: web.Request) -> str:
    sep = request.query.get("sep", ",")
    if sep in (";", "semicolon"):
        return ";"
    if sep in (",", "comma", ""):
        return ","
    if sep in ("\t", "tab"):
        return "\t"
    raise ValidationError("sep", "one of comma, semicolon, tab")


async def export(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    tz = viewer_tz(request, user)
    filters = await parse_filters(request, user, tz, default_limit=PAGE, max_limit=PAGE)
    sep = _separator(request)
    store = request.app[STORE]
    fmt = NumberFormat(request.app[CLIENTS])
    stamp = dt.datetime.now(tz).strftime("%Y%m%d-%H%M")
    resp = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="calls-{stamp}.csv"'})
    await resp.prepare(request)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow(COLUMNS)
    after = filters.after
    written = 0
    while written < MAX_ROWS:
        calls, after = await cq.list_calls(store, filters.query, limit=PAGE, after=after)
        linked = await cq.clients_of_calls(store, [(c["pbx"], c["call_id"]) for c in calls])
        for c in calls:
            started = dt.datetime.fromtimestamp(parse_iso_utc(c["started_at"]) or 0.0, tz)
            names = [x["name"] for x in linked.get((c["pbx"], c["call_id"]), [])
                     if can_see_client(user, x)]
            writer.writerow([safe_cell(v) for v in (
                started.strftime("%Y-%m-%d %H:%M:%S"), c["direction"], c["status"],
                fmt(c["caller"]["number"]), c["caller"]["name"], fmt(c["callee"]["number"]),
                c["extension"] or "", " ".join(c["extensions_rung"]), c["queue"] or "",
                " | ".join(names), round(c["ring_seconds"]), round(c["talk_seconds"]),
                round(c["duration_seconds"]), "yes" if c["overlong"] else "no",
                " | ".join(f"{t['kind']} {t['from']}>{t['to']}" for t in c["transfers"]),
                " | ".join(c["recordings"]), c["hangup_cause"], c["pbx"], c["call_id"])])
        written += len(calls)
        await resp.write(buf.getvalue().encode("utf-8"))
        buf.seek(0)
        buf.truncate()
        if after is None:
            break
    await resp.write_eof()
    return resp
