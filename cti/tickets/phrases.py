"""Canned phrases: the problem and solution texts a help desk types a hundred times a day
("Box rebooted, line back", "Invoice sent again by e-mail"), saved once per ticket field
(``reason``, ``response``, ``result``) and suggested while typing, most used first.

A phrase counts as *used* when a ticket's field is saved containing its text and did not
contain it before (:meth:`PhraseService.note_used`): the count follows what people really
keep, whether they picked the suggestion or typed it, and saving a ticket again does not count
twice. Supervisors and admins manage the list (the web layer checks the role).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cti.errors import Conflict, NotFound, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.model import TEXT_FIELDS, clean_text

#: The ticket fields phrases fill, in form order.
PHRASE_FIELDS: tuple[str, ...] = ("reason", "response", "result")
MAX_SUGGESTIONS = 50


@dataclass(frozen=True, slots=True)
class Phrase:
    id: int
    field: str
    text: str
    uses: int
    created_by: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "field": self.field, "text": self.text, "uses": self.uses}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Phrase:
        return cls(row["id"], row["field"], row["text"], int(row["uses"]), row["created_by"],
                   float(row["created_at"]))


def check_field(field: str) -> str:
    if field not in PHRASE_FIELDS:
        raise ValidationError("field", f"must be one of {', '.join(PHRASE_FIELDS)}")
    return field


def clean_phrase(field: str, text: Any) -> str:
    value = clean_text("text", text, TEXT_FIELDS[check_field(field)])
    if not value:
        raise ValidationError("text", "is required")
    return value


class PhraseService:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def suggest(self, field: str, q: str = "", *, limit: int = 20) -> list[Phrase]:
        """Phrases of ``field`` containing ``q`` (any case), most used first."""
        check_field(field)
        limit = max(1, min(limit, MAX_SUGGESTIONS))
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self.store.query(
            "SELECT * FROM canned_phrases WHERE field = ? AND text LIKE ? ESCAPE '\\' "
            "ORDER BY uses DESC, text COLLATE NOCASE LIMIT ?", (field, like, limit))
        return [Phrase.from_row(r) for r in rows]

    async def list_all(self) -> list[Phrase]:
        rows = await self.store.query(
            "SELECT * FROM canned_phrases ORDER BY CASE field WHEN 'reason' THEN 0 "
            "WHEN 'response' THEN 1 ELSE 2 END, uses DESC, text COLLATE NOCASE")
        return [Phrase.from_row(r) for r in rows]

    async def get(self, phrase_id: int) -> Phrase:
        row = await self.store.query_one("SELECT * FROM canned_phrases WHERE id = ?",
                                         (phrase_id,))
        if row is None:
            raise NotFound(f"no phrase {phrase_id}")
        return Phrase.from_row(row)

    async def create(self, actor: str, field: str, text: Any) -> Phrase:
        value = clean_phrase(field, text)

        async def work(tx: Tx) -> int:
            if await tx.fetch("SELECT id FROM canned_phrases WHERE field = ? AND text = ?",
                              (field, value)):
                raise Conflict("This phrase exists already.")
            return await tx.execute(
                "INSERT INTO canned_phrases (field, text, uses, created_by, created_at) "
                "VALUES (?, ?, 0, ?, ?)", (field, value, actor, self.clock()))

        return await self.get(await self.store.transaction(work))

    async def update(self, phrase_id: int, text: Any) -> Phrase:
        phrase = await self.get(phrase_id)
        value = clean_phrase(phrase.field, text)

        async def work(tx: Tx) -> None:
            if await tx.fetch("SELECT id FROM canned_phrases WHERE field = ? AND text = ? "
                              "AND id != ?", (phrase.field, value, phrase_id)):
                raise Conflict("This phrase exists already.")
            await tx.execute("UPDATE canned_phrases SET text = ? WHERE id = ?",
                             (value, phrase_id))

        await self.store.transaction(work)
        return await self.get(phrase_id)

    async def delete(self, phrase_id: int) -> None:
        await self.get(phrase_id)
        await self.store.transaction(lambda tx: tx.execute(
            "DELETE FROM canned_phrases WHERE id = ?", (phrase_id,)))

    async def note_used(self, after: Mapping[str, Any],
                        before: Mapping[str, Any] | None = None) -> int:
        """Count a use of every phrase whose text a field now holds and did not before
        (``after``/``before``: field → text, e.g. a ticket's values). Returns how many."""
        pairs = [(f, str(after[f]), str((before or {}).get(f) or ""))
                 for f in PHRASE_FIELDS if isinstance(after.get(f), str) and after[f]]
        if not pairs:
            return 0

        async def work(tx: Tx) -> int:
            total = 0
            for field, new, old in pairs:
                await tx.execute(
                    "UPDATE canned_phrases SET uses = uses + 1 WHERE field = ? "
                    "AND instr(?, text) > 0 AND instr(?, text) = 0", (field, new, old))
                total += await tx.changes()
            return total

        return await self.store.transaction(work)


__all__ = ["PHRASE_FIELDS", "Phrase", "PhraseService"]
