"""Typed keys for what the app and each request carry, and the web settings.

aiohttp's ``AppKey``/``RequestKey`` give ``app[USERS]`` a static type (mypy checks every view)
and cannot collide the way two modules' string keys can. They live in a module of their own so
that views, middlewares and the factory all import them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
from aiohttp import web

from cti.clients.directory import ClientDirectory
from cti.config import Config, ConfigError
from cti.live import LiveCalls
from cti.metrics import Family
from cti.pbx.actions import PbxActions
from cti.pbx.call_control import CallControl
from cti.pbx.recording_control import RecordingControl
from cti.recordings.service import RecordingService
from cti.resources import web_dir
from cti.store.sqlite import Store
from cti.tickets.actioncenter import ActionCenter
from cti.tickets.attachments import AttachmentService
from cti.tickets.callbacks import CallbackService
from cti.tickets.groups import GroupService
from cti.tickets.notifications import NotificationService
from cti.tickets.phrases import PhraseService
from cti.tickets.service import TicketService
from cti.users import UserService, UserSession
from cti.webapp.i18n import LANGUAGES, zone
from cti.webapp.ratelimit import LoginLimiter
from cti.wrapups import WrapupService

if TYPE_CHECKING:
    from cti.webapp.actions_live import CountsPusher
    from cti.webapp.ws import PopHub

StatusFn = Callable[[], dict[str, Any]]
#: PBX name → AMI link state (``connected``…), for ``/healthz`` and ``/api/status``.
PbxStatesFn = Callable[[], dict[str, str]]
#: Metric families read at each ``/metrics`` scrape (the daemon's counters, the hub's…).
MetricsProvider = Callable[[], list[Family]]

#: Where templates and static files live (the checkout's ``web/``, or the wheel's data files).
WEB_DIR = web_dir()


@dataclass(frozen=True, slots=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    secure_cookies: bool = False
    session_hours: float = 12.0
    language: str = "fr"
    timezone: str = "Europe/Paris"
    metrics_token: str = ""

    @classmethod
    def from_config(cls, config: Config) -> WebSettings:
        """Read the ``web.*`` keys; a bad value stops start-up with a message naming it."""
        settings = cls(host=str(config.get("web.host")), port=int(config.get("web.port")),
                       secure_cookies=bool(config.get("web.secure_cookies")),
                       session_hours=float(config.get("web.session_hours")),
                       language=str(config.get("web.language")),
                       timezone=str(config.get("web.timezone")),
                       metrics_token=str(config.get("web.metrics_token")))
        if not 0 <= settings.port < 65536:
            raise ConfigError(f"setting 'web.port': {settings.port} is not a TCP port")
        if settings.session_hours <= 0:
            raise ConfigError("setting 'web.session_hours' must be more than 0")
        if settings.language not in LANGUAGES:
            raise ConfigError(f"setting 'web.language': one of {', '.join(LANGUAGES)}, "
                              f"not {settings.language!r}")
        if zone(settings.timezone) is None:
            raise ConfigError(f"setting 'web.timezone': unknown IANA time zone "
                              f"{settings.timezone!r}")
        return settings


CONFIG = web.AppKey("cti.config", Config)
SETTINGS = web.AppKey("cti.web_settings", WebSettings)
STORE = web.AppKey("cti.store", Store)
USERS = web.AppKey("cti.users", UserService)
CLIENTS = web.AppKey("cti.clients", ClientDirectory)
LIMITER = web.AppKey("cti.login_limiter", LoginLimiter)
TEMPLATES = web.AppKey("cti.templates", jinja2.Environment)
STATUS: web.AppKey[StatusFn] = web.AppKey("cti.status")
ACTIONS = web.AppKey("cti.pbx_actions", PbxActions)
PBX_STATES: web.AppKey[PbxStatesFn] = web.AppKey("cti.pbx_states")
METRICS: web.AppKey[list[MetricsProvider]] = web.AppKey("cti.metrics")
#: Calls in progress (the daemon's, or an idle one), the screen-pop hub over them (its
#: ``connected`` count is the websocket-clients gauge) and the wrap-ups service.
LIVE = web.AppKey("cti.live_calls", LiveCalls)
HUB: web.AppKey[PopHub] = web.AppKey("cti.pop_hub")
#: Pause / resume / stop a running call's recording (the daemon's, or one with no PBX).
RECORDING_CONTROL = web.AppKey("cti.recording_control", RecordingControl)
#: Hang up, transfer, hold, and supervisors' listen/whisper/barge (the daemon's, or no PBX).
CALL_CONTROL = web.AppKey("cti.call_control", CallControl)
#: The call recordings (the daemon's service, or one over the configured folder).
RECORDINGS = web.AppKey("cti.recordings", RecordingService)
WRAPUPS = web.AppKey("cti.wrapups", WrapupService)
#: Tickets (the daemon's, with its hooks) and groups.
TICKETS = web.AppKey("cti.tickets", TicketService)
GROUPS = web.AppKey("cti.groups", GroupService)
#: Ticket attachments (files on disk) and canned phrases (set by the ticket routes).
ATTACHMENTS = web.AppKey("cti.ticket_attachments", AttachmentService)
PHRASES = web.AppKey("cti.phrases", PhraseService)


class CallbackCreator(Protocol):
    """What the wrap-up needs of the callback service (``cti.tickets.callbacks``)."""

    async def create(self, actor: str, *, kind: str, due_at: float | str,
                     ticket_id: int | None = None, client_id: int | None = None,
                     number: str = "", assignee: str | None = None,
                     group_id: int | None = None, note: str = "",
                     email: bool = False) -> Any: ...


#: Callbacks (the daemon's, whose changes wake the reminder scheduler; a bare one otherwise),
#: in-app notifications, the action center over them, and the live badge counts.
CALLBACKS = web.AppKey("cti.callbacks", CallbackService)
NOTIFICATIONS = web.AppKey("cti.notifications", NotificationService)
ACTION_CENTER = web.AppKey("cti.action_center", ActionCenter)
COUNTS: web.AppKey[CountsPusher] = web.AppKey("cti.counts")

#: Set by the auth middleware on every request of a logged-in user.
SESSION = web.RequestKey("cti.session", UserSession)
#: The language chosen for this request (``fr``/``en``), set for every request.
LANG = web.RequestKey("cti.lang", str)
