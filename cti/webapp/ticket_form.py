"""The ticket form: reading what people type into the fields the create page and the ticket
page's edit form share, and the create page itself (``/tickets/new``).

Forms are plain HTML posts (no script needed; ``tickets.js`` only adds suggestions), so the
client is typed as text: a name (one matching client is enough), a number, or what the
suggestion list puts there (``Marie Dupont #12``). The due date comes from a
``datetime-local`` input and is read in the *viewer's* zone, not the server's. A refused form
comes back with status 400, the message at the top and every value as typed.

``?call=<pbx>/<call_id>`` (the pop's "New ticket", the call page's) links that call and fills
the client (the call's linked client) and the contact (the other party); ``?client=<id>`` (a
client card's) fills the client.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.errors import NotFound, ValidationError
from cti.store.tickets_schema import TICKET_KINDS, TICKET_PRIORITIES
from cti.tickets.model import DEFAULT_KIND, Ticket, clean_time
from cti.tickets.phrases import PHRASE_FIELDS
from cti.users import User
from cti.webapp.api_clients import can_see
from cti.webapp.auth import current_user
from cti.webapp.calllog import NumberFormat, viewer_tz
from cti.webapp.i18n import translator
from cti.webapp.i18n_tickets import TICKET_LABELS
from cti.webapp.keys import CLIENTS, LANG, PHRASES, SETTINGS, TICKETS
from cti.webapp.templating import render
from cti.webapp.tickets_common import (
    call_facts,
    names_of,
    parse_call_key,
)
from cti.webapp.tickets_view import validation_text

TEXT_INPUTS = ("client", "contact", "contact_email", "kind", "subject", "reason", "response",
               "result", "priority", "due_at", "equipment", "contract")
CHECKBOXES = ("public", "notify_client")
NEW_ONLY = ("assignee", "group_id", "call")
MAX_INPUT = 10_000
_CLIENT_REF = re.compile(r"(?:^|#)(\d{1,18})\s*$")


def posted(post: Mapping[str, Any], *, new: bool) -> dict[str, str]:
    """The form as typed (a file or a missing field is empty; a flood is cut short)."""
    out: dict[str, str] = {}
    for name in TEXT_INPUTS + (NEW_ONLY if new else ()):
        value = post.get(name, "")
        out[name] = value[:MAX_INPUT] if isinstance(value, str) else ""
    for name in CHECKBOXES:
        out[name] = "1" if post.get(name) in ("1", "on", "true") else ""
    return out


def local_input(value: float | None, tz: ZoneInfo) -> str:
    """Epoch seconds → what a ``datetime-local`` input shows."""
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value, tz).strftime("%Y-%m-%dT%H:%M")


async def client_text(request: web.Request, user: User, client_id: int | None) -> str:
    if client_id is None:
        return ""
    try:
        client = await request.app[CLIENTS].get(client_id)
    except NotFound:
        return f"#{client_id}"
    return f"{client.name} #{client.id}" if can_see(user, client) else f"#{client_id}"


async def form_of(request: web.Request, user: User, ticket: Ticket,
                  tz: ZoneInfo) -> dict[str, str]:
    """A stored ticket as the edit form shows it."""
    out = {name: str(getattr(ticket, name)) for name in TEXT_INPUTS
           if name not in ("client", "due_at")}
    out["client"] = await client_text(request, user, ticket.client_id)
    out["due_at"] = local_input(ticket.due_at, tz)
    for name in CHECKBOXES:
        out[name] = "1" if getattr(ticket, name) else ""
    return out


async def client_ref(request: web.Request, user: User, text: str) -> int | None:
    """The client a typed reference means: ``#12``/``12``/``Name #12``, or a name (or part
    of it) only one visible client matches."""
    text = text.strip()
    if not text:
        return None
    directory = request.app[CLIENTS]
    found = _CLIENT_REF.search(text)
    if found:
        client_id = int(found.group(1))
        try:
            client = await directory.get(client_id)
        except NotFound:
            client = None
        if client is None or not can_see(user, client):
            raise ValidationError("client_id", f"no client {client_id}")
        return client_id
    matches = [c for c in await directory.search(text[:200], limit=5) if can_see(user, c)]
    if not matches:
        raise ValidationError("client_id", "no client matches this name")
    exact = [c for c in matches if c.name.lower() == text.lower()]
    if len(exact) == 1:
        return exact[0].id
    if len(matches) > 1:
        raise ValidationError("client_id", "several clients match: pick one from the list")
    return matches[0].id


async def fields_of(request: web.Request, user: User, form: Mapping[str, str],
                    tz: ZoneInfo, current: Ticket | None = None) -> dict[str, Any]:
    """The typed form → the fields :class:`TicketService` takes (client resolved, the due
    date read in ``tz``). On edit (``current``), a client left as shown stays as it is, even
    a private card the editor may not open."""
    data: dict[str, Any] = {name: form[name] for name in TEXT_INPUTS
                            if name not in ("client", "due_at")}
    data["due_at"] = clean_time("due_at", form["due_at"].strip() or None, tz)
    for name in CHECKBOXES:
        data[name] = form[name] == "1"
    if current is not None and form["client"].strip() == await client_text(
            request, user, current.client_id):
        data["client_id"] = current.client_id
    else:
        data["client_id"] = await client_ref(request, user, form["client"])
    return data


async def phrase_choices(request: web.Request) -> dict[str, list[str]]:
    """The most used phrases of each field, for the ``<datalist>``s (without script too)."""
    service = request.app[PHRASES]
    return {f: [p.text for p in await service.suggest(f, limit=20)] for f in PHRASE_FIELDS}


# --------------------------------------------------------------------------- the new page
async def _page(request: web.Request, form: dict[str, str], *, error: str = "",
                status: int = 200) -> web.Response:
    names = await names_of(request)
    return render(request, "ticket_form.html", {
        "form": form, "error": error, "kinds": TICKET_KINDS, "priorities": TICKET_PRIORITIES,
        "people": names.assignable, "groups": sorted(names.groups.items(), key=lambda g: g[1]),
        "phrases": await phrase_choices(request), "labels": TICKET_LABELS,
        "contact_hint": form.get("contact_hint", ""),
    }, status=status)


async def new_form(request: web.Request) -> web.StreamResponse:
    """``?call=<pbx>/<call_id>`` and ``?client=<id>`` fill the form (see the module doc)."""
    user = current_user(request)
    form = dict.fromkeys(TEXT_INPUTS + NEW_ONLY, "")
    form.update(kind=DEFAULT_KIND, priority="normal", public="1", notify_client="")
    client_id: int | None = None
    raw_call = request.query.get("call", "").strip()
    if raw_call:
        pbx, call_id = parse_call_key(raw_call)
        facts = await call_facts(request, user, pbx, call_id)
        form["call"] = f"{pbx}/{call_id}"
        shown = NumberFormat(request.app[CLIENTS])(facts.number)
        form["contact"] = facts.name if facts.name and facts.name != facts.number else ""
        form["contact_hint"] = shown
        who = f"{facts.name} ({shown})" if form["contact"] and shown else facts.name or shown
        _ = translator(request.get(LANG) or request.app[SETTINGS].language)
        form["subject_hint"] = _("Call from {who}", who=who) if who else ""
        client_id = facts.client_ids[0] if facts.client_ids else None
    raw_client = request.query.get("client", "").strip()
    if raw_client.isdigit() and len(raw_client) <= 18:
        client_id = int(raw_client)
    if client_id is not None:
        form["client"] = await client_text(request, user, client_id)
    return await _page(request, form)


async def new_submit(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = posted(await request.post(), new=True)
    tz = viewer_tz(request, user)
    _ = translator(request.get(LANG) or request.app[SETTINGS].language)
    try:
        data = await fields_of(request, user, form, tz)
        calls = []
        if form["call"].strip():
            pbx, call_id = parse_call_key(form["call"])
            await call_facts(request, user, pbx, call_id)
            calls.append((pbx, call_id))
        group = form["group_id"].strip()
        if group and not group.isdigit():
            raise ValidationError("group_id", "must be a number")
        ticket = await request.app[TICKETS].create(
            user.username, data, assignee=form["assignee"].strip() or None,
            group_id=int(group) if group else None, calls=calls)
    except ValidationError as exc:
        return await _page(request, form, error=validation_text(exc, _), status=400)
    except NotFound as exc:  # the call went out of sight (or never was)
        return await _page(request, form, error=_("This call cannot be found: {detail}",
                                                  detail=str(exc)), status=404)
    await request.app[PHRASES].note_used(data)
    raise web.HTTPSeeOther(f"/tickets/{ticket.id}?done=created")
