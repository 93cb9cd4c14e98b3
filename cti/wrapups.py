"""Call wrap-ups: what an agent writes about a call — subject, reason, response, result, note —
typically in the screen pop right after hangup (a note can be saved during the call too).

Each person has one wrap-up per call, replaced when saved again (see
:mod:`cti.store.wrapup_schema`). Who may write one is decided by the web layer, which knows who
took part in the call; this service validates and stores. Writes go through
``Store.transaction`` (the store's single writer), reads through ``Store.query``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cti.calls.model import iso_utc
from cti.errors import ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx

#: Field → longest accepted text. Subject and reason are one-liners; the others are prose.
FIELDS: dict[str, int] = {"subject": 200, "reason": 200, "response": 4000, "result": 4000,
                          "note": 4000}

_UPSERT = """
INSERT INTO call_wrapups (pbx, call_id, user_id, username, subject, reason, response, result,
                          note, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (pbx, call_id, username) DO UPDATE SET
    user_id = excluded.user_id, subject = excluded.subject, reason = excluded.reason,
    response = excluded.response, result = excluded.result, note = excluded.note,
    updated_at = excluded.updated_at
"""


@dataclass(frozen=True, slots=True)
class Wrapup:
    pbx: str
    call_id: str
    username: str
    user_id: int | None
    subject: str
    reason: str
    response: str
    result: str
    note: str
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {"pbx": self.pbx, "call_id": self.call_id, "username": self.username,
                "subject": self.subject, "reason": self.reason, "response": self.response,
                "result": self.result, "note": self.note,
                "created_at": iso_utc(self.created_at), "updated_at": iso_utc(self.updated_at)}


def clean_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """The five fields as stripped text (missing: empty). A wrong type, an over-long text or a
    form with nothing in it is a :class:`ValidationError` naming the field."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError(unknown[0], "unknown field")
    out: dict[str, str] = {}
    for name, longest in FIELDS.items():
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError(name, "must be text")
        value = value.replace("\r\n", "\n").strip()
        if len(value) > longest:
            raise ValidationError(name, f"at most {longest} characters")
        if "\x00" in value:
            raise ValidationError(name, "must not contain NUL characters")
        out[name] = value
    if not any(out.values()):
        raise ValidationError("subject", "fill in at least one field")
    return out


def _wrapup(row: Mapping[str, Any]) -> Wrapup:
    return Wrapup(pbx=row["pbx"], call_id=row["call_id"], username=row["username"],
                  user_id=row["user_id"], subject=row["subject"], reason=row["reason"],
                  response=row["response"], result=row["result"], note=row["note"],
                  created_at=float(row["created_at"]), updated_at=float(row["updated_at"]))


class WrapupService:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self.saved = 0

    async def save(self, pbx: str, call_id: str, *, username: str, user_id: int | None,
                   fields: Mapping[str, Any]) -> Wrapup:
        """Create or replace ``username``'s wrap-up of the call."""
        values = clean_fields(fields)
        now = self._clock()

        async def work(tx: Tx) -> Wrapup:
            await tx.execute(_UPSERT, (pbx, call_id, user_id, username, values["subject"],
                                       values["reason"], values["response"], values["result"],
                                       values["note"], now, now))
            rows = await tx.fetch("SELECT * FROM call_wrapups WHERE pbx = ? AND call_id = ? "
                                  "AND username = ?", (pbx, call_id, username))
            return _wrapup(rows[0])

        saved = await self.store.transaction(work)
        self.saved += 1
        return saved

    async def of_call(self, pbx: str, call_id: str) -> list[Wrapup]:
        """Every wrap-up of the call, oldest first."""
        rows = await self.store.query("SELECT * FROM call_wrapups WHERE pbx = ? AND call_id = ? "
                                      "ORDER BY created_at, username", (pbx, call_id))
        return [_wrapup(r) for r in rows]

    async def get(self, pbx: str, call_id: str, username: str) -> Wrapup | None:
        row = await self.store.query_one("SELECT * FROM call_wrapups WHERE pbx = ? AND "
                                         "call_id = ? AND username = ?",
                                         (pbx, call_id, username))
        return None if row is None else _wrapup(row)
