"""Calls in progress as the people watching them see them: the one in-memory model that screen
pops (and the supervisors' live board) read.

``LiveCalls(bus)`` folds the bus's domain events into one frozen :class:`LiveCall` per call in
progress — who rings, who answered, who has it now, transfers, client links, flags — indexed by
extension, and tells its listeners about every change (:class:`Change`). It does no I/O, so a
listener sees the change in the same call stack as the AMI event that caused it: the screen pop
costs no extra hop.

Why it is shaped this way:

* **Snapshots, not mutations.** Each change replaces the call's :class:`LiveCall` by a new value
  with ``version`` + 1. A listener can keep, compare or serialise what it was given without
  fearing it changes under it, and a consumer that falls behind can skip to the newest version
  of a call (the websocket hub coalesces this way).
* **Ended calls linger.** After ``CallEnded`` the call stays ``ended`` for ``linger`` seconds,
  so a pop can show the wrap-up form and a page reloaded just after hangup still finds it.
  Forgetting is lazy (on the next event or read) on an injectable clock, so tests control it.
* **Who is involved** (:attr:`LiveCall.extensions`): every extension rung, the answering one,
  the one that placed an outbound or internal call, and transfer targets. Asterisk reports the
  first answer only (the tracker emits one ``CallAnswered``), so after a transfer the target is
  taken to hold the call from the transfer on (:attr:`LiveCall.extension`).
* **Unknown calls are adopted** on ``CallRinging``/``CallAnswered`` (after a reconnect the
  tracker may report a ring without a start); a ``CallEnded`` for a call never seen live makes
  no pop: nobody saw it ring.
* **Bounded.** A call whose end never came (a lost Hangup the periodic resync has not closed
  yet) must not grow memory forever: beyond ``max_calls`` the oldest is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from cti.bus import Bus
from cti.calls.model import (
    CallAnswered,
    CallEnded,
    CallOverlong,
    CallRinging,
    CallStarted,
    CallTransferred,
    ClientMatched,
    Direction,
    DomainEvent,
    Party,
    RecordingStarted,
    Status,
    Transfer,
    iso_utc,
)

log = logging.getLogger(__name__)

CallState = Literal["ringing", "up", "ended"]
ChangeKind = Literal["new", "update", "ended", "gone"]
Key = tuple[str, str]

#: Seconds an ended call stays visible (its pop offers the wrap-up meanwhile).
DEFAULT_LINGER = 600.0
MAX_CALLS = 20_000


@dataclass(frozen=True, slots=True)
class LiveCall:
    """One call in progress (or just ended). Times are PBX epoch seconds."""

    pbx: str
    call_id: str
    direction: Direction
    caller: Party
    callee: Party
    state: CallState
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str | None = None
    rung: tuple[str, ...] = ()  # every extension rung, first ring first
    ringing: tuple[str, ...] = ()  # still ringing now
    extension: str | None = None  # who holds the call: the answerer, then a transfer target
    origin: str | None = None  # the extension that placed an outbound or internal call
    transfers: tuple[Transfer, ...] = ()
    client_ids: tuple[int, ...] = ()  # linked clients, best first (ClientMatched)
    auto_created: bool = False
    overlong: bool = False
    recording: bool = False
    status: Status | None = None  # the record's status, once ended
    version: int = 1

    @property
    def key(self) -> Key:
        return (self.pbx, self.call_id)

    @property
    def extensions(self) -> frozenset[str]:
        """Every extension involved: whoever sees this call's pop."""
        found = set(self.rung)
        found.update(e for e in (self.extension, self.origin) if e)
        for t in self.transfers:
            found.update((t.from_, t.to))
        return frozenset(found)

    @property
    def talked(self) -> frozenset[str]:
        """Extensions that were (or are) connected to the other party: they write wrap-ups."""
        found = {e for e in (self.origin,) if e}
        if self.answered_at is not None:
            found.update(e for e in (self.extension,) if e)
            for t in self.transfers:
                found.update((t.from_, t.to))
        if self.status == "answered" and self.extension:
            found.add(self.extension)
        return frozenset(found & self.extensions)

    @property
    def outside(self) -> Party:
        """The party outside the company: the caller of an inbound call, the number dialled
        by an outbound one. For an internal call, the caller (as the rung colleague sees it;
        the colleague who placed it sees the callee: the browser knows which one it is)."""
        return self.callee if self.direction == "outbound" else self.caller

    def to_json(self) -> dict[str, Any]:
        return {
            "pbx": self.pbx,
            "call_id": self.call_id,
            "direction": self.direction,
            "state": self.state,
            "status": self.status,
            "caller": {"number": self.caller.number, "name": self.caller.name},
            "callee": {"number": self.callee.number, "name": self.callee.name},
            "queue": self.queue,
            "rung": list(self.rung),
            "ringing": list(self.ringing),
            "extension": self.extension,
            "origin": self.origin,
            "extensions": sorted(self.extensions),
            "talked": sorted(self.talked),
            "transfers": [t.to_json() for t in self.transfers],
            "client_ids": list(self.client_ids),
            "auto_created": self.auto_created,
            "overlong": self.overlong,
            "recording": self.recording,
            "started_at": iso_utc(self.started_at),
            "answered_at": iso_utc(self.answered_at),
            "ended_at": iso_utc(self.ended_at),
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Change:
    """``new``: first sight of a call; ``update``: anything else while it runs; ``ended``: the
    hangup (and any change after it); ``gone``: forgotten after lingering. ``cause`` is the
    domain event's kind (``call_ringing``…) or ``expired``."""

    kind: ChangeKind
    call: LiveCall
    cause: str


Listener = Callable[[Change], None]


def _add(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    return items if item in items else (*items, item)


class LiveCalls:
    """Subscribes to ``bus`` at construction; ``close()`` unsubscribes."""

    def __init__(self, bus: Bus, *, linger: float = DEFAULT_LINGER,
                 clock: Callable[[], float] = time.monotonic,
                 max_calls: int = MAX_CALLS) -> None:
        self.linger = linger
        self.max_calls = max_calls
        self._clock = clock
        self._calls: dict[Key, LiveCall] = {}  # insertion order: oldest first
        self._by_ext: dict[str, set[Key]] = {}
        self._expires: dict[Key, float] = {}  # ended calls → forget after (clock time)
        self._listeners: list[Listener] = []
        self.changes = 0
        self.listener_errors = 0
        self.dropped = 0
        self._unsubscribe = bus.subscribe(self.on_event)

    # ------------------------------------------------------------------ reading
    def get(self, pbx: str, call_id: str) -> LiveCall | None:
        self.sweep()
        return self._calls.get((pbx, call_id))

    def all(self) -> list[LiveCall]:
        """Every call, oldest first."""
        self.sweep()
        return list(self._calls.values())

    def for_extensions(self, extensions: Iterable[str]) -> list[LiveCall]:
        """Calls involving any of ``extensions``, oldest first."""
        self.sweep()
        keys: set[Key] = set()
        for ext in extensions:
            keys |= self._by_ext.get(ext, set())
        return sorted((self._calls[k] for k in keys), key=lambda c: (c.started_at, c.key))

    def __len__(self) -> int:
        return len(self._calls)

    @property
    def in_progress(self) -> int:
        """Calls not ended yet (the ``calls live`` gauge)."""
        return len(self._calls) - len(self._expires)

    # ------------------------------------------------------------------ listening
    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """``fn(change)`` runs synchronously on every change: keep it quick (queue, don't
        await). One that raises is logged and counted; the others still run."""
        self._listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return unsubscribe

    def close(self) -> None:
        self._unsubscribe()
        self._listeners.clear()

    # ------------------------------------------------------------------ folding events
    def on_event(self, event: DomainEvent) -> None:
        self.sweep()
        key = (event.pbx, event.call_id)
        old = self._calls.get(key)
        new = self._fold(old, event)
        if new is None or new == old:
            return
        if old is not None:
            new = dataclasses.replace(new, version=old.version + 1)
        if new.state == "ended":
            kind: ChangeKind = "ended"
            self._expires[key] = self._clock() + self.linger
        else:
            kind = "new" if old is None else "update"
        self._store(old, new)
        self._notify(Change(kind, new, event.kind))

    def _fold(self, old: LiveCall | None, ev: DomainEvent) -> LiveCall | None:
        r = dataclasses.replace
        if isinstance(ev, CallStarted):
            if old is not None:
                return r(old, direction=ev.direction, caller=ev.caller, callee=ev.callee)
            return LiveCall(ev.pbx, ev.call_id, ev.direction, ev.caller, ev.callee, "ringing",
                            ev.at, origin=_origin(ev.direction, ev.caller))
        if isinstance(ev, CallRinging):
            if old is None:
                old = LiveCall(ev.pbx, ev.call_id, ev.direction, ev.caller, ev.callee,
                               "ringing", ev.at, origin=_origin(ev.direction, ev.caller))
            if old.state == "ended":
                return None
            return r(old, direction=ev.direction, caller=ev.caller,
                     callee=ev.callee if ev.callee.number else old.callee,
                     queue=ev.queue or old.queue, rung=_add(old.rung, ev.extension),
                     ringing=_add(old.ringing, ev.extension))
        if isinstance(ev, CallAnswered):
            if old is None:
                old = LiveCall(ev.pbx, ev.call_id, ev.direction, Party(), Party(), "up", ev.at)
            if old.state == "ended":
                return None
            holder = ev.extension or old.extension or old.origin
            return r(old, state="up", direction=ev.direction, queue=ev.queue or old.queue,
                     answered_at=old.answered_at if old.answered_at is not None else ev.at,
                     extension=holder, ringing=())
        if old is None:
            return None  # nothing to show for a call never seen ringing or answered
        if isinstance(ev, CallTransferred):
            kind: Any = ev.transfer_kind if ev.transfer_kind in ("blind", "attended") else "blind"
            return r(old, transfers=(*old.transfers, Transfer(kind, ev.from_, ev.to, ev.at)),
                     extension=ev.to or old.extension,
                     ringing=tuple(e for e in old.ringing if e != ev.from_))
        if isinstance(ev, ClientMatched):
            return r(old, client_ids=ev.client_ids, auto_created=ev.auto_created)
        if isinstance(ev, RecordingStarted):
            return r(old, recording=True)
        if isinstance(ev, CallOverlong):
            return r(old, overlong=True)
        if isinstance(ev, CallEnded):
            rec = ev.record
            rung = old.rung
            for ext in rec.extensions_rung:
                rung = _add(rung, ext)
            return r(old, state="ended", status=rec.status, direction=rec.direction,
                     caller=rec.caller if rec.caller.number else old.caller,
                     callee=rec.callee if rec.callee.number else old.callee,
                     queue=rec.queue or old.queue, rung=rung, ringing=(),
                     extension=old.extension or rec.extension,  # the record's is the caller
                     # of an internal call and the first answerer of a transferred one
                     origin=old.origin or _origin(rec.direction, rec.caller),
                     transfers=rec.transfers or old.transfers, answered_at=rec.answered_at,
                     ended_at=rec.ended_at, overlong=old.overlong or rec.overlong)
        return None

    def _store(self, old: LiveCall | None, new: LiveCall) -> None:
        key = new.key
        if old is not None:
            for ext in old.extensions - new.extensions:
                self._unindex(ext, key)
        self._calls[key] = new
        for ext in new.extensions:
            self._by_ext.setdefault(ext, set()).add(key)
        while len(self._calls) > self.max_calls:
            oldest = next(iter(self._calls))
            self.dropped += 1
            log.warning("live calls: more than %d, forgetting %s/%s", self.max_calls, *oldest)
            self._forget(oldest)

    def _unindex(self, ext: str, key: Key) -> None:
        keys = self._by_ext.get(ext)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_ext[ext]

    def _forget(self, key: Key) -> LiveCall | None:
        call = self._calls.pop(key, None)
        self._expires.pop(key, None)
        if call is not None:
            for ext in call.extensions:
                self._unindex(ext, key)
        return call

    def sweep(self) -> int:
        """Forget ended calls whose linger time has passed; returns how many."""
        if not self._expires:
            return 0
        now = self._clock()
        due = [k for k, until in self._expires.items() if until <= now]
        for key in due:
            call = self._forget(key)
            if call is not None:
                self._notify(Change("gone", call, "expired"))
        return len(due)

    def _notify(self, change: Change) -> None:
        self.changes += 1
        for fn in list(self._listeners):
            try:
                fn(change)
            except Exception:
                self.listener_errors += 1
                log.exception("live calls listener %r failed on %s", fn, change.cause)


def _origin(direction: str, caller: Party) -> str | None:
    """The extension that placed the call: the caller of an outbound or internal call."""
    if direction in ("outbound", "internal") and caller.number:
        return caller.number
    return None
