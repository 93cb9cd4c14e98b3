"""The daemon: for each PBX, AMI client → pipeline (tracker) → bus → store and live rules.

On every (re)login the PBX is asked for its live channels (``CoreShowChannels``) and the tracker
reconciles: events sent while we were disconnected are gone for good, so this is the only way
to pick up calls that started meanwhile and to close the ones that ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cti.ami.client import AmiClient, AmiConfig, AmiState, EventCallback
from cti.ami.messages import AmiMessage
from cti.bus import Bus
from cti.calls.model import DomainEvent
from cti.clients.directory import ClientDirectory
from cti.clients.linker import ClientLinker
from cti.clients.settings import ClientSettings
from cti.config import Config, PbxConfig
from cti.errors import AmiError
from cti.live import LiveCalls
from cti.mail import SmtpSettings
from cti.pbx.actions import PbxActions, build_actions
from cti.pbx.audit import AuditLog
from cti.pbx.call_control import CallControl, build_call_control
from cti.pbx.call_legs import EXTRA_EVENTS
from cti.pbx.recording_control import RecordingControl
from cti.pipeline import WANTED_EVENTS, Pipeline
from cti.recordings.hygiene import RecordingHygiene
from cti.recordings.linker import RecordingLinker
from cti.recordings.scanner import RecordingScanner
from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.rules import OverlongWatcher
from cti.speech.worker import SpeechWorker, speech_settings
from cti.speech.worker.quality import QualityScorer, load_scorecard
from cti.store.sqlite import Store
from cti.survey.service import SurveyService
from cti.tickets.callbacks import CallbackService
from cti.tickets.groups import GroupService
from cti.tickets.missed_rule import MissedCallTickets
from cti.tickets.notifications import NotificationService
from cti.tickets.notify import Notifier
from cti.tickets.outbox import MailOutbox
from cti.tickets.reminders import ReminderScheduler
from cti.tickets.service import TicketService

log = logging.getLogger(__name__)


def attach_store(bus: Bus, store: Store) -> None:
    """Persist every domain event (the per-call timeline) and, with ``CallEnded``, the call."""

    def on_event(event: DomainEvent) -> None:
        store.submit(event)  # a CallEnded carries its record: the store saves both

    bus.subscribe(on_event)


def ami_config(pbx: PbxConfig) -> AmiConfig:
    return AmiConfig(host=pbx.ami_host, port=pbx.ami_port, username=pbx.ami_user,
                     secret=pbx.ami_secret, ping_interval=pbx.ami_ping_interval,
                     action_timeout=pbx.ami_action_timeout, backoff_min=pbx.ami_backoff_min,
                     backoff_max=pbx.ami_backoff_max, wanted=WANTED_EVENTS | EXTRA_EVENTS)


def build_tickets(config: Config, store: Store) -> TicketService:
    """Ticket numbers take their year in the business's time zone (``web.timezone``)."""
    return TicketService(store, prefix=str(config.get("tickets.prefix")),
                         tz=ZoneInfo(str(config.get("web.timezone"))))


def build_callbacks(config: Config, store: Store, tickets: TicketService) -> CallbackService:
    """Due times typed without a zone are the business's; numbers are read in its region."""
    return CallbackService(store, ZoneInfo(str(config.get("web.timezone"))), tickets=tickets,
                           region=str(config.get("clients.default_region")))


@dataclass
class PbxLink:
    pbx: PbxConfig
    pipeline: Pipeline
    client: AmiClient
    resyncs: int = 0
    resync_failures: int = 0
    bridges: int = 0  # live bridges at the last resync


@dataclass
class Daemon:
    config: Config
    bus: Bus = field(default_factory=Bus)
    store: Store | None = None
    links: list[PbxLink] = field(default_factory=list)
    overlong: OverlongWatcher | None = None
    clients: ClientDirectory | None = None
    linker: ClientLinker | None = None
    #: Calls in progress (screen pops, live board), folded from the bus.
    live: LiveCalls | None = None
    #: Commands from people (click-to-dial): built at start over the AMI links.
    actions: PbxActions | None = None
    #: Pause, resume or stop a running call's recording (MixMonitorMute / StopMixMonitor).
    recording_control: RecordingControl | None = None
    #: The post-call survey (``survey.enabled``): the ARI Stasis app ``cti`` on each PBX.
    survey: SurveyService | None = None
    #: Hang up, transfer, hold… and supervisors' listen/whisper/barge (call_control.py).
    call_control: CallControl | None = None
    #: Tickets and the groups they are given to (hooks: mail queue, notifications).
    tickets: TicketService | None = None
    groups: GroupService | None = None
    #: E-mail: the notifier queues rows in each ticket change, the outbox sends them.
    outbox: MailOutbox | None = None
    notifier: Notifier | None = None
    #: ``tickets.auto_missed``: a ticket and a callback for every unanswered inbound call.
    missed_rule: MissedCallTickets | None = None
    #: The action center: callbacks, in-app notifications, and the reminders of due callbacks.
    callbacks: CallbackService | None = None
    notifications: NotificationService | None = None
    reminders: ReminderScheduler | None = None
    #: Recordings: the service (links, checks, peaks), its bus linker and the folder scan
    #: (which runs the hygiene — transcoding, retention — after each pass).
    recordings: RecordingService | None = None
    #: Transcription and scoring of recorded calls (``speech.enabled``).
    speech: SpeechWorker | None = None
    recording_linker: RecordingLinker | None = None
    recording_scanner: RecordingScanner | None = None
    #: ``hook(pbx_name, msg)`` for every AMI event, before the tracker: services that follow
    #: their own actions (``OriginateResponse`` by ActionID) without the tracker's help.
    ami_hooks: list[Callable[[str, AmiMessage], None]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self.store = await Store.open(self.config.db_path)
        attach_store(self.bus, self.store)
        self.live = LiveCalls(self.bus)
        self.clients = ClientDirectory(self.store, ClientSettings.from_config(self.config))
        self.linker = ClientLinker(self.bus, self.clients)
        self.recordings = RecordingService(self.store, RecordingSettings.from_config(self.config))
        self.recording_linker = RecordingLinker(self.bus, self.recordings)
        self.recording_scanner = RecordingScanner(
            self.recordings, pbxes=[p.name for p in self.config.pbxes],
            after=RecordingHygiene(self.recordings).run)
        self.recording_scanner.start()
        self.tickets = build_tickets(self.config, self.store)
        self.groups = GroupService(self.store)
        self.outbox = MailOutbox(self.store, SmtpSettings.from_config(self.config))
        self.notifier = Notifier.from_config(self.config, wake=self.outbox.wake)
        self.notifier.attach(self.tickets)
        self.outbox.start()
        self.notifications = NotificationService(self.store)
        if self.config.get("speech.enabled"):
            self._start_speech()
        self.notifications.watch_tickets(self.tickets)
        self.callbacks = build_callbacks(self.config, self.store, self.tickets)
        self.reminders = ReminderScheduler(self.store, self.callbacks, self.notifications,
                                           language=str(self.config.get("web.language")),
                                           on_mail=self.outbox.wake)
        self.reminders.start()
        if self.config.get("tickets.auto_missed"):
            self.missed_rule = MissedCallTickets(self.bus, self.store, self.tickets,
                                                 lambda: getattr(self, "callbacks", None))
        trackers = {p.name: self.config.tracker_config(p) for p in self.config.pbxes}
        self.overlong = OverlongWatcher(self.bus, trackers)
        for pbx in self.config.pbxes:
            pipeline = Pipeline(trackers[pbx.name], self.bus)
            link = PbxLink(pbx, pipeline, None)  # type: ignore[arg-type]  # set just below
            link.client = AmiClient(ami_config(pbx), self._on_ami_event(link),
                                    self._resync_hook(link))
            self.links.append(link)
            link.client.start()
            if pbx.resync_interval > 0:
                self._tasks.append(asyncio.create_task(self._periodic_resync(link)))
            log.info("pbx %s: connecting to AMI %s:%s", pbx.name, pbx.ami_host, pbx.ami_port)
        self.actions = build_actions(self.config, {k.pbx.name: k.client for k in self.links},
                                     self.store, self.bus, self.clients)
        self.ami_hooks.append(self.actions.on_ami_event)
        self.recording_control = RecordingControl(
            {k.pbx.name: k.client for k in self.links}, AuditLog(self.store))
        self.ami_hooks.append(self.recording_control.on_ami_event)
        self.call_control = build_call_control(
            self.config.pbxes, {k.pbx.name: k.client for k in self.links}, AuditLog(self.store))
        self.ami_hooks.append(self.call_control.on_ami_event)
        self.survey = await SurveyService.start(self.config, self.store, self.bus, self.live)

    def _start_speech(self) -> None:
        """Transcribe and score every recorded call (process pool: the loop never waits)."""
        if self.store is None or self.recordings is None:
            return
        self.speech = SpeechWorker(self.store, self.recordings.settings.dir,
                                   speech_settings(self.config))
        scorer = QualityScorer(self.store, load_scorecard(self.config.get("speech.scorecard")),
                               company=str(self.config.get("speech.company")))

        async def score(pbx: str, call_id: str) -> None:
            await scorer.score_call(pbx, call_id)

        self.speech.on_call_done.append(score)
        scorer.alert_hooks.append(self._speech_alert)
        if self.recording_linker is not None:
            self.recording_linker.after_finish.append(self.speech.wake)
        self.speech.start()

    def _speech_alert(self, pbx: str, call_id: str, alerts: list[dict[str, Any]]) -> None:
        """A keyword alert ("refund", "lawyer"…): every supervisor gets a notification (in
        the navigation bar and as a toast, live over the websocket)."""
        notifications, store = self.notifications, self.store
        if notifications is None or store is None:
            return
        words = ", ".join(sorted({str(a.get("keyword", "")) for a in alerts}))

        async def notify() -> None:
            rows = await store.query("SELECT username FROM users WHERE active = 1 AND role IN "
                                     "('supervisor', 'admin')")
            for row in rows:
                await notifications.add(str(row["username"]), "speech_alert",
                                        f"Call {call_id}: {words}",
                                        f"/calls/{pbx}/{call_id}#quality",
                                        {"pbx": pbx, "call_id": call_id, "alerts": alerts})

        task = asyncio.get_running_loop().create_task(notify())
        self._tasks.append(task)

    def _on_ami_event(self, link: PbxLink) -> EventCallback:
        """The AMI client's callback: the hooks, then the pipeline (tracker → bus)."""
        feed, name, hooks = link.pipeline.on_ami_event, link.pbx.name, self.ami_hooks

        def on_event(msg: AmiMessage, received_at: float) -> None:
            for hook in hooks:
                hook(name, msg)
            feed(msg, received_at)

        return on_event

    def _resync_hook(self, link: PbxLink) -> Any:
        """After each login: apply ``CoreShowChannels`` at its exact place in the event stream
        (events read behind the list must not be overtaken by the snapshot), then count the
        PBX's bridges for the status page."""

        def apply(items: list[dict[str, str]], received_at: float) -> None:
            at = link.pipeline.tracker.pbx_time(received_at)
            n = link.pipeline.resync(items, at)
            link.resyncs += 1
            log.info("pbx %s: resynced with %d live channel(s), %d change(s)", link.pbx.name,
                     len(items), n)

        async def hook(client: AmiClient) -> None:
            try:
                await client.list_action({"Action": "CoreShowChannels"},
                                         "CoreShowChannelsComplete", in_order=apply)
                bridges = await client.list_action({"Action": "BridgeList"},
                                                   "BridgeListComplete")
                link.bridges = len(bridges)
            except AmiError as exc:
                link.resync_failures += 1
                log.warning("pbx %s: resync failed: %s", link.pbx.name, exc)

        return hook

    async def _periodic_resync(self, link: PbxLink) -> None:
        """Self-healing: a Hangup lost to a corrupted read would leave a call "live" forever;
        asking the PBX again from time to time closes it (and adopts anything we missed)."""
        hook = self._resync_hook(link)
        while True:
            await asyncio.sleep(link.pbx.resync_interval)
            if link.client.state is AmiState.CONNECTED:
                await hook(link.client)

    def pbx_states(self) -> dict[str, str]:
        """Each PBX's AMI link state (``connected``, ``connecting``…), for ``/healthz``."""
        return {link.pbx.name: str(link.client.state) for link in self.links}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bus": {"published": self.bus.published,
                                       "subscriber_errors": self.bus.subscriber_errors}}
        for link in self.links:
            snap = link.client.snapshot()
            out[link.pbx.name] = {
                "state": str(snap.state),
                "events": snap.counters.events,
                "reconnects": snap.counters.disconnects,
                "malformed": snap.parser.malformed,
                "live_calls": len(link.pipeline.tracker.live_calls()),
                "tracker_errors": link.pipeline.tracker_errors,
                "resyncs": link.resyncs,
            }
        if self.linker is not None:
            out["clients"] = {"lookups": self.linker.lookups, "matched": self.linker.matched,
                              "created": self.linker.created, "errors": self.linker.errors}
        if self.recording_linker is not None:
            out["recordings"] = {"linked": self.recording_linker.linked,
                                 "finished": self.recording_linker.finished,
                                 "errors": self.recording_linker.errors}
        if self.survey is not None:
            out["survey"] = self.survey.status()
        if self.store is not None:
            out["store"] = vars(self.store.stats)
        return out

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for link in self.links:
            await link.client.close()
        if self.overlong is not None:
            self.overlong.close()
        if self.actions is not None:
            await self.actions.close()
        if self.linker is not None:
            await self.linker.close()  # lookups in flight still need the store
        if self.speech is not None:
            await self.speech.close()
        if self.recording_scanner is not None:
            await self.recording_scanner.close()
        if self.recording_linker is not None:
            await self.recording_linker.close()  # probes in flight still need the store
        if self.survey is not None:
            await self.survey.close()  # answers in flight still need the store
        if self.missed_rule is not None:
            self.missed_rule.close()
            await self.missed_rule.flush()
        if self.reminders is not None:
            await self.reminders.close()
        if self.outbox is not None:
            await self.outbox.close()  # a message being sent is marked before the store closes
        if self.store is not None:
            await self.store.close()


class FrontEnd(Protocol):
    """A running user interface (the web app) started next to the daemon."""

    @property
    def url(self) -> str: ...

    async def close(self) -> None: ...


#: Starts a front end on a started daemon. The web app is layer 3 and this module layer 2, so
#: the daemon cannot import it: the command line (layer 4) hands it in.
FrontEndStarter = Callable[["Daemon"], Awaitable[FrontEnd]]


async def start_front_end(daemon: Daemon, starter: FrontEndStarter) -> FrontEnd | None:
    """Start ``starter``; on failure (port taken…) log why and return None."""
    try:
        front = await starter(daemon)
    except OSError as exc:
        log.error("%s", exc.strerror or exc)
        return None
    log.info("web UI on %s", front.url)
    return front


async def serve(config: Config, stop: asyncio.Event | None = None, *,
                web: FrontEndStarter | None = None) -> int:
    """Run until SIGINT/SIGTERM (or ``stop`` is set); with ``web``, serve the UI too.
    Returns 1 if the UI cannot start (its port taken): a daemon silently without its UI would
    look like a hang to the agents."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    daemon = Daemon(config)
    await daemon.start()
    front: FrontEnd | None = None
    if web is not None:
        front = await start_front_end(daemon, web)
        if front is None:
            await daemon.close()
            return 1
    log.info("cti serving; database %s", config.db_path)
    interval = float(config.get("log.status_interval"))
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval if interval > 0 else None)
            except TimeoutError:
                log.info("status %s", daemon.status(), extra={"status": daemon.status()})
    finally:
        log.info("stopping: %s", daemon.status())
        if front is not None:
            await front.close()
        await daemon.close()
    return 0
