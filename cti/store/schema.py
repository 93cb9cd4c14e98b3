"""Shape of the call store: numbered migrations, the write statements, and value <-> row mapping.

This module holds no connection and imports no database driver, so the mapping can be read (and
tested) on its own; :mod:`cti.store.sqlite` is the one place that talks to SQLite.

Times are stored as REAL epoch seconds (UTC), exactly the floats the tracker produced, so a record
read back renders to the very same ISO strings as ``CallRecord.to_json()``. Lists (extensions
rung, transfers, recordings, event details) are stored as compact JSON text. Transfers keep their
epoch ``at`` in the row and are rendered to ISO on the way out, so :func:`record_from_row` can
rebuild the exact :class:`CallRecord`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from cti.calls.model import (
    DIRECTIONS,
    STATUSES,
    CallEnded,
    CallRecord,
    DomainEvent,
    Leg,
    Party,
    Transfer,
    iso_utc,
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. ``version`` numbers are 1, 2, 3, ... and a step is never edited once
    released: a change to the schema is a new step, applied once, in its own transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


#: Columns of ``calls`` that come from the record (all but the created/updated stamps).
CALL_COLUMNS: tuple[str, ...] = (
    "pbx",
    "call_id",
    "direction",
    "status",
    "answered",
    "caller_number",
    "caller_name",
    "callee_number",
    "callee_name",
    "extension",
    "extensions_rung",
    "queue",
    "started_at",
    "answered_at",
    "ended_at",
    "ring_seconds",
    "talk_seconds",
    "duration_seconds",
    "hangup_cause",
    "transfers",
    "recordings",
    "overlong",
)

LEG_COLUMNS: tuple[str, ...] = (
    "pbx",
    "call_id",
    "uniqueid",
    "channel",
    "kind",
    "endpoint",
    "created_at",
    "answered_at",
    "ended_at",
    "hangup_cause",
)

EVENT_COLUMNS: tuple[str, ...] = ("pbx", "call_id", "kind", "at", "digest", "detail")

_V1_CALLS = """
CREATE TABLE calls (
    pbx              TEXT    NOT NULL,
    call_id          TEXT    NOT NULL,
    direction        TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    answered         INTEGER NOT NULL,
    caller_number    TEXT    NOT NULL,
    caller_name      TEXT    NOT NULL,
    callee_number    TEXT    NOT NULL,
    callee_name      TEXT    NOT NULL,
    extension        TEXT,
    extensions_rung  TEXT    NOT NULL,  -- JSON array of strings
    queue            TEXT,
    started_at       REAL    NOT NULL,  -- epoch seconds, UTC
    answered_at      REAL,
    ended_at         REAL    NOT NULL,
    ring_seconds     REAL    NOT NULL,
    talk_seconds     REAL    NOT NULL,
    duration_seconds REAL    NOT NULL,
    hangup_cause     TEXT    NOT NULL,
    transfers        TEXT    NOT NULL,  -- JSON array of {kind, from, to, at(epoch)}
    recordings       TEXT    NOT NULL,  -- JSON array of paths
    overlong         INTEGER NOT NULL,
    created_at       REAL    NOT NULL,  -- when the store first saw the call
    updated_at       REAL    NOT NULL,  -- last time a save changed the row
    PRIMARY KEY (pbx, call_id)
)
"""

_V1_LEGS = """
CREATE TABLE call_legs (
    pbx          TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    uniqueid     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    created_at   REAL NOT NULL,
    answered_at  REAL,
    ended_at     REAL,
    hangup_cause TEXT NOT NULL,
    PRIMARY KEY (pbx, call_id, uniqueid),
    FOREIGN KEY (pbx, call_id) REFERENCES calls (pbx, call_id) ON DELETE CASCADE
) WITHOUT ROWID
"""

# No foreign key to calls: the timeline starts (CallStarted, CallRinging) long before the call
# ends and its record exists. The UNIQUE key is what makes replaying a stream harmless. It holds
# ``digest`` (64 bits of BLAKE2b over the detail text) rather than the detail itself: the detail
# is needed in the key (a ring group rings several phones in the same instant: same kind, same
# time, different extension) but copying it into the index would double the table's size.
_V1_EVENTS = """
CREATE TABLE call_events (
    id      INTEGER PRIMARY KEY,
    pbx     TEXT    NOT NULL,
    call_id TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    at      REAL    NOT NULL,
    digest  INTEGER NOT NULL,  -- signed 64-bit BLAKE2b of detail
    detail  TEXT    NOT NULL,  -- JSON object, keys sorted, so equal details are equal text
    UNIQUE (pbx, call_id, kind, at, digest)
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "calls, call_legs, call_events",
        (
            _V1_CALLS,
            # Call-log screens: newest first, optionally narrowed by one of these columns.
            "CREATE INDEX calls_started ON calls (started_at, pbx, call_id)",
            "CREATE INDEX calls_extension ON calls (extension, started_at)",
            "CREATE INDEX calls_caller ON calls (caller_number, started_at)",
            "CREATE INDEX calls_callee ON calls (callee_number, started_at)",
            "CREATE INDEX calls_status ON calls (status, started_at)",
            "CREATE INDEX calls_direction ON calls (direction, started_at)",
            _V1_LEGS,
            _V1_EVENTS,
        ),
    ),
)


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], stamps: bool) -> str:
    """INSERT ... ON CONFLICT DO UPDATE that only touches the row when a value differs.

    The ``WHERE ... IS NOT ...`` guard is what makes saving the same value twice a true no-op
    (``updated_at`` included), so replays and retries leave the table byte-for-byte unchanged.
    """
    names = columns + (("created_at", "updated_at") if stamps else ())
    values = ", ".join("?" for _ in names)
    changing = [c for c in columns if c not in key]
    sets = [f"{c} = excluded.{c}" for c in changing]
    if stamps:
        sets.append("updated_at = excluded.updated_at")
    guard = " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in changing)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)} WHERE {guard}"
    )


UPSERT_CALL = _upsert("calls", CALL_COLUMNS, ("pbx", "call_id"), stamps=True)
UPSERT_LEG = _upsert("call_legs", LEG_COLUMNS, ("pbx", "call_id", "uniqueid"), stamps=False)
INSERT_EVENT = (
    f"INSERT OR IGNORE INTO call_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)

# --------------------------------------------------------------------------- values -> rows
CallRow = tuple[Any, ...]
LegRow = tuple[Any, ...]
EventRow = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Rows:
    """What one submitted item writes: at most one call row, its legs, at most one event row."""

    call: CallRow | None
    legs: tuple[LegRow, ...]
    event: EventRow | None


def _dumps(value: Any) -> str:
    # sort_keys + fixed separators: equal values give equal text, which the UNIQUE constraint on
    # call_events and the change guard of the upserts rely on.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def call_row(record: CallRecord, now: float) -> CallRow:
    transfers = [
        {"kind": t.kind, "from": t.from_, "to": t.to, "at": t.at} for t in record.transfers
    ]
    return (
        record.pbx,
        record.call_id,
        record.direction,
        record.status,
        int(record.answered),
        record.caller.number,
        record.caller.name,
        record.callee.number,
        record.callee.name,
        record.extension,
        _dumps(list(record.extensions_rung)),
        record.queue,
        float(record.started_at),
        None if record.answered_at is None else float(record.answered_at),
        float(record.ended_at),
        record.ring_seconds,
        record.talk_seconds,
        record.duration_seconds,
        record.hangup_cause,
        _dumps(transfers),
        _dumps(list(record.recordings)),
        int(record.overlong),
        now,
        now,
    )


def leg_row(pbx: str, call_id: str, leg: Leg) -> LegRow:
    return (
        pbx,
        call_id,
        leg.uniqueid,
        leg.channel,
        leg.kind,
        leg.endpoint,
        float(leg.created_at),
        None if leg.answered_at is None else float(leg.answered_at),
        None if leg.ended_at is None else float(leg.ended_at),
        leg.hangup_cause,
    )


def detail_digest(detail: str) -> int:
    """64 bits of BLAKE2b as a signed integer (SQLite's INTEGER range) for the UNIQUE key."""
    return int.from_bytes(blake2b(detail.encode(), digest_size=8).digest(), "big", signed=True)


def event_row(event: DomainEvent) -> EventRow:
    detail = _dumps(event.detail())
    return (event.pbx, event.call_id, event.kind, float(event.at), detail_digest(detail), detail)


def rows_for(item: CallRecord | DomainEvent, now: float) -> Rows:
    """Rows one item writes. A ``CallEnded`` event also saves the record it carries, so a store
    subscribed to the bus gets the finished call without a second subscription."""
    if isinstance(item, CallRecord):
        record: CallRecord | None = item
        event = None
    else:
        record = item.record if isinstance(item, CallEnded) else None
        event = event_row(item)
    if record is None:
        return Rows(None, (), event)
    legs = tuple(leg_row(record.pbx, record.call_id, leg) for leg in record.legs)
    return Rows(call_row(record, now), legs, event)


# --------------------------------------------------------------------------- rows -> values
def call_json(row: sqlite3.Row) -> dict[str, Any]:
    """A ``calls`` row in the shape of :meth:`CallRecord.to_json`."""
    return {
        "pbx": row["pbx"],
        "call_id": row["call_id"],
        "direction": row["direction"],
        "status": row["status"],
        "answered": bool(row["answered"]),
        "caller": {"number": row["caller_number"], "name": row["caller_name"]},
        "callee": {"number": row["callee_number"]},
        "extension": row["extension"],
        "extensions_rung": json.loads(row["extensions_rung"]),
        "queue": row["queue"],
        "started_at": iso_utc(row["started_at"]),
        "answered_at": iso_utc(row["answered_at"]),
        "ended_at": iso_utc(row["ended_at"]),
        "ring_seconds": row["ring_seconds"],
        "talk_seconds": row["talk_seconds"],
        "duration_seconds": row["duration_seconds"],
        "hangup_cause": row["hangup_cause"],
        "transfers": [{**t, "at": iso_utc(t["at"])} for t in json.loads(row["transfers"])],
        "recordings": json.loads(row["recordings"]),
        "overlong": bool(row["overlong"]),
    }


def leg_from_row(row: sqlite3.Row) -> Leg:
    return Leg(
        channel=row["channel"],
        uniqueid=row["uniqueid"],
        kind=row["kind"],
        endpoint=row["endpoint"],
        created_at=row["created_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        hangup_cause=row["hangup_cause"],
    )


def leg_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "uniqueid": row["uniqueid"],
        "channel": row["channel"],
        "kind": row["kind"],
        "endpoint": row["endpoint"],
        "created_at": iso_utc(row["created_at"]),
        "answered_at": iso_utc(row["answered_at"]),
        "ended_at": iso_utc(row["ended_at"]),
        "hangup_cause": row["hangup_cause"],
    }


def event_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "pbx": row["pbx"],
        "call_id": row["call_id"],
        "kind": row["kind"],
        "at": iso_utc(row["at"]),
        "detail": json.loads(row["detail"]),
    }


def record_from_row(row: sqlite3.Row, legs: tuple[Leg, ...] = ()) -> CallRecord:
    """Rebuild the exact :class:`CallRecord` a ``calls`` row was saved from (legs come from
    ``call_legs``; pass them in to have them)."""
    return CallRecord(
        pbx=row["pbx"],
        call_id=row["call_id"],
        direction=row["direction"],
        status=row["status"],
        answered=bool(row["answered"]),
        caller=Party(row["caller_number"], row["caller_name"]),
        callee=Party(row["callee_number"], row["callee_name"]),
        extension=row["extension"],
        extensions_rung=tuple(json.loads(row["extensions_rung"])),
        queue=row["queue"],
        started_at=row["started_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        hangup_cause=row["hangup_cause"],
        transfers=tuple(
            Transfer(kind=t["kind"], from_=t["from"], to=t["to"], at=t["at"])
            for t in json.loads(row["transfers"])
        ),
        recordings=tuple(json.loads(row["recordings"])),
        overlong=bool(row["overlong"]),
        legs=legs,
    )


# --------------------------------------------------------------------------- call-log filters
_EQUAL_FILTERS = ("pbx", "extension", "caller_number", "callee_number", "queue")
_FLAG_FILTERS = ("answered", "overlong")


def build_where(filters: dict[str, object]) -> tuple[list[str], list[Any]]:
    """SQL conditions (ANDed) and parameters for call-log filters; None values are ignored.

    Unknown names and impossible values raise ``ValueError``: they are caller bugs, and silently
    returning an empty page would hide them."""
    where: list[str] = []
    params: list[Any] = []
    for name, value in filters.items():
        if value is None:
            continue
        if name in _EQUAL_FILTERS or name in ("direction", "status", "number"):
            if not isinstance(value, str):
                raise ValueError(f"filter {name} takes a string, not {value!r}")
            if name == "direction" and value not in DIRECTIONS:
                raise ValueError(f"direction must be one of {DIRECTIONS}, not {value!r}")
            if name == "status" and value not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}, not {value!r}")
            if name == "number":
                where.append("(caller_number = ? OR callee_number = ?)")
                params.extend((value, value))
            else:
                where.append(f"{name} = ?")
                params.append(value)
        elif name in _FLAG_FILTERS:
            if not isinstance(value, bool):
                raise ValueError(f"filter {name} takes True or False, not {value!r}")
            where.append(f"{name} = ?")
            params.append(int(value))
        elif name in ("since", "until"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"filter {name} takes epoch seconds, not {value!r}")
            where.append("started_at >= ?" if name == "since" else "started_at < ?")
            params.append(float(value))
        else:
            raise ValueError(f"unknown call filter {name!r}")
    return where, params
