"""Schema of post-call satisfaction surveys (migration 13): one survey per call, one row per
question asked.

Why these shapes:

* **One survey per call** (``UNIQUE (pbx, call_id)``, the call's Linkedid): a caller who
  reaches the survey twice on one call (a transfer that ends in the survey context again) is
  asked once; the second StasisStart is hung up.
* **No foreign key to ``calls``**: the survey runs while the call is still in progress — the
  caller's channel is the call — so the call's row is written only after the survey ends.
  ``agent``, ``queue`` and ``did`` are copied from the live call when the survey starts, and
  filled in from the call's record when it ends if they were unknown then (cti restarted
  mid-call); the pages join on ``(pbx, call_id)``.
* **Answers are written as they come** (``survey_answers``), not at the end: a caller who hangs
  up after the first question leaves that answer, and a crash loses at most the question in
  progress. ``status`` is ``running`` until the survey ends; a ``running`` row found at
  start-up belongs to a survey whose process died and is closed as ``abandoned``.
* **Per question**: the score (1–5, NULL when none was given), how many times it was asked
  (``attempts``) and why it ended (``answered``, ``invalid``: the last try was a wrong key,
  ``no_answer``: silence). Unasked questions (the caller hung up before) have no row.
"""

from __future__ import annotations

from cti.store.migration import Migration

SURVEY_STATUSES: tuple[str, ...] = ("running", "completed", "partial", "no_answer", "abandoned")
ANSWER_RESULTS: tuple[str, ...] = ("answered", "invalid", "no_answer")

_SURVEYS = """
CREATE TABLE surveys (
    id         INTEGER PRIMARY KEY,
    pbx        TEXT    NOT NULL,
    call_id    TEXT    NOT NULL,               -- the call's Linkedid
    channel    TEXT    NOT NULL DEFAULT '',    -- the caller's channel (ARI id = Uniqueid)
    agent      TEXT,                           -- extension the caller last talked to
    queue      TEXT,
    did        TEXT,                           -- the number the caller dialled
    language   TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'running'
               CHECK (status IN ('running', 'completed', 'partial', 'no_answer', 'abandoned')),
    started_at REAL    NOT NULL,
    ended_at   REAL,
    UNIQUE (pbx, call_id)
)
"""

_ANSWERS = """
CREATE TABLE survey_answers (
    survey_id   INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,              -- 1, 2, 3: order asked
    question    TEXT    NOT NULL,              -- the question's id (survey.questions)
    score       INTEGER CHECK (score BETWEEN 1 AND 5),
    attempts    INTEGER NOT NULL DEFAULT 0,
    result      TEXT    NOT NULL CHECK (result IN ('answered', 'invalid', 'no_answer')),
    answered_at REAL,
    PRIMARY KEY (survey_id, position)
) WITHOUT ROWID
"""

SURVEY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        13,
        "post-call satisfaction surveys and their answers",
        (
            _SURVEYS,
            "CREATE INDEX surveys_agent ON surveys (agent, started_at)",
            "CREATE INDEX surveys_started ON surveys (started_at)",
            _ANSWERS,
        ),
    ),
)
