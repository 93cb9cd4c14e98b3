"""Clients out of cti: CSV for spreadsheets, vCard 3.0 for phones and address books.

CSV is written for Excel first, since that is where exports get opened: a UTF-8 BOM (without it
Excel reads UTF-8 as the local code page), CRLF line ends, ``;`` on request (French and
Romanian Excel split on it), and the import's own field names as headers so an export imports
back unchanged. vCard 3.0 (RFC 2426) rather than 4.0 because it is the version every phone, Outlook
and macOS Contacts still read; its text rules (escaped ``\\ , ;`` and newlines, lines folded at 75
octets with CRLF + space, never inside a UTF-8 sequence) are applied here, since a single bad
line makes some readers drop the whole card.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cti.clients.aliases import PHONE_FIELDS

__all__ = ["EXPORT_COLUMNS", "FORMULA_START", "attr", "export_csv", "to_vcard"]

#: Characters that make a spreadsheet run a cell as a formula (CSV injection): such cells are
#: written with a leading quote, which the import removes again.
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

EXPORT_COLUMNS: tuple[str, ...] = (
    "id", "name", "kind", "type", "company", "phone_mobile", "phone_work", "phone_home",
    "phone_fax", "phone", "email", "tags", "address", "notes",
)

_PLAIN_NUMBER = re.compile(r"[+-]?[\d .]+")


def attr(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``: exports take the directory's :class:`Client` values as
    well as plain dicts (API payloads, ``Client.to_json()``)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _company(client: Any, company_names: Mapping[int, str]) -> str:
    company = attr(client, "company")
    if company is None and attr(client, "company_id") is not None:
        company = company_names.get(attr(client, "company_id"))
    return _text(company)


# ---------------------------------------------------------------------------------- CSV
def export_csv(clients: Iterable[Any], *, delimiter: str = ",", bom: bool = True,
               company_names: Mapping[int, str] | None = None) -> str:
    """Clients as CSV text (``delimiter=";"`` for French Excel). A person's company is written
    by name, from ``company_names`` (client id → name) when the client carries only a
    ``company_id``."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for client in clients:
        row = _export_row(client, company_names or {})
        writer.writerow([_escape(row.get(c, "")) for c in EXPORT_COLUMNS])
    return ("\ufeff" if bom else "") + out.getvalue()


def _export_row(client: Any, company_names: Mapping[int, str]) -> dict[str, str]:
    row = {k: _text(attr(client, k)) for k in ("id", "name", "kind", "type", "address",
                                               "notes")}
    row["company"] = _company(client, company_names)
    column_of = {label: fname for fname, label in PHONE_FIELDS.items()}
    by_col: dict[str, list[str]] = {}
    for phone in attr(client, "phones") or ():
        number = _text(attr(phone, "e164") or attr(phone, "raw"))
        col = column_of.get(_text(attr(phone, "label")), "phone")
        by_col.setdefault(col, []).append(number)
    row.update({col: ", ".join(nums) for col, nums in by_col.items()})
    row["email"] = ", ".join(_text(e) for e in attr(client, "emails") or ())
    row["tags"] = ", ".join(_text(t) for t in attr(client, "tags") or ())
    return row


def _escape(cell: str) -> str:
    """A leading quote before formula-like text; phone numbers (``+33…``) stay as they are."""
    if cell.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


# ---------------------------------------------------------------------------------- vCard
_TEL_TYPES: dict[str, str] = {
    "mobile": "CELL,VOICE",
    "work": "WORK,VOICE",
    "home": "HOME,VOICE",
    "fax": "WORK,FAX",
    "other": "VOICE",
}


def to_vcard(client: Any, *, company: str | None = None) -> str:
    """One client as a vCard 3.0 (CRLF lines). ``company`` names a person's employer when the
    client only carries a ``company_id``. A company card has ``ORG`` set to its own name and an
    empty ``N`` (which 3.0 requires), plus Apple's ``X-ABShowAs:COMPANY`` so Contacts files it
    under the company; a person's ``N`` takes the last word of the name as the family name."""
    name = _text(attr(client, "name"))
    kind = _text(attr(client, "kind")) or "person"
    org = name if kind == "company" else (company or _company(client, {}))
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{escape_text(name)}"]
    if kind == "company":
        lines += ["N:;;;;", "X-ABShowAs:COMPANY"]
    else:
        given, _, family = name.strip().rpartition(" ")
        lines.append(f"N:{escape_text(family)};{escape_text(given)};;;")
    if org:
        lines.append(f"ORG:{escape_text(org)}")
    for i, phone in enumerate(attr(client, "phones") or ()):
        types = _TEL_TYPES.get(_text(attr(phone, "label")), "VOICE") + (",PREF" if i == 0 else "")
        number = _text(attr(phone, "e164") or attr(phone, "raw"))
        lines.append(f"TEL;TYPE={types}:{escape_text(number)}")
    for i, email in enumerate(attr(client, "emails") or ()):
        lines.append(f"EMAIL;TYPE=INTERNET{',PREF' if i == 0 else ''}:{escape_text(email)}")
    address = _text(attr(client, "address"))
    if address:
        lines.append(f"ADR;TYPE=WORK:;;{escape_text(address)};;;;")
    tags = [escape_text(_text(t)) for t in attr(client, "tags") or ()]
    if tags:
        lines.append("CATEGORIES:" + ",".join(tags))
    notes = _text(attr(client, "notes"))
    if notes:
        lines.append(f"NOTE:{escape_text(notes)}")
    if attr(client, "id") is not None:
        lines.append(f"UID:cti-client-{attr(client, 'id')}")
    lines.append("END:VCARD")
    return "".join(fold_line(line) + "\r\n" for line in lines)


def escape_text(value: str) -> str:
    """RFC 2426 text value: backslash, comma and semicolon escaped, newlines as ``\\n``."""
    value = value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold_line(line: str, limit: int = 75) -> str:
    """Fold a content line at ``limit`` octets (continuation lines start with one space, which
    counts in their octets), never splitting a UTF-8 character."""
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size = " ", 1
        current += char
        size += width
    parts.append(current)
    return "\r\n".join(parts)
