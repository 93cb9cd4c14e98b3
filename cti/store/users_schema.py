"""Schema of the people who log in: users, their extensions and their server-side sessions.

Why these shapes:

* ``users.username`` is unique without regard to case (``COLLATE NOCASE``): "Alice" and "alice"
  logging in as two people would be a support nightmare and a spoofing vector.
* ``user_extensions`` is its own table, not a JSON list, because the screen pop asks the reverse
  question on every ring ("who sits at 1001?") and that wants an index on ``extension``. An
  extension may belong to several users (a shared desk phone).
* ``sessions.id`` is the SHA-256 of the cookie's random token, never the token itself: someone
  who reads a backup of the database cannot replay a live session from it. The CSRF token is
  per session and only useful together with the cookie, so it is stored as is.
* Rate limiting of logins lives in memory (see :mod:`cti.webapp.ratelimit`): it only has to
  hold for minutes, and a restart clearing it is harmless.
"""

from __future__ import annotations

from cti.store.migration import Migration

_USERS = """
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash TEXT    NOT NULL,           -- scrypt$n$r$p$salt$hash (base64)
    language      TEXT    CHECK (language IN ('fr', 'en')),  -- NULL: browser, then config
    timezone      TEXT,                       -- IANA name; NULL: browser, then config
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL
)
"""

_USER_EXTENSIONS = """
CREATE TABLE user_extensions (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    extension TEXT    NOT NULL,
    PRIMARY KEY (user_id, extension)
) WITHOUT ROWID
"""

_SESSIONS = """
CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,         -- sha256 hex of the cookie token
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   REAL    NOT NULL,
    last_seen_at REAL    NOT NULL,
    expires_at   REAL    NOT NULL,
    ip           TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
) WITHOUT ROWID
"""

USER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        3,
        "users, sessions",
        (
            _USERS,
            _USER_EXTENSIONS,
            "CREATE INDEX user_extensions_extension ON user_extensions (extension)",
            _SESSIONS,
            "CREATE INDEX sessions_user ON sessions (user_id)",
            "CREATE INDEX sessions_expires ON sessions (expires_at)",
        ),
    ),
)
