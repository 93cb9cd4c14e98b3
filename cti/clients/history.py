"""A client's call history: the linked calls and their counts per day, ISO week and month.

Counting is done here, in Python, over the client's rows rather than with SQL ``GROUP BY``
on ``strftime``: SQLite only knows UTC and fixed offsets, while a day or a week is a day or a
week *where the agents are* (``Europe/Paris`` moves by an hour twice a year). One client's
calls are a small set, so this costs nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, tzinfo
from typing import Any, cast

from cti.clients.model import Client, ClientHistory, period_counts
from cti.store.rows import call_json


def build_history(client: Client, rows: list[dict[str, Any]], tz: tzinfo,
                  limit: int) -> ClientHistory:
    """``rows`` are ``calls`` rows (plus ``linked_how``), newest first."""
    days: list[tuple[str, bool]] = []
    weeks: list[tuple[str, bool]] = []
    months: list[tuple[str, bool]] = []
    answered = 0
    for row in rows:
        ok = bool(row["answered"])
        answered += ok
        local = datetime.fromtimestamp(row["started_at"], tz)
        year, week, _ = local.isocalendar()
        days.append((local.date().isoformat(), ok))
        weeks.append((f"{year}-W{week:02d}", ok))
        months.append((f"{local.year}-{local.month:02d}", ok))
    calls = []
    for row in rows[:limit]:
        # call_json reads rows by column name; a dict serves as well as a sqlite3.Row.
        call = call_json(cast(sqlite3.Row, row))
        call["linked_how"] = row["linked_how"]
        calls.append(call)
    starts = [float(r["started_at"]) for r in rows]
    last = max([*starts, *([client.last_contact_at] if client.last_contact_at else [])],
               default=None)
    return ClientHistory(
        client_id=client.id,
        calls=tuple(calls),
        total=len(rows),
        answered=answered,
        missed=len(rows) - answered,
        last_contact_at=last,
        by_day=period_counts(days),
        by_week=period_counts(weeks),
        by_month=period_counts(months),
    )
