"""A minimal ARI server (Asterisk REST Interface) for the embedded PBX simulator.

Modelled on Asterisk 22 as recorded in ``asterisk-captures/ari_stasis`` (the Stasis app's
events, the REST calls it made, an observer app's events) and on ``res/ari/resource_*.c``:

* base path ``/ari``; credentials by HTTP basic auth, else ``?api_key=user:password``
  (``authenticate_user`` prefers the header). Missing or wrong ones get ``401`` with
  ``{"message": "Authentication required"}`` and a ``WWW-Authenticate`` challenge. Errors are
  always ``{"message": …}``: 404 ``Channel not found``, 409 ``Channel not in Stasis
  application``, 412 ``Channel in invalid state`` (ring/answer/play on a ``Down``/``Ringing``
  outgoing channel), 400 for bad parameters, 404 ``Resource not found``, 405 ``Invalid method``.
  Parameters come from the query string, a form body or a JSON object body (which wins);
* ``/ari/events?app=cti[&subscribeAll=true]`` is a WebSocket of compact JSON events. An app
  hears about the channels it is subscribed to: from ``StasisStart`` (only it gets that one)
  until ``StasisEnd``, or from the originate that named it. That is why the Stasis app of the
  capture never sees ``ChannelDestroyed`` after a ``DELETE``: it left the app first. An app
  with ``subscribeAll`` (the capture's observer) hears every channel and playback event except
  the other apps' ``StasisStart``/``StasisEnd``. A second WebSocket for the same app takes it
  over; the first one gets ``ApplicationReplaced``;
* ``POST …/ring`` sends 180 Ringing but leaves an inbound channel in state ``Ring`` (no event,
  as in the capture); ``…/answer`` makes it ``Up``; ``…/play`` answers ``201`` with the
  playback ``queued``, then emits ``PlaybackStarted`` and, after :attr:`AriServer.playback_seconds`
  (or the media's entry in :attr:`AriServer.media_seconds`), ``PlaybackFinished``;
  ``DELETE /channels/{id}`` emits ``ChannelHangupRequest`` (``cause`` 32, the explicit soft
  hangup flag, ``soft: true``), ``StasisEnd``, then for observers ``ChannelVarset STASISSTATUS``,
  a second hangup request with the hangup cause and ``ChannelDestroyed``, in the capture's order.

Test and demo hooks: :meth:`AriServer.inject_stasis_call` (a call from outside reaching
``Stasis(app,args…)``), :meth:`~AriServer.send_dtmf`, :meth:`~AriServer.remote_answer` and
:meth:`~AriServer.remote_hangup` (the far end of a channel). With an :class:`AmiServer` the
same channels also appear on AMI (``Newchannel``, ``Newexten``, ``Newstate``, ``Hangup`` with
the same ``Uniqueid``), so ``CoreShowChannels`` and ``MixMonitor`` know them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from cti.sim.ari_model import (
    CAUSE_TEXT,
    DTMF_DIGITS,
    MEDIA_SCHEMES,
    SOFTHANGUP_EXPLICIT,
    JsonObject,
    SimChannel,
    SimPlayback,
    ari_timestamp,
    channel_event,
    parse_callerid,
    playback_event,
)
from cti.sim.ari_routes import add_routes, ari_middleware, dumps
from cti.sim.ari_survey import add_survey_routes

if TYPE_CHECKING:
    from cti.sim.ami_server import AmiServer


@dataclass(eq=False)
class _Listener:
    """One ``/ari/events`` WebSocket and the apps it registered."""

    ws: web.WebSocketResponse
    apps: list[str]
    subscribe_all: bool
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class AriServer:
    """The simulator's ARI port: REST on ``/ari``, events on ``/ari/events``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, username: str = "cti",
        password: str = "cti-secret", *, ami: AmiServer | None = None,
        clock: Callable[[], float] | None = None, asterisk_id: str = "02:fc:00:00:00:01",
        version: str = "22.10.1", playback_seconds: float = 0.05,
        answer_delay: float | None = 0.05, first_sequence: int = 1,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.ami = ami
        self.clock: Callable[[], float] = clock or time.time
        self.asterisk_id, self.version = asterisk_id, version
        self.playback_seconds = playback_seconds
        self.media_seconds: dict[str, float] = {}  # per media URI, overrides playback_seconds
        self.answer_delay = answer_delay  # originated channels answer after it (None: never)
        self.channels: dict[str, SimChannel] = {}
        self.playbacks: dict[str, SimPlayback] = {}
        self.events_published = 0
        self.auth_failures = 0
        self.handler_errors = 0
        self._seq = first_sequence - 1
        self._name_seq = 0
        self._started = self.clock()
        self._listeners: list[_Listener] = []
        self._apps_changed = asyncio.Event()
        self._on_answer: dict[str, tuple[str, list[str]]] = {}  # originate: app and args
        self._play_tasks: dict[str, asyncio.Task[None]] = {}  # channel id -> last playback
        self._playback_tasks: dict[str, asyncio.Task[None]] = {}  # DELETE /playbacks/{id}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None

    # -- lifecycle
    async def start(self) -> None:
        app = web.Application(middlewares=[ari_middleware(self)])
        add_routes(app, self)
        add_survey_routes(app, self)  # DELETE /playbacks/{id}, …/continue (cti.sim.ari_survey)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for task in [*self._tasks, *self._play_tasks.values()]:
            task.cancel()
        for listener in list(self._listeners):
            await listener.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AriServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """Base URL of the REST API, ``http://127.0.0.1:<port>/ari``."""
        return f"http://{self.host}:{self.port}/ari"

    def events_url(self, app: str = "cti", *, subscribe_all: bool = False) -> str:
        extra = "&subscribeAll=true" if subscribe_all else ""
        return f"ws://{self.host}:{self.port}/ari/events?app={app}{extra}"

    @property
    def registered_apps(self) -> set[str]:
        return {app for listener in self._listeners for app in listener.apps}

    async def wait_for_app(self, app: str, timeout: float = 5.0) -> None:
        """Wait until a WebSocket has registered ``app`` (a Stasis call needs one)."""
        async with asyncio.timeout(timeout):
            while app not in self.registered_apps:
                self._apps_changed.clear()
                await self._apps_changed.wait()

    # -- the far end of the calls
    def inject_stasis_call(
        self, caller: str, did: str, args: Sequence[str] = (), *, app: str = "cti",
        endpoint: str = "PJSIP/trunk", context: str = "from-trunk", priority: int = 1,
    ) -> SimChannel:
        """A call from ``caller`` (``"Name" <number>`` or a number) to ``did`` reaches
        ``Stasis(app,args…)``: the channel is created ``Ring`` and ``StasisStart`` sent.

        Asterisk's Stasis() fails at once (``STASISSTATUS=FAILED``) when no WebSocket has
        registered the app; the simulator raises :class:`LookupError` instead of losing the call
        silently: await :meth:`wait_for_app` first.
        """
        if app not in self.registered_apps:
            raise LookupError(f"Stasis app {app!r} is not registered (no /ari/events socket)")
        name, number = parse_callerid(caller)
        chan = self._new_channel(endpoint, "Ring", (name, number), ("", ""), context, did)
        chan.priority = priority  # the capture's dialplan ran a NoOp first: Stasis at 2
        self._enter_stasis(chan, app, list(args))
        return chan

    def send_dtmf(self, channel_id: str, digits: str, duration_ms: int = 100) -> None:
        """The caller presses keys: one ``ChannelDtmfReceived`` per digit."""
        chan = self._channel(channel_id)
        if not digits or any(d not in DTMF_DIGITS for d in digits):
            raise ValueError(f"invalid DTMF {digits!r}: use 0-9, *, #, A-D")
        for digit in digits:
            self._publish(channel_event("ChannelDtmfReceived", self.clock(), chan, after={
                "digit": digit, "duration_ms": duration_ms}), chan)

    def remote_ring(self, channel_id: str) -> None:
        """The far end of an outgoing channel rings (180): ``Down`` → ``Ringing``."""
        self._set_state(self._channel(channel_id), "Ringing")

    def remote_answer(self, channel_id: str) -> None:
        """The far end answers: ``Up``; an originated channel then enters its Stasis app."""
        chan = self._channel(channel_id)
        self._set_state(chan, "Up")
        pending = self._on_answer.pop(chan.id, None)
        if pending is not None:
            app, args = pending
            self._enter_stasis(chan, app, args)

    def remote_hangup(self, channel_id: str, cause: int = 16) -> None:
        """The far end hangs up (BYE, or a 486/487 before answer) with an ISDN ``cause``."""
        self._hangup(self._channel(channel_id), cause, explicit=False)

    # -- behaviour shared by the REST handlers (cti.sim.ari_routes)
    def _channel(self, key: str, *, by_name: bool = False) -> SimChannel:
        chan = self.channels.get(key)
        if chan is None and by_name:  # ast_channel_get_by_name: Uniqueid or name
            chan = next((c for c in self.channels.values() if c.name.lower() == key.lower()),
                        None)
        if chan is None:
            raise KeyError(key)
        return chan

    def _new_channel(self, endpoint: str, state: str, caller: tuple[str, str],
                     connected: tuple[str, str], context: str, exten: str,
                     uid: str | None = None) -> SimChannel:
        now = self.clock()
        self._seq += 1
        self._name_seq += 1
        tech, _, resource = endpoint.partition("/")
        peer = resource.rsplit("@", 1)[-1] if tech.upper() == "PJSIP" else resource
        chan = SimChannel(
            id=uid or f"{int(now)}.{self._seq}", name=f"{tech}/{peer}-{self._name_seq:08x}",
            state=state, created=now, caller=caller, connected=connected, context=context,
            exten=exten)
        self.channels[chan.id] = chan
        self._publish(channel_event("ChannelCreated", now, chan), chan)
        chan.protocol_id = f"{self._name_seq}-{uuid.uuid4().hex[:12]}@127.0.0.1"
        self._ami("Newchannel", "call,all", chan)
        return chan

    def _enter_stasis(self, chan: SimChannel, app: str, args: list[str]) -> None:
        chan.app_name, chan.app_data = "Stasis", ",".join([app, *args])
        self._ami("Newexten", "dialplan,all", chan, Extension=chan.exten,
                  Application="Stasis", AppData=chan.app_data)
        chan.stasis_app = app
        chan.subscribers.add(app)
        self._publish(channel_event("StasisStart", self.clock(), chan, after={"args": args}),
                      chan, only_app=app)

    def _set_state(self, chan: SimChannel, state: str) -> None:
        if chan.state != state:
            chan.state = state
            self._publish(channel_event("ChannelStateChange", self.clock(), chan), chan)
            self._ami("Newstate", "call,all", chan)

    def _hangup(self, chan: SimChannel, cause: int, *, explicit: bool) -> None:
        """Hang up as Asterisk orders it: request, playback end, StasisEnd, destroy."""
        if chan.id not in self.channels:
            return
        if explicit:
            blob: JsonObject = {"cause": SOFTHANGUP_EXPLICIT, "soft": True}
        else:
            blob = {"cause": cause}
        if explicit or chan.state not in ("Down", "Ringing"):
            self._publish(channel_event("ChannelHangupRequest", self.clock(), chan,
                                        before=blob), chan)
        self._stop_playbacks(chan)
        app = chan.stasis_app
        if app is not None:
            self._publish(channel_event("StasisEnd", self.clock(), chan), chan, only_app=app)
            chan.stasis_app = None
            chan.subscribers.discard(app)
            chan.variables["STASISSTATUS"] = "SUCCESS"
            self._publish(channel_event("ChannelVarset", self.clock(), chan, before={
                "variable": "STASISSTATUS", "value": "SUCCESS"}), chan)
            if explicit:
                self._publish(channel_event("ChannelHangupRequest", self.clock(), chan,
                                            before={"cause": cause, "soft": True}), chan)
            chan.app_name = chan.app_data = ""
        self._publish(channel_event("ChannelDestroyed", self.clock(), chan, after={
            "cause": cause, "cause_txt": CAUSE_TEXT.get(cause, "Unknown")}), chan)
        self._ami("Hangup", "call,all", chan, Cause=str(cause),
                  **{"Cause-txt": CAUSE_TEXT.get(cause, "Unknown")})
        del self.channels[chan.id]
        self._on_answer.pop(chan.id, None)

    def _start_playback(self, chan: SimChannel, media: list[str], language: str,
                        playback_id: str) -> SimPlayback:
        playback = SimPlayback(playback_id or str(uuid.uuid4()), media, chan.id, language)
        self.playbacks[playback.id] = playback
        previous = self._play_tasks.get(chan.id)
        self._play_tasks[chan.id] = asyncio.create_task(self._play(playback, previous))
        self._playback_tasks[playback.id] = self._play_tasks[chan.id]
        return playback

    async def _play(self, playback: SimPlayback, previous: asyncio.Task[None] | None) -> None:
        """Playbacks of one channel run in turn, like its Stasis control queue."""
        try:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            if playback.state != "queued":  # the channel went away meanwhile
                return
            playback.state = "playing"
            self._playback_event("PlaybackStarted", playback)
            for index, uri in enumerate(playback.media):
                playback.index = index
                if index:
                    self._playback_event("PlaybackContinuing", playback)
                if not uri.startswith(MEDIA_SCHEMES):
                    playback.state = "failed"
                    break
                await asyncio.sleep(self.media_seconds.get(uri, self.playback_seconds))
            else:
                playback.state = "done"
            self._playback_event("PlaybackFinished", playback)
        finally:
            self.playbacks.pop(playback.id, None)
            self._playback_tasks.pop(playback.id, None)

    def _stop_playbacks(self, chan: SimChannel) -> None:
        for playback in [p for p in self.playbacks.values() if p.channel_id == chan.id]:
            if playback.state == "playing":
                playback.state = "done"
                self._playback_event("PlaybackFinished", playback)
            playback.state = "done"
            self.playbacks.pop(playback.id, None)
        task = self._play_tasks.pop(chan.id, None)
        if task is not None:
            task.cancel()

    def _playback_event(self, kind: str, playback: SimPlayback) -> None:
        chan = self.channels.get(playback.channel_id)
        if chan is not None:
            self._publish(playback_event(kind, self.clock(), playback), chan)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(KeyError):  # the channel hung up meanwhile
                await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_answer(self, channel_id: str, delay: float) -> None:
        await asyncio.sleep(delay / 2)
        self.remote_ring(channel_id)
        await asyncio.sleep(delay / 2)
        self.remote_answer(channel_id)

    # -- event fan-out
    def _publish(self, event: JsonObject, chan: SimChannel | None, *,
                 only_app: str | None = None) -> None:
        self.events_published += 1
        for listener in self._listeners:
            for app in listener.apps:
                if only_app is not None:
                    wanted = app == only_app
                else:
                    wanted = listener.subscribe_all or (
                        chan is not None and app in chan.subscribers)
                if wanted:
                    listener.queue.put_nowait(dumps({
                        **event, "asterisk_id": self.asterisk_id, "application": app}))

    def _ami(self, name: str, privilege: str, chan: SimChannel, **extra: str) -> None:
        if self.ami is not None:
            self.ami.emit({"Event": name, "Privilege": privilege, **chan.ami_fields(), **extra})

    async def _listen(self, ws: web.WebSocketResponse, apps: list[str],
                      subscribe_all: bool) -> None:
        """Serve one events socket until it closes; takes over apps already registered."""
        for other in self._listeners:
            for app in [a for a in other.apps if a in apps]:
                other.apps.remove(app)
                other.queue.put_nowait(dumps({
                    "type": "ApplicationReplaced", "timestamp": ari_timestamp(self.clock()),
                    "asterisk_id": self.asterisk_id, "application": app}))
        listener = _Listener(ws, apps, subscribe_all)
        self._listeners.append(listener)
        self._apps_changed.set()
        pump = asyncio.create_task(self._pump(listener))
        try:
            async for msg in ws:  # Asterisk ignores what clients write on /events
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            pump.cancel()
            self._listeners.remove(listener)
            self._apps_changed.set()

    async def _pump(self, listener: _Listener) -> None:
        while True:
            text = await listener.queue.get()
            try:
                await listener.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
