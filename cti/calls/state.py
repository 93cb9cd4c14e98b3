"""Mutable per-channel and per-call state of the tracker, and the rules that turn it into a record.

Kept apart from the event dispatch (``tracker.py``) so the rules that decide direction, status,
the agent's extension and the talk time read in one place.

Rules (checked against real Asterisk 22 captures, see tests/fixtures/*/truth.json):

* **direction** — inbound when the call's first channel is a trunk or was created in an inbound
  context; otherwise outbound when any leg is a trunk or the dialled number has external length;
  otherwise internal.
* **answered** — a *callee* leg went Up: not the first channel (a trunk that the dialplan
  answers for an IVR or a "nobody is here" message does not make the call answered), not a Local
  half (Local channels go Up when whatever they dialled answers), and not the originator's own
  phone ringing back for a click-to-dial.
* **extension** — inbound: the extension that answered first, else the last one rung;
  outbound and internal: the extension that dialled.
* **talk time** — from that first callee answer to the end of the call, transfers included.
* **end** — the last channel's hangup; or, when the caller stayed on the line for the post-call
  survey (``CTI_SURVEY`` set by the dialplan, see ``dialplan/extensions_cti.conf``), the moment
  they went to it: answering the survey is not talking with an agent, and would otherwise add
  half a minute to every surveyed call's talk time and duration. The survey keeps its own times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.calls.classify import Classifier
from cti.calls.model import CallRecord, Direction, Leg, LegKind, Party, Status, Transfer

UNKNOWN_VALUES = frozenset({"", "<unknown>", "<null>", "unknown"})

# DialStatus values (app_dial) meaning the far end could not be reached at all.
FAILED_DIALSTATUS = frozenset({"CONGESTION", "CHANUNAVAIL", "INVALIDARGS", "DONTCALL", "TORTURE"})


def clean(value: str | None) -> str:
    return "" if value is None or value in UNKNOWN_VALUES else value


@dataclass(slots=True)
class Chan:
    name: str
    uniqueid: str
    kind: LegKind
    endpoint: str  # extension number for extension legs, Local exten for Local halves
    created_at: float
    call: CallState
    state: str = ""
    caller_num: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""
    up_at: float | None = None
    hangup_at: float | None = None
    cause: str = ""
    bridge: str = ""
    rung: bool = False
    seen_created: bool = True  # False when adopted from a later event (attached mid-call)

    @property
    def alive(self) -> bool:
        return self.hangup_at is None

    def leg(self) -> Leg:
        return Leg(self.name, self.uniqueid, self.kind, self.endpoint, self.created_at,
                   self.up_at, self.hangup_at, self.cause)


@dataclass(slots=True)
class CallState:
    linkedid: str
    created_at: float
    first: Chan | None = None
    chans: dict[str, Chan] = field(default_factory=dict)
    caller_initial: Party = field(default_factory=Party)
    caller_latest: Party = field(default_factory=Party)
    dialled: str = ""
    originator: Chan | None = None
    answered_at: float | None = None
    answer_leg: Chan | None = None
    rung: list[str] = field(default_factory=list)
    queue: str | None = None
    abandoned: bool = False
    dial_statuses: list[str] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    survey_at: float | None = None  # the caller went to the post-call survey
    started_emitted: bool = False
    ended: bool = False

    def live(self) -> bool:
        return any(c.alive for c in self.chans.values())

    def has_trunk_leg(self) -> bool:
        return any(c.kind == "trunk" for c in self.chans.values() if c is not self.first)

    def add_rung(self, extension: str) -> bool:
        if extension in self.rung:
            self.rung.remove(extension)  # keep order of *last* ring for "last one rung"
            self.rung.append(extension)
            return False
        self.rung.append(extension)
        return True


def direction_of(call: CallState, cls: Classifier) -> Direction:
    first = call.first
    if first is not None and (first.kind == "trunk" or cls.is_inbound_context(first.context)):
        return "inbound"
    if call.has_trunk_leg():
        return "outbound"
    if call.dialled and cls.is_external_number(call.dialled) and not cls.is_extension_number(
        call.dialled
    ):
        return "outbound"
    return "internal"


def is_callee_leg(call: CallState, chan: Chan) -> bool:
    """Whether this channel answering means the called party answered (see module doc)."""
    if chan is call.first or chan is call.originator:
        return False
    return chan.kind in ("extension", "trunk")


def agent_extension(call: CallState, direction: Direction) -> str | None:
    if direction == "inbound":
        leg = call.answer_leg
        if leg is not None and leg.kind == "extension":
            return leg.endpoint
        return call.rung[-1] if call.rung else None
    for chan in (call.originator, call.first):
        if chan is not None and chan.kind == "extension":
            return chan.endpoint
        if chan is not None and chan.kind == "local" and chan.endpoint.split("@")[0].isdigit():
            return chan.endpoint.split("@")[0]
    return None


def status_of(call: CallState, direction: Direction) -> Status:
    if call.answered_at is not None:
        return "answered"
    last = call.dial_statuses[-1] if call.dial_statuses else ""
    if direction == "inbound":
        if call.queue and call.abandoned:
            return "abandoned"
        if last == "BUSY":
            return "busy"
        return "missed"
    if last == "BUSY":
        return "busy"
    if last in FAILED_DIALSTATUS:
        return "failed"
    return "no_answer"


def finalize(call: CallState, cls: Classifier, pbx: str) -> CallRecord | None:
    """Build the call record; ``None`` when we never saw the call's first channel (attached
    mid-call without resync): inventing direction and times would be worse than no record."""
    first = call.first
    if first is None:
        return None
    direction = direction_of(call, cls)
    ended_candidates = [c.hangup_at for c in call.chans.values() if c.hangup_at is not None]
    ended_at = max(ended_candidates) if ended_candidates else call.created_at
    if call.survey_at is not None:
        ended_at = min(ended_at, call.survey_at)
    started_at = min(first.created_at, call.created_at)
    caller = call.caller_latest if direction == "inbound" else call.caller_initial
    if direction != "inbound" and first.kind == "local" and call.originator is not None:
        caller = Party(call.originator.endpoint, caller.name)
    answered_at = call.answered_at
    record = CallRecord(
        pbx=pbx,
        call_id=call.linkedid,
        direction=direction,
        status=status_of(call, direction),
        answered=answered_at is not None,
        caller=caller,
        callee=Party(call.dialled, ""),
        extension=agent_extension(call, direction),
        extensions_rung=tuple(call.rung),
        queue=call.queue,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=max(ended_at, started_at),
        hangup_cause=first.cause,
        transfers=tuple(call.transfers),
        recordings=tuple(call.recordings),
        legs=tuple(c.leg() for c in call.chans.values()),
    )
    threshold = cls.cfg.overlong_threshold(direction, call.queue)
    return record.replace(overlong=threshold > 0 and record.talk_seconds > threshold)
