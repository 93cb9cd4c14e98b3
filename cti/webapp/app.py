"""The app factory: one function wires services, middlewares, routes, templates and headers.

``create_app(config, store)`` is all a caller needs (the daemon, ``cti demo``, a test); the
services default to ones built on ``store``, and a test may hand its own (a clock-controlled
``UserService``, a ``LoginLimiter`` with a short window). Everything the views need is reached
through typed ``AppKey``s (:mod:`cti.webapp.keys`).

Middleware order matters: errors outermost (it must render what the auth layer refuses), then
auth (session, language, login and CSRF checks). Security headers are set in
``on_response_prepare`` so they are on *every* response: pages, errors, redirects, static files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from cti.bus import Bus
from cti.clients.directory import ClientDirectory
from cti.clients.settings import ClientSettings
from cti.config import Config
from cti.live import LiveCalls
from cti.pbx.actions import PbxActions
from cti.pbx.audit import AuditLog
from cti.pbx.call_control import CallControl
from cti.pbx.recording_control import RecordingControl
from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.store.sqlite import Store
from cti.tickets.callbacks import CallbackService
from cti.tickets.groups import GroupService
from cti.tickets.notifications import NotificationService
from cti.tickets.service import TicketService
from cti.users import UserService
from cti.webapp import (
    admin_users,
    api_callcontrol,
    api_clients,
    api_mail,
    api_recording,
    api_wrapup,
    board,
    calllog,
    clients_pages,
    dial,
    login,
    metrics,
    pages,
    recordings_web,
    tickets_pages,
    ws_setup,
)
from cti.webapp.actions import setup as setup_actions
from cti.webapp.auth import auth_middleware
from cti.webapp.errors import error_middleware
from cti.webapp.i18n import zone
from cti.webapp.keys import (
    ACTIONS,
    CALL_CONTROL,
    CLIENTS,
    CONFIG,
    GROUPS,
    LIMITER,
    LIVE,
    METRICS,
    PBX_STATES,
    RECORDING_CONTROL,
    RECORDINGS,
    SETTINGS,
    STATUS,
    STORE,
    TEMPLATES,
    TICKETS,
    USERS,
    WEB_DIR,
    WRAPUPS,
    MetricsProvider,
    PbxStatesFn,
    StatusFn,
    WebSettings,
)
from cti.webapp.ratelimit import LoginLimiter
from cti.webapp.templating import make_environment
from cti.webapp.tickets_files import upload_limit
from cti.wrapups import WrapupService

#: ``default-src 'self'``: no inline script or style, nothing from another origin (no CDN),
#: which is what makes an injected ``<script>`` inert even if escaping ever failed.
CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.app[SETTINGS].secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        # Pages and API answers hold personal data: never keep them in a shared cache.
        response.headers.setdefault("Cache-Control", "no-store")


def _no_status() -> dict[str, Any]:
    return {}


def create_app(
    config: Config,
    store: Store,
    *,
    users: UserService | None = None,
    clients: ClientDirectory | None = None,
    status: StatusFn | None = None,
    limiter: LoginLimiter | None = None,
    web_dir: Path | None = None,
    live: LiveCalls | None = None,
    actions: PbxActions | None = None,
    pbx_states: PbxStatesFn | None = None,
    metrics_providers: list[MetricsProvider] | None = None,
    tickets: TicketService | None = None,
    recording_control: RecordingControl | None = None,
    call_control: CallControl | None = None,
    recordings: RecordingService | None = None,
    groups: GroupService | None = None,
    callbacks: CallbackService | None = None,
    notifications: NotificationService | None = None,
) -> web.Application:
    """The web application over ``store``. ``status`` feeds ``/api/status`` (the daemon's
    ``Daemon.status``); ``web_dir`` holds ``templates/`` and ``static/`` (default: the
    repository's top-level ``web/``); ``live`` the daemon's calls in progress, which the screen
    pops follow (default: an idle model that never sees a call); ``actions`` the daemon's
    click-to-dial service (default: one with no PBX, so ``/api/dial`` answers 503),
    ``pbx_states`` each PBX's AMI link state for ``/healthz``, ``metrics_providers`` the
    metric families ``/metrics`` exports besides the web app's own."""
    settings = WebSettings.from_config(config)
    web_dir = web_dir or WEB_DIR
    # upload_limit raises the body limit for attachment uploads only (before auth reads them).
    app = web.Application(middlewares=[error_middleware, upload_limit, auth_middleware],
                          client_max_size=2 * 1024 * 1024)
    app[CONFIG] = config
    app[SETTINGS] = settings
    app[STORE] = store
    app[USERS] = users or UserService(store, session_hours=settings.session_hours)
    app[CLIENTS] = clients or ClientDirectory(store, ClientSettings.from_config(config))
    app[LIMITER] = limiter or LoginLimiter()
    app[STATUS] = status or _no_status
    app[LIVE] = live if live is not None else LiveCalls(Bus())  # (an empty one is falsy)
    app[WRAPUPS] = WrapupService(store)
    # The daemon's ticket service carries its hooks (mail, notifications); a bare one otherwise.
    app[TICKETS] = tickets or TicketService(store, tz=zone(settings.timezone))
    app[GROUPS] = groups or GroupService(store)
    # Click-to-dial, /healthz and /metrics: the daemon's (without one, no PBX: dial → 503).
    app[ACTIONS] = actions or PbxActions({}, {}, AuditLog(store))
    app[RECORDING_CONTROL] = recording_control or RecordingControl({}, AuditLog(store))
    app[CALL_CONTROL] = call_control or CallControl({}, {}, AuditLog(store))
    app[RECORDINGS] = recordings or RecordingService(store, RecordingSettings.from_config(config))
    app[PBX_STATES] = pbx_states or dict
    app[METRICS] = list(metrics_providers or [])
    app[TEMPLATES] = make_environment(web_dir / "templates")
    app.on_response_prepare.append(_security_headers)

    r = app.router
    r.add_get("/", pages.home, name="home")
    r.add_get("/login", login.login_form, name="login")
    r.add_post("/login", login.login_submit)
    r.add_post("/logout", login.logout, name="logout")
    r.add_get("/healthz", pages.healthz, name="healthz")
    r.add_get("/api/status", pages.api_status, name="api_status")
    api_clients.add_routes(app)
    ws_setup.setup(app)  # /ws: screen pops
    # /actions and its API; the daemon's callbacks and notifications (reminders) if given.
    setup_actions(app, callbacks=callbacks, notifications=notifications,
                  watch_tickets=tickets is None)
    api_wrapup.add_routes(app)
    api_recording.add_routes(app)  # pause / resume / stop a call's recording
    api_callcontrol.add_routes(app)  # hang up, transfer, hold, listen… a live call
    recordings_web.add_routes(app)  # /recordings/{id}: replay with Range, peaks
    calllog.add_routes(app)  # /calls, /calls.csv, /calls/{pbx}/{id}, /api/calls…
    clients_pages.add_routes(app)  # /clients, /clients/{id} (client_page), forms
    dial.add_routes(app)  # /api/dial
    board.add_routes(app)  # /board, /api/board: supervisors
    admin_users.add_routes(app)  # /admin/users…: admins
    tickets_pages.add_routes(app)  # /tickets…, /api/tickets…, phrases, groups
    api_mail.add_routes(app)  # /api/mail: unsent notification mail, admins
    r.add_get("/metrics", metrics.metrics, name="metrics")
    r.add_static("/static/", web_dir / "static", name="static", append_version=False)
    return app

