"""The ticket pages for people: the list with its filters (``/tickets``), one ticket
(``/tickets/{id}``) and its actions, each a plain form post: status, reopen, assign
(transfer with a note), edit, comment, link a call, attach a file.

Who sees and does what is :mod:`cti.webapp.tickets_common`'s (a ticket an agent may not see
is a 404; cancelling needs a supervisor). The page offers only the workflow's allowed moves,
and the server checks them again: a refused move (an old tab, a colleague faster) shows the
ticket again, status 409, with the service's reason in the viewer's language. Every refused
form comes back with what was typed in it. A success answers 303 to the ticket (Post/Redirect/
Get), with a notice code, so a reload does not post again.

The JSON twins are in :mod:`cti.webapp.tickets_api`, files in :mod:`cti.webapp.tickets_files`,
canned phrases and groups in :mod:`cti.webapp.tickets_admin`; :func:`add_routes` adds them all.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiohttp import web

from cti.errors import Conflict, NotFound, ValidationError
from cti.store.tickets_schema import TICKET_KINDS, TICKET_PRIORITIES, TICKET_STATUSES
from cti.tickets.attachments import AttachmentRefused, mb_text
from cti.tickets.model import Ticket
from cti.tickets.queries import count_by_status, list_tickets
from cti.tickets.service import Viewer
from cti.tickets.workflow import OPEN
from cti.users import User
from cti.webapp import ticket_form
from cti.webapp.api import path_id
from cti.webapp.api_clients import can_see
from cti.webapp.auth import current_user
from cti.webapp.calllog import LABELS, NumberFormat, viewer_tz
from cti.webapp.errors import HttpError
from cti.webapp.i18n import Translator, translator
from cti.webapp.i18n_tickets import ATTACHMENT_MESSAGES, TICKET_LABELS
from cti.webapp.keys import ATTACHMENTS, CLIENTS, LANG, PHRASES, SETTINGS, STORE, TICKETS
from cti.webapp.templating import file_size, render
from cti.webapp.tickets_common import (
    PAGE,
    call_facts,
    can_cancel,
    can_reopen,
    check_move,
    linked_calls,
    moves,
    names_of,
    parse_call_key,
    parse_listing,
    viewer_of,
    visible_ticket,
)
from cti.webapp.tickets_view import conflict_text, event_view, validation_text

NOTICES = {"created": "The ticket has been created.", "saved": "Changes saved.",
           "status": "Status changed.", "reopened": "The ticket has been reopened.",
           "assigned": "The ticket has been assigned.", "comment": "Comment added.",
           "call": "Call linked.", "call_known": "This call was linked already.",
           "attachment": "File attached."}


def lang_of(request: web.Request) -> Translator:
    return translator(request.get(LANG) or request.app[SETTINGS].language)


# --------------------------------------------------------------------------- list
async def _client_names(request: web.Request, user: User, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await request.app[STORE].query(
        f"SELECT id, name, visibility, owner FROM clients WHERE id IN ({marks})", sorted(ids))
    return {r["id"]: r["name"] for r in rows
            if r["visibility"] != "private" or r["owner"] == user.username
            or user.at_least("supervisor")}


async def tickets_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    viewer = await viewer_of(request, user)
    listing = parse_listing(request)
    store = request.app[STORE]
    found = await list_tickets(store, listing.query, viewer, limit=PAGE, offset=listing.offset)
    counts = await count_by_status(store, dataclasses.replace(listing.query, status=None),
                                   viewer)
    status = listing.form["status"]
    if status == "any":
        total = sum(counts.values())
    elif status == "open":
        total = sum(counts.get(s, 0) for s in OPEN)
    else:
        total = counts.get(status, 0)
    tabs = [("open", sum(counts.get(s, 0) for s in OPEN)),
            *((s, counts.get(s, 0)) for s in TICKET_STATUSES), ("any", sum(counts.values()))]
    names = await names_of(request)
    clients = await _client_names(request, user, {t.client_id for t in found if t.client_id})
    filtered_client = ""
    if listing.query.client_id is not None:
        filtered_client = (await _client_names(request, user, {listing.query.client_id})
                           ).get(listing.query.client_id, f"#{listing.query.client_id}")
    return render(request, "tickets.html", {
        "tickets": found, "names": names, "clients": clients, "tabs": tabs, "total": total,
        "form": listing.form, "listing": listing, "now": time.time(),
        "next_link": listing.link(offset=listing.offset + PAGE)
        if listing.offset + PAGE < total else None,
        "prev_link": listing.link(offset=max(0, listing.offset - PAGE))
        if listing.offset else None,
        "kinds": TICKET_KINDS, "priorities": TICKET_PRIORITIES, "people": names.assignable,
        "groups": sorted(names.groups.items(), key=lambda g: g[1]),
        "filtered_client": filtered_client, "labels": TICKET_LABELS,
        "is_supervisor": user.at_least("supervisor"),
    })


# --------------------------------------------------------------------------- one ticket
async def _client_card(request: web.Request, user: User, ticket: Ticket,
                       ) -> dict[str, Any] | None:
    if ticket.client_id is None:
        return None
    try:
        client = await request.app[CLIENTS].get(ticket.client_id)
    except NotFound:
        return None
    if not can_see(user, client):
        return {"hidden": True, "id": client.id}
    fmt = NumberFormat(request.app[CLIENTS])
    phones = [{"label": p.label, "shown": fmt(p.e164 or p.raw), "dial": p.e164 or p.raw,
               "valid": p.status != "invalid"} for p in client.phones]
    return {"hidden": False, "client": client, "phones": phones}


async def detail(request: web.Request, user: User, ticket: Ticket, *,
                 errors: dict[str, str] | None = None, typed: dict[str, Any] | None = None,
                 status: int = 200) -> web.Response:
    """The ticket page; ``errors`` (section → message) and ``typed`` (section → the values
    as typed) re-show a refused form."""
    _ = lang_of(request)
    tz = viewer_tz(request, user)
    names = await names_of(request)
    service = request.app[TICKETS]
    attachments = request.app[ATTACHMENTS]
    typed = {"status": {"note": ""}, "comment": {"text": "", "public": False},
             "calls": {"call": ""}, "assign": None, "edit": None, **(typed or {})}
    events = [event_view(ev, names, _, tz) for ev in await service.timeline(ticket.id)]
    files = [{"a": a, "size": file_size(a.size)} for a in await attachments.list(ticket.id)]
    edit = typed.get("edit") or await ticket_form.form_of(request, user, ticket, tz)
    return render(request, "ticket.html", {
        "ticket": ticket, "names": names, "events": events,
        "client": await _client_card(request, user, ticket),
        "calls": await linked_calls(request, user, await service.calls(ticket.id)),
        "files": files, "moves": moves(user, ticket), "can_reopen": can_reopen(ticket),
        "can_cancel": can_cancel(user, ticket), "edit": edit,
        "typed": typed, "errors": errors or {}, "now": time.time(),
        "notice": NOTICES.get(request.query.get("done", ""), ""),
        "kinds": TICKET_KINDS, "priorities": TICKET_PRIORITIES, "people": names.assignable,
        "groups": sorted(names.groups.items(), key=lambda g: g[1]),
        "phrases": await ticket_form.phrase_choices(request), "labels": TICKET_LABELS,
        "max_mb": mb_text(attachments.settings.max_mb),
        "accept": ",".join(attachments.settings.types), "can_dial": bool(user.extensions),
        "call_labels": LABELS,
    }, status=status)


async def ticket_page(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    return await detail(request, user, ticket)


def refusal(exc: Exception, _: Translator) -> tuple[int, str]:
    """The status and the translated message of a refused action."""
    if isinstance(exc, AttachmentRefused):
        code = 413 if exc.code == "too_large" else 415
        msgid = ATTACHMENT_MESSAGES.get(exc.code)
        return code, _(msgid, **exc.values) if msgid else exc.message
    if isinstance(exc, ValidationError):
        return 400, validation_text(exc, _)
    if isinstance(exc, Conflict):
        return 409, conflict_text(str(exc), _)
    if isinstance(exc, HttpError):
        return exc.status, _(exc.message)
    raise exc


async def _action(request: web.Request) -> tuple[User, Viewer, Ticket, dict[str, str]]:
    """The visible ticket and the posted form (text fields only, cut short)."""
    user, viewer, ticket = await visible_ticket(request, path_id(request))
    post = await request.post()
    form = {k: v[:ticket_form.MAX_INPUT] for k, v in post.items() if isinstance(v, str)}
    return user, viewer, ticket, form


def _done(ticket: Ticket, code: str, anchor: str = "") -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/tickets/{ticket.id}?done={code}" + (f"#{anchor}" if anchor
                                                                     else ""))


async def refused_page(request: web.Request, user: User, ticket: Ticket, section: str,
                   exc: Exception, typed: dict[str, Any]) -> web.Response:
    status, text = refusal(exc, lang_of(request))
    fresh = await request.app[TICKETS].get(ticket.id)  # as it is now (a colleague moved it?)
    return await detail(request, user, fresh, errors={section: text},
                        typed={section: typed}, status=status)


async def status_submit(request: web.Request) -> web.StreamResponse:
    user, _v, ticket, form = await _action(request)
    new, note = form.get("status", ""), form.get("note", "")
    try:
        check_move(user, ticket, new)
        await request.app[TICKETS].set_status(ticket.id, user.username, new, note)
    except (ValidationError, Conflict, HttpError) as exc:
        return await refused_page(request, user, ticket, "status", exc, {"note": note})
    raise _done(ticket, "status")


async def reopen_submit(request: web.Request) -> web.StreamResponse:
    user, _v, ticket, form = await _action(request)
    note = form.get("note", "")
    try:
        if ticket.is_open:
            raise Conflict("The ticket is open already.")
        await request.app[TICKETS].reopen(ticket.id, user.username, note)
    except (ValidationError, Conflict) as exc:
        return await refused_page(request, user, ticket, "status", exc, {"note": note})
    raise _done(ticket, "reopened")


async def assign_submit(request: web.Request) -> web.StreamResponse:
    user, _v, ticket, form = await _action(request)
    assignee = form.get("assignee", "").strip() or None
    group = form.get("group_id", "").strip()
    note = form.get("note", "")
    try:
        if group and (not group.isdigit() or len(group) > 18):
            raise ValidationError("group_id", "must be a number")
        await request.app[TICKETS].assign(ticket.id, user.username, assignee=assignee,
                                          group_id=int(group) if group else None, note=note)
    except (ValidationError, Conflict) as exc:
        return await refused_page(request, user, ticket, "assign", exc,
                              {"assignee": assignee or "", "group_id": group, "note": note})
    raise _done(ticket, "assigned")


async def edit_submit(request: web.Request) -> web.StreamResponse:
    user, _v, ticket = await visible_ticket(request, path_id(request))
    form = ticket_form.posted(await request.post(), new=False)
    tz = viewer_tz(request, user)
    try:
        data = await ticket_form.fields_of(request, user, form, tz, ticket)
        if data["due_at"] is not None and ticket.due_at is not None \
                and int(data["due_at"]) // 60 == int(ticket.due_at) // 60:
            data["due_at"] = ticket.due_at  # shown to the minute: unchanged is unchanged
        await request.app[TICKETS].update(ticket.id, user.username, data)
    except (ValidationError, Conflict) as exc:
        return await refused_page(request, user, ticket, "edit", exc, form)
    await request.app[PHRASES].note_used(data, {f: getattr(ticket, f) for f in
                                                ("reason", "response", "result")})
    raise _done(ticket, "saved")


async def comment_submit(request: web.Request) -> web.StreamResponse:
    user, _v, ticket, form = await _action(request)
    text = form.get("text", "")
    public = form.get("public") in ("1", "on")
    try:
        await request.app[TICKETS].comment(ticket.id, user.username, text,
                                           internal=not public)
    except ValidationError as exc:
        return await refused_page(request, user, ticket, "comment", exc,
                              {"text": text, "public": public})
    raise _done(ticket, "comment", "timeline")


async def call_submit(request: web.Request) -> web.StreamResponse:
    user, _v, ticket, form = await _action(request)
    key = form.get("call", "")
    try:
        pbx, call_id = parse_call_key(key)
        try:
            await call_facts(request, user, pbx, call_id)
        except NotFound:
            raise ValidationError("call", "no such call (or not one of yours)") from None
        linked = await request.app[TICKETS].link_call(ticket.id, user.username, pbx, call_id)
    except ValidationError as exc:
        return await refused_page(request, user, ticket, "calls", exc, {"call": key})
    raise _done(ticket, "call" if linked else "call_known", "calls")


def add_routes(app: web.Application) -> None:
    """Every ticket route: these pages, the form, the API, files, phrases and groups."""
    from cti.webapp import tickets_admin, tickets_api, tickets_files

    tickets_files.setup(app)  # the attachment and phrase services, if the app has none
    r = app.router
    one = r"/tickets/{id:\d+}"
    r.add_get("/tickets", tickets_page, name="tickets")
    r.add_get("/tickets/new", ticket_form.new_form, name="ticket_new")
    r.add_post("/tickets/new", ticket_form.new_submit)
    r.add_get(one, ticket_page, name="ticket")
    r.add_post(one + "/status", status_submit, name="ticket_status")
    r.add_post(one + "/reopen", reopen_submit, name="ticket_reopen")
    r.add_post(one + "/assign", assign_submit, name="ticket_assign")
    r.add_post(one + "/edit", edit_submit, name="ticket_edit")
    r.add_post(one + "/comment", comment_submit, name="ticket_comment")
    r.add_post(one + "/calls", call_submit, name="ticket_calls")
    tickets_files.add_routes(app)
    tickets_api.add_routes(app)
    tickets_admin.add_routes(app)
