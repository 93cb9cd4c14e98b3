"""Schema step for e-mail notifications (migration 9): people get an address.

Why this shape: one address per user, on the user row, empty when unknown (``NOT NULL DEFAULT
''`` rather than NULL, so "no address" has one spelling and existing rows need no rewrite). A
notification for someone without an address is simply not queued (the notifier counts and logs
it); the queue itself is ``mail_outbox`` (migration 8).
"""

from __future__ import annotations

from cti.store.migration import Migration

MAIL_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        9,
        "users.email",
        ("ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT ''",),
    ),
)
