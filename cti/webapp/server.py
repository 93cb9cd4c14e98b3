"""Running the web app inside the daemon's event loop (``cti serve``, ``cti demo``).

One process, one loop: the web app reads the same store and will subscribe to the same bus
as the tracker, so a screen pop is a function call away from the AMI event, not a network hop.
Port 0 asks the system for any free port (tests, several demos at once); :attr:`WebServer.url`
gives the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from cti.clients.directory import ClientDirectory
from cti.config import Config
from cti.daemon import Daemon
from cti.live import LiveCalls
from cti.pbx.actions import PbxActions
from cti.store.sqlite import Store
from cti.tickets.groups import GroupService
from cti.tickets.service import TicketService
from cti.webapp.app import create_app
from cti.webapp.keys import WebSettings
from cti.webapp.metrics import daemon_metrics


class WebPortInUse(OSError):
    """``web.host:web.port`` cannot be bound (another cti, another web server)."""


class _DaemonLike(Protocol):
    """What the web app needs from the daemon (layer 2 cannot import us, so it hands itself)."""

    config: Config
    store: Store | None
    clients: ClientDirectory | None
    live: LiveCalls | None
    actions: PbxActions | None
    tickets: TicketService | None
    groups: GroupService | None

    def status(self) -> dict[str, Any]: ...

    def pbx_states(self) -> dict[str, str]: ...


@dataclass
class WebServer:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_web(app: web.Application, host: str, port: int) -> WebServer:
    """Serve ``app`` on ``host:port`` (0: any free port) until ``close()``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WebPortInUse(exc.errno, f"cannot serve the web app on {host}:{port}: "
                           f"{exc.strerror or exc}. Is another cti running? Choose another "
                           "port with web.port (--web-port).") from exc
    # With port 0 the system picked one; the runner knows which (first address, any family).
    real_port = int(runner.addresses[0][1]) if runner.addresses else port
    return WebServer(runner, host, real_port)


async def start_for_daemon(daemon: _DaemonLike) -> WebServer:
    """The hook ``cti serve``/``cti demo`` pass to the daemon: the app over the daemon's own
    store, its status feeding ``/api/status``, on ``web.host:web.port``."""
    if daemon.store is None:
        raise RuntimeError("start the daemon before its web app")
    settings = WebSettings.from_config(daemon.config)
    # The daemon's own directory: delete guards and merge hooks other services register on it
    # (tickets…) then apply to the API too.
    app = create_app(daemon.config, daemon.store, clients=daemon.clients, status=daemon.status,
                     live=daemon.live, actions=daemon.actions, pbx_states=daemon.pbx_states,
                     tickets=daemon.tickets, groups=daemon.groups,
                     callbacks=getattr(daemon, "callbacks", None),
                     notifications=getattr(daemon, "notifications", None),
                     recording_control=getattr(daemon, "recording_control", None),
                     call_control=getattr(daemon, "call_control", None),
                     recordings=getattr(daemon, "recordings", None),
                     metrics_providers=[daemon_metrics(daemon)]
                     if isinstance(daemon, Daemon) else [])
    return await start_web(app, settings.host, settings.port)
