"""The call generator: plays rendered calls into the simulator's AMI server on a schedule.

``CallGenerator(server, config, seed)`` owns a simulated PBX (:class:`~cti.sim.scenarios.SimPbx`:
Uniqueid and channel counters, agent queue statistics), a seeded traffic source
(:class:`~cti.sim.traffic.Traffic`) and one scheduler task. Every event of every live call sits
in one heap ordered by (planned time, order of scheduling), so concurrent calls interleave by
time as a PBX would report them, and the same seed gives the same stream.

Time: the generator drives the server's clock (``server.clock``), like the capture player does.
With ``time_scale = 1`` that is the wall clock; with ``time_scale = 100`` simulated time runs a
hundred times faster than real time, and events carry their simulated time in ``Timestamp:``
when the server has ``timestamp_events`` on (as ``timestampevents = yes`` in manager.conf), so a
consumer measures the simulated ring and talk times while the test lasts milliseconds.

Recordings: when a ``MIXMONITOR_FILENAME`` VarSet is played the file is *opened*; when that
channel's ``Hangup`` is played the WAV is written (off the event loop) with the real length,
see :mod:`cti.sim.recording`.

A demo (``cti sim`` / ``cti demo``)::

    server = AmiServer(host, port, username, secret, timestamp_events=True)
    generator = cti.sim.actions.attach(server, SimConfig(recordings_dir="recordings"), seed)
    await server.start()
    task = asyncio.create_task(generator.run())  # forever; cancel, then generator.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cti.ami.messages import AmiMessage
from cti.sim.ami_server import AmiServer
from cti.sim.recording import Dialogue, Speech, write_recording
from cti.sim.scenarios import CallRender, CallSpec, RenderEvent, SimPbx
from cti.sim.templates import Token
from cti.sim.timemap import VirtualClock
from cti.sim.traffic import PlannedCall, SimConfig, Traffic

log = logging.getLogger(__name__)

Listener = Callable[[AmiMessage, float], None]


@dataclass(eq=False)
class LiveCall:
    """A call being played; actions (Hangup, transfers) change its future."""

    id: int
    spec: CallSpec
    render: CallRender
    dialogue: Dialogue | None = None
    renders: list[CallRender] = field(default_factory=list)
    gen: int = 0  # bumped when the remaining events are cancelled
    pending: int = 0
    ended_early: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    recordings: dict[str, tuple[str, float]] = field(default_factory=dict)  # uid → path, start
    written: list[Path] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    messages: int = 0
    #: Channels an action created for this call outside any rendered capture (parking
    #: retrieval, attended-transfer legs: :mod:`cti.sim.call_features`).
    extra: set[str] = field(default_factory=set)

    @property
    def linkedid(self) -> str:
        return self.render.ids.get(Token("L"), "")

    def uniqueids(self) -> set[str]:
        return {v for r in self.renders for t, v in r.ids.items()
                if t.name in ("U", "L")} | self.extra

    async def wait(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self.done.wait()


Entry = tuple[float, int, int, int, Callable[[], None]]  # at, seq, call id, gen, action


class CallGenerator:
    """Plays generated calls (``run``) or given ones (``play``/``play_one``) into ``server``."""

    def __init__(self, server: AmiServer, config: SimConfig | None = None, seed: int = 0, *,
                 epoch: float | None = None) -> None:
        self.server = server
        self.config = config or SimConfig()
        self.seed = seed
        c = self.config
        recdir = str(Path(c.recordings_dir).resolve()) if c.recordings_dir else (
            "/var/spool/asterisk/monitor")
        self.clock = VirtualClock(c.time_scale, epoch)
        self.pbx = SimPbx(seed, trunk=c.trunk, company=c.company, recordings_dir=recdir,
                          queues={q.name: q.members for q in c.queues},
                          login_time=int(self.clock.epoch) - 3600)  # agents logged in an hour ago
        self.traffic = Traffic(c, random.Random(f"{seed}:traffic"))
        self.speech = Speech(enabled=c.speech)
        server.clock = self.clock.now
        self.calls: dict[int, LiveCall] = {}
        self.by_uid: dict[str, LiveCall] = {}
        self.finished: list[LiveCall] = []
        self.recordings: list[Path] = []
        self.events_played = 0
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._heap: list[Entry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[Path]] = set()

    def now(self) -> float:
        return self.clock.now()

    # ------------------------------------------------------------------ planning (pure)
    def next_call(self, at: float) -> tuple[PlannedCall, CallRender] | None:
        """Draw the call arriving at ``at`` and book its agents' busy time."""
        planned = self.traffic.next_call(at)
        if planned is None:
            return None
        render = CallRender(planned.spec, self.pbx, at)
        self._book(planned.spec, render)
        return planned, render

    def plan(self, n: int, start: float | None = None) -> list[tuple[PlannedCall, CallRender]]:
        """The next ``n`` calls of the Poisson schedule (deterministic for a seed)."""
        at = self.now() if start is None else start
        out: list[tuple[PlannedCall, CallRender]] = []
        while len(out) < n:
            at += self.traffic.gap()
            nxt = self.next_call(at)
            if nxt is not None:
                out.append(nxt)
        return out

    def render_plan(self, n: int, start: float | None = None) -> list[tuple[float, AmiMessage]]:
        """``n`` planned calls merged by time and rendered, as :meth:`run` would play them."""
        renders = [r for _, r in self.plan(n, start)]
        order = sorted((rev.at, i, j) for i, r in enumerate(renders)
                       for j, rev in enumerate(r.events))
        return [(at, msg) for at, i, j in order
                for msg in renders[i].render(renders[i].events[j])]

    def _book(self, spec: CallSpec, render: CallRender) -> None:
        busy = self.traffic.busy_until
        if spec.kind == "inbound_busy":
            return  # the phone was busy already and stays so
        until = render.ends_at
        answer = render.tpl.marks.get("answer")
        for i, agent in enumerate(spec.agents):
            end = until
            if spec.kind == "queue_ringall" and i > 0 and answer is not None:
                end = render.when(answer)  # the other members stop ringing at the answer
            busy[agent.extension] = max(busy.get(agent.extension, 0.0), end)

    # ------------------------------------------------------------------ playing
    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="sim-call-scheduler")

    async def run(self, calls: int | None = None, *, first_now: bool = False) -> None:
        """Generate calls forever (or ``calls`` of them), Poisson arrivals at the config rate;
        ``first_now``: the first call starts at once (a demo should not open on silence)."""
        await self.start()
        played = 0
        at = self.now()
        while calls is None or played < calls:
            gap = 0.0 if first_now and played == 0 else self.traffic.gap()
            if math.isinf(gap):  # calls_per_minute = 0: only actions make calls
                await asyncio.Event().wait()
            at = max(at, self.now()) + gap
            delay = self.clock.real_delay(at)
            if delay > 0:
                await asyncio.sleep(delay)
            nxt = self.next_call(at)
            if nxt is None:
                continue
            planned, render = nxt
            self._start_live(planned.spec, render, planned.dialogue)
            played += 1

    def play(self, spec: CallSpec, *, dialogue: Dialogue | None = None, at: float | None = None,
             listener: Listener | None = None, skip: Callable[[RenderEvent], bool] | None = None,
             render: CallRender | None = None) -> LiveCall:
        """Schedule one call starting ``at`` (default: now), or a prepared ``render`` of it.
        Needs :meth:`start` (or a running :meth:`run`) to be played."""
        if render is None:
            render = CallRender(spec, self.pbx, self.now() if at is None else at)
        self._book(spec, render)
        return self._start_live(spec, render, dialogue, listener, skip)

    async def play_one(self, spec: CallSpec, *, dialogue: Dialogue | None = None,
                       timeout: float | None = None) -> LiveCall:
        """Play one call to its end (tests); recordings written before returning."""
        await self.start()
        live = self.play(spec, dialogue=dialogue)
        await live.wait(timeout)
        await self.flush()
        return live

    def _start_live(self, spec: CallSpec, render: CallRender, dialogue: Dialogue | None,
                    listener: Listener | None = None,
                    skip: Callable[[RenderEvent], bool] | None = None) -> LiveCall:
        live = LiveCall(next(self._ids), spec, render, dialogue, [render])
        if listener is not None:
            live.listeners.append(listener)
        self.calls[live.id] = live
        self.schedule_render(live, render, skip)
        if live.pending == 0:
            self._finish(live)
        return live

    # ------------------------------------------------------------------ changing the future
    def cancel(self, live: LiveCall) -> None:
        """Forget the call's remaining events (an action took over)."""
        live.gen += 1
        live.pending = 0
        live.ended_early = True

    def schedule_render(self, live: LiveCall, render: CallRender,
                        skip: Callable[[RenderEvent], bool] | None = None) -> None:
        if render not in live.renders:
            live.renders.append(render)
        self._map_ids(live, render)
        for rev in render.events:  # planned times: one already due is played at once
            if skip is None or not skip(rev):
                self._push(rev.at, live, functools.partial(self._play, live, render, rev))

    def schedule_messages(self, live: LiveCall | None, messages: Iterable[AmiMessage],
                          at: float | None = None) -> None:
        """Emit these messages in order, at ``at`` (default: now); synthesised events."""
        when = self.now() if at is None else at
        for msg in messages:
            self._push(when, live, functools.partial(self._emit, live, msg, when))
        if live is not None and live.pending == 0:
            self._finish(live)  # nothing left to play (its channels were already gone)

    def call_at(self, at: float, live: LiveCall | None, action: Callable[[], None]) -> None:
        """Run ``action`` at simulated time ``at`` (in order with the events)."""
        self._push(at, live, action)

    def emit(self, live: LiveCall | None, msg: AmiMessage, at: float | None = None) -> None:
        """Emit one message now, as part of ``live`` (recordings and listeners see it)."""
        self._emit(live, msg, self.now() if at is None else at)

    def call_of(self, uid: str) -> LiveCall | None:
        return self.by_uid.get(uid)

    def adopt(self, live: LiveCall, uid: str) -> None:
        """Count channel ``uid`` (made by an action) as one of ``live``'s."""
        live.extra.add(uid)
        self.by_uid[uid] = live

    # ------------------------------------------------------------------ scheduler
    def _push(self, at: float, live: LiveCall | None, action: Callable[[], None]) -> None:
        if live is not None:
            live.pending += 1
        entry = (at, next(self._seq), live.id if live else 0, live.gen if live else 0, action)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._wake.set()

    async def _loop(self) -> None:
        burst = 0
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self.clock.real_delay(self._heap[0][0])
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            _, _, call_id, gen, action = heapq.heappop(self._heap)
            live = self.calls.get(call_id)
            if call_id and (live is None or live.gen != gen):
                continue
            try:
                action()
            except Exception:  # a bug must not stop every other call
                log.exception("simulator: event failed")
            if live is not None:
                live.pending -= 1
                if live.pending <= 0:
                    self._finish(live)
            burst += 1
            if burst % 64 == 0:
                await self.server.drain()
                await asyncio.sleep(0)

    def _play(self, live: LiveCall, render: CallRender, rev: RenderEvent) -> None:
        known = len(render.ids)
        for msg in render.render(rev):
            self._emit(live, msg, rev.at)
        if len(render.ids) != known:
            self._map_ids(live, render)

    def _map_ids(self, live: LiveCall, render: CallRender) -> None:
        for tok, value in render.ids.items():
            if tok.name in ("U", "L"):
                self.by_uid[value] = live

    def _emit(self, live: LiveCall | None, msg: AmiMessage, at: float) -> None:
        ts = at if self.server.timestamp_events else None
        self.server.emit(msg, timestamp=ts)
        self.events_played += 1
        if live is None:
            return
        live.messages += 1
        name = msg.get("Event")
        if name == "VarSet" and msg.get("Variable") == "MIXMONITOR_FILENAME":
            live.recordings[msg.get("Uniqueid", "")] = (msg.get("Value", ""), at)
        elif name == "Hangup":
            opened = live.recordings.pop(msg.get("Uniqueid", ""), None)
            if opened is not None:
                self._write(live, opened[0], at - opened[1])
        for listener in list(live.listeners):
            listener(msg, at)

    def _finish(self, live: LiveCall) -> None:
        if live.done.is_set():
            return
        self.calls.pop(live.id, None)
        for uid in live.uniqueids():
            if self.by_uid.get(uid) is live:
                del self.by_uid[uid]
        now = self.now()
        spec = live.spec
        if live.ended_early:
            for agent in spec.agents:
                busy = self.traffic.busy_until
                if busy.get(agent.extension, 0.0) > now:
                    busy[agent.extension] = now
        if spec.kind == "queue_ringall" and not live.ended_early:
            stats = self.pbx.agent(spec.agent.extension)
            stats.calls_taken += 1
            stats.last_call = int(now)
        for uid, (path, started) in list(live.recordings.items()):
            self._write(live, path, now - started)  # channel ended without a Hangup we played
            del live.recordings[uid]
        self.finished.append(live)
        del self.finished[:-1000]
        live.done.set()

    # ------------------------------------------------------------------ recordings
    def _write(self, live: LiveCall, path: str, seconds: float) -> None:
        if not self.config.recordings_dir or not path:
            return
        target = Path(path)
        task = asyncio.ensure_future(asyncio.to_thread(
            write_recording, target, max(0.0, seconds), live.dialogue, self.speech))
        self._writes.add(task)

        def done(t: asyncio.Task[Path]) -> None:
            self._writes.discard(t)
            if not t.cancelled() and t.exception() is None:
                live.written.append(target)
                self.recordings.append(target)
            elif not t.cancelled():
                log.warning("simulator: recording %s failed: %s", target, t.exception())

        task.add_done_callback(done)

    async def flush(self) -> None:
        """Wait for the recordings being written."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
