"""The channels of each live call as the PBX names them, learnt from raw AMI events: what call
control (:mod:`cti.pbx.call_control`) and supervision (:mod:`cti.pbx.supervision`) act on.

Why a model of its own, beside the tracker: the tracker folds events into *calls* (who rang,
who answered, how long) and forgets channel names; an AMI action needs the exact channel name
(``PJSIP/1001-0000002a``), and people must never type one. So this model keeps, per call
(Asterisk ``Linkedid``), every live channel with its name, endpoint, state and bridge, exactly
as the PBX reported them, plus what call control started on it:

* **parked** — Asterisk's ``ParkedCall`` event (res_parking, Asterisk 12+) names the parkee
  (``ParkeeUniqueid``, ``ParkeeLinkedid``), the lot and the space; ``UnParkedCall``,
  ``ParkedCallGiveUp`` and ``ParkedCallTimeOut`` end it;
* **consulting** — an attended transfer (AMI ``Atxfer``) in progress: Asterisk dials the target
  through a Local channel ``Local/<exten>@<context>-xxxxxxxx;1`` created on the transferer's
  behalf (it inherits the call's Linkedid), the *transfer target* of bridge_basic.c's state
  machine. Hanging that channel up cancels the consultation (``TRANSFER_REBRIDGE``: the
  transferer goes back to the caller); the ``AttendedTransfer`` event or the transferer's hangup
  ends it.

A channel's Linkedid can change (bridging two calls copies the oldest Linkedid onto them): the
model follows the channel by Uniqueid and moves it to its new call; a ``BridgeMerge`` moves the
channels of one bridge into the other. Bounded: a call whose last
Hangup was lost is dropped once :data:`MAX_CALLS` calls are held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cti.ami.messages import AmiMessage

MAX_CALLS = 10_000
#: Events this model (and so the daemon's AMI parser) must see besides the tracker's.
EXTRA_EVENTS = frozenset({"ParkedCall", "UnParkedCall", "ParkedCallGiveUp",
                          "ParkedCallTimeOut", "ChanSpyStart", "ChanSpyStop", "BridgeMerge"})
#: What a channel name from the PBX may hold before it goes into an action (defence in depth:
#: names come from the PBX, never from people).
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9/@._:;+#*\-]{2,150}")
_PARK_END = frozenset({"UnParkedCall", "ParkedCallGiveUp", "ParkedCallTimeOut"})


@dataclass
class Leg:
    """One live channel: ``endpoint`` is ``1001`` for ``PJSIP/1001-0000002a`` (empty for a
    Local channel), ``state`` Asterisk's ``ChannelStateDesc``."""

    uid: str
    name: str
    linkedid: str
    state: str = ""
    bridge: str = ""

    @property
    def tech(self) -> str:
        return self.name.partition("/")[0]

    @property
    def endpoint(self) -> str:
        if self.tech.lower() == "local":
            return ""
        return self.name.partition("/")[2].rsplit("-", 1)[0]

    @property
    def up(self) -> bool:
        return self.state == "Up"


@dataclass
class Parked:
    """A caller parked by call control's Hold, waiting in ``space`` of ``lot``."""

    space: str
    lot: str
    parkee_uid: str
    number: str = ""  # the parkee's caller id number, as the PBX reported it
    by: str = ""  # the extension that parked it
    tech: str = "PJSIP"  # of that extension's channel: Resume rings the same kind of device


@dataclass
class Consult:
    """An attended transfer in progress: ``by`` consults ``target`` from ``transferer_uid``;
    ``uid``/``name`` are the consultation's Local channel once the PBX has created it."""

    target: str
    transferer_uid: str
    by: str
    uid: str = ""
    name: str = ""
    answered: bool = False


@dataclass
class CallLegs:
    legs: dict[str, Leg] = field(default_factory=dict)  # Uniqueid → leg
    parked: Parked | None = None
    consult: Consult | None = None
    spies: dict[str, str] = field(default_factory=dict)  # spy Uniqueid → spied channel

    def leg_of(self, extensions: tuple[str, ...] | list[str] | set[str]) -> Leg | None:
        """The live phone channel of one of ``extensions`` in this call: answered and bridged
        first (the one talking), then answered, then any."""
        mine = [g for g in self.legs.values() if g.endpoint and g.endpoint in extensions]
        mine.sort(key=lambda g: (not g.up, not g.bridge))
        return mine[0] if mine else None

    def peer_of(self, leg: Leg) -> Leg | None:
        """Who ``leg`` talks to: another channel of its bridge."""
        if not leg.bridge:
            return None
        return next((g for g in self.legs.values() if g.bridge == leg.bridge
                     and g.uid != leg.uid), None)


class CallLegsModel:
    """``on_ami_event(pbx, msg)`` for every raw AMI event; :meth:`get` the call's legs."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], CallLegs] = {}
        self._where: dict[tuple[str, str], str] = {}  # (pbx, Uniqueid) → Linkedid
        # Hung-up channels: late events about them (hangup handlers' VarSet…) must not bring
        # them back. Bounded, oldest forgotten first.
        self._dead: dict[tuple[str, str], None] = {}

    def get(self, pbx: str, call_id: str) -> CallLegs | None:
        entry = self.calls.get((pbx, call_id))
        return entry if entry is not None and (entry.legs or entry.parked) else None

    def call_of(self, pbx: str, uid: str) -> str | None:
        return self._where.get((pbx, uid))

    # ------------------------------------------------------------------ folding events
    def on_ami_event(self, pbx: str, msg: AmiMessage) -> None:
        event = msg.get("Event", "")
        if event == "Hangup":
            self._hangup(pbx, msg.get("Uniqueid", ""))
        elif event == "ParkedCall":
            self._parked(pbx, msg)
        elif event in _PARK_END:
            entry = self.calls.get((pbx, msg.get("ParkeeLinkedid", "")))
            if entry is not None and entry.parked is not None and (
                    entry.parked.parkee_uid == msg.get("ParkeeUniqueid")):
                entry.parked = None
        elif event == "ChanSpyStart":
            self._spy(pbx, msg, start=True)
        elif event == "ChanSpyStop":
            self._spy(pbx, msg, start=False)
        elif event == "BridgeMerge":  # (completing an attended transfer merges two bridges)
            into, gone = msg.get("ToBridgeUniqueid", ""), msg.get("FromBridgeUniqueid", "")
            for entry in self.calls.values():
                for leg in entry.legs.values():
                    if gone and leg.bridge == gone:
                        leg.bridge = into
        elif event == "AttendedTransfer":
            for key in (msg.get("OrigTransfererLinkedid"), msg.get("TransfereeLinkedid")):
                entry = self.calls.get((pbx, key or ""))
                if entry is not None:
                    entry.consult = None
        if "Linkedid" in msg and "Channel" in msg and event != "Hangup":
            self._update(pbx, msg)

    def _update(self, pbx: str, msg: AmiMessage) -> None:
        uid, name, linkedid = msg.get("Uniqueid", ""), msg.get("Channel", ""), msg["Linkedid"]
        if not uid or not name or not linkedid or (pbx, uid) in self._dead:
            return
        old = self._where.get((pbx, uid))
        leg: Leg | None = None
        if old is not None and old != linkedid:  # bridged into an older call
            moved = self.calls.get((pbx, old))
            leg = moved.legs.pop(uid, None) if moved is not None else None
            self._drop_if_empty(pbx, old)
        entry = self._entry(pbx, linkedid)
        leg = entry.legs.get(uid) or leg or Leg(uid, name, linkedid)
        entry.legs[uid] = leg
        self._where[(pbx, uid)] = linkedid
        leg.linkedid = linkedid
        event = msg.get("Event")
        leg.name = msg.get("Newname") or name if event == "Rename" else name
        if msg.get("ChannelStateDesc"):
            leg.state = msg["ChannelStateDesc"]
        if event == "BridgeEnter":
            leg.bridge = msg.get("BridgeUniqueid", "")
        elif event == "BridgeLeave" and leg.bridge == msg.get("BridgeUniqueid"):
            leg.bridge = ""
        consult = entry.consult
        if consult is not None:
            if (not consult.uid and leg.tech.lower() == "local" and leg.name.endswith(";1")
                    and leg.name.startswith(f"Local/{consult.target}@")):
                consult.uid, consult.name = uid, leg.name
            if uid == consult.uid and leg.up:
                consult.answered = True

    def _entry(self, pbx: str, linkedid: str) -> CallLegs:
        key = (pbx, linkedid)
        entry = self.calls.get(key)
        if entry is None:
            if len(self.calls) >= MAX_CALLS:
                self._forget(*next(iter(self.calls)))
            entry = self.calls[key] = CallLegs()
        return entry

    def _hangup(self, pbx: str, uid: str) -> None:
        self._dead[(pbx, uid)] = None
        if len(self._dead) > 4096:
            del self._dead[next(iter(self._dead))]
        linkedid = self._where.pop((pbx, uid), None)
        entry = self.calls.get((pbx, linkedid or ""))
        if linkedid is None or entry is None:
            return
        entry.legs.pop(uid, None)
        entry.spies.pop(uid, None)
        consult = entry.consult
        if consult is not None and uid in (consult.uid, consult.transferer_uid):
            entry.consult = None  # cancelled (target gone) or completed (transferer gone)
        self._drop_if_empty(pbx, linkedid)

    def _drop_if_empty(self, pbx: str, linkedid: str) -> None:
        entry = self.calls.get((pbx, linkedid))
        if entry is not None and not entry.legs and entry.parked is None:
            self._forget(pbx, linkedid)

    def _forget(self, pbx: str, linkedid: str) -> None:
        entry = self.calls.pop((pbx, linkedid), None)
        for uid in entry.legs if entry is not None else ():
            self._where.pop((pbx, uid), None)

    def _parked(self, pbx: str, msg: AmiMessage) -> None:
        linkedid = msg.get("ParkeeLinkedid", "")
        space = msg.get("ParkingSpace", "")
        if not linkedid or not space:
            return
        entry = self._entry(pbx, linkedid)
        previous = entry.parked
        dial = msg.get("ParkerDialString", "")  # e.g. PJSIP/1001: whom a timeout calls back
        by = previous.by if previous is not None else dial.partition("/")[2]
        tech = previous.tech if previous is not None else (dial.partition("/")[0] or "PJSIP")
        entry.parked = Parked(space, msg.get("Parkinglot", ""), msg.get("ParkeeUniqueid", ""),
                              msg.get("ParkeeCallerIDNum", ""), by, tech)

    def _spy(self, pbx: str, msg: AmiMessage, *, start: bool) -> None:
        spied = msg.get("SpyeeLinkedid", "")
        entry = self.calls.get((pbx, spied))
        if entry is None:
            return
        spy = msg.get("SpyerUniqueid", "")
        if start and spy:
            entry.spies[spy] = msg.get("SpyeeChannel", "")
        else:
            entry.spies.pop(spy, None)

    # ------------------------------------------------------------------ what call control starts
    def start_consult(self, pbx: str, call_id: str, consult: Consult) -> None:
        entry = self.calls.get((pbx, call_id))
        if entry is not None:
            entry.consult = consult
