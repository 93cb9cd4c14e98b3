"""The call tracker: a pure fold of AMI events into domain events and one record per call.

``Tracker.feed(message, received_at)`` takes one parsed AMI event and returns the domain events it
causes. No I/O, no clock: time is the event's ``Timestamp`` header when the PBX sends one
(``timestampevents=yes``) and otherwise the receive time the adapter stamped on it.

How Asterisk (12+) describes a call, and what we rely on:

* every channel carries ``Uniqueid`` and ``Linkedid``; a call's channels share the Linkedid of the
  channel that started it, so Linkedid is the call key. Bridging two calls (attended transfer)
  makes Asterisk copy the *oldest* Linkedid onto the channels of the bridge, so a channel's
  Linkedid can change under us: we route events by Uniqueid and merge calls when that happens;
* most events carry a *channel snapshot* (Channel, Uniqueid, Linkedid, ChannelStateDesc,
  CallerIDNum, Context, Exten…), some two or more with a prefix (``Dest…``, ``Transferee…``);
  when we attach to a running PBX we adopt unknown channels from those snapshots (but never from
  a Hangup: a channel we only see dying tells us nothing worth a record);
* a call ends when its last channel hangs up.

Unknown events are ignored: the adapter asks the parser to skip them before they are split.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from cti.calls.classify import TrackerConfig, valid_channel_name
from cti.calls.core import CONTROL_UID_PREFIX, Msg, TrackerCore
from cti.calls.model import DomainEvent, Party, RecordingStarted, Transfer
from cti.calls.state import CallState, clean

#: Events the tracker reads; everything else can be skipped by the parser.
CONSUMED_EVENTS: frozenset[str] = frozenset({
    "Newchannel", "Newstate", "NewCallerid", "NewConnectedLine", "Rename",
    "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave",
    "LocalBridge", "LocalOptimizationBegin", "LocalOptimizationEnd",
    "Hangup", "BlindTransfer", "AttendedTransfer",
    "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon",
    "AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer",
    "MixMonitorStart", "MixMonitorStop", "VarSet", "OriginateResponse", "Cdr",
})

NO_ADOPT = frozenset({"Hangup", "Cdr", "OriginateResponse"})


class Tracker(TrackerCore):
    """``feed(event, received_at) -> [DomainEvent]``; ``resync(CoreShowChannel items, at)``."""

    def __init__(self, cfg: TrackerConfig | None = None) -> None:
        super().__init__(cfg)
        self._handlers: dict[str, Callable[[Msg, float], None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "NewCallerid": self._on_newcallerid,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "Hangup": self._on_hangup,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerAbandon": self._on_queue_abandon,
            "VarSet": self._on_varset,
            "Rename": self._on_rename,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
        }

    # ------------------------------------------------------------------ public API
    def feed(self, msg: Msg, received_at: float) -> list[DomainEvent]:
        name = msg.get("Event")
        if name is None or name not in CONSUMED_EVENTS:
            self.ignored += 1
            return []
        ts = msg.get("Timestamp")
        t = received_at
        if ts:
            with contextlib.suppress(ValueError):
                t = float(ts)
                self.clock_offset = t - received_at
        out: list[DomainEvent] = []
        self._out = out
        handler = self._handlers.get(name)
        if handler is not None:
            handler(msg, t)
        elif name not in NO_ADOPT:
            self._snap(msg, "", t)  # keep states and Linkedid moves current
        return out

    def feed_all(self, items: Iterable[tuple[Msg, float]]) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for msg, t in items:
            out.extend(self.feed(msg, t))
        return out

    def resync(self, channels: Iterable[Msg], at: float) -> list[DomainEvent]:
        """Reconcile with ``CoreShowChannels`` after a (re)connect.

        Channels we track that the PBX no longer has hung up while we were away (their end time
        is the resync time: the best we know); channels we do not know are adopted with their
        creation time from the ``Duration`` field.
        """
        out: list[DomainEvent] = []
        self._out = out
        listed: set[str] = set()
        for msg in channels:
            uid = msg.get("Uniqueid")
            if not uid:
                continue
            listed.add(uid)
            t = at
            if uid not in self.chans:
                t = at - _hms(msg.get("Duration", ""))
            chan = self._snap(msg, "", t)
            if chan is not None and chan.up_at is None and msg.get("ChannelStateDesc") == "Up":
                self._went_up(chan, at)
            if chan is not None and msg.get("BridgeId"):
                chan.bridge = msg["BridgeId"]
        for uid, chan in list(self.chans.items()):
            if uid not in listed and chan.alive:
                self._hangup(chan, at, "")
        return out

    def pbx_time(self, local_now: float) -> float:
        """Our clock reading expressed on the PBX's clock (the same when it sends no
        ``Timestamp``): the time to give :meth:`resync` when the answer carries none."""
        return local_now + self.clock_offset

    def live_calls(self) -> list[CallState]:
        return [c for c in {id(c): c for c in self.calls.values()}.values() if not c.ended]

    # ------------------------------------------------------------------ handlers
    def _on_newchannel(self, msg: Msg, t: float) -> None:
        uid = msg.get("Uniqueid")
        name = msg.get("Channel", "")
        if not uid or not valid_channel_name(name):
            self.invalid += 1
            return
        if uid.startswith(CONTROL_UID_PREFIX):  # cti's own control leg: not a call
            self.ignored += 1
            return
        if uid in self.chans:
            self._snap(msg, "", t)
            return
        self._new_chan(msg, "", uid, name, t, seen_created=True)
        self._snap(msg, "", t)

    def _on_newstate(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t)
        if chan is None:
            return
        state = msg.get("ChannelStateDesc")
        if state == "Ringing":
            self._ring(chan, t)
        elif state == "Up" and chan.up_at is None:
            self._went_up(chan, t)

    def _on_newcallerid(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t)
        if chan is None:
            return
        chan.caller_num = clean(msg.get("CallerIDNum"))
        chan.caller_name = clean(msg.get("CallerIDName"))
        if chan is chan.call.first:
            chan.call.caller_latest = Party(chan.caller_num, chan.caller_name)

    def _on_dialbegin(self, msg: Msg, t: float) -> None:
        self._snap(msg, "", t)
        dest = self._snap(msg, "Dest", t)
        if dest is not None:
            self._ring(dest, t)

    def _on_dialend(self, msg: Msg, t: float) -> None:
        src = self._snap(msg, "", t)
        dest = self._snap(msg, "Dest", t)
        status = msg.get("DialStatus", "")
        call = src.call if src is not None else dest.call if dest is not None else None
        if call is not None and status and (src is not None or dest is not call.first):
            call.dial_statuses.append(status)

    def _on_hangup(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t, adopt=False)
        if chan is not None and chan.alive:
            self._hangup(chan, t, msg.get("Cause", ""))

    def _on_blind_transfer(self, msg: Msg, t: float) -> None:
        if msg.get("Result") != "Success":
            return
        chan = self._snap(msg, "Transferer", t) or self._snap(msg, "Transferee", t)
        if chan is None:
            return
        transfer = Transfer("blind", self._extension_of(msg, "Transferer"),
                            msg.get("Extension", ""), t)
        self._emit_transfer(chan.call, transfer)

    def _on_attended_transfer(self, msg: Msg, t: float) -> None:
        if msg.get("Result") != "Success":
            return
        orig = self._snap(msg, "OrigTransferer", t)
        second = self._snap(msg, "SecondTransferer", t)
        target = self._snap(msg, "TransferTarget", t)
        if orig is None:
            return
        to = self._extension_of(msg, "TransferTarget") if target is not None else ""
        if not to:
            to = clean(msg.get("SecondTransfererExten")) or clean(msg.get("DestApp"))
        transfer = Transfer("attended", self._extension_of(msg, "OrigTransferer"), to, t)
        call = orig.call
        if second is not None and second.call is not call:
            self._merge(second.call, call)
        self._emit_transfer(call, transfer)

    def _on_queue_join(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t)
        if chan is not None and chan.call.queue is None:
            chan.call.queue = msg.get("Queue") or None

    def _on_queue_abandon(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t)
        if chan is not None:
            chan.call.abandoned = True
            chan.call.queue = chan.call.queue or msg.get("Queue") or None

    def _on_varset(self, msg: Msg, t: float) -> None:
        var = msg.get("Variable", "").lstrip("_")
        if var == self.cfg.survey_variable:
            chan = self._snap(msg, "", t)
            if chan is not None and chan.call.survey_at is None:
                chan.call.survey_at = t
            return
        if var in self.cfg.recording_variables:
            chan = self._snap(msg, "", t)
            path = msg.get("Value", "")
            if chan is not None and path and path not in chan.call.recordings:
                chan.call.recordings.append(path)
                if chan.call.first is not None:
                    self._out.append(RecordingStarted(self.pbx, chan.call.linkedid, t, path))

    def _on_bridge_enter(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t)
        bridge = msg.get("BridgeUniqueid", "")
        if chan is not None and bridge:
            self._bridged(chan, bridge, t)

    def _on_bridge_leave(self, msg: Msg, t: float) -> None:
        chan = self._snap(msg, "", t)
        members = self.bridges.get(msg.get("BridgeUniqueid", ""))
        if chan is not None and members is not None:
            members.discard(chan.uniqueid)
            if not members:
                del self.bridges[msg["BridgeUniqueid"]]
            chan.bridge = ""

    def _on_rename(self, msg: Msg, t: float) -> None:
        chan = self.chans.get(msg.get("Uniqueid", ""))
        if chan is not None and msg.get("Newname"):
            chan.name = msg["Newname"]


def _hms(text: str) -> float:
    """``01:02:03`` (CoreShowChannel Duration) → seconds; garbage → 0."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return 0.0
    total = 0
    for part in parts:
        total = total * 60 + part
    return float(total)
