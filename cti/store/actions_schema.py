"""Schema of the personal action center (migration 8): callbacks, follow-ups, personal notes,
handled missed calls, in-app notifications, and the outgoing mail queue.

Why these shapes:

* **Callbacks are rows with a due time, not timers.** The reminder scheduler reads the next
  pending ``callbacks`` row at start-up and after every change, so a restart loses nothing:
  a reminder whose time passed while the daemon was down fires at start (``reminded_at`` is
  still NULL). ``kind`` says who calls whom: ``to_call_back`` (we call the client) or
  ``will_call_back`` (the client said they would: a reminder to chase if they don't).
* **Handled missed calls are a set of keys.** "Missed calls not yet handled" is the call log's
  unanswered inbound calls minus ``missed_handled``; nothing is copied out of ``calls``.
* **Notifications are stored** so a person who was offline when a reminder fired still sees
  it (unread) at their next page; the websocket only makes them instant.
* **Mail is a queue** (``mail_outbox``): a notification is a row written in the same
  transaction as the change that caused it, and a sender drains the queue, retrying with
  backoff. A broken SMTP server delays mail, never blocks a ticket, and never loses one; the
  last error is kept for the admin to see.
"""

from __future__ import annotations

from cti.store.migration import Migration

_CALLBACKS = """
CREATE TABLE callbacks (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('to_call_back', 'will_call_back')),
    ticket_id    INTEGER REFERENCES tickets (id) ON DELETE CASCADE,
    client_id    INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    number       TEXT    NOT NULL DEFAULT '',  -- E.164 when known: what one click dials
    due_at       REAL    NOT NULL,
    assignee     TEXT,                          -- username
    group_id     INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    note         TEXT    NOT NULL DEFAULT '',
    email        INTEGER NOT NULL DEFAULT 0,    -- also remind by e-mail
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'done', 'cancelled')),
    reminded_at  REAL,                          -- when the reminder fired (NULL: not yet)
    attempts     INTEGER NOT NULL DEFAULT 0,    -- calls made for it
    result       TEXT    NOT NULL DEFAULT '',
    done_at      REAL,
    done_by      TEXT,
    created_by   TEXT    NOT NULL,
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL
)
"""

_FOLLOWUPS = """
CREATE TABLE followups (
    id          INTEGER PRIMARY KEY,
    owner       TEXT    NOT NULL,               -- username
    client_id   INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    ticket_id   INTEGER REFERENCES tickets (id) ON DELETE SET NULL,
    subject     TEXT    NOT NULL,
    due_at      REAL,
    status      TEXT    NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'won', 'lost', 'cancelled')),
    comment     TEXT    NOT NULL DEFAULT '',
    lost_reason TEXT    NOT NULL DEFAULT '',
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL
)
"""

_NOTES = """
CREATE TABLE personal_notes (
    id         INTEGER PRIMARY KEY,
    owner      TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    created_at REAL    NOT NULL,
    updated_at REAL    NOT NULL
)
"""

_HANDLED = """
CREATE TABLE missed_handled (
    pbx        TEXT NOT NULL,
    call_id    TEXT NOT NULL,
    handled_by TEXT NOT NULL,
    handled_at REAL NOT NULL,
    how        TEXT NOT NULL DEFAULT '',  -- called back, ticket T-…, nothing to do…
    PRIMARY KEY (pbx, call_id)
) WITHOUT ROWID
"""

_NOTIFICATIONS = """
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    username   TEXT    NOT NULL,
    kind       TEXT    NOT NULL,  -- callback_due, ticket_assigned, ticket_status...
    text       TEXT    NOT NULL,
    link       TEXT    NOT NULL DEFAULT '',
    data       TEXT    NOT NULL DEFAULT '{}',
    created_at REAL    NOT NULL,
    read_at    REAL
)
"""

_OUTBOX = """
CREATE TABLE mail_outbox (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,  -- ticket_assigned, ticket_status, client_created...
    ticket_id   INTEGER REFERENCES tickets (id) ON DELETE SET NULL,
    recipient   TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL    NOT NULL,
    last_error  TEXT    NOT NULL DEFAULT '',
    sent_at     REAL
)
"""

ACTION_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        8,
        "callbacks, follow-ups, personal notes, handled missed calls, notifications, mail",
        (
            _CALLBACKS,
            "CREATE INDEX callbacks_due ON callbacks (status, due_at)",
            "CREATE INDEX callbacks_assignee ON callbacks (assignee, status, due_at)",
            "CREATE INDEX callbacks_ticket ON callbacks (ticket_id)",
            _FOLLOWUPS,
            "CREATE INDEX followups_owner ON followups (owner, status, due_at)",
            _NOTES,
            "CREATE INDEX personal_notes_owner ON personal_notes (owner, updated_at)",
            _HANDLED,
            _NOTIFICATIONS,
            "CREATE INDEX notifications_user ON notifications (username, read_at, created_at)",
            _OUTBOX,
            "CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_try_at)",
        ),
    ),
)
