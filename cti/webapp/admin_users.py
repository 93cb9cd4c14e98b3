"""Admin pages for the people who log in: list, create, edit (role, extensions, names,
e-mail address, language, time zone, active) and reset a password. Admins only.

Why it is built this way:

* **Roles are checked on the server**: every view is ``require_role("admin")``; the nav link is
  only a convenience. The auth middleware has already refused a POST without the CSRF token.
* **A refused form never loses input**: it comes back with status 400, every typed value in
  place (passwords excepted: a secret is never written back into a page, where it would sit in
  the browser's cache and history) and one translated message per field, beside the field and
  in a summary at the top that links to it.
* **Nobody can lock the house**: an admin cannot deactivate themselves or drop their own admin
  role, and the last active admin cannot be demoted or deactivated. The check and the write
  run under one lock per app, so two admins demoting each other at the same moment cannot
  both succeed and leave no one able to open these pages.
* **Sessions end with the access**: ``UserService.set_active(False)`` and ``set_password``
  delete the user's sessions in the same transaction, so a deactivated or reset account is
  logged out everywhere at once. An admin resetting their own password gets a fresh session
  rather than being thrown out mid-task.
* **Every change is audited** (``audit_log``: ``user_create``, ``user_update``,
  ``user_password``): who, from which address, on whom, and what changed, never a password.
* **Post/Redirect/Get**: a success answers 303 to the user's page with a fixed notice code, so
  reloading the page does not post the form again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cti.errors import Conflict, ValidationError
from cti.pbx.audit import AuditEntry, AuditLog
from cti.users import (
    LANGUAGES,
    MAX_PASSWORD,
    MIN_PASSWORD,
    ROLES,
    User,
    UserService,
    check_email,
    check_extensions,
    check_password,
    check_role,
    check_timezone,
    check_username,
)
from cti.webapp.auth import client_ip, current_user, require_role, set_session_cookie
from cti.webapp.errors import HttpError
from cti.webapp.i18n import translator
from cti.webapp.i18n_admin import MESSAGES, NOTICES
from cti.webapp.keys import LANG, SETTINGS, STORE, USERS
from cti.webapp.templating import render

#: Serialises "check the guards, then write" across concurrent admin requests.
ADMIN_LOCK = web.AppKey("cti.admin_users_lock", asyncio.Lock)

MAX_DISPLAY_NAME = 100
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}  # each in its own language
ZONES = ("Europe/Paris", "Europe/Brussels", "Europe/Zurich", "Europe/Bucharest",
         "Europe/London", "America/Montreal", "UTC")
#: Form fields in page order (the error summary follows it).
FIELDS = ("username", "display_name", "email", "password", "confirm", "role", "extensions",
          "language", "timezone", "active")

Errors = dict[str, tuple[str, dict[str, object]]]  # field → (MESSAGES key, values)


@dataclass(slots=True)
class Draft:
    """A submitted user form: the values as typed (to show again) and as understood."""

    values: dict[str, Any]
    role: str
    extensions: tuple[str, ...]
    display_name: str
    language: str | None
    timezone: str | None
    active: bool
    email: str = ""
    errors: Errors = field(default_factory=dict)


def _text(form: Mapping[str, object], name: str, cap: int = 1000) -> str:
    """A form field as text; a file or a missing field is empty, a flood is cut short."""
    value = form.get(name, "")
    return value[:cap].strip() if isinstance(value, str) else ""


def split_extensions(raw: str) -> list[str]:
    return [e for e in re.split(r"[\s,;]+", raw) if e]


def form_values(user: User | None) -> dict[str, Any]:
    """A user as the form shows it (the blank form for a new user)."""
    if user is None:
        return {"username": "", "display_name": "", "email": "", "role": "agent",
                "extensions": "", "language": "", "timezone": "", "active": True}
    return {"username": user.username, "display_name": user.display_name,
            "email": user.email, "role": user.role,
            "extensions": ", ".join(user.extensions), "language": user.language or "",
            "timezone": user.timezone or "", "active": user.active}


def parse_draft(form: Mapping[str, object], *, new: bool) -> Draft:
    """Read and check every field, collecting one error per field (never stopping early)."""
    values = {"username": _text(form, "username", 200),
              "display_name": _text(form, "display_name", 500),
              "email": _text(form, "email", 500),
              "role": _text(form, "role", 50), "extensions": _text(form, "extensions"),
              "language": _text(form, "language", 10), "timezone": _text(form, "timezone", 100)}
    active = new or _text(form, "active", 10) in ("1", "on")
    errors: Errors = {}
    if new:
        try:
            check_username(values["username"])
        except ValidationError:
            errors["username"] = ("username", {})
    if len(values["display_name"]) > MAX_DISPLAY_NAME:
        errors["display_name"] = ("display_name", {"max": MAX_DISPLAY_NAME})
    try:
        check_email(values["email"])
    except ValidationError:
        errors["email"] = ("email", {})
    try:
        check_role(values["role"])
    except ValidationError:
        errors["role"] = ("role", {})
    exts = split_extensions(values["extensions"])
    for ext in exts:
        try:
            check_extensions([ext], "admin")
        except ValidationError:
            errors["extensions"] = ("extension", {"value": ext[:40]})
            break
    if "extensions" not in errors and values["role"] == "agent" and not exts:
        errors["extensions"] = ("agent_extension", {})
    if values["language"] and values["language"] not in LANGUAGES:
        errors["language"] = ("language", {})
    try:
        check_timezone(values["timezone"][:64] or None)
    except ValidationError:
        errors["timezone"] = ("timezone", {"value": values["timezone"][:64]})
    return Draft(values={**values, "active": active}, role=values["role"],
                 extensions=tuple(dict.fromkeys(exts)), display_name=values["display_name"],
                 language=values["language"] or None, timezone=values["timezone"] or None,
                 active=active, email=values["email"], errors=errors)


def parse_password(form: Mapping[str, object], errors: Errors) -> str:
    """The new password (not stripped: spaces may be part of it) if both copies agree."""
    raw, again = form.get("password", ""), form.get("confirm", "")
    password = raw if isinstance(raw, str) else ""
    try:
        check_password(password)
    except ValidationError:
        errors["password"] = ("password", {"min": MIN_PASSWORD, "max": MAX_PASSWORD})
    if "password" not in errors and again != password:
        errors["confirm"] = ("confirm", {})
    return password


def guard(actor: User, target: User, role: str, active: bool, active_admins: int) -> Errors:
    """Changes refused whatever the form says: an admin losing their own access, or the last
    active admin going (``active_admins`` counts them before the change)."""
    out: Errors = {}
    if actor.id == target.id:
        if role != "admin":
            out["role"] = ("self_role", {})
        if not active:
            out["active"] = ("self_active", {})
    leaving = target.active and target.role == "admin" and (role != "admin" or not active)
    if leaving and active_admins <= 1:
        out.setdefault("role" if role != "admin" else "active", ("last_admin", {}))
    return out


# --------------------------------------------------------------------------- helpers
def _service(request: web.Request) -> UserService:
    return request.app[USERS]


async def _target(request: web.Request) -> User:
    raw = request.match_info["id"]
    user = await _service(request).get(int(raw)) if len(raw) <= 18 else None
    if user is None:
        raise HttpError(404)
    return user


async def _audit(request: web.Request, action: str, target: str,
                 detail: dict[str, Any]) -> None:
    me = current_user(request)
    await AuditLog(request.app[STORE]).record(AuditEntry(
        username=me.username, user_id=me.id, action=action, target=target, result="ok",
        ip=client_ip(request), detail=detail))


async def _form(request: web.Request, target: User | None, values: dict[str, Any],
                errors: Errors | None = None, *, status: int = 200) -> web.Response:
    _ = translator(request.get(LANG) or request.app[SETTINGS].language)
    errors = errors or {}
    shown = {f: _(MESSAGES[errors[f][0]], **errors[f][1]) for f in FIELDS if f in errors}
    sessions = await _service(request).sessions_of(target.id) if target else 0
    return render(request, "admin_user_form.html", {
        "target": target, "values": values, "errors": shown, "roles": ROLES,
        "languages": LANGUAGE_NAMES, "zones": ZONES, "sessions": sessions,
        "notice": NOTICES.get(request.query.get("done", ""), ""),
        "min_password": MIN_PASSWORD}, status=status)


def _changes(old: User, new: User) -> dict[str, Any]:
    keys = ("role", "extensions", "display_name", "email", "language", "timezone", "active")
    return {k: [_plain(getattr(old, k)), _plain(getattr(new, k))] for k in keys
            if getattr(old, k) != getattr(new, k)}


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


# --------------------------------------------------------------------------- views
@require_role("admin")
async def list_page(request: web.Request) -> web.StreamResponse:
    users = _service(request)
    people = await users.list_all()
    sessions = {u.id: await users.sessions_of(u.id) for u in people}  # a few users: cheap
    return render(request, "admin_users.html", {"people": people, "sessions": sessions,
                                                "languages": LANGUAGE_NAMES})


@require_role("admin")
async def new_form(request: web.Request) -> web.StreamResponse:
    return await _form(request, None, form_values(None))


@require_role("admin")
async def new_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    draft = parse_draft(form, new=True)
    password = parse_password(form, draft.errors)
    if not draft.errors:
        try:
            user = await _service(request).create(
                draft.values["username"], password, draft.role, draft.extensions,
                display_name=draft.display_name, language=draft.language,
                timezone=draft.timezone, email=draft.email)
        except Conflict:
            draft.errors["username"] = ("taken", {})
        except ValidationError as exc:  # a rule of the service this form does not know
            draft.errors[exc.field if exc.field in FIELDS else "username"] = ("invalid", {})
    if draft.errors:
        return await _form(request, None, draft.values, draft.errors, status=400)
    await _audit(request, "user_create", user.username, {
        "role": user.role, "extensions": list(user.extensions)})
    raise web.HTTPSeeOther(f"/admin/users/{user.id}?done=created")


@require_role("admin")
async def edit_form(request: web.Request) -> web.StreamResponse:
    target = await _target(request)
    return await _form(request, target, form_values(target))


@require_role("admin")
async def edit_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    users = _service(request)
    async with request.app[ADMIN_LOCK]:
        target = await _target(request)
        draft = parse_draft(form, new=False)
        draft.values["username"] = target.username
        admins = sum(1 for u in await users.list_all() if u.active and u.role == "admin")
        for name, error in guard(current_user(request), target, draft.role, draft.active,
                                 admins).items():
            draft.errors.setdefault(name, error)
        if draft.errors:
            return await _form(request, target, draft.values, draft.errors, status=400)
        updated = await users.update(target.id, role=draft.role, extensions=draft.extensions,
                                     display_name=draft.display_name, language=draft.language,
                                     timezone=draft.timezone, email=draft.email)
        if draft.active != target.active:
            updated = await users.set_active(target.id, draft.active)  # off: sessions end
    await _audit(request, "user_update", target.username, _changes(target, updated))
    raise web.HTTPSeeOther(f"/admin/users/{target.id}?done=saved")


@require_role("admin")
async def password_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    target = await _target(request)
    errors: Errors = {}
    password = parse_password(form, errors)
    if errors:
        return await _form(request, target, form_values(target), errors, status=400)
    users = _service(request)
    await users.set_password(target.id, password)  # ends every session of the user
    await _audit(request, "user_password", target.username, {})
    resp = web.HTTPSeeOther(f"/admin/users/{target.id}?done=password")
    if target.id == current_user(request).id:  # keep the admin at work on a fresh session
        token, _ = await users.open_session(target, client_ip(request),
                                            request.headers.get("User-Agent", ""))
        set_session_cookie(request, resp, token)
    raise resp


def add_routes(app: web.Application) -> None:
    app[ADMIN_LOCK] = asyncio.Lock()
    r = app.router
    r.add_get("/admin/users", list_page, name="admin_users")
    r.add_get("/admin/users/new", new_form, name="admin_user_new")
    r.add_post("/admin/users/new", new_submit)
    r.add_get(r"/admin/users/{id:\d+}", edit_form, name="admin_user")
    r.add_post(r"/admin/users/{id:\d+}", edit_submit)
    r.add_post(r"/admin/users/{id:\d+}/password", password_submit,
               name="admin_user_password")
