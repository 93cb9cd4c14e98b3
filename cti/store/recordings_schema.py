"""Schema of recordings (migration 10): one row per audio file of a call.

Why these shapes:

* **The PBX's path and ours are both kept.** Asterisk reports where *it* wrote the file
  (``/var/spool/asterisk/monitor/…``); cti reads it through a mount or a copy
  (``recordings.dir``). ``pbx_path`` is the link's key (the same file reported twice — by the
  ``MIXMONITOR_FILENAME`` variable and ``MixMonitorStart`` — is one row); ``file`` is where cti
  opens it, relative to ``recordings.dir``, so moving the folder is one setting, not a data
  migration.
* **A row exists before its file is complete.** The link is made when recording *starts*; the
  probe (format, channels, duration, size, SHA-256) runs once the call has ended, and again on
  the periodic scan. ``status``: ``pending`` (call running), ``ok``, ``missing`` (no file),
  ``corrupt`` (unreadable or truncated), ``deleted`` (retention), ``dropped`` (a partial
  recording of an unanswered call, per config). The UI shows each status; nothing crashes on a
  bad file.
* **Legs**: ``mixed`` for the usual MixMonitor file, ``rx``/``tx`` for per-party files
  (``r()``/``t()`` options) that speech analytics prefers.
* **Peaks are cached** (JSON) so a waveform is computed once per file, not per view.
* ``listened_at``/``listened_by``: the "recording listened" flag supervisors expect on a call;
  every play and download also goes to the audit log.
"""

from __future__ import annotations

from cti.store.migration import Migration

RECORDING_STATUSES: tuple[str, ...] = ("pending", "ok", "missing", "corrupt", "deleted",
                                       "dropped")

_RECORDINGS = """
CREATE TABLE recordings (
    id           INTEGER PRIMARY KEY,
    pbx          TEXT    NOT NULL,
    call_id      TEXT,                         -- NULL: found by the scan, call not known yet
    pbx_path     TEXT    NOT NULL,             -- as Asterisk reported it
    file         TEXT    NOT NULL,             -- where cti reads it
    leg          TEXT    NOT NULL DEFAULT 'mixed',  -- mixed, rx, tx
    source       TEXT    NOT NULL,             -- variable, event, scan
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'ok', 'missing', 'corrupt', 'deleted', 'dropped')),
    format       TEXT    NOT NULL DEFAULT '',  -- wav, gsm, mp3, opus…
    channels     INTEGER,
    sample_rate  INTEGER,
    duration     REAL,                         -- seconds
    size         INTEGER,                      -- bytes
    sha256       TEXT    NOT NULL DEFAULT '',
    peaks        TEXT,                         -- JSON list of 0..1 floats, computed once
    started_at   REAL,                         -- PBX time recording began
    checked_at   REAL,                         -- last probe
    transcoded_from TEXT,                      -- the original's name after a transcode
    listened_at  REAL,
    listened_by  TEXT,
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL,
    UNIQUE (pbx, pbx_path)
)
"""

RECORDING_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        10,
        "recordings",
        (
            _RECORDINGS,
            "CREATE INDEX recordings_call ON recordings (pbx, call_id)",
            "CREATE INDEX recordings_status ON recordings (status, created_at)",
            # The folder scan matches a file named after a channel's ${UNIQUEID} to its call.
            "CREATE INDEX call_legs_uniqueid ON call_legs (uniqueid)",
        ),
    ),
)
