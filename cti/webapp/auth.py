"""Everything behind a login, roles checked on the server, CSRF on every state change.

How a view uses it::

    @require_role("supervisor")            # 401 without a session, 403 below supervisor
    async def board(request): ...

    user = current_user(request)           # the logged-in User (401 if none)
    sess = current_session(request)        # …and its session (csrf_token, expiry)

Why it is built this way:

* **Deny by default.** The middleware runs before every route: only handlers marked
  :func:`public` (login, ``/healthz``) and ``/static/`` are reachable without a session. A new
  page or API that forgets about auth is protected anyway; the tests walk the whole router to
  keep it so. Pages answer a redirect to the login page; ``/api/*`` and ``/ws`` answer 401 JSON
  (a script cannot follow a login form).
* **Roles are checked here, on the server**, never by hiding buttons: ``require_role`` takes the
  minimum role (agent < supervisor < admin).
* **CSRF**: SameSite=Lax already keeps the cookie off cross-site POSTs in current browsers; the
  per-session token is the belt to those braces (older browsers, same-site subdomains). Every
  POST/PUT/PATCH/DELETE must carry it, as the ``X-CSRF-Token`` header (scripts) or the
  ``csrf_token`` form field (forms); missing or wrong → 403, before the view runs.
* **The cookie** ``cti_session`` is HttpOnly (scripts cannot read it), SameSite=Lax, Secure
  when ``web.secure_cookies`` is on (behind HTTPS), and holds only a random token: the session
  itself lives in the database, so logging out ends it for real.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from cti.users import ROLES, User, UserSession
from cti.webapp.errors import HttpError, is_api
from cti.webapp.i18n import pick_language
from cti.webapp.keys import LANG, SESSION, SETTINGS, USERS

COOKIE = "cti_session"
LANG_COOKIE = "cti_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PREFIXES = ("/static/",)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def public(handler: H) -> H:
    """Mark a handler reachable without a session (and so without CSRF: it has no session
    to bind a token to; the login form brings its own)."""
    handler.__cti_public__ = True  # type: ignore[attr-defined]
    return handler


def is_public(request: web.Request) -> bool:
    if request.path.startswith(PUBLIC_PREFIXES):
        return True
    return bool(getattr(request.match_info.handler, "__cti_public__", False))


def current_session(request: web.Request) -> UserSession:
    sess: UserSession | None = request.get(SESSION)
    if sess is None:
        raise HttpError(401)
    return sess


def current_user(request: web.Request) -> User:
    return current_session(request).user


def check_role(request: web.Request, role: str) -> User:
    """The user, if at least ``role``; else 403 (401 without a session)."""
    user = current_user(request)
    if not user.at_least(role):
        raise HttpError(403)
    return user


def require_role(role: str) -> Callable[[H], H]:
    """Decorator: the view runs only for users of at least ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {ROLES}")

    def decorate(handler: H) -> H:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            check_role(request, role)
            return await handler(request)

        wrapped.__cti_role__ = role  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison (a timing difference would leak the token byte by byte)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def check_csrf(request: web.Request, sess: UserSession) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.content_type in _FORM_TYPES:
        form = await request.post()  # aiohttp caches it: the view can read the form again
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not same_token(token, sess.csrf_token):
        raise HttpError(403, "Missing or wrong CSRF token.", code="csrf")


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def safe_next(target: str | None) -> str:
    """Where to go after login: a local path only (``//evil.example`` is another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: web.Request, *, expired: bool = False) -> web.HTTPFound:
    """To the login page, coming back here afterwards; ``expired`` when the browser brought a
    session that is no longer valid (then it is told so, and the dead cookie is dropped)."""
    target = request.path_qs if request.method == "GET" else "/"
    params = [("notice", "expired")] if expired else []
    if target != "/":
        params.append(("next", target))
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
    resp = web.HTTPFound("/login" + ("?" + query if query else ""))
    if expired:
        clear_session_cookie(request, resp)
    return resp


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = request.app[SETTINGS]
    response.set_cookie(COOKIE, token, max_age=int(settings.session_hours * 3600), path="/",
                        httponly=True, samesite="Lax", secure=settings.secure_cookies)


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    settings = request.app[SETTINGS]
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Lax",
                        secure=settings.secure_cookies)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session and the language; refuse what needs a login or a CSRF token."""
    if request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)  # static files: no session lookup per image
    users = request.app[USERS]
    settings = request.app[SETTINGS]
    token = request.cookies.get(COOKIE)
    sess = await users.session(token) if token else None
    if sess is not None:
        request[SESSION] = sess
        await users.touch(sess)
    explicit = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    request[LANG] = pick_language(sess.user.language if sess else None, explicit,
                                  request.headers.get("Accept-Language", ""), settings.language)
    if not is_public(request):
        if sess is None:
            if is_api(request):
                raise HttpError(401)
            raise login_redirect(request, expired=bool(token))
        if request.method in UNSAFE_METHODS:
            await check_csrf(request, sess)
    return await handler(request)


def check_origin(request: web.Request) -> None:
    """A browser always sends ``Origin`` on a websocket handshake: it must be this site (the
    ``Host`` it asked for, or the ``X-Forwarded-Host`` a reverse proxy passed on)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser (scripts, tests): the session cookie is all there is
    host = urlsplit(origin).netloc.lower()
    allowed = {request.host.lower()}
    forwarded = request.headers.get("X-Forwarded-Host")
    if forwarded:
        allowed.add(forwarded.split(",")[0].strip().lower())
    if host not in allowed:
        raise HttpError(403, "Cross-site websocket refused.", code="bad_origin")
