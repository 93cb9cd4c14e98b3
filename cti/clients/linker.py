"""Attach clients to calls while the phone rings.

A bus subscriber: on ``CallStarted`` / ``CallRinging`` it looks up the outside party — the
caller of an inbound call, the dialled number of an outbound one — in the client directory,
creates a client for an unknown external number when ``clients.auto_create`` says so for that
direction, links the call to the client(s) in the store and publishes
:class:`~cti.calls.model.ClientMatched` (screen pops and the timeline hang on it).

Why it is built this way:

* **Never block the bus.** The bus calls subscribers synchronously; the lookup is I/O, so it
  runs in a task. :meth:`ClientLinker.flush` waits for those tasks (replays, tests, shutdown).
* **Once per call.** A queue rings several phones (one ``CallRinging`` each); only the first
  event of a call triggers the lookup. ``CallRinging`` also counts because after a reconnect
  the tracker may adopt a call without a ``CallStarted``.
* **Retry at ``CallEnded``.** A click-to-dial call starts as the agent's own phone ringing
  (``internal``, nothing dialled yet) and only becomes ``outbound`` with a number once the
  PBX dials out; so does any call whose number is not known at first. When nothing was looked
  up for a call, the finished record (final direction and numbers) gets its turn.
* **One lookup at a time.** Two calls from the same unknown number arriving together must not
  create two clients: match-then-create runs under a lock (a lookup takes well under a
  millisecond, so this costs nothing at PBX call rates), in arrival order.
* **Internal calls get no client**; withheld numbers and extensions never match nor create.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cti.bus import Bus
from cti.calls.model import CallEnded, CallRinging, CallStarted, ClientMatched, DomainEvent
from cti.clients.directory import ClientDirectory
from cti.clients.settings import ClientSettings
from cti.metrics import Histogram

log = logging.getLogger(__name__)

#: Calls remembered as "already looked up" until they end; the oldest are forgotten beyond
#: this (a call whose end we never saw must not grow memory forever).
MAX_REMEMBERED = 50_000


class ClientLinker:
    """Subscribes to ``bus`` at construction; ``close()`` unsubscribes and waits for lookups."""

    def __init__(self, bus: Bus, directory: ClientDirectory,
                 settings: ClientSettings | None = None) -> None:
        self.bus = bus
        self.directory = directory
        self.settings = settings or directory.settings
        self.lookups = 0
        self.matched = 0
        self.created = 0
        self.errors = 0
        #: Seconds per directory lookup (``/metrics``: the ring-to-pop budget starts here).
        self.lookup_seconds = Histogram()
        self._done: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._unsubscribe = bus.subscribe(self.on_event)

    def on_event(self, event: DomainEvent) -> None:
        key = (event.pbx, event.call_id)
        if isinstance(event, CallStarted | CallRinging):
            if key in self._done:
                return
            number = _outside_number(event.direction, event.caller.number, event.callee.number)
            if number is None:
                return  # internal, or nothing dialled yet: CallEnded will tell
            self._remember(key)
            self._spawn(event.pbx, event.call_id, event.direction, number, event.at)
        elif isinstance(event, CallEnded):
            if key in self._done:
                del self._done[key]
                return
            record = event.record
            number = _outside_number(record.direction, record.caller.number,
                                     record.callee.number)
            if number is not None:
                self._spawn(event.pbx, event.call_id, record.direction, number, event.at)

    def _remember(self, key: tuple[str, str]) -> None:
        self._done[key] = None
        if len(self._done) > MAX_REMEMBERED:
            del self._done[next(iter(self._done))]

    def _spawn(self, pbx: str, call_id: str, direction: str, number: str, at: float) -> None:
        task = asyncio.get_running_loop().create_task(
            self._link(pbx, call_id, direction, number, at), name=f"client-link:{call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link(self, pbx: str, call_id: str, direction: str, number: str,
                    at: float) -> None:
        try:
            async with self._lock:
                event = await self._lookup(pbx, call_id, direction, number, at)
        except Exception:
            self.errors += 1
            log.exception("client lookup failed for call %s/%s (%s)", pbx, call_id, number)
            return
        if event is not None:
            self.bus.publish(event)  # after the link is stored: subscribers may read it

    async def _lookup(self, pbx: str, call_id: str, direction: str, number: str,
                      at: float) -> ClientMatched | None:
        self.lookups += 1
        started = time.perf_counter()
        matches = await self.directory.match(number, direction=direction)
        self.lookup_seconds.observe(time.perf_counter() - started)
        if matches:
            links = {m.client.id: str(m.how) for m in matches}
            self.matched += 1
            created = False
        elif self._may_create(number, direction):
            client = await self.directory.auto_create(number)
            links = {client.id: "auto_created"}
            self.created += 1
            created = True
            log.info("call %s/%s: created client %d for %s", pbx, call_id, client.id, number)
        else:
            return None
        await self.directory.link_call(pbx, call_id, links, number=number, at=at)
        return ClientMatched(pbx, call_id, at, tuple(links), created)

    def _may_create(self, number: str, direction: str) -> bool:
        """Only real outside numbers: a number we could not read (``invalid``) would make a
        junk card per odd caller id, so it is matched but never created."""
        if not self.settings.auto_create or direction not in self.settings.auto_create_directions:
            return False
        return self.directory.normalize(number).status in ("valid", "unverified")

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def flush(self) -> None:
        """Wait until every lookup started so far (and any it started) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self._unsubscribe()
        await self.flush()


def _outside_number(direction: str, caller: str, callee: str) -> str | None:
    """The number of the party outside the company, if the call has one yet."""
    if direction == "inbound":
        return caller
    if direction == "outbound" and callee.strip():
        return callee
    return None
