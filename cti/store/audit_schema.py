"""Schema of the audit log (migration 5): who asked the PBX to do what, when, and how it went.

Why a table of its own rather than log lines: "who dialled this premium number from the
office last Tuesday?" must be answerable months later, by a supervisor, from the UI, without
access to the server's logs (which rotate). Every attempt is written, refused ones included
(a wrong number, a blocked prefix, a rate limit): the refusals are what an audit is for.

* ``action`` names the command (``dial`` today; ``hangup``, ``transfer`` later), ``target`` is
  what it was aimed at (the dialled number as typed, after removing spaces), ``result`` is the
  answer the person got (``queued``, ``invalid``, ``blocked``, ``rate_limited``,
  ``no_extension``, ``pbx_unavailable``, ``pbx_error``…), ``outcome`` what the PBX reported
  later (``answered``, ``no_answer``, ``busy``…; NULL until it does).
* ``username`` is copied, not only ``user_id``: the row must still say who it was after the
  account is deleted (hence no foreign key).
* ``request_id`` is the id the API returned (``GET /api/dial/{id}``), unique when set.
"""

from __future__ import annotations

from cti.store.migration import Migration

_AUDIT_LOG = """
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         REAL    NOT NULL,           -- epoch seconds, UTC
    user_id    INTEGER,                    -- no foreign key: the row outlives the account
    username   TEXT    NOT NULL,
    action     TEXT    NOT NULL,           -- dial, …
    target     TEXT    NOT NULL,           -- the number (as typed, separators removed)
    extension  TEXT,                       -- the agent's phone used
    pbx        TEXT,
    result     TEXT    NOT NULL,           -- what the person was answered
    outcome    TEXT,                       -- what the PBX reported later
    request_id TEXT    UNIQUE,
    ip         TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '{}'  -- JSON object
)
"""

AUDIT_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        5,
        "audit_log",
        (
            _AUDIT_LOG,
            "CREATE INDEX audit_log_at ON audit_log (at)",
            "CREATE INDEX audit_log_user ON audit_log (username, at)",
        ),
    ),
)
