"""Shape of the call store: numbered migrations, the write statements and the call-log filters.

This module holds no connection and imports no database driver, so the schema can be read (and
tested) on its own; :mod:`cti.store.sqlite` is the one place that talks to SQLite. How values map
to rows (and back) is in :mod:`cti.store.rows`.
"""

from __future__ import annotations

from typing import Any

from cti.calls.model import DIRECTIONS, STATUSES
from cti.store.actions_schema import ACTION_MIGRATIONS
from cti.store.audit_schema import AUDIT_MIGRATIONS
from cti.store.calllog_schema import CALLLOG_MIGRATIONS
from cti.store.clients_schema import CLIENT_MIGRATIONS
from cti.store.mail_schema import MAIL_MIGRATIONS
from cti.store.migration import Migration as Migration
from cti.store.recordings_schema import RECORDING_MIGRATIONS
from cti.store.speech_schema import SPEECH_MIGRATIONS  # re-exported: older imports
from cti.store.survey_schema import SURVEY_MIGRATIONS
from cti.store.tickets_schema import TICKET_MIGRATIONS
from cti.store.users_schema import USER_MIGRATIONS
from cti.store.wrapup_schema import WRAPUP_MIGRATIONS

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

CALL_MIGRATIONS: tuple[Migration, ...] = (
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

#: Every step of the schema, in order. Services own their tables' steps in their own modules
#: (versions are global: clients take 2, users/sessions 3, and so on).
MIGRATIONS: tuple[Migration, ...] = (CALL_MIGRATIONS + CLIENT_MIGRATIONS + USER_MIGRATIONS
                                     + WRAPUP_MIGRATIONS + AUDIT_MIGRATIONS + CALLLOG_MIGRATIONS
                                     + TICKET_MIGRATIONS + ACTION_MIGRATIONS
                                     + MAIL_MIGRATIONS + RECORDING_MIGRATIONS
                                     + SPEECH_MIGRATIONS + SURVEY_MIGRATIONS)


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
