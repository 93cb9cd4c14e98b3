"""How tickets read on the pages: timeline lines in the viewer's language and zone, the
services' English messages turned back into catalog ids, file sizes.

The services speak English sentences, some carrying values (``A closed ticket must be
reopened before it can be in_progress.``). The JSON API returns them as they are (scripts read
them); the pages match them against the patterns below to show them translated, with status
names translated too. A message no pattern knows is shown as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from cti.calls.model import parse_iso_utc
from cti.errors import ValidationError
from cti.tickets.model import TicketEvent
from cti.webapp.i18n import Translator
from cti.webapp.i18n_tickets import (
    EVENT_LABELS,
    FIELD_LABELS,
    KIND_LABELS,
    PRIORITY_LABELS,
    STATUS_LABELS,
)
from cti.webapp.templating import file_size
from cti.webapp.tickets_common import Names

#: Values of a field change worth showing inline (longer ones just say "changed").
SHORT = 80

_CONFLICTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^The ticket is already (?P<old>\w+)\.$"), "The ticket is already {old}."),
    (re.compile(r"^A (?P<old>\w+) ticket must be reopened before it can be (?P<new>\w+)\.$"),
     "A {old} ticket must be reopened before it can be {new}."),
    (re.compile(r"^A ticket cannot go from (?P<old>\w+) to (?P<new>\w+)\.$"),
     "A ticket cannot go from {old} to {new}."),
    (re.compile(r"^Unknown status (?P<new>.+)\.$"), "Unknown status {new}."),
    (re.compile(r"^A group named (?P<name>.+) exists already\.$"),
     "A group named {name} exists already."),
)

_VALIDATION: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^must be at most (?P<n>\d+) characters$"), "must be at most {n} characters"),
    (re.compile(r"^must be one of (?P<choices>.+)$"), "must be one of {choices}"),
    (re.compile(r"^no client (?P<value>.+)$"), "no client {value}"),
    (re.compile(r"^no active user (?P<value>.+)$"), "no active user {value}"),
    (re.compile(r"^no group (?P<value>.+)$"), "no group {value}"),
    (re.compile(r"^unknown user (?P<value>.+)$"), "unknown user {value}"),
    (re.compile(r"^must be a date and time.*$"), "must be a date and time"),
)


def status_label(status: str, _: Translator) -> str:
    return _(STATUS_LABELS.get(status, status))


def conflict_text(message: str, _: Translator) -> str:
    """A workflow refusal in the viewer's language (statuses named as the page names them)."""
    for pattern, msgid in _CONFLICTS:
        found = pattern.match(message)
        if found:
            values = {k: status_label(v, _) if k in ("old", "new") else v
                      for k, v in found.groupdict().items()}
            return _(msgid, **values)
    return _(message)


def validation_text(exc: ValidationError, _: Translator) -> str:
    """``Check “Subject”: is required``, translated."""
    message = _(exc.message)
    for pattern, msgid in _VALIDATION:
        found = pattern.match(exc.message)
        if found:
            message = _(msgid, **found.groupdict())
            break
    field = _(FIELD_LABELS.get(exc.field, exc.field))
    return _("Check “{field}”: {message}", field=field, message=message)


def _value(field: str, value: Any, _: Translator, names: Names, tz: ZoneInfo) -> str | None:
    """A field's value as a line of the timeline shows it; None when too long to."""
    if value is None or value == "":
        return "—"
    if field == "due_at" and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value), tz).strftime("%d/%m/%Y %H:%M")
    if field in ("public", "notify_client"):
        return _("yes") if value else _("no")
    if field == "kind":
        return _(KIND_LABELS.get(str(value), str(value)))
    if field == "priority":
        return _(PRIORITY_LABELS.get(str(value), str(value)))
    if field == "client_id":
        return f"#{value}"
    text = str(value)
    return text if len(text) <= SHORT and "\n" not in text else None


def _assignment(d: dict[str, Any], names: Names, _: Translator) -> str:
    person, group = names.person(d.get("assignee")), names.group(d.get("group_id"))
    if person and group:
        return _("Assigned to {person} ({group})", person=person, group=group)
    if person:
        return _("Assigned to {person}", person=person)
    if group:
        return _("Assigned to the group {group}", group=group)
    return _("Unassigned")


def event_view(ev: TicketEvent, names: Names, _: Translator, tz: ZoneInfo) -> dict[str, Any]:
    """One timeline line: ``text`` (what happened), ``body`` (a note or comment, kept as
    typed), ``link`` (a call's or a file's page) and who/when."""
    d = ev.data
    body = ""
    link = None
    kind = ev.kind
    if kind == "created":
        text = _("Ticket {number} created", number=d.get("number", ""))
    elif kind == "status":
        text = _("Status: {old} → {new}", old=status_label(str(d.get("old", "")), _),
                 new=status_label(str(d.get("new", "")), _))
        body = str(d.get("note") or "")
    elif kind == "reopened":
        text = _("Reopened ({old} → {new})", old=status_label(str(d.get("old", "")), _),
                 new=status_label(str(d.get("new", "")), _))
        body = str(d.get("note") or "")
    elif kind == "assigned":
        text = _assignment(d, names, _)
        body = str(d.get("note") or "")
    elif kind == "field":
        name = str(d.get("field", ""))
        label = _(FIELD_LABELS.get(name, name))
        old, new = (_value(name, d.get(k), _, names, tz) for k in ("old", "new"))
        if old is None or new is None:
            text = _("“{field}” changed", field=label)
            body = str(d.get("new") or "") if new is None else ""
        else:
            text = _("“{field}”: {old} → {new}", field=label, old=old, new=new)
    elif kind == "comment":
        text = _("Internal note") if ev.internal else _("Comment visible to the client")
        body = str(d.get("text") or "")
    elif kind == "call":
        text = _("Call linked: {call}", call=f"{d.get('pbx', '')}/{d.get('call_id', '')}")
        link = f"/calls/{d.get('pbx', '')}/{d.get('call_id', '')}"
    elif kind == "attachment":
        text = _("File attached: {name} ({size})", name=str(d.get("name", "")),
                 size=file_size(int(d.get("size") or 0)))
        link = f"/tickets/{ev.ticket_id}/attachments/{d.get('id', '')}"
    elif kind in ("email", "mail"):
        text = _("E-mail sent: {subject}", subject=str(d.get("subject", "")))
    elif kind == "callback":
        due = _value("due_at", parse_iso_utc(d.get("due_at")), _, names, tz) or "—"
        text = _("Callback planned for {when}", when=due)
        body = str(d.get("note") or "")
    elif kind == "callback_attempt":
        text = _("Called back (attempt {n})", n=int(d.get("attempt") or 1))
    elif kind in ("callback_done", "callback_cancelled"):
        text = _(EVENT_LABELS[kind])
        body = str(d.get("result") or "")
    else:
        text = _(EVENT_LABELS.get(kind, kind))  # another service's entry
        body = str(d.get("note") or d.get("text") or "")
    return {"id": ev.id, "at": ev.at, "actor": names.person(ev.actor) or ev.actor,
            "kind": kind, "text": text, "body": body, "link": link, "internal": ev.internal}
