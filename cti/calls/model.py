"""Call records and domain events: the values the tracker emits.

Everything here is a frozen dataclass so tests compare whole values and services can pass them
around without fear of mutation. Times are UNIX epoch seconds (float, UTC); the JSON form turns
them into ISO 8601 UTC strings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Direction = Literal["inbound", "outbound", "internal"]
Status = Literal["answered", "missed", "abandoned", "busy", "no_answer", "failed"]
LegKind = Literal["trunk", "extension", "local", "other"]

DIRECTIONS: tuple[str, ...] = ("inbound", "outbound", "internal")
STATUSES: tuple[str, ...] = ("answered", "missed", "abandoned", "busy", "no_answer", "failed")


def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds → ISO 8601 UTC with millisecond precision (``2026-11-23T14:31:12.822Z``)."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso_utc(text: str | None) -> float | None:
    """Inverse of :func:`iso_utc` (accepts any ISO 8601 string with a zone)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class Party:
    number: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer inside a call. ``from_`` and ``to`` are extensions or dialled numbers."""

    kind: Literal["blind", "attended"]
    from_: str
    to: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": self.from_, "to": self.to, "at": iso_utc(self.at)}


@dataclass(frozen=True, slots=True)
class Leg:
    """One Asterisk channel that took part in the call."""

    channel: str
    uniqueid: str
    kind: LegKind
    endpoint: str
    created_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: str = ""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as a person sees it, keyed by (pbx, call_id = Asterisk Linkedid)."""

    pbx: str
    call_id: str
    direction: Direction
    status: Status
    answered: bool
    caller: Party
    callee: Party
    extension: str | None
    extensions_rung: tuple[str, ...]
    queue: str | None
    started_at: float
    answered_at: float | None
    ended_at: float
    hangup_cause: str
    transfers: tuple[Transfer, ...] = ()
    recordings: tuple[str, ...] = ()
    overlong: bool = False
    legs: tuple[Leg, ...] = field(default=(), compare=False)

    @property
    def ring_seconds(self) -> float:
        end = self.answered_at if self.answered_at is not None else self.ended_at
        return round(max(0.0, end - self.started_at), 3)

    @property
    def talk_seconds(self) -> float:
        if self.answered_at is None:
            return 0.0
        return round(max(0.0, self.ended_at - self.answered_at), 3)

    @property
    def duration_seconds(self) -> float:
        return round(max(0.0, self.ended_at - self.started_at), 3)

    def to_json(self) -> dict[str, Any]:
        """The documented call-record schema (README, "Call record")."""
        return {
            "pbx": self.pbx,
            "call_id": self.call_id,
            "direction": self.direction,
            "status": self.status,
            "answered": self.answered,
            "caller": {"number": self.caller.number, "name": self.caller.name},
            "callee": {"number": self.callee.number},
            "extension": self.extension,
            "extensions_rung": list(self.extensions_rung),
            "queue": self.queue,
            "started_at": iso_utc(self.started_at),
            "answered_at": iso_utc(self.answered_at),
            "ended_at": iso_utc(self.ended_at),
            "ring_seconds": self.ring_seconds,
            "talk_seconds": self.talk_seconds,
            "duration_seconds": self.duration_seconds,
            "hangup_cause": self.hangup_cause,
            "transfers": [t.to_json() for t in self.transfers],
            "recordings": list(self.recordings),
            "overlong": self.overlong,
        }

    def replace(self, **changes: Any) -> CallRecord:
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- domain events
@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of everything the tracker tells the rest of the program."""

    pbx: str
    call_id: str
    at: float

    @property
    def kind(self) -> str:
        return _KIND_BY_CLASS[type(self).__name__]

    def detail(self) -> dict[str, Any]:
        """The event's own fields (without pbx/call_id/at), for the timeline table and the UI."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("pbx", "call_id", "at"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, CallRecord):
                continue
            if isinstance(value, Party):
                value = {"number": value.number, "name": value.name}
            out[f.name] = value
        return out


@dataclass(frozen=True, slots=True)
class CallStarted(DomainEvent):
    direction: Direction
    caller: Party
    callee: Party


@dataclass(frozen=True, slots=True)
class CallRinging(DomainEvent):
    """An extension's phone started ringing for this call (screen pops hang on this)."""

    extension: str
    direction: Direction
    caller: Party
    callee: Party
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class CallAnswered(DomainEvent):
    extension: str | None
    direction: Direction
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class CallTransferred(DomainEvent):
    transfer_kind: str
    from_: str
    to: str


@dataclass(frozen=True, slots=True)
class RecordingStarted(DomainEvent):
    path: str


@dataclass(frozen=True, slots=True)
class CallEnded(DomainEvent):
    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallOverlong(DomainEvent):
    """Emitted by the live overlong timer (a service), never by the pure tracker."""

    seconds: float
    threshold: float
    extension: str | None


_KIND_BY_CLASS = {
    "CallStarted": "call_started",
    "CallRinging": "call_ringing",
    "CallAnswered": "call_answered",
    "CallTransferred": "call_transferred",
    "RecordingStarted": "recording_started",
    "CallEnded": "call_ended",
    "CallOverlong": "call_overlong",
}


@dataclass(frozen=True, slots=True)
class ClientMatched(DomainEvent):
    """The call was linked to these clients (best candidate first), published by the client
    linker (a service), never by the pure tracker. ``auto_created``: the client was created for
    this call's unknown number. ``at`` is the PBX time of the event that triggered the lookup,
    so a replay stamps the timeline as the live run did."""

    client_ids: tuple[int, ...]
    auto_created: bool = False


_KIND_BY_CLASS["ClientMatched"] = "client_matched"
