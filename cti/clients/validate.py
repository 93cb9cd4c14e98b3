"""Checking what people type into a client card, before it reaches the database.

Every problem raises :class:`~cti.errors.ValidationError` naming the field, so the web form can
show the message beside the right input. Phone numbers are the exception to "reject what is
wrong": a number that does not parse is *kept raw and flagged* (status ``invalid``), because an
agent's note of a number is worth more than our opinion of it. Only an empty or withheld
"number" is refused, as it could never call or be called.

Rules that need the database (the company exists and is a company) are checked by the directory
inside its transaction.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from cti.clients.model import (
    KINDS,
    PHONE_LABELS,
    VISIBILITIES,
    Client,
    ClientKind,
    ClientPhone,
    PhoneLabel,
    Visibility,
)
from cti.clients.settings import ClientSettings
from cti.errors import ValidationError
from cti.phone import digits, is_mobile, is_region, normalize

#: Fields ``create`` and ``update`` accept.
FIELDS: frozenset[str] = frozenset({
    "kind", "name", "company_id", "type", "tags", "emails", "address", "notes", "owner",
    "visibility", "phones",
})

MAX_NAME = 200
MAX_TEXT = 10_000
MAX_ITEMS = 50  # phones, e-mails or tags on one card
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Draft:
    """A client's editable fields, checked. ``create`` starts from :meth:`empty`, ``update``
    from the stored client, and only the fields given are cleaned, so a setting changed since
    (a type removed from ``clients.types``) does not block edits of other fields."""

    kind: ClientKind = "person"
    name: str = ""
    company_id: int | None = None
    type: str = ""
    tags: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    address: str = ""
    notes: str = ""
    owner: str | None = None
    visibility: Visibility = "public"
    phones: tuple[ClientPhone, ...] = ()

    @classmethod
    def of(cls, client: Client) -> Draft:
        return cls(**{f.name: getattr(client, f.name) for f in dataclasses.fields(cls)})


def clean(data: Mapping[str, Any], settings: ClientSettings, base: Draft | None = None) -> Draft:
    """Check ``data`` (the fields to set) over ``base`` (None: a new client)."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ValidationError(unknown[0], "unknown field")
    if base is None:
        if "name" not in data:
            raise ValidationError("name", "a name is required")
        base = Draft(type=settings.default_type)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        changes[key] = _CLEANERS[key](value, settings)
    draft = dataclasses.replace(base, **changes)
    if draft.visibility == "private" and draft.owner is None:
        raise ValidationError("owner", "a private client needs an owner")
    if draft.kind == "company" and draft.company_id is not None:
        raise ValidationError("company_id", "only a person can belong to a company")
    return draft


def _text(field: str, value: Any, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(field, "must be text")
    text = value.strip()
    if len(text) > limit:
        raise ValidationError(field, f"at most {limit} characters")
    return text


def _strings(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError(field, "must be a list")
    if len(value) > MAX_ITEMS:
        raise ValidationError(field, f"at most {MAX_ITEMS} items")
    return [_text(field, v, MAX_NAME) for v in value]


def _unique(items: list[str]) -> tuple[str, ...]:
    """Drop empties and case-insensitive duplicates, keeping the first spelling and the order."""
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return tuple(out)


def _kind(value: Any, settings: ClientSettings) -> ClientKind:
    if value not in KINDS:
        raise ValidationError("kind", f"must be one of {', '.join(KINDS)}")
    return cast(ClientKind, value)


def _name(value: Any, settings: ClientSettings) -> str:
    name = _SPACES.sub(" ", _text("name", value, MAX_NAME))
    if not name:
        raise ValidationError("name", "a name is required")
    return name


def _company_id(value: Any, settings: ClientSettings) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("company_id", "must be a client id")
    return value


def _type(value: Any, settings: ClientSettings) -> str:
    if value not in settings.types:
        raise ValidationError("type", f"must be one of {', '.join(settings.types)}")
    return str(value)


def _tags(value: Any, settings: ClientSettings) -> tuple[str, ...]:
    return _unique([_SPACES.sub(" ", t) for t in _strings("tags", value)])


def _emails(value: Any, settings: ClientSettings) -> tuple[str, ...]:
    emails = _unique(_strings("emails", value))
    for email in emails:
        if not _EMAIL.match(email):
            raise ValidationError("emails", f"{email!r} is not an e-mail address")
    return emails


def _address(value: Any, settings: ClientSettings) -> str:
    return _text("address", value)


def _notes(value: Any, settings: ClientSettings) -> str:
    return _text("notes", value)


def _owner(value: Any, settings: ClientSettings) -> str | None:
    return _text("owner", value, MAX_NAME) or None


def _visibility(value: Any, settings: ClientSettings) -> Visibility:
    if value not in VISIBILITIES:
        raise ValidationError("visibility", f"must be one of {', '.join(VISIBILITIES)}")
    return cast(Visibility, value)


def _phones(value: Any, settings: ClientSettings) -> tuple[ClientPhone, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError("phones", "must be a list")
    if len(value) > MAX_ITEMS:
        raise ValidationError("phones", f"at most {MAX_ITEMS} numbers")
    return dedupe_phones([phone_of(item, settings) for item in value])


def phone_of(item: Any, settings: ClientSettings) -> ClientPhone:
    """One phone from ``"06 12 34 56 78"`` or ``{"number": …, "label": …, "region": …}``
    (``raw`` is accepted for ``number``; ``region`` reads a national number of another country).
    """
    label: Any = None
    region = settings.default_region
    if isinstance(item, Mapping):
        extra = sorted(set(item) - {"number", "raw", "label", "region"})
        if extra:
            raise ValidationError("phones", f"unknown phone field {extra[0]!r}")
        raw = item.get("number", item.get("raw"))
        label = item.get("label")
        if item.get("region") is not None:
            region = str(item["region"]).upper()
            if not is_region(region):
                raise ValidationError("phones", f"unknown region {item['region']!r}")
    else:
        raw = item
    if not isinstance(raw, str):
        raise ValidationError("phones", "a phone number must be text")
    raw = raw.strip()
    number = normalize(raw, region, settings.extension_pattern)
    if number.status == "anonymous" or not digits(raw):
        raise ValidationError("phones", f"{raw!r} is not a phone number")
    if label is None:
        label = ("other" if number.e164 is None
                 else "mobile" if is_mobile(number.e164) else "work")
    if label not in PHONE_LABELS:
        raise ValidationError("phones", f"label must be one of {', '.join(PHONE_LABELS)}")
    return ClientPhone(cast(PhoneLabel, label), raw, number.e164, number.status)


def phone_key(phone: ClientPhone) -> str:
    """Two entries with the same key are the same number (E.164, else the raw digits)."""
    return phone.e164 or "#" + digits(phone.raw)


def dedupe_phones(phones: list[ClientPhone]) -> tuple[ClientPhone, ...]:
    seen: set[str] = set()
    out: list[ClientPhone] = []
    for phone in phones:
        key = phone_key(phone)
        if key not in seen:
            seen.add(key)
            out.append(phone)
    return tuple(out)


def merged(keep: Client, absorb: Client) -> Draft:
    """The fields of ``keep`` after absorbing ``absorb``: ``keep``'s win unless empty, except
    the name of an auto-created ``keep`` (its number) when ``absorb`` was named by a person;
    notes are both kept; phones, e-mails and tags are united, ``keep``'s first."""
    k, a = Draft.of(keep), Draft.of(absorb)
    notes = k.notes + "\n\n" + a.notes if k.notes and a.notes and k.notes != a.notes else (
        k.notes or a.notes)
    return dataclasses.replace(
        k,
        name=a.name if keep.auto_created and not absorb.auto_created else k.name,
        address=k.address or a.address,
        notes=notes,
        owner=k.owner or a.owner,
        company_id=k.company_id or a.company_id,
        tags=_unique([*k.tags, *a.tags]),
        emails=_unique([*k.emails, *a.emails]),
        phones=dedupe_phones([*k.phones, *a.phones]),
    )


_CLEANERS: dict[str, Any] = {
    "kind": _kind,
    "name": _name,
    "company_id": _company_id,
    "type": _type,
    "tags": _tags,
    "emails": _emails,
    "address": _address,
    "notes": _notes,
    "owner": _owner,
    "visibility": _visibility,
    "phones": _phones,
}
