"""Ticket values and the validation of what people type into them.

A :class:`Ticket` is the current state of a request; a :class:`TicketEvent` one line of its
timeline. :func:`clean_fields` turns a form or a JSON body into checked column values, with a
:class:`~cti.errors.ValidationError` naming the field for anything wrong (the page puts the
message next to the input and keeps what was typed).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cti.calls.model import iso_utc, parse_iso_utc
from cti.errors import ValidationError
from cti.store.tickets_schema import TICKET_KINDS, TICKET_PRIORITIES
from cti.tickets.workflow import FINISHED

#: Text fields → longest accepted length.
TEXT_FIELDS: dict[str, int] = {
    "subject": 200, "reason": 200, "response": 4000, "result": 4000, "contact": 200,
    "contact_email": 254, "equipment": 200, "contract": 200,
}
BOOL_FIELDS: tuple[str, ...] = ("public", "notify_client")
#: Everything :meth:`TicketService.update` may change (status and assignment have their own
#: actions, with their own rules).
EDITABLE: tuple[str, ...] = (*TEXT_FIELDS, "kind", "priority", "due_at", "client_id",
                             *BOOL_FIELDS)
DEFAULT_KIND = "hotline"
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    number: str
    client_id: int | None
    contact: str
    contact_email: str
    kind: str
    subject: str
    reason: str
    response: str
    result: str
    priority: str
    status: str
    assignee: str | None
    group_id: int | None
    due_at: float | None
    equipment: str
    contract: str
    public: bool
    notify_client: bool
    created_by: str
    created_at: float
    updated_at: float
    closed_at: float | None

    @property
    def is_open(self) -> bool:
        return self.status not in FINISHED

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        for name in ("due_at", "created_at", "updated_at", "closed_at"):
            out[name] = iso_utc(out[name])
        out["is_open"] = self.is_open
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Ticket:
        values = {name: row[name] for name in cls.__slots__}
        for name in BOOL_FIELDS:
            values[name] = bool(values[name])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class TicketEvent:
    id: int
    ticket_id: int
    at: float
    actor: str
    kind: str
    internal: bool
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ticket_id": self.ticket_id, "at": iso_utc(self.at),
                "actor": self.actor, "kind": self.kind, "internal": self.internal,
                "data": self.data}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TicketEvent:
        try:
            data = json.loads(row["data"])
        except ValueError:
            data = {}
        return cls(row["id"], row["ticket_id"], row["at"], row["actor"], row["kind"],
                   bool(row["internal"]), data if isinstance(data, dict) else {})


def clean_text(name: str, value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(name, "must be text")
    text = value.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise ValidationError(name, f"must be at most {limit} characters")
    if "\x00" in text:
        raise ValidationError(name, "must not contain NUL characters")
    if limit <= 254 and ("\n" in text or "\r" in text):
        raise ValidationError(name, "must be on one line")
    return text


def clean_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", "0", "false", "off", "no", 0):
        return False
    if value in ("1", "true", "on", "yes", 1):
        return True
    raise ValidationError(name, "must be true or false")


def clean_time(name: str, value: Any, tz: dt.tzinfo) -> float | None:
    """Epoch seconds from a number, an ISO 8601 text (with offset or ``Z``), or a local
    ``YYYY-MM-DDTHH:MM`` as a browser's ``datetime-local`` input sends (read in ``tz``)."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValidationError(name, "must be a date and time")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError(name, "must be a date and time")
    text = value.strip()
    try:
        if text.endswith("Z"):
            parsed = parse_iso_utc(text)
            if parsed is None:
                raise ValueError(text)
            return parsed
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(name, "must be a date and time (YYYY-MM-DD HH:MM)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def clean_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValidationError(name, f"must be one of {', '.join(choices)}")
    return str(value)


def clean_id(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValidationError(name, "must be a number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(name, "must be a number") from None
    if not 0 < number < 2**62:
        raise ValidationError(name, "must be a positive number")
    return number


def clean_fields(data: Mapping[str, Any], tz: dt.tzinfo, *, partial: bool) -> dict[str, Any]:
    """Checked values of the editable fields in ``data``. ``partial``: only the fields given
    (an update); else every field, with defaults, and a subject required (a creation)."""
    unknown = sorted(k for k in data if k not in EDITABLE)
    if unknown:
        raise ValidationError(unknown[0], "is not a ticket field")
    out: dict[str, Any] = {}
    for name, limit in TEXT_FIELDS.items():
        if name in data or not partial:
            out[name] = clean_text(name, data.get(name), limit)
    if "contact_email" in out and out["contact_email"] and not _EMAIL.match(
            out["contact_email"]):
        raise ValidationError("contact_email", "is not an e-mail address")
    if "subject" in out and not out["subject"]:
        raise ValidationError("subject", "is required")
    if "kind" in data or not partial:
        out["kind"] = clean_choice("kind", data.get("kind") or DEFAULT_KIND, TICKET_KINDS)
    if "priority" in data or not partial:
        out["priority"] = clean_choice("priority", data.get("priority") or "normal",
                                       TICKET_PRIORITIES)
    if "due_at" in data or not partial:
        out["due_at"] = clean_time("due_at", data.get("due_at"), tz)
    if "client_id" in data or not partial:
        out["client_id"] = clean_id("client_id", data.get("client_id"))
    for name in BOOL_FIELDS:
        if name in data or not partial:
            out[name] = clean_bool(name, data.get(name, name == "public"))
    return out


def format_number(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}{year}-{seq:06d}"
