"""The client pages for people: the list with its search (``/clients``), one card
(``/clients/{id}``, the screen pop's "Open client"), the create and edit forms, and delete.

They are the HTML face of :mod:`cti.webapp.api_clients` and follow its rules rather than
restating them: everyone logged in reads, creates and edits cards (agents complete
auto-created ones all day), deleting needs a supervisor, and a private card of someone else
is a 404 for an agent (:func:`~cti.webapp.api_clients.can_see`), as if it did not exist.
Checking is the directory's (:func:`cti.clients.validate.clean`), numbers included: what is
typed in national form is stored in E.164 there.

Forms are plain HTML posts (the CSP forbids inline script, and a form must work without any),
so what people type arrives as text: numbers and e-mails one per line, tags separated by
commas. A refused form comes back with status 400, the message beside it and every value as it
was typed. On edit, numbers left as they were are not sent again, so their labels and the way
they were first written survive an edit of the name.

A card lists the client's last calls *that the viewer may see* (an agent's own extensions,
through the call log's query), so each links to a call page that opens; the call log filtered
on the client has the rest.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from cti.clients.directory import ClientDirectory
from cti.clients.model import KINDS, VISIBILITIES, Client
from cti.clients.validate import phone_key, phone_of
from cti.errors import NotFound, ValidationError
from cti.store import calls_queries as cq
from cti.tickets.service import visible_to
from cti.users import User
from cti.webapp.api import int_param, path_id, str_param
from cti.webapp.api_clients import can_see
from cti.webapp.auth import current_user, require_role
from cti.webapp.calllog import LABELS, NumberFormat, present
from cti.webapp.i18n_clients import (
    FIELD_LABELS,
    KIND_LABELS,
    PHONE_LABELS,
    VISIBILITY_LABELS,
    message_id,
)
from cti.webapp.i18n_tickets import STATUS_LABELS
from cti.webapp.keys import CLIENTS, STORE, TICKETS
from cti.webapp.templating import render
from cti.webapp.tickets_common import viewer_of

PAGE = 50
LAST_CALLS = 20
MEMBERS = 100
FORM_FIELDS = ("kind", "name", "type", "tags", "phones", "emails", "address", "notes",
               "visibility")
CLIENT_LABELS = {**LABELS, "kind": KIND_LABELS, "visibility": VISIBILITY_LABELS,
                 "phone": PHONE_LABELS, "field": FIELD_LABELS}

_LIST_SPLIT = re.compile(r"[,;\n]")
_EMAIL_SPLIT = re.compile(r"[\s,;]+")


async def _visible(request: web.Request, client_id: int) -> Client:
    client = await request.app[CLIENTS].get(client_id)
    if not can_see(current_user(request), client):
        raise NotFound(f"no client {client_id}")
    return client


def _phones(client: Client, fmt: NumberFormat) -> list[dict[str, Any]]:
    return [{"label": p.label, "shown": fmt(p.e164 or p.raw), "dial": p.e164 or p.raw,
             "valid": p.status != "invalid"} for p in client.phones]


def _summary(client: Client, fmt: NumberFormat) -> dict[str, Any]:
    return {"client": client, "phones": _phones(client, fmt), "url": f"/clients/{client.id}"}


# --------------------------------------------------------------------------- list
async def clients_page(request: web.Request) -> web.StreamResponse:
    """``?q=&tag=&type=&offset=``: ``q`` is the directory's search (name, e-mails, address,
    notes and, from 4 digits, the end of a number)."""
    user = current_user(request)
    directory = request.app[CLIENTS]
    form = {k: str_param(request, k) or "" for k in ("q", "tag", "type")}
    offset = int_param(request, "offset", 0, low=0)
    found = await directory.search(form["q"] or None, tag=form["tag"] or None,
                                   type=form["type"] or None, limit=PAGE, offset=offset)
    total = await directory.count(form["q"] or None, tag=form["tag"] or None,
                                  type=form["type"] or None)
    fmt = NumberFormat(directory)
    more = None
    if offset + PAGE < total:
        more = urlencode({**{k: v for k, v in form.items() if v}, "offset": offset + PAGE})
    return render(request, "clients.html", {
        "clients": [_summary(c, fmt) for c in found if can_see(user, c)], "total": total,
        "form": form, "more_link": more, "types": directory.settings.types,
        "can_dial": bool(user.extensions), "labels": CLIENT_LABELS,
        "notice": request.query.get("notice", ""),
    })


# --------------------------------------------------------------------------- card
async def _card(request: web.Request, client: Client, *, error: str = "",
                status: int = 200) -> web.Response:
    user = current_user(request)
    directory = request.app[CLIENTS]
    store = request.app[STORE]
    fmt = NumberFormat(directory)
    company = None
    if client.company_id is not None:
        try:
            company = await directory.get(client.company_id)
        except NotFound:
            company = None
        if company is not None and not can_see(user, company):
            company = None
    members: list[Client] = []
    if client.kind == "company":
        members = [m for m in await directory.search(company_id=client.id, limit=MEMBERS)
                   if can_see(user, m)]
    viewer = await viewer_of(request, user)
    tickets = [t for t in await request.app[TICKETS].open_for_clients([client.id])
               if visible_to(viewer, t)]
    scope = None if user.at_least("supervisor") else user.extensions
    query = cq.CallQuery(client_id=client.id, scope=scope)
    calls, _next = await cq.list_calls(store, query, limit=LAST_CALLS)
    return render(request, "client.html", {
        "client": client, "phones": _phones(client, fmt), "company": company,
        "members": members, "calls": [present(c, fmt, user, []) for c in calls],
        "calls_total": await cq.count_calls(store, query),
        "can_dial": bool(user.extensions), "can_delete": user.at_least("supervisor"),
        "labels": CLIENT_LABELS, "error": error, "tickets": tickets,
        "status_labels": STATUS_LABELS,
    }, status=status)


async def client_page(request: web.Request) -> web.StreamResponse:
    return await _card(request, await _visible(request, path_id(request)))


@require_role("supervisor")
async def delete_client(request: web.Request) -> web.StreamResponse:
    """As ``DELETE /api/clients/{id}``: supervisors and admins. A veto (a service still
    refers to the client) shows the card again with the reason, 409."""
    client = await _visible(request, path_id(request))
    directory = request.app[CLIENTS]
    reason = await directory.can_delete(client.id)
    if reason:
        return await _card(request, client, error=reason, status=409)
    await directory.delete(client.id)
    raise web.HTTPSeeOther("/clients?notice=deleted")


# --------------------------------------------------------------------------- forms
def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _form_of(client: Client, fmt: NumberFormat) -> dict[str, str]:
    """A stored client as the form shows it (numbers as people write them)."""
    return {"kind": client.kind, "name": client.name, "type": client.type,
            "tags": ", ".join(client.tags),
            "phones": "\n".join(fmt(p.e164 or p.raw) for p in client.phones),
            "emails": "\n".join(client.emails), "address": client.address,
            "notes": client.notes, "visibility": client.visibility}


def _posted(post: MultiDictProxy[Any]) -> dict[str, str]:
    out = {}
    for name in FORM_FIELDS:
        value = post.get(name, "")
        out[name] = value if isinstance(value, str) else ""
    return out


def _changes(form: dict[str, str], directory: ClientDirectory, user: User,
             current: Client | None, before: dict[str, str] | None) -> dict[str, Any]:
    """The typed text → the fields ``create``/``update`` take."""
    data: dict[str, Any] = {
        "kind": form["kind"], "name": form["name"], "type": form["type"],
        "tags": [t.strip() for t in _LIST_SPLIT.split(form["tags"]) if t.strip()],
        "emails": [e for e in _EMAIL_SPLIT.split(form["emails"]) if e],
        "address": form["address"], "notes": form["notes"], "visibility": form["visibility"],
    }
    lines = _lines(form["phones"])
    if current is None or before is None:
        data["phones"] = lines
    elif lines != _lines(before["phones"]):
        # a number kept keeps its label (mobile, home…); new ones get the directory's guess
        labels = {phone_key(p): p.label for p in current.phones}
        phones: list[Any] = []
        for line in lines:
            label = labels.get(phone_key(phone_of(line, directory.settings)))
            phones.append({"number": line, "label": label} if label else line)
        data["phones"] = phones
    if current is not None and form["type"] == current.type:
        del data["type"]  # a type since removed from clients.types must not block the edit
    if form["visibility"] == "private" and (current is None or current.owner is None):
        data["owner"] = user.username  # "private" without an owner means "mine", as the API
    return data


def _form_page(request: web.Request, form: dict[str, str], client: Client | None, *,
               error: ValidationError | None = None, status: int = 200) -> web.Response:
    directory = request.app[CLIENTS]
    types = list(directory.settings.types)
    if form["type"] and form["type"] not in types:
        types.append(form["type"])
    shown_error = None
    if error is not None:
        msgid, values = message_id(error.message)
        shown_error = {"field": error.field, "msgid": msgid, "params": values}
    return render(request, "client_form.html", {
        "client": client, "form": form, "error": shown_error, "kinds": KINDS, "types": types,
        "visibilities": VISIBILITIES, "labels": CLIENT_LABELS,
        "action": f"/clients/{client.id}/edit" if client else "/clients/new",
    }, status=status)


async def new_form(request: web.Request) -> web.StreamResponse:
    """``?number=`` (and ``?name=``) fill the form: "add this caller" from elsewhere."""
    directory = request.app[CLIENTS]
    form = dict.fromkeys(FORM_FIELDS, "")
    form.update(kind="person", type=directory.settings.default_type, visibility="public",
                phones=str_param(request, "number") or "", name=str_param(request, "name") or "")
    return _form_page(request, form, None)


async def new_submit(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    directory = request.app[CLIENTS]
    form = _posted(await request.post())
    try:
        client = await directory.create(_changes(form, directory, user, None, None))
    except ValidationError as exc:
        return _form_page(request, form, None, error=exc, status=400)
    raise web.HTTPSeeOther(f"/clients/{client.id}")


async def edit_form(request: web.Request) -> web.StreamResponse:
    client = await _visible(request, path_id(request))
    return _form_page(request, _form_of(client, NumberFormat(request.app[CLIENTS])), client)


async def edit_submit(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    directory = request.app[CLIENTS]
    client = await _visible(request, path_id(request))
    form = _posted(await request.post())
    before = _form_of(client, NumberFormat(directory))
    try:
        await directory.update(client.id, _changes(form, directory, user, client, before))
    except ValidationError as exc:
        return _form_page(request, form, client, error=exc, status=400)
    raise web.HTTPSeeOther(f"/clients/{client.id}")


def add_routes(app: web.Application) -> None:
    r = app.router
    one = r"/clients/{id:\d+}"
    r.add_get("/clients", clients_page, name="clients")
    r.add_get("/clients/new", new_form, name="client_new")
    r.add_post("/clients/new", new_submit)
    r.add_get(one, client_page, name="client_page")  # the screen pop's "Open client"
    r.add_get(one + "/edit", edit_form, name="client_edit")
    r.add_post(one + "/edit", edit_submit)
    r.add_post(one + "/delete", delete_client, name="client_delete")
