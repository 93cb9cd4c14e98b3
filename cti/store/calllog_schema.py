"""Search aids of the call log (migration 6): who was on a call, and numbers by fragment.

The ``calls`` row keeps the extensions that rang as a JSON array, fine for showing a call but
not for the two questions the call-log screen asks on every page:

* **"My calls"** (an agent sees the calls where one of their extensions rang, answered or
  dialled). ``call_extensions`` has one row per (call, extension), indexed on
  ``(extension, started_at)``, so the page is an index range whatever the size of the log.
* **"Calls with …5678"** (a number fragment). A ``LIKE '%5678%'`` reads every row. An FTS5
  table with the ``trigram`` tokenizer (SQLite ≥ 3.34) indexes every 3-character piece of the
  caller and callee numbers, so a fragment of 3 or more characters is an index lookup. Its rowid
  is the ``calls`` rowid (an upsert keeps a row's rowid).

Both are kept by triggers on ``calls``, not by the store's writer: the writer stays unaware of
them, every path that writes ``calls`` (live daemon, replay, imports) keeps them right, and the
upsert's "only when a value differs" guard means an unchanged re-save fires nothing. The
migration fills them for calls already stored.

Two plain indexes serve the remaining filters and sorts: ``queue`` and the longest-first sort.
"""

from __future__ import annotations

from cti.store.migration import Migration

_CALL_EXTENSIONS = """
CREATE TABLE call_extensions (
    pbx        TEXT NOT NULL,
    call_id    TEXT NOT NULL,
    extension  TEXT NOT NULL,
    started_at REAL NOT NULL,  -- copied from calls: the index serves "mine, newest first"
    PRIMARY KEY (pbx, call_id, extension)
) WITHOUT ROWID
"""

# The extension that answered/dialled plus every extension that rang, once each.
_FILL_EXTENSIONS = """
INSERT OR IGNORE INTO call_extensions (pbx, call_id, extension, started_at)
SELECT {row}.pbx, {row}.call_id, value, {row}.started_at FROM json_each({row}.extensions_rung)
 WHERE value IS NOT NULL AND value != ''
UNION
SELECT {row}.pbx, {row}.call_id, {row}.extension, {row}.started_at
 WHERE {row}.extension IS NOT NULL AND {row}.extension != ''
"""

_BACKFILL_EXTENSIONS = """
INSERT OR IGNORE INTO call_extensions (pbx, call_id, extension, started_at)
SELECT c.pbx, c.call_id, j.value, c.started_at FROM calls c, json_each(c.extensions_rung) j
 WHERE j.value IS NOT NULL AND j.value != ''
UNION
SELECT c.pbx, c.call_id, c.extension, c.started_at FROM calls c
 WHERE c.extension IS NOT NULL AND c.extension != ''
"""

_NUMBERS_TEXT = "{row}.caller_number || ' ' || {row}.callee_number"

_TRIGGER_INSERT = f"""
CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
    {_FILL_EXTENSIONS.format(row="NEW")};
    INSERT INTO call_numbers (rowid, numbers) VALUES (NEW.rowid, {_NUMBERS_TEXT.format(row="NEW")});
END
"""

_TRIGGER_UPDATE = f"""
CREATE TRIGGER calls_search_update
AFTER UPDATE OF extension, extensions_rung, started_at, caller_number, callee_number ON calls
BEGIN
    DELETE FROM call_extensions WHERE pbx = OLD.pbx AND call_id = OLD.call_id;
    {_FILL_EXTENSIONS.format(row="NEW")};
    DELETE FROM call_numbers WHERE rowid = OLD.rowid;
    INSERT INTO call_numbers (rowid, numbers) VALUES (NEW.rowid, {_NUMBERS_TEXT.format(row="NEW")});
END
"""

_TRIGGER_DELETE = """
CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
    DELETE FROM call_extensions WHERE pbx = OLD.pbx AND call_id = OLD.call_id;
    DELETE FROM call_numbers WHERE rowid = OLD.rowid;
END
"""

CALLLOG_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        6,
        "call log search: call_extensions, call_numbers (FTS5 trigram)",
        (
            _CALL_EXTENSIONS,
            "CREATE INDEX call_extensions_extension ON call_extensions (extension, started_at)",
            "CREATE VIRTUAL TABLE call_numbers USING fts5(numbers, tokenize = 'trigram')",
            _BACKFILL_EXTENSIONS,
            "INSERT INTO call_numbers (rowid, numbers) SELECT rowid, "
            + _NUMBERS_TEXT.format(row="calls") + " FROM calls",
            _TRIGGER_INSERT,
            _TRIGGER_UPDATE,
            _TRIGGER_DELETE,
            "CREATE INDEX calls_queue ON calls (queue, started_at)",
            "CREATE INDEX calls_duration ON calls (duration_seconds, started_at, pbx, call_id)",
        ),
    ),
)
