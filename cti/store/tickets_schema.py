"""Schema of tickets (migration 7): groups, tickets, their timeline, linked calls, attachments,
and canned phrases.

Why these shapes:

* **People are kept by username, not by foreign key.** ``tickets.assignee``,
  ``ticket_events.actor`` and the like are the username as text: a deleted or renamed account
  must leave its tickets readable ("who did what" is history, not a live relation). The web
  layer resolves display names when it can.
* **Numbers are allocated, not computed.** ``ticket_counters`` holds the last sequence number
  per year; the number (``T-2026-000123``, prefix configurable) is written once, in the same
  transaction as the ticket, and never changes, so it can be printed, mailed and searched.
* **The timeline is append-only.** Every change is a ``ticket_events`` row (``kind`` + JSON
  ``data``); the ticket row holds only the current values. ``internal`` marks what the client
  must never see (internal notes) versus comments that may be mailed to them.
* **Calls are linked by key, without a foreign key** (as wrap-ups): a ticket is often opened
  from the pop while the call's row is not written yet.
* **Attachments live on disk** under a random name; the row keeps the original name, type,
  size and SHA-256 (what a download needs, and proof the file is the one uploaded).
"""

from __future__ import annotations

from cti.store.migration import Migration

#: The status workflow (allowed moves are enforced by :mod:`cti.tickets.workflow`).
TICKET_STATUSES: tuple[str, ...] = ("new", "assigned", "in_progress", "waiting", "resolved",
                                    "closed", "cancelled")
TICKET_KINDS: tuple[str, ...] = ("commercial", "technical", "hotline", "internal")
TICKET_PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_GROUPS = """
CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email      TEXT    NOT NULL DEFAULT '',  -- a shared mailbox, if any
    created_at REAL    NOT NULL
)
"""

_GROUP_MEMBERS = """
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    username TEXT    NOT NULL COLLATE NOCASE,
    PRIMARY KEY (group_id, username)
) WITHOUT ROWID
"""

_COUNTERS = """
CREATE TABLE ticket_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
)
"""

_TICKETS = f"""
CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY,
    number         TEXT    NOT NULL UNIQUE,
    client_id      INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    contact        TEXT    NOT NULL DEFAULT '',  -- the person at the client
    contact_email  TEXT    NOT NULL DEFAULT '',
    kind           TEXT    NOT NULL CHECK (kind IN {_in(TICKET_KINDS)}),
    subject        TEXT    NOT NULL,
    reason         TEXT    NOT NULL DEFAULT '',
    response       TEXT    NOT NULL DEFAULT '',
    result         TEXT    NOT NULL DEFAULT '',
    priority       TEXT    NOT NULL DEFAULT 'normal' CHECK (priority IN {_in(TICKET_PRIORITIES)}),
    status         TEXT    NOT NULL DEFAULT 'new' CHECK (status IN {_in(TICKET_STATUSES)}),
    assignee       TEXT,                          -- username
    group_id       INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    due_at         REAL,
    equipment      TEXT    NOT NULL DEFAULT '',   -- equipment / serial number
    contract       TEXT    NOT NULL DEFAULT '',   -- contract reference
    public         INTEGER NOT NULL DEFAULT 1,    -- 0: only its people and supervisors see it
    notify_client  INTEGER NOT NULL DEFAULT 0,    -- mail the client on creation and resolution
    created_by     TEXT    NOT NULL,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    closed_at      REAL
)
"""

_EVENTS = """
CREATE TABLE ticket_events (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at        REAL    NOT NULL,
    actor     TEXT    NOT NULL,  -- username, or 'system' for rules
    kind      TEXT    NOT NULL,  -- created, status, assigned, field, comment, call, email, ...
    internal  INTEGER NOT NULL DEFAULT 1,
    data      TEXT    NOT NULL DEFAULT '{}'  -- JSON
)
"""

_TICKET_CALLS = """
CREATE TABLE ticket_calls (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    pbx       TEXT    NOT NULL,
    call_id   TEXT    NOT NULL,
    linked_by TEXT    NOT NULL,
    linked_at REAL    NOT NULL,
    PRIMARY KEY (ticket_id, pbx, call_id)
) WITHOUT ROWID
"""

_ATTACHMENTS = """
CREATE TABLE ticket_attachments (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,  -- as uploaded (shown, never used as a path)
    stored       TEXT    NOT NULL UNIQUE,  -- random file name under the attachments folder
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    uploaded_at  REAL    NOT NULL
)
"""

_PHRASES = """
CREATE TABLE canned_phrases (
    id         INTEGER PRIMARY KEY,
    field      TEXT    NOT NULL,  -- which ticket field it fills: reason, response, result...
    text       TEXT    NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,  -- most used first in the suggestions
    created_by TEXT    NOT NULL,
    created_at REAL    NOT NULL,
    UNIQUE (field, text)
)
"""

TICKET_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        7,
        "groups, tickets, timeline, linked calls, attachments, canned phrases",
        (
            _GROUPS,
            _GROUP_MEMBERS,
            "CREATE INDEX group_members_user ON group_members (username)",
            _COUNTERS,
            _TICKETS,
            "CREATE INDEX tickets_status ON tickets (status, updated_at)",
            "CREATE INDEX tickets_assignee ON tickets (assignee, status)",
            "CREATE INDEX tickets_group ON tickets (group_id, status)",
            "CREATE INDEX tickets_client ON tickets (client_id, status)",
            _EVENTS,
            "CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at)",
            _TICKET_CALLS,
            "CREATE INDEX ticket_calls_call ON ticket_calls (pbx, call_id)",
            _ATTACHMENTS,
            "CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id)",
            _PHRASES,
        ),
    ),
)
