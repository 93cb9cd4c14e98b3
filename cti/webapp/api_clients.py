"""``/api/clients``: the client directory as JSON (list/search, get, create, update, merge,
delete, history, vCard, match).

Roles: every logged-in user reads, creates and edits cards (agents complete auto-created cards
all day); merging and deleting lose information if done wrong, so they need a supervisor.
Private cards (``visibility = private``) are shown to their owner and to supervisors only: the
directory stores the flag, and this layer, which knows who is asking, enforces it (another
agent gets 404, as if the card did not exist). Every mutating call needs the session's CSRF
token (checked by the auth middleware before the view runs).

Errors: ``ValidationError`` → 422 naming the field, unknown id → 404, a vetoed delete → 409
(all rendered by :mod:`cti.webapp.errors`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from cti.clients.directory import MAX_PAGE
from cti.clients.export import to_vcard
from cti.clients.model import Client
from cti.errors import NotFound, ValidationError
from cti.users import User
from cti.webapp.api import int_param, json_object, json_response, path_id, str_param
from cti.webapp.auth import current_user, require_role
from cti.webapp.i18n import pick_timezone
from cti.webapp.keys import CLIENTS, SETTINGS
from cti.webapp.templating import TZ_COOKIE

BASE = "/api/clients"


def can_see(user: User, client: Client) -> bool:
    return (client.visibility != "private" or client.owner == user.username
            or user.at_least("supervisor"))


async def _visible(request: web.Request, client_id: int) -> Client:
    client = await request.app[CLIENTS].get(client_id)
    if not can_see(current_user(request), client):
        raise NotFound(f"no client {client_id}")
    return client


async def list_clients(request: web.Request) -> web.StreamResponse:
    """``?q=&number=&tag=&type=&company_id=&limit=&offset=``; ``total`` counts every match
    (private cards of others included: a page may then hold fewer than ``limit`` items)."""
    directory = request.app[CLIENTS]
    user = current_user(request)
    limit = int_param(request, "limit", 50, low=1, high=MAX_PAGE)
    offset = int_param(request, "offset", 0, low=0)
    company = request.query.get("company_id")
    company_id = int_param(request, "company_id", 0, low=1) if company else None
    filters: dict[str, Any] = {"number": str_param(request, "number"),
                               "tag": str_param(request, "tag"),
                               "type": str_param(request, "type"), "company_id": company_id}
    q_text = str_param(request, "q")
    found = await directory.search(q_text, limit=limit, offset=offset, **filters)
    total = await directory.count(q_text, **filters)
    return json_response({"clients": [c.to_json() for c in found if can_see(user, c)],
                          "total": total, "limit": limit, "offset": offset})


async def get_client(request: web.Request) -> web.StreamResponse:
    return json_response((await _visible(request, path_id(request))).to_json())


async def create_client(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    user = current_user(request)
    if body.get("visibility") == "private" and not body.get("owner"):
        body["owner"] = user.username  # "private" without an owner means "mine"
    client = await request.app[CLIENTS].create(body)
    return json_response(client.to_json(), status=201,
                         headers={"Location": f"{BASE}/{client.id}"})


async def update_client(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    body = await json_object(request)
    await _visible(request, client_id)
    client = await request.app[CLIENTS].update(client_id, body)
    return json_response(client.to_json())


@require_role("supervisor")
async def merge_clients(request: web.Request) -> web.StreamResponse:
    """Body ``{"absorb": id}``: that client is folded into this one and deleted."""
    keep_id = path_id(request)
    body = await json_object(request)
    absorb = body.get("absorb")
    if isinstance(absorb, bool) or not isinstance(absorb, int) or absorb < 1:
        raise ValidationError("absorb", "must be the id of the client to merge into this one")
    try:
        merged = await request.app[CLIENTS].merge(keep_id, absorb)
    except ValidationError as exc:
        field = "absorb" if exc.field == "absorb_id" else exc.field  # the name the caller used
        raise ValidationError(field, exc.message) from exc
    return json_response(merged.to_json())


@require_role("supervisor")
async def delete_client(request: web.Request) -> web.StreamResponse:
    await request.app[CLIENTS].delete(path_id(request))
    return web.Response(status=204)


async def client_history(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    await _visible(request, client_id)
    user = current_user(request)
    tz = pick_timezone(user.timezone, request.cookies.get(TZ_COOKIE),
                       request.app[SETTINGS].timezone)
    limit = int_param(request, "limit", 100, low=1, high=1000)
    history = await request.app[CLIENTS].history(client_id, tz=tz, limit=limit)
    return json_response(history.to_json())


async def client_vcard(request: web.Request) -> web.StreamResponse:
    client = await _visible(request, path_id(request))
    company = None
    if client.company_id is not None:
        try:
            company = (await request.app[CLIENTS].get(client.company_id)).name
        except NotFound:
            company = None
    filename = quote(f"client-{client.id}.vcf")
    return web.Response(text=to_vcard(client, company=company), content_type="text/vcard",
                        charset="utf-8",
                        headers={"Content-Disposition": f"attachment; filename={filename}"})


async def match_number(request: web.Request) -> web.StreamResponse:
    """``?number=&direction=``: the candidates a screen pop would show, best first."""
    number = str_param(request, "number")
    if number is None:
        raise ValidationError("number", "a phone number is required")
    direction = str_param(request, "direction") or "inbound"
    if direction not in ("inbound", "outbound", "internal"):
        raise ValidationError("direction", "one of inbound, outbound, internal")
    user = current_user(request)
    matches = await request.app[CLIENTS].match(number, direction=direction)
    return json_response({"matches": [m.to_json() for m in matches
                                      if can_see(user, m.client)]})


def add_routes(app: web.Application) -> None:
    r = app.router
    one = BASE + r"/{id:\d+}"
    r.add_get(BASE, list_clients, name="api_clients")
    r.add_post(BASE, create_client)
    r.add_get(BASE + "/match", match_number, name="api_clients_match")
    r.add_get(one, get_client, name="api_client")
    r.add_patch(one, update_client)
    r.add_delete(one, delete_client)
    r.add_post(one + "/merge", merge_clients, name="api_client_merge")
    r.add_get(one + "/history", client_history, name="api_client_history")
    r.add_get(one + "/vcard", client_vcard, name="api_client_vcard")
