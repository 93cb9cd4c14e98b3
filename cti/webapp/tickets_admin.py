"""Canned phrases and groups: their admin pages, and the suggestions the ticket forms ask for.

* ``/admin/phrases`` — supervisors and admins keep the saved problem/solution texts of the
  ``reason``, ``response`` and ``result`` fields (add, reword, delete); they know which answers
  the team should give. Every logged-in user reads them through ``GET /api/phrases?field=&q=``
  (most used first), which fills the forms' ``<datalist>``s as people type.
* ``/admin/groups`` — admins create the groups tickets are given to ("Hotline", "Sales"), set
  their members and their shared mailbox. Groups decide who sees private tickets, so they are
  an access matter: admins, like the user accounts.

Forms follow the house rules: the role is checked on the server, a refused form comes back
with status 400 (409 for a name or phrase that exists) and what was typed, a success answers
303 with a notice code.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cti.errors import Conflict, ValidationError
from cti.tickets.phrases import PHRASE_FIELDS
from cti.webapp.api import int_param, json_response, path_id, str_param
from cti.webapp.auth import current_user, require_role
from cti.webapp.i18n_tickets import TICKET_LABELS
from cti.webapp.keys import GROUPS, PHRASES, USERS
from cti.webapp.templating import render
from cti.webapp.tickets_pages import lang_of, refusal

PHRASE_NOTICES = {"created": "Phrase added.", "saved": "Phrase saved.",
                  "deleted": "Phrase deleted."}
GROUP_NOTICES = {"created": "Group created.", "saved": "Group saved."}


def _form(post: Any, *names: str) -> dict[str, str]:
    out = {}
    for name in names:
        value = post.get(name, "")
        out[name] = value[:10_000] if isinstance(value, str) else ""
    return out


# --------------------------------------------------------------------------- phrases
async def phrases_api(request: web.Request) -> web.StreamResponse:
    """``?field=reason|response|result&q=&limit=``: suggestions, most used first."""
    field = str_param(request, "field") or ""
    if field not in PHRASE_FIELDS:
        raise ValidationError("field", f"must be one of {', '.join(PHRASE_FIELDS)}")
    limit = int_param(request, "limit", 20, low=1, high=50)
    found = await request.app[PHRASES].suggest(field, (str_param(request, "q") or "")[:200],
                                               limit=limit)
    return json_response({"field": field, "phrases": [p.to_json() for p in found]})


async def _phrases_page(request: web.Request, *, error: str = "",
                        typed: dict[str, str] | None = None, failed: int | None = None,
                        status: int = 200) -> web.Response:
    phrases = await request.app[PHRASES].list_all()
    return render(request, "admin_phrases.html", {
        "by_field": {f: [p for p in phrases if p.field == f] for f in PHRASE_FIELDS},
        "fields": PHRASE_FIELDS, "labels": TICKET_LABELS, "error": error, "failed": failed,
        "typed": typed or {"field": "response", "text": ""},
        "notice": PHRASE_NOTICES.get(request.query.get("done", ""), ""),
    }, status=status)


@require_role("supervisor")
async def phrases_page(request: web.Request) -> web.StreamResponse:
    return await _phrases_page(request)


@require_role("supervisor")
async def phrase_create(request: web.Request) -> web.StreamResponse:
    form = _form(await request.post(), "field", "text")
    try:
        await request.app[PHRASES].create(current_user(request).username, form["field"],
                                          form["text"])
    except (ValidationError, Conflict) as exc:
        status, text = refusal(exc, lang_of(request))
        return await _phrases_page(request, error=text, typed=form, status=status)
    raise web.HTTPSeeOther("/admin/phrases?done=created")


@require_role("supervisor")
async def phrase_update(request: web.Request) -> web.StreamResponse:
    phrase_id = path_id(request)
    form = _form(await request.post(), "text")
    try:
        await request.app[PHRASES].update(phrase_id, form["text"])
    except (ValidationError, Conflict) as exc:
        status, text = refusal(exc, lang_of(request))
        return await _phrases_page(request, error=text, failed=phrase_id, status=status)
    raise web.HTTPSeeOther("/admin/phrases?done=saved")


@require_role("supervisor")
async def phrase_delete(request: web.Request) -> web.StreamResponse:
    await request.app[PHRASES].delete(path_id(request))
    raise web.HTTPSeeOther("/admin/phrases?done=deleted")


# --------------------------------------------------------------------------- groups
async def _groups_page(request: web.Request, *, error: str = "",
                       typed: dict[str, Any] | None = None, failed: int | None = None,
                       status: int = 200) -> web.Response:
    users = [u for u in await request.app[USERS].list_all() if u.active]
    return render(request, "admin_groups.html", {
        "groups": await request.app[GROUPS].list_all(), "users": users, "error": error,
        "failed": failed, "typed": typed or {"name": "", "email": "", "members": []},
        "notice": GROUP_NOTICES.get(request.query.get("done", ""), ""),
    }, status=status)


@require_role("admin")
async def groups_page(request: web.Request) -> web.StreamResponse:
    return await _groups_page(request)


def _members(post: Any) -> list[str]:
    return [m for m in post.getall("members", []) if isinstance(m, str)][:500]


@require_role("admin")
async def group_create(request: web.Request) -> web.StreamResponse:
    post = await request.post()
    form: dict[str, Any] = {**_form(post, "name", "email"), "members": _members(post)}
    try:
        await request.app[GROUPS].create(form["name"], form["members"], form["email"])
    except (ValidationError, Conflict) as exc:
        status, text = refusal(exc, lang_of(request))
        return await _groups_page(request, error=text, typed=form, status=status)
    raise web.HTTPSeeOther("/admin/groups?done=created")


@require_role("admin")
async def group_update(request: web.Request) -> web.StreamResponse:
    group_id = path_id(request)
    post = await request.post()
    groups = request.app[GROUPS]
    try:
        await groups.get(group_id)
        email = _form(post, "email")["email"]
        await groups.set_email(group_id, email)
        await groups.set_members(group_id, _members(post))
    except (ValidationError, Conflict) as exc:
        status, text = refusal(exc, lang_of(request))
        return await _groups_page(request, error=text, failed=group_id, status=status)
    raise web.HTTPSeeOther("/admin/groups?done=saved")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/phrases", phrases_api, name="api_phrases")
    r.add_get("/admin/phrases", phrases_page, name="admin_phrases")
    r.add_post("/admin/phrases", phrase_create)
    r.add_post(r"/admin/phrases/{id:\d+}", phrase_update, name="admin_phrase")
    r.add_post(r"/admin/phrases/{id:\d+}/delete", phrase_delete, name="admin_phrase_delete")
    r.add_get("/admin/groups", groups_page, name="admin_groups")
    r.add_post("/admin/groups", group_create)
    r.add_post(r"/admin/groups/{id:\d+}", group_update, name="admin_group")
