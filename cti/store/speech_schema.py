"""Schema of speech analytics (migration 11): the transcription job queue, transcripts with
full-text search, and each call's quality result.

Why these shapes:

* **The queue is a table** (``speech_jobs``), one row per recording: transcription takes
  seconds to minutes of CPU per call, so it must survive a restart and be visible (status,
  attempts, last error, progress) instead of living in memory. ``UNIQUE (recording_id)``:
  a recording is queued once; re-running it resets its row.
* **One transcript per recording** (``transcripts``): with per-party files (``rx``/``tx`` legs)
  each file is one speaker's words; a mixed file is one ``mixed`` track. Words are JSON
  (``text``, ``start``, ``end``, ``conf``) because they are only ever read whole, by the player.
* **Search** (``transcripts_fts``): an FTS5 index over the transcripts' text, kept in step by
  triggers (``content=`` table: the text is stored once), so "calls where someone said
  *refund*" is an index lookup from the call log.
* **Scorecards edited by admins** (``scorecards``, migration 12) are kept as versions: the
  newest is in force, the older ones say what a past score was measured against.
* **Quality per call** (``call_quality``): the scorecard's score, each rule's result with its
  evidence, the alerts and the metrics, as JSON, with the scorecard's name and version so a
  changed scorecard can be re-run and compared.
"""

from __future__ import annotations

from cti.store.migration import Migration

JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed")

_JOBS = """
CREATE TABLE speech_jobs (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL UNIQUE REFERENCES recordings (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'failed')),
    engine       TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    progress     REAL    NOT NULL DEFAULT 0,   -- 0..1
    error        TEXT    NOT NULL DEFAULT '',
    next_try_at  REAL    NOT NULL,
    created_at   REAL    NOT NULL,
    started_at   REAL,
    finished_at  REAL
)
"""

_TRANSCRIPTS = """
CREATE TABLE transcripts (
    recording_id INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
    pbx          TEXT    NOT NULL,
    call_id      TEXT,
    speaker      TEXT    NOT NULL DEFAULT 'mixed',  -- agent, caller, mixed
    engine       TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    duration     REAL    NOT NULL DEFAULT 0,
    words        TEXT    NOT NULL DEFAULT '[]',     -- JSON [{text, start, end, conf}]
    text         TEXT    NOT NULL DEFAULT '',
    created_at   REAL    NOT NULL
)
"""

_FTS = ("CREATE VIRTUAL TABLE transcripts_fts USING fts5(text, content = 'transcripts', "
        "content_rowid = 'recording_id')")

_FTS_TRIGGERS = (
    "CREATE TRIGGER transcripts_ai AFTER INSERT ON transcripts BEGIN "
    "INSERT INTO transcripts_fts (rowid, text) VALUES (new.recording_id, new.text); END",
    "CREATE TRIGGER transcripts_ad AFTER DELETE ON transcripts BEGIN "
    "INSERT INTO transcripts_fts (transcripts_fts, rowid, text) "
    "VALUES ('delete', old.recording_id, old.text); END",
    "CREATE TRIGGER transcripts_au AFTER UPDATE OF text ON transcripts BEGIN "
    "INSERT INTO transcripts_fts (transcripts_fts, rowid, text) "
    "VALUES ('delete', old.recording_id, old.text); "
    "INSERT INTO transcripts_fts (rowid, text) VALUES (new.recording_id, new.text); END",
)

_QUALITY = """
CREATE TABLE call_quality (
    pbx        TEXT    NOT NULL,
    call_id    TEXT    NOT NULL,
    scorecard  TEXT    NOT NULL,                -- name@version of the rules applied
    score      REAL    NOT NULL,                -- 0..100
    result     TEXT    NOT NULL DEFAULT '{}',   -- JSON: rules with evidence, alerts
    metrics    TEXT    NOT NULL DEFAULT '{}',   -- JSON: talk times, silences, overtalk…
    agent      TEXT,                            -- extension scored (per-agent averages)
    created_at REAL    NOT NULL,
    updated_at REAL    NOT NULL,
    PRIMARY KEY (pbx, call_id)
) WITHOUT ROWID
"""

SPEECH_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        11,
        "speech: job queue, transcripts (+ FTS5), call quality",
        (
            _JOBS,
            "CREATE INDEX speech_jobs_due ON speech_jobs (status, next_try_at)",
            _TRANSCRIPTS,
            "CREATE INDEX transcripts_call ON transcripts (pbx, call_id)",
            _FTS,
            *_FTS_TRIGGERS,
            _QUALITY,
            "CREATE INDEX call_quality_agent ON call_quality (agent, created_at)",
        ),
    ),
    Migration(
        12,
        "scorecards edited in the UI (every version kept)",
        (
            """
CREATE TABLE scorecards (
    id         INTEGER PRIMARY KEY,  -- the version: the newest row is the one in force
    text       TEXT    NOT NULL,     -- the TOML, as the admin saved it (validated first)
    saved_by   TEXT    NOT NULL,
    saved_at   REAL    NOT NULL,
    note       TEXT    NOT NULL DEFAULT ''
)
""",
        ),
    ),
)
