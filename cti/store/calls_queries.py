"""Call-log reads for the web UI: filters, sorts and keyset pages over ``calls``.

:meth:`Store.list_calls` serves the simple cases (newest first, equality filters); the call-log
screen needs more — "my calls" (any of a user's extensions rang, answered or dialled), a client,
a number fragment, other sorts — and builds its SQL here, on :meth:`Store.query` (the read
connection), so ``sqlite.py`` stays the small adapter it is.

Every filter is index-friendly (see :mod:`cti.store.calllog_schema`): extensions through
``call_extensions``, a client through ``call_clients``, a number fragment through the FTS5
trigram table ``call_numbers`` (at least :data:`MIN_FRAGMENT` characters: shorter ones would
match most of the log anyway, and trigrams cannot index them).

**Keyset pagination.** A page is "the next ``limit`` rows after the last one shown", written
as a row-value comparison on the sort key plus ``(pbx, call_id)`` as tie-breaker, so a page
costs the same on page 1 and page 1000, and calls arriving meanwhile never shift or repeat
rows (an ``OFFSET`` would do both).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from cti.calls.model import DIRECTIONS, STATUSES
from cti.store.rows import call_json
from cti.store.sqlite import Store

SORTS: tuple[str, ...] = ("newest", "oldest", "longest", "shortest")

MIN_FRAGMENT = 3
MAX_PAGE = 500

#: Sort → (key columns, descending?). ``pbx, call_id`` end every key: it must be unique.
_KEYS: dict[str, tuple[tuple[str, ...], bool]] = {
    "newest": (("started_at",), True),
    "oldest": (("started_at",), False),
    "longest": (("duration_seconds", "started_at"), True),
    "shortest": (("duration_seconds", "started_at"), False),
}

_SEPARATORS = re.compile(r"[\s.\-()/]+")
_FRAGMENT = re.compile(r"^\+?[0-9*#]+$")

#: A page position: the sort key values of the last row shown, then its pbx and call_id.
Cursor = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CallQuery:
    """What the call-log screen asks for. ``None`` means "any".

    ``scope`` restricts to calls of these extensions (an agent's own calls: enforced by the
    caller, never chosen by the person); ``extension`` is the "agent/extension" filter a
    supervisor picks. ``since``/``until`` are epoch seconds on ``started_at`` (until
    exclusive)."""

    since: float | None = None
    until: float | None = None
    direction: str | None = None
    status: str | None = None
    extension: str | None = None
    scope: tuple[str, ...] | None = None
    queue: str | None = None
    client_id: int | None = None
    number: str | None = None
    overlong: bool | None = None
    pbx: str | None = None
    sort: str = "newest"

    def __post_init__(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        if self.number is not None:
            fragment_match(self.number)  # ValueError early, naming the problem


def clean_fragment(text: str) -> str:
    """``"06 12-34"`` → ``"061234"``: what people type around digits goes."""
    return _SEPARATORS.sub("", text.strip())


def fragment_match(text: str) -> str:
    """The FTS5 ``MATCH`` expression for a number fragment, or ValueError.

    Numbers are stored as the PBX gave them: ``+33612345678`` from a trunk, ``0612345678`` as
    an agent dialled it. So ``0612…`` also looks for ``612…`` (without the national trunk
    prefix) and ``0033…`` for ``+33…``: the same number written the other way still matches."""
    fragment = clean_fragment(text)
    if not _FRAGMENT.match(fragment):
        raise ValueError("a number fragment holds digits, and optionally a leading +, * or #")
    if len(fragment.lstrip("+")) < MIN_FRAGMENT:
        raise ValueError(f"a number fragment needs at least {MIN_FRAGMENT} digits")
    variants = [fragment]
    if fragment.startswith("00") and len(fragment) > 2 + MIN_FRAGMENT:
        variants.append("+" + fragment[2:])
    elif fragment.startswith("0") and len(fragment) > MIN_FRAGMENT:
        variants.append(fragment[1:])
    # Only [0-9+*#] got here: nothing can break out of the double quotes.
    return " OR ".join(f'"{v}"' for v in dict.fromkeys(variants))


def _period(q: CallQuery, column: str) -> tuple[str, list[float]]:
    sql, bounds = "", []
    if q.since is not None:
        sql += f" AND {column} >= ?"
        bounds.append(float(q.since))
    if q.until is not None:
        sql += f" AND {column} < ?"
        bounds.append(float(q.until))
    return sql, bounds


def _where(q: CallQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("c.direction", q.direction), ("c.status", q.status),
                          ("c.queue", q.queue), ("c.pbx", q.pbx)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if q.overlong is not None:
        where.append("c.overlong = ?")
        params.append(int(q.overlong))
    if q.since is not None:
        where.append("c.started_at >= ?")
        params.append(float(q.since))
    if q.until is not None:
        where.append("c.started_at < ?")
        params.append(float(q.until))
    for extensions in ((q.extension,) if q.extension is not None else None, q.scope):
        if extensions is None:
            continue
        if not extensions:  # scoped to no extension at all: nothing is theirs
            where.append("0")
            continue
        marks = ", ".join("?" for _ in extensions)
        # The period again inside: the (extension, started_at) index then reads only the
        # agent's calls of that period, not all their calls ever.
        period, bounds = _period(q, "started_at")
        where.append("(c.pbx, c.call_id) IN (SELECT pbx, call_id FROM call_extensions "
                     f"WHERE extension IN ({marks}){period})")
        params.extend((*extensions, *bounds))
    if q.client_id is not None:
        where.append("(c.pbx, c.call_id) IN (SELECT pbx, call_id FROM call_clients "
                     "WHERE client_id = ?)")
        params.append(q.client_id)
    if q.number is not None:
        where.append("c.rowid IN (SELECT rowid FROM call_numbers WHERE call_numbers MATCH ?)")
        params.append(fragment_match(q.number))
    return where, params


def _order(sort: str) -> tuple[tuple[str, ...], bool]:
    keys, desc = _KEYS[sort]
    return (*keys, "pbx", "call_id"), desc


def cursor_of(call: dict[str, Any], sort: str) -> Cursor:
    """The cursor that continues after ``call`` (a row of :func:`list_calls`)."""
    columns, _ = _order(sort)
    return tuple(call["_keys"][c] for c in columns)


def check_cursor(cursor: Sequence[Any], sort: str) -> Cursor:
    """A cursor from outside (a URL), checked: right length, numbers then two strings."""
    columns, _ = _order(sort)
    if len(cursor) != len(columns):
        raise ValueError("page cursor does not fit this sort")
    numbers, names = cursor[:-2], cursor[-2:]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers):
        raise ValueError("bad page cursor")
    if any(not isinstance(v, str) for v in names):
        raise ValueError("bad page cursor")
    return tuple(cursor)


async def list_calls(store: Store, q: CallQuery, *, limit: int = 50,
                     after: Cursor | None = None) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page: calls (``CallRecord.to_json()`` shape, plus ``_keys``) and the cursor of the
    next page (None on the last one)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    where, params = _where(q)
    columns, desc = _order(q.sort)
    if after is not None:
        check_cursor(after, q.sort)
        row = ", ".join(f"c.{c}" for c in columns)
        marks = ", ".join("?" for _ in columns)
        where.append(f"({row}) {'<' if desc else '>'} ({marks})")
        params.extend(after)
    sql = "SELECT c.* FROM calls c"
    if where:
        sql += " WHERE " + " AND ".join(where)
    direction = " DESC" if desc else ""
    sql += " ORDER BY " + ", ".join(f"c.{c}{direction}" for c in columns) + " LIMIT ?"
    rows = await store.query(sql, (*params, limit + 1))
    calls = []
    for r in rows[:limit]:
        call = call_json(cast(Any, r))
        call["callee"]["name"] = r["callee_name"]
        call["_keys"] = {c: r[c] for c in columns}
        calls.append(call)
    more = len(rows) > limit
    return calls, (cursor_of(calls[-1], q.sort) if more and calls else None)


async def count_calls(store: Store, q: CallQuery) -> int:
    where, params = _where(q)
    sql = "SELECT COUNT(*) AS n FROM calls c"
    if where:
        sql += " WHERE " + " AND ".join(where)
    row = await store.query_one(sql, params)
    return 0 if row is None else int(row["n"])


async def queues(store: Store) -> list[str]:
    """Queue names seen in the log (the filter's choices). A recursive skip-scan of the
    ``calls_queue`` index: one seek per distinct name, however many calls each queue had."""
    rows = await store.query(
        "WITH RECURSIVE q(name) AS ("
        " SELECT MIN(queue) FROM calls WHERE queue IS NOT NULL"
        " UNION ALL"
        " SELECT (SELECT MIN(queue) FROM calls WHERE queue > q.name) FROM q"
        " WHERE q.name IS NOT NULL"
        ") SELECT name FROM q WHERE name IS NOT NULL LIMIT 200")
    return [str(r["name"]) for r in rows]


async def call_row_visible(store: Store, pbx: str, call_id: str,
                           scope: tuple[str, ...] | None) -> bool:
    """True when the call exists and, with ``scope``, one of those extensions was on it."""
    q = CallQuery(scope=scope)
    where, params = _where(q)
    where.append("c.pbx = ? AND c.call_id = ?")
    row = await store.query_one("SELECT 1 AS ok FROM calls c WHERE " + " AND ".join(where),
                                (*params, pbx, call_id))
    return row is not None


async def clients_of_calls(store: Store, keys: Sequence[tuple[str, str]],
                           ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The clients linked to each of these calls (one query for a whole page):
    ``{(pbx, call_id): [{id, name, type, visibility, owner}…]}``, best match first."""
    if not keys:
        return {}
    values = ", ".join("(?, ?)" for _ in keys)
    rows = await store.query(
        "SELECT cc.pbx, cc.call_id, c.id, c.name, c.type, c.visibility, c.owner "
        "FROM call_clients cc JOIN clients c ON c.id = cc.client_id "
        f"WHERE (cc.pbx, cc.call_id) IN (VALUES {values}) ORDER BY cc.at, c.id",
        [v for key in keys for v in key])
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r.pop("pbx"), r.pop("call_id")), []).append(r)
    return out
