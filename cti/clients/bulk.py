"""Whole-directory operations: the importer's view of the real
:class:`~cti.clients.directory.ClientDirectory`, and exports of it (CSV, vCard).

Three things an import needs that the directory's card-at-a-time API does not give directly:

* **Companies by name.** A CSV names a person's company ("ACME"); the directory links a person
  to a company *client* by id. The company is found by exact name (case-insensitive) or created,
  once per import.
* **Duplicates by e-mail too.** ``match`` finds clients by number; e-mails are searched with
  ``search`` and then compared exactly.
* **All-or-nothing.** Each directory write is its own transaction on the store's single writer,
  so an import cannot hold one transaction across ten thousand rows without stalling the call
  log behind it. Instead :meth:`DirectorySink.transaction` keeps a journal of what it created and
  what it changed, and undoes it (deleting, then restoring the saved values) if the import is
  abandoned. Rows are validated before anything is written, so in practice only a database
  failure midway triggers the undo.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from cti.clients.directory import ClientDirectory
from cti.clients.export import export_csv, to_vcard
from cti.clients.model import RANK_EXACT, Client
from cti.clients.validate import clean
from cti.errors import NotFound
from cti.phone import digits

__all__ = ["DirectorySink", "export_directory", "vcard_of"]

#: Clients read per query while exporting (the directory's largest page).
EXPORT_PAGE = 500


class DirectorySink:
    """:class:`~cti.clients.importer.ClientSink` over a :class:`ClientDirectory`.

    ``update`` merges a row into the client it duplicates: the row's non-empty name, type,
    address and company replace the card's; phones, e-mails and tags are added to the card's
    (never removed); notes are appended when they differ. ``owner`` becomes the owner of the
    created cards (the person running the import, or None)."""

    def __init__(self, directory: ClientDirectory, *, owner: str | None = None) -> None:
        self.directory = directory
        self.owner = owner
        self._companies: dict[str, int] = {}  # company name (casefold) → id, this import
        self._implicit: dict[str, int] = {}  # those created from a person's company column
        self._journal: list[tuple[str, int, Client | None]] | None = None

    # ------------------------------------------------------------------ ClientSink
    def validate(self, draft: Mapping[str, Any]) -> None:
        clean(self._fields(draft, company_id=None), self.directory.settings)

    async def find_by_phone_or_email(self, e164s: Sequence[str],
                                     emails: Sequence[str]) -> int | None:
        for e164 in e164s:
            matches = await self.directory.match(e164)
            exact = [m for m in matches if m.rank == RANK_EXACT]
            if exact:
                return exact[0].client.id
        for email in emails:
            for client in await self.directory.search(email, limit=20):
                if email.casefold() in (e.casefold() for e in client.emails):
                    return client.id
        return None

    async def create(self, draft: Mapping[str, Any]) -> int:
        """A new client, except for a company row naming a company this import already
        created for an earlier person's "company" column: that one is completed instead, so
        the order of the rows does not make two companies of one."""
        name_key = str(draft.get("name", "")).casefold()
        if draft.get("kind") == "company" and name_key in self._implicit:
            known = self._implicit.pop(name_key)
            await self.update(known, draft)
            return known
        company_id = await self._company_id(draft)
        client = await self.directory.create(self._fields(draft, company_id))
        self._log("created", client.id, None)
        if client.kind == "company":
            self._companies.setdefault(name_key, client.id)
        return client.id

    async def update(self, client_id: Any, draft: Mapping[str, Any]) -> None:
        current = await self.directory.get(int(client_id))
        company_id = await self._company_id(draft)
        changes = _merge(current, self._fields(draft, company_id), draft.get("phones", ()))
        if changes:
            self._log("updated", current.id, current)
            await self.directory.update(current.id, changes)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._journal = []
        try:
            yield
        except BaseException:
            await self._undo(self._journal)
            raise
        finally:
            self._journal = None

    # ------------------------------------------------------------------ helpers
    def _fields(self, draft: Mapping[str, Any], company_id: int | None) -> dict[str, Any]:
        """The directory's fields for an import draft."""
        data: dict[str, Any] = {
            "kind": draft.get("kind", "person"),
            "name": draft.get("name", ""),
            "tags": list(draft.get("tags", ())),
            "emails": list(draft.get("emails", ())),
            "address": draft.get("address", ""),
            "notes": draft.get("notes", ""),
            "phones": [{"number": p["raw"], "label": p["label"],
                        **({"region": p["region"]} if p.get("region") else {})}
                       for p in draft.get("phones", ())],
        }
        if draft.get("type"):
            data["type"] = draft["type"]
        if company_id is not None:
            data["company_id"] = company_id
        if self.owner:
            data["owner"] = self.owner
        return data

    async def _company_id(self, draft: Mapping[str, Any]) -> int | None:
        name = str(draft.get("company") or "").strip()
        if not name or draft.get("kind") == "company":
            return None
        key = name.casefold()
        if key not in self._companies:
            found = [c for c in await self.directory.search(name, limit=50)
                     if c.kind == "company" and c.name.casefold() == key]
            if found:
                self._companies[key] = found[0].id
            else:
                company = await self.directory.create({"kind": "company", "name": name})
                self._log("created", company.id, None)
                self._companies[key] = self._implicit[key] = company.id
        return self._companies[key]

    def _log(self, what: str, client_id: int, before: Client | None) -> None:
        if self._journal is not None:
            self._journal.append((what, client_id, before))

    async def _undo(self, journal: list[tuple[str, int, Client | None]]) -> None:
        self._companies.clear()
        self._implicit.clear()
        for what, client_id, before in reversed(journal):
            try:
                if what == "created":
                    await self.directory.delete(client_id)
                elif before is not None:
                    await self.directory.update(client_id, _restore(before))
            except NotFound:
                continue


def _merge(current: Client, data: Mapping[str, Any],
           draft_phones: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The changes an import row brings to an existing card (see :class:`DirectorySink`);
    ``draft_phones`` are the row's numbers with their E.164 form, to compare with the card's."""
    changes: dict[str, Any] = {}
    for key in ("name", "type", "address", "company_id", "kind"):
        value = data.get(key)
        if value and value != getattr(current, key):
            changes[key] = value
    if "kind" in changes and current.kind == "company":
        del changes["kind"]  # a company with members cannot become a person
    notes = str(data.get("notes") or "")
    if notes and notes not in current.notes:
        changes["notes"] = (current.notes + "\n\n" + notes).strip()
    known = {p.e164 or digits(p.raw) for p in current.phones}
    extra = [field for field, p in zip(data.get("phones", ()), draft_phones, strict=True)
             if (p.get("e164") or digits(p["raw"])) not in known]
    if extra:
        changes["phones"] = [{"number": p.raw, "label": p.label} for p in current.phones]
        changes["phones"] += extra
    for key in ("emails", "tags"):
        have = list(getattr(current, key))
        seen = {v.casefold() for v in have}
        new = [v for v in data.get(key, ()) if v.casefold() not in seen]
        if new:
            changes[key] = have + new
    return changes


def _restore(client: Client) -> dict[str, Any]:
    return {
        "kind": client.kind, "name": client.name, "company_id": client.company_id,
        "type": client.type, "tags": list(client.tags), "emails": list(client.emails),
        "address": client.address, "notes": client.notes,
        "phones": [{"number": p.raw, "label": p.label} for p in client.phones],
    }


# ---------------------------------------------------------------------------------- exports
async def export_directory(directory: ClientDirectory, *, delimiter: str = ",",
                           bom: bool = True, q_text: str | None = None, tag: str | None = None,
                           type: str | None = None) -> str:
    """Every client (or those :meth:`ClientDirectory.search` finds with these filters) as CSV,
    ordered by name, persons' companies written by name (``cti clients export``)."""
    clients: list[Client] = []
    while True:
        page = await directory.search(q_text, tag=tag, type=type, limit=EXPORT_PAGE,
                                      offset=len(clients))
        clients += page
        if len(page) < EXPORT_PAGE:
            break
    names = {c.id: c.name for c in clients if c.kind == "company"}
    missing = {c.company_id for c in clients if c.company_id is not None} - set(names)
    for company_id in sorted(missing):  # companies the filters left out
        with contextlib.suppress(NotFound):  # deleted meanwhile: the column stays empty
            names[company_id] = (await directory.get(company_id)).name
    return export_csv(clients, delimiter=delimiter, bom=bom, company_names=names)


async def vcard_of(directory: ClientDirectory, client_id: int) -> str:
    """One client's vCard, with its company's name (``GET /api/clients/{id}.vcf``). Raises
    :class:`~cti.errors.NotFound`."""
    client = await directory.get(client_id)
    company = None
    if client.company_id is not None:
        with contextlib.suppress(NotFound):
            company = (await directory.get(client.company_id)).name
    return to_vcard(client, company=company)
