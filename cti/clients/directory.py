"""The client directory: cards of the people and companies the business talks to, and the lookup
of a phone number to the clients it belongs to.

Writes go through ``store.transaction`` (the store's single writer connection, between call
batches) and reads through ``store.query`` (the read connection), so this service never opens
the database itself nor imports its driver.

How a number finds its client (:meth:`ClientDirectory.match`), cheapest and surest first:

1. The number is normalised (:func:`cti.phone.normalize`) in ``clients.default_region``.
   Withheld numbers and internal extensions stop here: they never match anyone.
2. **Exact**: an index probe on ``client_phones.e164``, plus the international reading of the
   same digits (a trunk sending ``32471…`` without ``+``) and numbers kept raw with the very
   same digits.
3. **Last digits** (only when nothing matched exactly and ``clients.match_last_digits`` > 0):
   numbers ending with the same N digits — typically a foreign number stored without its
   country code, so read as a national one. An index range on the reversed digits.

Several clients may share a number (a switchboard, a family landline): all are returned, exact
before last-digits, most recently contacted first, and the caller (screen pop, linker) decides.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, tzinfo
from typing import Any

from cti.clients import queries as qs
from cti.clients.history import build_history
from cti.clients.model import RANK_EXACT, RANK_LAST_DIGITS, Client, ClientHistory, Match
from cti.clients.settings import ClientSettings
from cti.clients.validate import Draft, clean, merged, phone_of
from cti.errors import Conflict, NotFound, ValidationError
from cti.phone import (
    PhoneNumber,
    digits,
    format_international,
    last_digits,
    national_significant,
    normalize,
)
from cti.store.sqlite import Store
from cti.store.tx import Tx

#: A veto on deleting a client: returns why not (shown to the person), or None to allow.
DeleteGuard = Callable[[Client], Awaitable[str | None]]
#: Runs inside the merge transaction so other tables (tickets…) follow the surviving client.
MergeHook = Callable[[Tx, int, int], Awaitable[None]]

MAX_PAGE = 500
#: Last-digits candidates looked at, at most: a short suffix must not return half the file.
MAX_TAIL_CANDIDATES = 50


class ClientDirectory:
    """Client cards over the call store's SQLite file. ``clock`` stamps created/updated times."""

    def __init__(
        self,
        store: Store,
        settings: ClientSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings or ClientSettings()
        self._clock = clock
        self._delete_guards: list[DeleteGuard] = []
        self._merge_hooks: list[MergeHook] = []

    # ------------------------------------------------------------------ hooks for other services
    def add_delete_guard(self, guard: DeleteGuard) -> None:
        """Let another service (tickets) veto deleting a client it still refers to."""
        self._delete_guards.append(guard)

    def add_merge_hook(self, hook: MergeHook) -> None:
        """``hook(tx, keep_id, absorb_id)`` runs in the merge transaction, before ``absorb`` is
        deleted: move your rows to ``keep_id`` there, or they are lost with it."""
        self._merge_hooks.append(hook)

    # ------------------------------------------------------------------ cards
    def normalize(self, number: str) -> PhoneNumber:
        return normalize(number, self.settings.default_region, self.settings.extension_pattern)

    async def get(self, client_id: int) -> Client:
        row = await self.store.query_one(qs.GET, (client_id,))
        if row is None:
            raise NotFound(f"no client {client_id}")
        return qs.client_from_row(row)

    async def create(self, data: Mapping[str, Any]) -> Client:
        """A new client from form/API fields (see :data:`cti.clients.validate.FIELDS`)."""
        draft = clean(data, self.settings)

        async def work(tx: Tx) -> Client:
            await self._check_company(tx, draft, None)
            return await self._insert(tx, draft, auto_created=False)

        return await self.store.transaction(work)

    async def auto_create(self, number: str) -> Client:
        """A client for an unknown number: named after the number as people write it
        internationally (``+33 6 12 34 56 78``), of the first type of ``clients.types``, and
        flagged ``auto_created`` so someone completes it."""
        phone = phone_of(number, self.settings)
        if phone.status == "extension":
            raise ValidationError("number", f"{number!r} is an internal extension")
        draft = Draft(name=format_international(phone.e164) if phone.e164 else phone.raw,
                      type=self.settings.default_type, phones=(phone,))
        return await self.store.transaction(
            lambda tx: self._insert(tx, draft, auto_created=True))

    async def update(self, client_id: int, changes: Mapping[str, Any]) -> Client:
        """Change the given fields only; ``phones``, ``emails`` and ``tags`` replace the list."""

        async def work(tx: Tx) -> Client:
            current = await _load(tx, client_id)
            draft = clean(changes, self.settings, Draft.of(current))
            await self._check_company(tx, draft, current)
            if draft == Draft.of(current):
                return current
            await self._write(tx, client_id, draft, current, phones="phones" in changes,
                              tags="tags" in changes)
            return await _load(tx, client_id)

        return await self.store.transaction(work)

    async def can_delete(self, client_id: int) -> str | None:
        """Why the client cannot be deleted (a guard's veto), or None."""
        client = await self.get(client_id)
        for guard in self._delete_guards:
            reason = await guard(client)
            if reason:
                return reason
        return None

    async def delete(self, client_id: int) -> None:
        """Delete the card, its phones, tags and call links (the calls themselves stay in the
        call log). Raises :class:`Conflict` when a guard vetoes."""
        reason = await self.can_delete(client_id)
        if reason:
            raise Conflict(f"client {client_id} cannot be deleted: {reason}")

        async def work(tx: Tx) -> None:
            await tx.execute("DELETE FROM clients WHERE id = ?", (client_id,))
            if await tx.changes() == 0:
                raise NotFound(f"no client {client_id}")

        await self.store.transaction(work)

    async def merge(self, keep_id: int, absorb_id: int) -> Client:
        """Fold ``absorb`` into ``keep`` and delete it. ``keep``'s fields win unless empty
        (or unless ``keep`` was auto-created and ``absorb`` was not: then the human-made name
        wins); phones, e-mails and tags are united; every call linked to ``absorb`` is linked
        to ``keep``; members of a company follow it. One transaction: all or nothing."""
        if keep_id == absorb_id:
            raise ValidationError("absorb_id", "cannot merge a client into itself")

        async def work(tx: Tx) -> Client:
            keep = await _load(tx, keep_id)
            absorb = await _load(tx, absorb_id)
            if keep.kind != absorb.kind:
                raise ValidationError("absorb_id", f"cannot merge a {absorb.kind} into a "
                                      f"{keep.kind}")
            draft = merged(keep, absorb)
            auto = keep.auto_created and absorb.auto_created
            contact = max((t for t in (keep.last_contact_at, absorb.last_contact_at)
                           if t is not None), default=None)
            await self._write(tx, keep_id, draft, keep, phones=True, tags=True,
                              auto_created=auto, last_contact_at=contact,
                              created_at=min(keep.created_at, absorb.created_at))
            await tx.execute(qs.MOVE_CALLS, (keep_id, absorb_id))
            await tx.execute("UPDATE clients SET company_id = ? WHERE company_id = ?",
                             (keep_id, absorb_id))
            for hook in self._merge_hooks:
                await hook(tx, keep_id, absorb_id)
            await tx.execute("DELETE FROM clients WHERE id = ?", (absorb_id,))
            return await _load(tx, keep_id)

        return await self.store.transaction(work)

    # ------------------------------------------------------------------ finding
    async def search(self, q: str | None = None, number: str | None = None,
                     tag: str | None = None, type: str | None = None, limit: int = 50,
                     offset: int = 0, *, company_id: int | None = None) -> list[Client]:
        """Clients by name, ordered by name. ``q`` looks in name, e-mails, address and
        notes (substring, case-insensitive for ASCII) and, when it holds 4+ digits, in phone
        numbers ending with them; ``number`` keeps clients with a phone ending with the number's
        national digits; ``tag`` (case-insensitive), ``type`` and ``company_id`` filter."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be between 1 and {MAX_PAGE}")
        if offset < 0:
            raise ValidationError("offset", "must be >= 0")
        where, params = self._filters(q, number, tag, type, company_id)
        sql = qs.CLIENT_SELECT + " FROM clients c"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY c.name, c.id LIMIT ? OFFSET ?"
        rows = await self.store.query(sql, (*params, limit, offset))
        return [qs.client_from_row(r) for r in rows]

    async def count(self, q: str | None = None, number: str | None = None,
                    tag: str | None = None, type: str | None = None, *,
                    company_id: int | None = None) -> int:
        """How many clients :meth:`search` would page through."""
        where, params = self._filters(q, number, tag, type, company_id)
        sql = "SELECT COUNT(*) AS n FROM clients c"
        if where:
            sql += " WHERE " + " AND ".join(where)
        row = await self.store.query_one(sql, params)
        return 0 if row is None else int(row["n"])

    def _filters(self, q_text: str | None, number: str | None, tag: str | None,
                 type: str | None, company_id: int | None) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        by_phone = ("c.id IN (SELECT client_id FROM client_phones "
                    "WHERE digits_rev >= ? AND digits_rev < ?)")
        if q_text and q_text.strip():
            text = q_text.strip()
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            ors = [f"c.{col} LIKE ? ESCAPE '\\'" for col in ("name", "emails", "address", "notes")]
            params.extend([like] * 4)
            tail = digits(text).lstrip("0")
            if len(tail) >= 4 and not any(ch.isalpha() for ch in text):
                ors.append(by_phone)
                params.extend(qs.tail_range(tail))
            where.append("(" + " OR ".join(ors) + ")")
        if number is not None:
            tail = self._significant_digits(number)
            if not tail:
                where.append("0")
            else:
                where.append(by_phone)
                params.extend(qs.tail_range(tail))
        if tag is not None:
            where.append("c.id IN (SELECT client_id FROM client_tags WHERE tag = ?)")
            params.append(tag.strip())
        if type is not None:
            where.append("c.type = ?")
            params.append(type)
        if company_id is not None:
            where.append("c.company_id = ?")
            params.append(company_id)
        return where, params

    def _significant_digits(self, number: str) -> str:
        """The digits that identify a number whatever prefix it was typed with: the national
        significant number when it normalises (``612345678`` for ``06 12…`` or ``+33 6 12…``),
        else its digits without leading zeros. Empty for withheld numbers and extensions."""
        parsed = self.normalize(number)
        if not parsed.matchable:
            return ""
        if parsed.e164:
            return national_significant(parsed.e164)
        return digits(number).lstrip("0")

    async def match(self, number: str, *, direction: str = "inbound") -> list[Match]:
        """Clients a call's number belongs to, best first (see the module docstring).
        Internal calls, extensions and withheld numbers give ``[]``."""
        if direction == "internal":
            return []
        parsed = self.normalize(number)
        if not parsed.matchable:
            return []
        raw_digits = digits(parsed.raw)
        variants = self._variants(parsed, raw_digits)
        n = self.settings.match_last_digits
        low = high = ""  # an empty range: no last-digits fallback
        if n > 0 and len(raw_digits) >= n:
            low, high = qs.tail_range(last_digits(parsed.e164 or raw_digits, n))
        sql = qs.MATCH.format(variants=", ".join("?" for _ in variants) or "NULL")
        rows = await self.store.query(sql, (parsed.e164, *variants, raw_digits[::-1], low, high,
                                            MAX_TAIL_CANDIDATES))
        return _matches(rows)

    def _variants(self, parsed: PhoneNumber, raw_digits: str) -> list[str]:
        """Other E.164 readings of the same digits: with ``+`` in front (country code sent
        without the international prefix) when the number was not written internationally."""
        out: list[str] = []
        text = parsed.raw.strip()
        if not text.startswith(("+", "00")) and raw_digits and raw_digits[0] != "0":
            alt = normalize("+" + raw_digits, self.settings.default_region)
            if alt.e164 and alt.e164 != parsed.e164:
                out.append(alt.e164)
        return out

    # ------------------------------------------------------------------ calls
    async def link_call(self, pbx: str, call_id: str, links: Mapping[int, str], *,
                        number: str, at: float) -> None:
        """Link a call to clients — ``links`` maps client id to how it was found (``e164``,
        ``last_digits``, ``auto_created``, ``manual``…) — and bump their last-contact time.
        Idempotent: linking the same call and client again changes nothing."""

        async def work(tx: Tx) -> None:
            ids = list(links)
            marks = ", ".join("?" for _ in ids)
            found = await tx.fetch(f"SELECT id FROM clients WHERE id IN ({marks})", ids)
            missing = sorted(set(ids) - {int(r["id"]) for r in found})
            if missing:
                raise NotFound(f"no client {missing[0]}")
            await tx.executemany(qs.LINK_CALL, [(pbx, call_id, cid, how, number, at)
                                                for cid, how in links.items()])
            await tx.executemany(qs.TOUCH_CONTACT, [(at, cid, at) for cid in links])

        if links:
            await self.store.transaction(work)

    async def clients_of_call(self, pbx: str, call_id: str) -> list[Client]:
        """Clients linked to a call (for the call-log detail page)."""
        rows = await self.store.query(qs.LINKED_CLIENTS, (pbx, call_id))
        return [qs.client_from_row(r) for r in rows]

    async def history(self, client_id: int, *, tz: tzinfo = UTC,
                      limit: int = 100) -> ClientHistory:
        """Calls linked to the client (finished ones: a call enters the log when it ends),
        newest first and at most ``limit`` of them, with counts over all of them per day, ISO
        week and month in ``tz``."""
        client = await self.get(client_id)
        rows = await self.store.query(qs.HISTORY, (client_id,))
        return build_history(client, rows, tz, limit)

    # ------------------------------------------------------------------ writing helpers
    async def _check_company(self, tx: Tx, draft: Draft, current: Client | None) -> None:
        if current is not None and current.kind == "company" and draft.kind == "person":
            members = await tx.fetch("SELECT COUNT(*) AS n FROM clients WHERE company_id = ?",
                                     (current.id,))
            if members[0]["n"]:
                raise ValidationError("kind", "this company still has members")
        if draft.company_id is None or (current and draft.company_id == current.company_id):
            return
        if current is not None and draft.company_id == current.id:
            raise ValidationError("company_id", "a client cannot belong to itself")
        rows = await tx.fetch("SELECT kind FROM clients WHERE id = ?", (draft.company_id,))
        if not rows:
            raise ValidationError("company_id", f"no client {draft.company_id}")
        if rows[0]["kind"] != "company":
            raise ValidationError("company_id", f"client {draft.company_id} is not a company")

    async def _insert(self, tx: Tx, d: Draft, *, auto_created: bool) -> Client:
        now = self._clock()
        client_id = await tx.execute(qs.INSERT_CLIENT, (
            d.kind, d.name, d.company_id, d.type, qs.dumps(d.emails), d.address, d.notes,
            d.owner, d.visibility, int(auto_created), None, now, now))
        await tx.executemany(qs.INSERT_PHONE, qs.phone_rows(client_id, d.phones))
        await tx.executemany(qs.INSERT_TAG, qs.tag_rows(client_id, d.tags))
        return await _load(tx, client_id)

    async def _write(self, tx: Tx, client_id: int, d: Draft, current: Client, *, phones: bool,
                     tags: bool, auto_created: bool | None = None,
                     last_contact_at: float | None = None,
                     created_at: float | None = None) -> None:
        await tx.execute(qs.UPDATE_CLIENT, (
            d.kind, d.name, d.company_id, d.type, qs.dumps(d.emails), d.address, d.notes,
            d.owner, d.visibility,
            int(current.auto_created if auto_created is None else auto_created),
            current.last_contact_at if last_contact_at is None else last_contact_at,
            current.created_at if created_at is None else created_at,
            self._clock(), client_id))
        if phones:
            await tx.execute("DELETE FROM client_phones WHERE client_id = ?", (client_id,))
            await tx.executemany(qs.INSERT_PHONE, qs.phone_rows(client_id, d.phones))
        if tags:
            await tx.execute("DELETE FROM client_tags WHERE client_id = ?", (client_id,))
            await tx.executemany(qs.INSERT_TAG, qs.tag_rows(client_id, d.tags))


async def _load(tx: Tx, client_id: int) -> Client:
    rows = await tx.fetch(qs.GET, (client_id,))
    if not rows:
        raise NotFound(f"no client {client_id}")
    return qs.client_from_row(rows[0])


def _matches(rows: list[dict[str, Any]]) -> list[Match]:
    out: list[Match] = []
    seen: set[int] = set()
    for row in rows:
        client = qs.client_from_row(row)
        if client.id in seen:
            continue
        seen.add(client.id)
        phone = client.phones[int(row["hit_position"])]
        how = row["hit_how"]
        out.append(Match(client, phone, RANK_LAST_DIGITS if how == "last_digits" else RANK_EXACT,
                         how))
    return out

