"""The login and logout views.

* **Login CSRF.** Before login there is no session to hold a CSRF token, yet a forged login
  (logging the victim into the attacker's account) is a real attack. So the login page sets a
  random ``cti_login_csrf`` cookie (SameSite=Strict) and repeats it in a hidden field; the POST
  must bring both, equal ("double submit"): another site can make a browser post the form but
  cannot read or set the cookie.
* **Rate limiting** before the password is even checked: after 5 failures for a username from
  one address within 5 minutes, further tries get 429 with ``Retry-After`` — a right password
  included, or the limit would still be an oracle.
* **A fresh session at every login** (the old one, if any, is closed): a session id planted
  before login is worth nothing after it.
* **Logout is a POST** carrying the CSRF token (a GET could be triggered by any ``<img>``), and
  deletes the session row, so a copied cookie stops working too.
"""

from __future__ import annotations

import math
import secrets

from aiohttp import web

from cti.webapp.auth import (
    CSRF_FIELD,
    LANG_COOKIE,
    clear_session_cookie,
    client_ip,
    current_session,
    public,
    safe_next,
    same_token,
    set_session_cookie,
)
from cti.webapp.i18n import LANGUAGES
from cti.webapp.keys import LIMITER, SESSION, SETTINGS, USERS
from cti.webapp.templating import render

LOGIN_CSRF_COOKIE = "cti_login_csrf"


def _login_page(request: web.Request, *, status: int = 200, error: str = "",
                error_values: dict[str, object] | None = None, username: str = "",
                next_path: str = "/") -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    notice = {"expired": "Your session has expired, please log in again.",
              "out": "You have been logged out."}.get(request.query.get("notice", ""), "")
    resp = render(request, "login.html", {
        "login_csrf": token, "error": error, "error_values": error_values or {},
        "notice": notice, "username": username, "next": next_path, "languages": LANGUAGES,
    }, status=status)
    settings = request.app[SETTINGS]
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, path="/login", httponly=True, samesite="Strict",
                    secure=settings.secure_cookies, max_age=3600)
    lang = request.query.get("lang")
    if lang in LANGUAGES:  # an explicit choice on the login page is remembered
        resp.set_cookie(LANG_COOKIE, lang, path="/", samesite="Lax", max_age=365 * 86400,
                        secure=settings.secure_cookies)
    return resp


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get(SESSION) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return _login_page(request, next_path=safe_next(request.query.get("next")))


@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "/")))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not same_token(str(form.get(CSRF_FIELD, "")), cookie or ""):
        return _login_page(request, status=403, error="The login form expired, please try "
                           "again.", username=username, next_path=next_path)
    limiter = request.app[LIMITER]
    ip = client_ip(request)
    wait = limiter.retry_after(username, ip)
    if wait > 0:
        resp = _login_page(request, status=429, username=username, next_path=next_path,
                           error="Too many failed attempts. Try again in {minutes} min.",
                           error_values={"minutes": max(1, math.ceil(wait / 60))})
        resp.headers["Retry-After"] = str(math.ceil(wait))
        return resp
    users = request.app[USERS]
    user = await users.authenticate(username, password)
    if user is None:
        limiter.failed(username, ip)
        return _login_page(request, status=401, error="Wrong username or password.",
                           username=username, next_path=next_path)
    limiter.succeeded(username, ip)
    old = request.get(SESSION)
    if old is not None:
        await users.close_session(old.id)
    token, _ = await users.open_session(user, ip, request.headers.get("User-Agent", ""))
    resp = web.HTTPSeeOther(next_path)
    set_session_cookie(request, resp, token)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    """Ends the session server-side (the middleware already checked the CSRF token)."""
    sess = current_session(request)
    await request.app[USERS].close_session(sess.id)
    resp = web.HTTPSeeOther("/login?notice=out")
    clear_session_cookie(request, resp)
    raise resp
