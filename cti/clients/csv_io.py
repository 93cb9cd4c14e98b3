"""Client CSV import: reading, column mapping, validation and duplicate detection (no database).

Client lists arrive as spreadsheets saved "as CSV" by whatever the office uses, so the reader
accepts what those tools really write rather than RFC 4180:

* **Encoding.** Excel writes UTF-8 *with* a BOM ("CSV UTF-8"), UTF-16 with a BOM ("Unicode
  text", tab-separated), or the Windows code page of the machine: cp1252 on French Windows, where
  "Société" is not valid UTF-8. So: BOM first, then strict UTF-8, then cp1252, then Latin-1
  (which cannot fail, so a file is never refused for its bytes).
* **Delimiter.** French and Romanian Excel use ``;`` (the comma is their decimal separator),
  others ``,``, "text" exports a tab. The delimiter that splits the first lines into the same,
  largest number of columns wins.
* **Headers.** Columns are recognised by French, English and Romanian names, compared without
  case, accents, spaces or punctuation ("Téléphone portable" = "telephoneportable" = mobile);
  an explicit ``mapping`` (source column → field) overrides or completes the guess.

A bad row never stops the file: each row becomes an :class:`ImportRow` or a :class:`RowError`
naming its line (as a spreadsheet numbers it, the header being line 1) and the reason. A phone
number that cannot be understood is *not* such an error: the number is kept as written and the
row gets a warning, because losing a client over a typo in one number is worse than storing the
typo. Nothing here touches a database; duplicates are found through a callback
(:class:`DuplicateFinder`). The CSV and vCard writers live in :mod:`cti.clients.export` and are
re-exported here.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cti.clients.aliases import (
    FIELDS,
    KIND_ALIASES,
    PHONE_FIELDS,
    TYPE_ALIASES,
    fold,
    guess_field,
)
from cti.clients.export import FORMULA_START, export_csv, to_vcard
from cti.phone import DEFAULT_EXTENSION_PATTERN, digits, format_international, normalize

__all__ = [
    "DEFAULT_TYPES", "FIELDS", "CsvFormatError", "CsvImport", "Duplicate", "DuplicateFinder",
    "ImportRow", "RowError", "decode", "export_csv", "sniff_delimiter", "to_vcard",
]

DEFAULT_TYPES: tuple[str, ...] = ("prospect", "client", "vip", "problem", "supplier")

#: Phone statuses (from :func:`cti.phone.normalize`) whose E.164 form can identify a client.
USABLE_PHONE = frozenset({"valid", "unverified"})

_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+$")
_SPLIT_EMAILS = re.compile(r"[\s,;]+")
_SPLIT_PHONES = re.compile(r"\s*(?:[;,|/\n]|\s{3,})\s*")
_SPLIT_TAGS = re.compile(r"\s*[,;|]\s*")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read: no header, a mapping naming a missing column or an
    unknown field, no column usable as a name or phone. Row problems are :class:`RowError`."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that will not be imported: ``line`` is the file line where the row starts."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A valid row. ``draft`` holds the client fields (``name``, ``kind``, ``type``,
    ``company``, ``tags``, ``emails``, ``address``, ``notes``, ``phones``: a list of
    ``{"label", "raw", "e164", "status", "region"}``, ``region`` being the one it was read
    in); ``warnings`` say what was kept as written (a phone number that is not valid)."""

    line: int
    draft: dict[str, Any]
    warnings: tuple[str, ...] = ()

    @property
    def e164s(self) -> list[str]:
        return [p["e164"] for p in self.draft.get("phones", ()) if p.get("e164")]

    @property
    def emails(self) -> list[str]:
        return list(self.draft.get("emails", ()))


# ---------------------------------------------------------------------------------- decoding
def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """``(text, encoding used)``: BOM, else strict UTF-8, else cp1252, else Latin-1."""
    if encoding:
        return data.decode(encoding), encoding
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(name), name
    for name in ("utf-8", "cp1252"):
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str, candidates: str = ",;\t") -> str:
    """The candidate that splits the first lines into the same, largest number of columns.
    ``csv.Sniffer`` is not used: it guesses from character frequencies and picks a space or a
    quote in short files; parsing with each candidate respects quoted fields."""
    sample = text[:64 * 1024]
    best, best_score = ",", (-1, -1)
    for delim in candidates:
        rows = [r for r in _head(sample, delim, 20) if any(c.strip() for c in r)]
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows if len(r) == width)
        score = (consistent if width > 1 else 0, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _head(sample: str, delim: str, n: int) -> list[list[str]]:
    out: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(sample), delimiter=delim):
            out.append(row)
            if len(out) >= n + 1:
                break
    except csv.Error:
        pass
    return out[:-1] if len(out) > n else out  # the last row of a cut sample may be partial


# ---------------------------------------------------------------------------------- import
class CsvImport:
    """One CSV file read for import. The header is read and mapped at construction (raising
    :class:`CsvFormatError`); :meth:`rows` then yields one result per data row.

    ``mapping`` maps source column names (matched without case or accents) to fields of
    :data:`FIELDS`, or to ``"ignore"``; columns it does not name are guessed from their header.
    ``types`` are the client types allowed (the ``clients.types`` setting); ``region`` is the
    country assumed for numbers written without one (``clients.default_region``).
    """

    def __init__(self, data: bytes | str, *, mapping: Mapping[str, str] | None = None,
                 region: str = "FR", types: Sequence[str] = DEFAULT_TYPES,
                 delimiter: str | None = None, encoding: str | None = None,
                 extension_pattern: str = DEFAULT_EXTENSION_PATTERN) -> None:
        if isinstance(data, bytes):
            text, self.encoding = decode(data, encoding)
        else:
            text, self.encoding = data.removeprefix("\ufeff"), "str"
        self.delimiter = delimiter or sniff_delimiter(text)
        self.region = region
        self.extension_pattern = extension_pattern
        self.types = tuple(types)
        self._records = list(_records(text, self.delimiter))
        if not self._records:
            raise CsvFormatError("the file is empty: no header line")
        self.header_line, self.header = self._records[0]
        self.columns, self.ignored = _map_columns(self.header, mapping or {})
        mapped = set(self.columns.values())
        if not mapped & ({"name", "first_name", "last_name", "company"} | set(PHONE_FIELDS)):
            raise CsvFormatError(
                "no column for a name, company or phone number among "
                f"{', '.join(repr(h) for h in self.header)}; map one with col=field")

    @property
    def total(self) -> int:
        """Data rows in the file (blank lines excluded)."""
        return len(self._records) - 1

    def rows(self) -> Iterator[ImportRow | RowError]:
        for line, cells in self._records[1:]:
            yield self.parse_row(line, cells)

    def parse_row(self, line: int, cells: Sequence[str]) -> ImportRow | RowError:
        values: dict[str, list[str]] = {}
        for index, fname in self.columns.items():
            if index < len(cells):
                cell = _unescape(cells[index].strip())
                if cell:
                    values.setdefault(fname, []).append(cell)
        try:
            return self._build(line, values)
        except _RowProblem as exc:
            return RowError(line, exc.field, exc.reason)

    def _build(self, line: int, v: dict[str, list[str]]) -> ImportRow:
        warnings: list[str] = []
        company = " ".join(v.get("company", []))
        name = " ".join(v.get("name", []))
        first, last = " ".join(v.get("first_name", [])), " ".join(v.get("last_name", []))
        if first or last:  # "Nom" beside "Prénom" is the family name
            name = " ".join(p for p in (first, last or name) if p)
        kind = self._kind(v.get("kind", []), has_person=bool(name))
        if not name and company:
            name, company = company, ""
        phones, not_numbers = self._phones(v, warnings)
        usable = [p["e164"] for p in phones if p["e164"]]
        if not name and not usable:
            why = ("no name and no usable phone number" if phones or not_numbers
                   else "no name and no phone number")
            raise _RowProblem("name", why)
        draft: dict[str, Any] = {
            # Named after its number when only that is known, as for auto-created clients.
            "name": name or format_international(usable[0]),
            "kind": kind,
            "company": "" if kind == "company" or company == name else company,
            "phones": phones,
            "emails": self._emails(v.get("email", [])),
            "tags": _dedupe(t for cell in v.get("tags", []) for t in _SPLIT_TAGS.split(cell)
                            if t),
            "address": _address(v),
            "notes": "\n".join(v.get("notes", []) + not_numbers),
        }
        ctype = self._type(v.get("type", []))
        if ctype:
            draft["type"] = ctype
        return ImportRow(line, draft, tuple(warnings))

    def _phones(self, v: dict[str, list[str]],
                warnings: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """``(phones, note lines)``: every number of the phone columns (a cell may hold
        several). Text with no digit at all ("voir secrétariat") cannot be stored as a number:
        it becomes a note line, so nothing typed is lost; withheld markers ("Masqué") are
        dropped."""
        phones: list[dict[str, Any]] = []
        not_numbers: list[str] = []
        for fname, label in PHONE_FIELDS.items():
            for cell in v.get(fname, []):
                for raw in filter(None, (r.strip() for r in _SPLIT_PHONES.split(cell))):
                    pn = normalize(raw, self.region, self.extension_pattern)
                    if pn.status == "anonymous":
                        warnings.append(f"{fname} {raw!r} is a withheld number: dropped")
                    elif not digits(raw):
                        warnings.append(f"{fname} {raw!r} is not a number: moved to notes")
                        not_numbers.append(f"{fname}: {raw}")
                    else:
                        e164 = pn.e164 if pn.status in USABLE_PHONE else None
                        if e164 is None:
                            warnings.append(f"{fname} {raw!r} is {pn.status}: kept as written")
                        phones.append({"label": label, "raw": raw, "e164": e164,
                                       "status": pn.status, "region": self.region})
        return phones, not_numbers

    def _emails(self, cells: list[str]) -> list[str]:
        out = []
        for cell in cells:
            for mail in _SPLIT_EMAILS.split(cell):
                if not mail:
                    continue
                mail = mail.removeprefix("mailto:")
                if not _EMAIL.match(mail):
                    raise _RowProblem("email", f"invalid e-mail address {mail!r}")
                local, _, domain = mail.rpartition("@")
                out.append(f"{local}@{domain.lower()}")
        return _dedupe(out)

    def _type(self, cells: list[str]) -> str:
        if not cells:
            return ""
        raw = cells[0]
        key = fold(raw)
        canon = {fold(t): t for t in self.types}
        found = canon.get(key) or canon.get(fold(TYPE_ALIASES.get(key, "")))
        if not found:
            raise _RowProblem("type", f"unknown type {raw!r} (expected one of "
                                      f"{', '.join(self.types)})")
        return found

    @staticmethod
    def _kind(cells: list[str], *, has_person: bool) -> str:
        if not cells:
            return "person" if has_person else "company"
        kind = KIND_ALIASES.get(fold(cells[0]))
        if kind is None:
            raise _RowProblem("kind", f"unknown kind {cells[0]!r} (expected person or company)")
        return kind


class _RowProblem(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line where the record starts, cells)``, blank records skipped. Quoted cells may hold
    newlines, so the reader's line counter gives the *end* of a record; its start is one past
    the end of the previous record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    end = 0
    for row in reader:
        start, end = end + 1, reader.line_num
        if any(c.strip() for c in row):
            yield start, row


def _map_columns(header: Sequence[str],
                 mapping: Mapping[str, str]) -> tuple[dict[int, str], list[str]]:
    folded = [fold(h) for h in header]
    explicit: dict[int, str] = {}
    for source, target in mapping.items():
        if fold(source) not in folded:
            raise CsvFormatError(f"mapped column {source!r} is not in the header "
                                 f"({', '.join(repr(h) for h in header)})")
        target = target.strip().lower()
        if target in ("ignore", "-", ""):
            explicit[folded.index(fold(source))] = ""
        elif target in FIELDS:
            explicit[folded.index(fold(source))] = target
        else:
            raise CsvFormatError(f"unknown field {target!r} for column {source!r} "
                                 f"(fields: {', '.join(FIELDS)})")
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for i, h in enumerate(header):
        target = explicit[i] if i in explicit else guess_field(h)
        if target:
            columns[i] = target
        elif h.strip():
            ignored.append(h)
    return columns, ignored


def _address(v: dict[str, list[str]]) -> str:
    street = ", ".join(v.get("address", []))
    town = " ".join(v.get("postcode", []) + v.get("city", []))
    return ", ".join(p for p in (street, town, " ".join(v.get("country", []))) if p)


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


def _unescape(cell: str) -> str:
    """Undo the quote :func:`export_csv` puts before formula-like cells."""
    if cell[:1] == "'" and cell[1:2] in FORMULA_START:
        return cell[1:]
    return cell


# ---------------------------------------------------------------------------------- duplicates
@dataclass(frozen=True, slots=True)
class Duplicate:
    """A row whose ``key`` (an E.164 number or an e-mail) is already known: either a client
    that exists (``existing_id``; ``key`` is then the row's first number or e-mail, as the
    callback answers for all of them at once) or an earlier row of the same file (``of_line``;
    its client id, once written, in ``existing_id``)."""

    line: int
    key: str
    existing_id: Any = None
    of_line: int | None = None


ExistsCallback = Callable[[Sequence[str], Sequence[str]], Awaitable[Any]]


@dataclass
class DuplicateFinder:
    """Finds rows that repeat a client, by E.164 number or e-mail, without knowing the store:
    ``exists(e164s, emails)`` answers the id of a client having any of them, or None.
    Earlier rows of the file win over the store, so the second of two identical rows points at
    the first (and, in update mode, updates what the first created)."""

    exists: ExistsCallback | None = None
    _seen: dict[str, tuple[int, Any]] = field(default_factory=dict, init=False, repr=False)

    async def check(self, row: ImportRow) -> Duplicate | None:
        keys = row.e164s + [e.lower() for e in row.emails]
        for key in keys:
            if key in self._seen:
                line, cid = self._seen[key]
                return Duplicate(row.line, key, cid, line)
        if self.exists is not None and keys:
            found = await self.exists(row.e164s, row.emails)
            if found is not None:
                return Duplicate(row.line, keys[0], found)
        return None

    def remember(self, row: ImportRow, client_id: Any = None) -> None:
        """Record the row's keys (and the id of the client it became) for later rows."""
        for key in row.e164s + [e.lower() for e in row.emails]:
            self._seen.setdefault(key, (row.line, client_id))
