"""SQL of the client directory and the mapping between its rows and :class:`Client` values.

One ``SELECT`` reads a whole client card — its phones and tags folded in as JSON arrays by
correlated subqueries — so a lookup while the phone rings is a single round trip to the
database thread, not one per table. The tables are described in
:mod:`cti.store.clients_schema`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from cti.clients.model import Client, ClientKind, ClientPhone, PhoneLabel, Visibility
from cti.phone import PhoneStatus, digits

#: Everything of a client card; ``FROM clients c`` follows.
CLIENT_SELECT = """
SELECT c.id, c.kind, c.name, c.company_id, c.type, c.emails, c.address, c.notes, c.owner,
       c.visibility, c.auto_created, c.last_contact_at, c.created_at, c.updated_at,
       (SELECT json_group_array(json_array(label, raw, e164, status))
          FROM (SELECT label, raw, e164, status FROM client_phones p
                 WHERE p.client_id = c.id ORDER BY position)) AS phones_json,
       (SELECT json_group_array(tag)
          FROM (SELECT tag FROM client_tags t WHERE t.client_id = c.id ORDER BY position))
         AS tags_json
"""

#: Candidates first by most recent contact, then most recently edited.
RECENT_FIRST = "c.last_contact_at IS NULL, c.last_contact_at DESC, c.updated_at DESC, c.id"

GET = CLIENT_SELECT + " FROM clients c WHERE c.id = ?"

INSERT_CLIENT = """
INSERT INTO clients (kind, name, company_id, type, emails, address, notes, owner, visibility,
                     auto_created, last_contact_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

UPDATE_CLIENT = """
UPDATE clients SET kind = ?, name = ?, company_id = ?, type = ?, emails = ?, address = ?,
                   notes = ?, owner = ?, visibility = ?, auto_created = ?, last_contact_at = ?,
                   created_at = ?, updated_at = ?
 WHERE id = ?
"""

INSERT_PHONE = """
INSERT INTO client_phones (client_id, position, label, raw, e164, status, digits_rev)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

INSERT_TAG = "INSERT INTO client_tags (client_id, position, tag) VALUES (?, ?, ?)"

# A lookup in one statement (one round trip to the database thread, found or not):
# * exact tier: the E.164 key itself, other readings of the same digits, and numbers kept raw
#   (invalid) whose digits are the same;
# * last-digits tier, only when the exact tier is empty: numbers ending with the same N digits,
#   a prefix range on the reversed digits (served by the client_phones_digits_rev index).
# The hit's phone position says which number matched; a client may come back twice (two of its
# numbers match) and is de-duplicated by the caller, keeping its best hit.
MATCH = """
WITH exact (client_id, position, how, pref) AS (
    SELECT client_id, position, 'e164', 0 FROM client_phones WHERE e164 = ?
    UNION ALL
    SELECT client_id, position, 'variant', 1 FROM client_phones WHERE e164 IN ({variants})
    UNION ALL
    SELECT client_id, position, 'raw', 2 FROM client_phones
     WHERE digits_rev = ? AND e164 IS NULL
),
tail (client_id, position, how, pref) AS (
    SELECT client_id, position, 'last_digits', 3 FROM client_phones
     WHERE digits_rev >= ? AND digits_rev < ? AND NOT EXISTS (SELECT 1 FROM exact)
     LIMIT ?
),
hits AS (SELECT * FROM exact UNION ALL SELECT * FROM tail)
""" + CLIENT_SELECT + """, hits.position AS hit_position, hits.how AS hit_how
  FROM hits JOIN clients c ON c.id = hits.client_id
 ORDER BY hits.pref, """ + RECENT_FIRST

LINK_CALL = """
INSERT OR IGNORE INTO call_clients (pbx, call_id, client_id, how, number, at)
VALUES (?, ?, ?, ?, ?, ?)
"""

TOUCH_CONTACT = """
UPDATE clients SET last_contact_at = ?
 WHERE id = ? AND (last_contact_at IS NULL OR last_contact_at < ?)
"""

MOVE_CALLS = """
INSERT OR IGNORE INTO call_clients (pbx, call_id, client_id, how, number, at)
SELECT pbx, call_id, ?, how, number, at FROM call_clients WHERE client_id = ?
"""

HISTORY = """
SELECT cc.how AS linked_how, calls.*
  FROM call_clients cc
  JOIN calls ON calls.pbx = cc.pbx AND calls.call_id = cc.call_id
 WHERE cc.client_id = ?
 ORDER BY calls.started_at DESC, calls.pbx DESC, calls.call_id DESC
"""

LINKED_CLIENTS = CLIENT_SELECT + """, cc.how AS linked_how
  FROM call_clients cc JOIN clients c ON c.id = cc.client_id
 WHERE cc.pbx = ? AND cc.call_id = ?
 ORDER BY """ + RECENT_FIRST


def reversed_digits(text: str) -> str:
    """The ``digits_rev`` key: digits last-to-first, so "ends with" becomes "starts with"."""
    return digits(text)[::-1]


def tail_range(tail: str) -> tuple[str, str]:
    """Bounds of the ``digits_rev`` values starting with reversed ``tail`` (':' sorts right
    after '9', so the upper bound excludes nothing else)."""
    prefix = tail[::-1]
    return prefix, prefix + ":"


def phone_rows(client_id: int, phones: Iterable[ClientPhone]) -> list[tuple[Any, ...]]:
    """Rows for ``client_phones``. Extensions get no key: they are never matched."""
    rows = []
    for position, p in enumerate(phones):
        key = None
        if p.status in ("valid", "unverified", "invalid"):
            key = reversed_digits(p.e164 or p.raw) or None
        rows.append((client_id, position, p.label, p.raw, p.e164, p.status, key))
    return rows


def tag_rows(client_id: int, tags: Iterable[str]) -> list[tuple[Any, ...]]:
    return [(client_id, position, tag) for position, tag in enumerate(tags)]


def dumps(items: Iterable[str]) -> str:
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


def client_from_row(row: dict[str, Any]) -> Client:
    phones = tuple(
        ClientPhone(cast(PhoneLabel, label), raw, e164, cast(PhoneStatus, status))
        for label, raw, e164, status in json.loads(row["phones_json"] or "[]")
    )
    return Client(
        id=int(row["id"]),
        kind=cast(ClientKind, row["kind"]),
        name=row["name"],
        company_id=row["company_id"],
        type=row["type"],
        tags=tuple(json.loads(row["tags_json"] or "[]")),
        emails=tuple(json.loads(row["emails"])),
        address=row["address"],
        notes=row["notes"],
        owner=row["owner"],
        visibility=cast(Visibility, row["visibility"]),
        auto_created=bool(row["auto_created"]),
        phones=phones,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_contact_at=row["last_contact_at"],
    )
