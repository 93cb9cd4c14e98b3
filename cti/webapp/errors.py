"""Every HTTP failure is an exception carrying a status, rendered here and only here.

Views and services just raise: :class:`HttpError` (status + message), the domain's own
``ValidationError`` (→ 422 naming the field), ``NotFound`` (→ 404), ``Conflict`` (→ 409), or
aiohttp's ``HTTPNotFound``/``HTTPMethodNotAllowed`` from the router. The middleware turns each
into JSON ``{"error": code, "message": …}`` for the API and the websocket, and into a translated
HTML page for people; anything else is a bug: logged with its traceback, answered 500 without
details (a stack trace is for the log, not for whoever sent the request).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from cti.errors import Conflict, NotFound, ValidationError
from cti.webapp.templating import render

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "validation",
          429: "too_many_requests", 500: "internal"}

_MESSAGES = {400: "Bad request.", 401: "Log in first.", 403: "You are not allowed to do this.",
             404: "Not found.", 405: "Method not allowed.", 409: "Conflict.",
             413: "Request too large.", 422: "Invalid value.", 429: "Too many requests.",
             500: "Internal error; it has been logged."}


class HttpError(Exception):
    """A failure to show the client. ``message`` is an English UI string (a catalog msgid, so
    HTML pages show it translated); ``extra`` goes into the JSON body (e.g. ``field``)."""

    def __init__(self, status: int, message: str | None = None, *, code: str | None = None,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        self.status = status
        self.message = message or _MESSAGES.get(status, "Error")
        self.code = code or _CODES.get(status, "error")
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(f"{status} {self.message}")


def is_api(request: web.Request) -> bool:
    """Machines get JSON: the API and the websocket endpoint."""
    path = request.path
    return path == "/api" or path.startswith("/api/") or path == "/ws" or path.startswith("/ws/")


def as_http_error(exc: BaseException) -> HttpError | None:
    """The HttpError an exception stands for; None for a bug."""
    if isinstance(exc, HttpError):
        return exc
    if isinstance(exc, ValidationError):
        return HttpError(422, exc.message, field=exc.field)
    if isinstance(exc, NotFound):
        return HttpError(404, str(exc) or None)
    if isinstance(exc, Conflict):
        return HttpError(409, str(exc) or None)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return HttpError(exc.status, None, headers=headers)
    return None


def render_error(request: web.Request, err: HttpError) -> web.StreamResponse:
    if is_api(request):
        body = {"error": err.code, "message": err.message, **err.extra}
        return web.json_response(body, status=err.status, headers=err.headers)
    try:
        resp = render(request, "error.html", {"status": err.status, "message": err.message},
                      status=err.status)
    except Exception:  # never fail while failing: a broken template still gets an answer
        log.exception("cannot render the error page for %s", request.path)
        resp = web.Response(text=f"{err.status} {err.message}", status=err.status)
    resp.headers.update(err.headers)
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects are answers, not errors
        return render_error(request, as_http_error(exc) or HttpError(exc.status))
    except Exception as exc:
        err = as_http_error(exc)
        if err is None:
            log.exception("%s %s failed", request.method, request.path)
            err = HttpError(500)
        elif err.status >= 500:
            log.error("%s %s: %s", request.method, request.path, err)
        return render_error(request, err)
