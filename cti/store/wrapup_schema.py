"""Schema of call wrap-ups (migration 4): what an agent writes about a call once it is over.

Why it is shaped this way:

* **One per call and person** (unique ``(pbx, call_id, username)``): a transferred call had two
  agents, each with their own part of the conversation to report; saving again replaces one's
  own wrap-up (the form is edited, not appended to).
* **No foreign key to ``calls``**: the form is offered while the call's row may not be written
  yet (the store writes finished calls in batches), and a note can be saved during the call.
  The call log joins on ``(pbx, call_id)``.
* ``username`` is kept beside ``user_id`` so a wrap-up still says who wrote it after the account
  is deleted (``user_id`` then becomes NULL).
"""

from __future__ import annotations

from cti.store.migration import Migration

_WRAPUPS = """
CREATE TABLE call_wrapups (
    pbx        TEXT    NOT NULL,
    call_id    TEXT    NOT NULL,
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    username   TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    response   TEXT    NOT NULL DEFAULT '',
    result     TEXT    NOT NULL DEFAULT '',
    note       TEXT    NOT NULL DEFAULT '',
    created_at REAL    NOT NULL,
    updated_at REAL    NOT NULL
)
"""

WRAPUP_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        4,
        "call_wrapups",
        (
            _WRAPUPS,
            # One wrap-up per person and call; (pbx, call_id) first: the call page lists them.
            "CREATE UNIQUE INDEX call_wrapups_key ON call_wrapups (pbx, call_id, username)",
            "CREATE INDEX call_wrapups_user ON call_wrapups (user_id, updated_at)",
        ),
    ),
)
