"""The survey service as the daemon starts it: one :class:`SurveyApp` (one ARI link) per PBX.

Started only with ``survey.enabled``: the ARI link *is* the Stasis application ``cti`` (Asterisk
registers an app while a WebSocket for it is open), and with no survey to run it would keep
Stasis(cti) alive for nothing, and retry an ARI port a PBX without ARI never opens. With the
survey off, ``Stasis(cti,survey,…)`` in the dialplan fails at once (no such app) and the
dialplan goes on to its ``Hangup()``, as when cti is down.

The bus subscription fills in a survey's agent, queue and DID from the call's record when the
call ends, for surveys that began while cti did not know the call (see :mod:`cti.survey.app`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from cti.ari.client import AriConfig
from cti.bus import Bus
from cti.calls.model import CallEnded, CallRecord, DomainEvent
from cti.config import Config, PbxConfig
from cti.live import LiveCalls
from cti.store.sqlite import Store
from cti.survey.app import SurveyApp
from cti.survey.settings import SurveySettings
from cti.survey.store import SurveyStore

log = logging.getLogger(__name__)


def ari_config(pbx: PbxConfig) -> AriConfig:
    """The PBX's ARI link; reconnect delays follow its AMI ones."""
    return AriConfig(url=pbx.ari_url, user=pbx.ari_user, password=pbx.ari_password, app="cti",
                     backoff_min=pbx.ami_backoff_min, backoff_max=pbx.ami_backoff_max)


def agent_of(record: CallRecord) -> str | None:
    """Whom the caller talked to last: a transfer's target, else who answered."""
    for transfer in reversed(record.transfers):
        if transfer.to:
            return transfer.to
    return record.extension


class SurveyService:
    def __init__(self, settings: SurveySettings, surveys: SurveyStore, bus: Bus,
                 apps: dict[str, SurveyApp]) -> None:
        self.settings = settings
        self.surveys = surveys
        self.apps = apps
        self.fills = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] = bus.subscribe(self._on_event)

    @classmethod
    async def start(cls, config: Config, store: Store, bus: Bus,
                    live: LiveCalls | None) -> SurveyService | None:
        """None when ``survey.enabled`` is off. Bad ``survey.*`` values raise ConfigError."""
        settings = SurveySettings.from_config(config)
        if not settings.enabled:
            return None
        surveys = SurveyStore(store)
        closed = await surveys.close_orphans()
        if closed:
            log.info("surveys: %d left running by the last run closed as abandoned", closed)
        apps = {p.name: SurveyApp(p.name, ari_config(p), settings, surveys, live)
                for p in config.pbxes}
        service = cls(settings, surveys, bus, apps)
        for name, app in apps.items():
            app.start()
            log.info("pbx %s: survey app on %s", name, app.ari_config.url)
        return service

    def _on_event(self, event: DomainEvent) -> None:
        if not isinstance(event, CallEnded):
            return
        key = (event.pbx, event.call_id)
        app = self.apps.get(event.pbx)
        if app is None or key not in app.unknown_calls:
            return
        app.unknown_calls.discard(key)
        record = event.record
        task = asyncio.get_running_loop().create_task(self._fill(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, record: CallRecord) -> None:
        try:
            self.fills += await self.surveys.fill_from_call(
                record.pbx, record.call_id, agent_of(record), record.queue,
                record.callee.number or None)
        except Exception:
            log.exception("surveys: cannot fill call %s from its record", record.call_id)

    async def flush(self) -> None:
        """Wait for the fills in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {name: {"link": str(app.client.state), "running": app.running,
                       **dataclasses.asdict(app.counters)} for name, app in self.apps.items()}

    async def close(self) -> None:
        self._unsubscribe()
        for app in self.apps.values():
            await app.close()
        await self.flush()
