"""Value <-> row mapping of the call store: what a submitted item writes, and how a row reads back.

Like :mod:`cti.store.schema`, this module holds no connection and imports no database driver, so
the mapping can be read (and tested) on its own. The tuples follow the column order of
``CALL_COLUMNS`` (then ``created_at``, ``updated_at``), ``LEG_COLUMNS`` and ``EVENT_COLUMNS``.

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
    CallEnded,
    CallRecord,
    DomainEvent,
    Leg,
    Party,
    Transfer,
    iso_utc,
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
