"""Client values: what the directory returns and what the web API renders.

Frozen dataclasses, so a client card can be passed around (screen pop, API, tickets) without
anyone changing it behind the directory's back; a change is ``directory.update``. Times are UNIX
epoch seconds (UTC) like the call records; ``to_json`` renders them as ISO 8601 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cti.calls.model import iso_utc
from cti.phone import PhoneStatus, format_international

ClientKind = Literal["person", "company"]
Visibility = Literal["public", "private"]
PhoneLabel = Literal["mobile", "work", "home", "fax", "other"]
#: How a match was found: E.164 equality, a national/international variant of the number,
#: equal digits of a number stored raw (invalid), or the last-N-digits fallback.
MatchHow = Literal["e164", "variant", "raw", "last_digits"]

KINDS: tuple[str, ...] = ("person", "company")
VISIBILITIES: tuple[str, ...] = ("public", "private")
PHONE_LABELS: tuple[str, ...] = ("mobile", "work", "home", "fax", "other")

#: ``Match.rank`` values: lower is better.
RANK_EXACT = 1
RANK_LAST_DIGITS = 2


@dataclass(frozen=True, slots=True)
class ClientPhone:
    """One number of a client. ``raw`` is what was typed (kept even when invalid); ``e164`` is
    set for valid and unverified numbers; ``status`` is the :func:`cti.phone.normalize` verdict."""

    label: PhoneLabel
    raw: str
    e164: str | None
    status: PhoneStatus

    @property
    def display(self) -> str:
        return format_international(self.e164) if self.e164 else self.raw

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "raw": self.raw, "e164": self.e164, "status": self.status,
                "display": self.display}


@dataclass(frozen=True, slots=True)
class Client:
    """A person or company the business talks to.

    ``company_id`` links a person to the company they work for. ``owner`` is the username of
    the agent who owns the card (``None``: nobody); a ``private`` client is meant to be shown to
    its owner only — the directory stores the flag, the web layer enforces it. ``auto_created``
    marks cards the call linker made for an unknown number (name = the number), so the UI can
    ask someone to complete them. ``last_contact_at`` is the time of the latest call linked to
    the client (ranks candidates when several share a number)."""

    id: int
    kind: ClientKind
    name: str
    company_id: int | None
    type: str
    tags: tuple[str, ...]
    emails: tuple[str, ...]
    address: str
    notes: str
    owner: str | None
    visibility: Visibility
    auto_created: bool
    phones: tuple[ClientPhone, ...]
    created_at: float
    updated_at: float
    last_contact_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "company_id": self.company_id,
            "type": self.type,
            "tags": list(self.tags),
            "emails": list(self.emails),
            "address": self.address,
            "notes": self.notes,
            "owner": self.owner,
            "visibility": self.visibility,
            "auto_created": self.auto_created,
            "phones": [p.to_json() for p in self.phones],
            "created_at": iso_utc(self.created_at),
            "updated_at": iso_utc(self.updated_at),
            "last_contact_at": iso_utc(self.last_contact_at),
        }


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate client for a number. ``phone`` is the client's number that matched;
    ``rank`` is :data:`RANK_EXACT` or :data:`RANK_LAST_DIGITS` (lower is better); ``how`` says
    which rule found it. Lists of matches come best first: by rank, then most recently
    contacted."""

    client: Client
    phone: ClientPhone
    rank: int
    how: MatchHow

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client.to_json(), "phone": self.phone.to_json(),
                "rank": self.rank, "how": self.how}


@dataclass(frozen=True, slots=True)
class Period:
    """Calls of one day (``2026-11-23``), ISO week (``2026-W48``) or month (``2026-11``)."""

    period: str
    calls: int
    answered: int
    missed: int

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "calls": self.calls, "answered": self.answered,
                "missed": self.missed}


@dataclass(frozen=True, slots=True)
class ClientHistory:
    """The calls linked to a client (newest first, each in the ``CallRecord.to_json()`` shape
    plus ``how`` it was linked) and their counts. ``missed`` counts every call that was not
    answered (missed, busy, abandoned, no answer, failed), whatever its direction: for the
    client card it is one contact that did not happen."""

    client_id: int
    calls: tuple[dict[str, Any], ...]
    total: int
    answered: int
    missed: int
    last_contact_at: float | None
    by_day: tuple[Period, ...] = field(default=())
    by_week: tuple[Period, ...] = field(default=())
    by_month: tuple[Period, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "calls": list(self.calls),
            "total": self.total,
            "answered": self.answered,
            "missed": self.missed,
            "last_contact_at": iso_utc(self.last_contact_at),
            "by_day": [p.to_json() for p in self.by_day],
            "by_week": [p.to_json() for p in self.by_week],
            "by_month": [p.to_json() for p in self.by_month],
        }


def period_counts(
    calls: Sequence[tuple[str, bool]],
) -> tuple[Period, ...]:
    """Group ``(period key, answered)`` pairs into :class:`Period` values, newest period first."""
    totals: dict[str, list[int]] = {}
    for key, answered in calls:
        counts = totals.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += int(answered)
    return tuple(Period(k, n, a, n - a) for k, (n, a) in sorted(totals.items(), reverse=True))
