"""``GET /api/mail``: the notification mail not sent yet, for admins.

``pending`` is still being tried (with its attempt count, last error and next try), ``failed``
was given up after ``mail.retry_max`` attempts; ``sending`` is False when ``mail.smtp_host`` is
empty (everything stays queued by design). Subjects and addresses only, never bodies: the list
is for spotting a broken server or a wrong address, not for reading people's mail.
"""

from __future__ import annotations

from aiohttp import web

from cti.mail import SmtpSettings
from cti.tickets.outbox import mail_rows
from cti.webapp.api import int_param, json_response
from cti.webapp.auth import require_role
from cti.webapp.keys import CONFIG, STORE


@require_role("admin")
async def mail_api(request: web.Request) -> web.StreamResponse:
    settings = SmtpSettings.from_config(request.app[CONFIG])
    limit = int_param(request, "limit", 200, low=1, high=1000)
    store = request.app[STORE]
    pending = await mail_rows(store, retry_max=settings.retry_max, failed=False, limit=limit)
    failed = await mail_rows(store, retry_max=settings.retry_max, failed=True, limit=limit)
    return json_response({"sending": settings.enabled, "retry_max": settings.retry_max,
                          "pending": [m.to_json() for m in pending],
                          "failed": [m.to_json() for m in failed]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/mail", mail_api, name="api_mail")
