"""The action center's changes: callbacks, notifications, missed calls, follow-ups, notes.

Every handler answers two callers. Under ``/api/…`` a script sends JSON and gets JSON
(errors as JSON, via the error middleware); under ``/actions/…`` the page's plain HTML forms
post (``csrf_token`` field) and are sent back to ``/actions`` (303), with a mistake shown on
the page rather than as an error page. The rules are the same, on the server:

* **Callbacks**: an agent completes, tries or cancels their own and their groups' (403
  otherwise, :func:`cti.tickets.callbacks.can_act`); supervisors every one. Anyone may set a
  callback for a colleague or a group (taking a message for them is the point).
* **Missed calls**: an agent marks those that rang their extensions; supervisors any.
* **Follow-ups and notes** are their owner's: anybody else's is "not found".
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cti.errors import Conflict, ValidationError
from cti.store.calls_queries import call_row_visible
from cti.tickets.callbacks import Callback, can_act
from cti.tickets.model import clean_time
from cti.tickets.service import Viewer, visible_to
from cti.users import User
from cti.webapp.api import json_object, json_response, path_id, str_param
from cti.webapp.auth import current_user
from cti.webapp.calllog import viewer_tz
from cti.webapp.errors import HttpError, is_api
from cti.webapp.keys import (
    ACTION_CENTER,
    CALLBACKS,
    COUNTS,
    GROUPS,
    NOTIFICATIONS,
    STORE,
    TICKETS,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FORM_SKIP = ("csrf_token",)


# --------------------------------------------------------------------------- shared
async def viewer_of(request: web.Request) -> tuple[User, Viewer]:
    user = current_user(request)
    groups = tuple(await request.app[GROUPS].of_user(user.username))
    return user, Viewer(user.username, user.at_least("supervisor"), groups)


def scope_of(user: User) -> tuple[str, ...] | None:
    """Whose missed calls: an agent's extensions; None (every call) for supervisors."""
    return None if user.at_least("supervisor") else tuple(user.extensions)


async def body_of(request: web.Request) -> dict[str, Any]:
    """JSON under ``/api/``; the form's fields (but the CSRF token) under ``/actions/``."""
    if is_api(request):
        return await json_object(request)
    form = await request.post()
    out: dict[str, Any] = {}
    for key in form:
        if key not in _FORM_SKIP:
            values = [v for v in form.getall(key) if isinstance(v, str)]
            out[key] = values if key == "key" else (values[-1] if values else "")
    return out


def reply(request: web.Request, data: Any, *, status: int = 200,
          anchor: str = "") -> web.StreamResponse:
    if is_api(request):
        return json_response(data, status=status)
    raise web.HTTPSeeOther("/actions" + (f"#{anchor}" if anchor else ""))


def form_errors(anchor: str) -> Callable[[Handler], Handler]:
    """For the page's forms: a mistake goes back to ``/actions`` with the message, next to
    the section it came from (the API lets the middleware answer 422/409)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except (ValidationError, Conflict) as exc:
                if is_api(request):
                    raise
                if isinstance(exc, ValidationError):
                    query = {"error": exc.message, "field": exc.field}
                else:
                    query = {"error": str(exc)}
                raise web.HTTPSeeOther(f"/actions?{urlencode(query)}#{anchor}") from None

        return wrapped

    return decorate


def due_time(request: web.Request, user: User, value: Any) -> float | None:
    """A ``datetime-local`` value is the viewer's local time (their zone, not the server's)."""
    return clean_time("due_at", value, viewer_tz(request, user))


def optional_id(value: Any) -> Any:
    return None if value in (None, "") else value


def text_of(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(name, "must be text")
    return value


# --------------------------------------------------------------------------- callbacks
async def callback_for(request: web.Request) -> tuple[User, Callback]:
    user, viewer = await viewer_of(request)
    callback = await request.app[CALLBACKS].get(path_id(request))
    if not can_act(viewer, callback):
        raise HttpError(403, "This callback is not yours.", code="forbidden")
    return user, callback


@form_errors("callbacks")
async def create_callback(request: web.Request) -> web.StreamResponse:
    user, viewer = await viewer_of(request)
    body = await body_of(request)
    ticket_id = optional_id(body.get("ticket_id"))
    if ticket_id is not None:
        try:
            ticket = await request.app[TICKETS].get(int(ticket_id))
        except (TypeError, ValueError):
            raise ValidationError("ticket_id", "must be a number") from None
        if not visible_to(viewer, ticket):
            raise ValidationError("ticket_id", f"no ticket {ticket_id}")
    made = await request.app[CALLBACKS].create(
        user.username, kind=str(body.get("kind") or ""),
        due_at=due_time(request, user, body.get("due_at")) or "",
        ticket_id=ticket_id, client_id=optional_id(body.get("client_id")),
        number=str(body.get("number") or ""), assignee=optional_id(body.get("assignee")),
        group_id=optional_id(body.get("group_id")), note=str(body.get("note") or ""),
        email=body.get("email") or False)
    return reply(request, made.to_json(), status=201, anchor="callbacks")


async def my_callbacks(request: web.Request) -> web.StreamResponse:
    user, viewer = await viewer_of(request)
    service = request.app[CALLBACKS]
    mine = await service.mine(user.username, viewer.groups, unassigned=viewer.supervisor)
    now = service.clock()
    return json_response({"callbacks": [c.to_json(now) for c in mine]})


@form_errors("callbacks")
async def callback_done(request: web.Request) -> web.StreamResponse:
    user, callback = await callback_for(request)
    body = await body_of(request)
    done = await request.app[CALLBACKS].done(callback.id, user.username,
                                             text_of(body, "result"))
    return reply(request, done.to_json(), anchor="callbacks")


async def callback_attempt(request: web.Request) -> web.StreamResponse:
    user, callback = await callback_for(request)
    tried = await request.app[CALLBACKS].attempt(callback.id, user.username)
    return reply(request, tried.to_json(), anchor="callbacks")


@form_errors("callbacks")
async def callback_cancel(request: web.Request) -> web.StreamResponse:
    user, callback = await callback_for(request)
    cancelled = await request.app[CALLBACKS].cancel(callback.id, user.username)
    return reply(request, cancelled.to_json(), anchor="callbacks")


# --------------------------------------------------------------------------- counts
async def counts(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    found = await request.app[COUNTS].counts_for(user.username)
    return json_response(found or {})


# --------------------------------------------------------------------------- notifications
async def notifications(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    service = request.app[NOTIFICATIONS]
    unread_only = str_param(request, "unread") in ("1", "true")
    found = (await service.unread(user.username) if unread_only
             else await service.recent(user.username))
    return json_response({"notifications": [n.to_json() for n in found],
                          "unread": await service.unread_count(user.username)})


@form_errors("notifications")
async def notifications_read(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = await body_of(request)
    which = optional_id(body.get("id"))
    if which is None and body.get("all") in (None, "", False):
        raise ValidationError("id", "give a notification id, or all")
    try:
        nid = None if which is None else int(which)
    except (TypeError, ValueError):
        raise ValidationError("id", "must be a number") from None
    marked = await request.app[NOTIFICATIONS].mark_read(user.username, nid)
    return reply(request, {"marked": marked}, anchor="notifications")


# --------------------------------------------------------------------------- missed calls
async def missed(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    return json_response({"missed": await request.app[ACTION_CENTER].missed(scope_of(user))})


@form_errors("missed")
async def missed_handled(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = await body_of(request)
    how = text_of(body, "how")
    center = request.app[ACTION_CENTER]
    if body.get("all") not in (None, "", False):
        marked = await center.mark_all_handled(scope_of(user), user.username, how)
    else:
        raw = body.get("keys", body.get("key"))
        keys = [raw] if isinstance(raw, str) else raw
        if not isinstance(keys, list) or not keys or not all(
                isinstance(k, str) and "/" in k for k in keys):
            raise ValidationError("keys", "give the calls as pbx/call_id, or all")
        pairs = [(k.split("/", 1)[0], k.split("/", 1)[1]) for k in keys]
        scope = scope_of(user)
        for pbx, call_id in pairs:
            if scope is not None and not await call_row_visible(request.app[STORE], pbx,
                                                                call_id, scope):
                raise HttpError(403, "This call did not ring your phone.", code="forbidden")
        marked = await center.mark_handled(pairs, user.username, how)
    request.app[COUNTS].poke(user.username)
    request.app[COUNTS].poke_missed(frozenset(user.extensions))  # colleagues, supervisors
    return reply(request, {"marked": marked}, anchor="missed")


# --------------------------------------------------------------------------- follow-ups
def followup_fields(request: web.Request, user: User, body: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k != "key"}
    if "due_at" in out:
        out["due_at"] = due_time(request, user, out["due_at"])
    for name in ("client_id", "ticket_id"):
        if name in out:
            out[name] = optional_id(out[name])
    return out


async def followups(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    status = str_param(request, "status") or "open"
    found = await request.app[ACTION_CENTER].followups(
        user.username, status=None if status == "all" else status)
    return json_response({"followups": [f.to_json() for f in found]})


@form_errors("followups")
async def followup_create(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = followup_fields(request, user, await body_of(request))
    made = await request.app[ACTION_CENTER].add_followup(user.username, body)
    return reply(request, made.to_json(), status=201, anchor="followups")


@form_errors("followups")
async def followup_update(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = followup_fields(request, user, await body_of(request))
    changed = await request.app[ACTION_CENTER].update_followup(path_id(request), user.username,
                                                               body)
    return reply(request, changed.to_json(), anchor="followups")


# --------------------------------------------------------------------------- notes
async def notes(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    found = await request.app[ACTION_CENTER].notes(user.username)
    return json_response({"notes": [n.to_json() for n in found]})


@form_errors("notes")
async def note_create(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = await body_of(request)
    made = await request.app[ACTION_CENTER].add_note(user.username, text_of(body, "text"))
    return reply(request, made.to_json(), status=201, anchor="notes")


async def note_get(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    return json_response((await request.app[ACTION_CENTER].note(path_id(request),
                                                               user.username)).to_json())


@form_errors("notes")
async def note_update(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    body = await body_of(request)
    changed = await request.app[ACTION_CENTER].update_note(path_id(request), user.username,
                                                           text_of(body, "text"))
    return reply(request, changed.to_json(), anchor="notes")


async def note_delete(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    await request.app[ACTION_CENTER].delete_note(path_id(request), user.username)
    return reply(request, {"deleted": True}, anchor="notes")


def add_routes(app: web.Application) -> None:
    r = app.router
    both = (("/api", "api_"), ("/actions", "actions_"))
    for base, name in both:  # the same view for scripts (JSON) and the page's forms
        r.add_post(f"{base}/callbacks", create_callback, name=f"{name}callback_create")
        r.add_post(base + r"/callbacks/{id:\d+}/done", callback_done,
                   name=f"{name}callback_done")
        r.add_post(base + r"/callbacks/{id:\d+}/cancel", callback_cancel,
                   name=f"{name}callback_cancel")
        r.add_post(f"{base}/notifications/read", notifications_read,
                   name=f"{name}notifications_read")
        r.add_post(f"{base}/missed/handled", missed_handled, name=f"{name}missed_handled")
        r.add_post(f"{base}/followups", followup_create, name=f"{name}followup_create")
        r.add_post(base + r"/followups/{id:\d+}", followup_update,
                   name=f"{name}followup_update")
        r.add_post(f"{base}/notes", note_create, name=f"{name}note_create")
        r.add_post(base + r"/notes/{id:\d+}", note_update, name=f"{name}note_update")
        r.add_post(base + r"/notes/{id:\d+}/delete", note_delete, name=f"{name}note_delete")
    r.add_get("/api/callbacks", my_callbacks, name="api_callbacks")
    r.add_post(r"/api/callbacks/{id:\d+}/attempt", callback_attempt,
               name="api_callback_attempt")
    r.add_get("/api/actions/counts", counts, name="api_action_counts")
    r.add_get("/api/notifications", notifications, name="api_notifications")
    r.add_get("/api/missed", missed, name="api_missed")
    r.add_get("/api/followups", followups, name="api_followups")
    r.add_get("/api/notes", notes, name="api_notes")
    r.add_get(r"/api/notes/{id:\d+}", note_get, name="api_note")
    r.add_delete(r"/api/notes/{id:\d+}", note_delete, name="api_note_remove")
