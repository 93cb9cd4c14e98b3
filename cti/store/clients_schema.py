"""Schema of the client directory (migration 2): clients, their phones and tags, and the link
between calls and clients. The SQL that reads and writes these tables lives with the service,
in :mod:`cti.clients.queries`.

Why it is shaped this way:

* **Phones in their own table**, one row per number, indexed on ``e164``: the lookup on every
  ringing call is one index probe, whatever the size of the directory.
* **``digits_rev``** holds the number's digits reversed (``+33612345678`` → ``87654321633``). The
  last-N-digits fallback then becomes a *prefix* range on an index
  (``digits_rev >= '876543216' AND digits_rev < '876543216:'``), for any N chosen in the settings,
  without a column per N nor a table scan. It is NULL for extensions and withheld numbers, which
  must never match.
* **Tags in a table** (case-insensitive), so filtering a million clients by tag is indexed;
  e-mails are a JSON array on the client row, as nothing looks clients up by e-mail at call time.
* **``call_clients``** links a call ``(pbx, call_id)`` to one or more clients (two clients may
  share a switchboard number). It has no foreign key to ``calls``: the link is made while the
  phone rings, long before the call ends and its row is written. Merging clients moves these
  rows, which is how the call history follows the surviving card.
* ``clients.last_contact_at`` is kept up to date by the linker so that candidates sharing a
  number are ranked "most recently contacted first" without aggregating the call log.
"""

from __future__ import annotations

from cti.store.migration import Migration

_CLIENTS = """
CREATE TABLE clients (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('person', 'company')),
    name            TEXT    NOT NULL COLLATE NOCASE,
    company_id      INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    type            TEXT    NOT NULL,
    emails          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of strings
    address         TEXT    NOT NULL DEFAULT '',
    notes           TEXT    NOT NULL DEFAULT '',
    owner           TEXT,                           -- username, or NULL
    visibility      TEXT    NOT NULL CHECK (visibility IN ('public', 'private')),
    auto_created    INTEGER NOT NULL DEFAULT 0,
    last_contact_at REAL,                           -- epoch seconds of the latest linked call
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL
)
"""

_PHONES = """
CREATE TABLE client_phones (
    client_id  INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,  -- order on the card, from 0
    label      TEXT    NOT NULL,  -- mobile, work, home, fax, other
    raw        TEXT    NOT NULL,  -- as typed or as the PBX gave it
    e164       TEXT,              -- valid and unverified numbers only
    status     TEXT    NOT NULL,  -- valid, unverified, invalid, extension
    digits_rev TEXT,              -- digits reversed: the last-digits key (NULL: never matched)
    PRIMARY KEY (client_id, position)
) WITHOUT ROWID
"""

_TAGS = """
CREATE TABLE client_tags (
    client_id INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    tag       TEXT    NOT NULL COLLATE NOCASE,  -- unique per client (checked on input)
    PRIMARY KEY (client_id, position)
) WITHOUT ROWID
"""

_CALL_CLIENTS = """
CREATE TABLE call_clients (
    pbx       TEXT    NOT NULL,
    call_id   TEXT    NOT NULL,
    client_id INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    how       TEXT    NOT NULL,  -- e164, variant, raw, last_digits, auto_created, manual
    number    TEXT    NOT NULL,  -- the number as the PBX gave it
    at        REAL    NOT NULL,  -- when the link was made (PBX time of the triggering event)
    PRIMARY KEY (pbx, call_id, client_id)
) WITHOUT ROWID
"""

CLIENT_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "clients",
        (
            _CLIENTS,
            "CREATE INDEX clients_name ON clients (name)",
            "CREATE INDEX clients_company ON clients (company_id)",
            "CREATE INDEX clients_type ON clients (type, name)",
            _PHONES,
            # WITHOUT ROWID: these indexes carry (client_id, position), so a lookup needs no
            # second probe into the table.
            "CREATE INDEX client_phones_e164 ON client_phones (e164)",
            "CREATE INDEX client_phones_digits_rev ON client_phones (digits_rev)",
            _TAGS,
            "CREATE INDEX client_tags_tag ON client_tags (tag)",
            _CALL_CLIENTS,
            "CREATE INDEX call_clients_client ON call_clients (client_id, at)",
        ),
    ),
)
