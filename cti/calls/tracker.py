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
from collections.abc import Callable, Iterable, Mapping

from cti.calls.classify import Classifier, TrackerConfig, parse_channel, valid_channel_name
from cti.calls.model import (
    CallAnswered,
    CallEnded,
    CallRinging,
    CallStarted,
    CallTransferred,
    DomainEvent,
    Party,
    RecordingStarted,
    Transfer,
)
from cti.calls.state import CallState, Chan, clean, direction_of, finalize, is_callee_leg

Msg = Mapping[str, str]

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


class Tracker:
    def __init__(self, cfg: TrackerConfig | None = None) -> None:
        self.cfg = cfg or TrackerConfig()
        self.cls = Classifier(self.cfg)
        self.pbx = self.cfg.pbx
        self.chans: dict[str, Chan] = {}
        self.calls: dict[str, CallState] = {}  # by Linkedid (aliases after merges)
        self.ignored = 0
        self.invalid = 0  # consumed events too broken to use (no valid channel name)
        self.clock_offset = 0.0  # PBX Timestamp minus our receive time, from the last event
        self._out: list[DomainEvent] = []
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

    # ------------------------------------------------------------------ channel bookkeeping
    def _snap(self, msg: Msg, p: str, t: float, adopt: bool = True) -> Chan | None:
        uid = msg.get(p + "Uniqueid")
        if not uid:
            return None
        chan = self.chans.get(uid)
        if chan is None:
            if not adopt:
                return None
            name = msg.get(p + "Channel", "")
            if not valid_channel_name(name):
                self.invalid += 1
                return None
            chan = self._new_chan(msg, p, uid, name, t, seen_created=False)
        else:
            linkedid = msg.get(p + "Linkedid")
            if linkedid and linkedid != chan.call.linkedid:
                self._linkedid_changed(chan, linkedid)
        state = msg.get(p + "ChannelStateDesc")
        if state:
            chan.state = state
        ctx = msg.get(p + "Context")
        if ctx:
            chan.context = ctx
        exten = msg.get(p + "Exten")
        if exten is not None:
            chan.exten = exten
            call = chan.call
            if chan is call.first and not call.dialled and exten not in ("", "s"):
                call.dialled = exten
        return chan

    def _new_chan(self, msg: Msg, p: str, uid: str, name: str, t: float,
                  seen_created: bool) -> Chan:
        linkedid = msg.get(p + "Linkedid") or uid
        call = self.calls.get(linkedid)
        if call is None or call.ended:
            call = CallState(linkedid=linkedid, created_at=t)
            self.calls[linkedid] = call
        cn = parse_channel(name)
        kind = self.cls.leg_kind(cn)
        endpoint = cn.local_exten if kind == "local" else cn.endpoint
        chan = Chan(name, uid, kind, endpoint, t, call, seen_created=seen_created)
        chan.caller_num = clean(msg.get(p + "CallerIDNum"))
        chan.caller_name = clean(msg.get(p + "CallerIDName"))
        chan.context = msg.get(p + "Context", "")
        self.chans[uid] = chan
        call.chans[uid] = chan
        if call.first is None and uid == linkedid:
            self._set_first(call, chan, msg.get(p + "Exten", ""), t)
        elif (call.first is not None and call.first.kind == "local" and kind == "extension"
              and call.originator is None and not call.has_trunk_leg()):
            call.originator = chan  # Originate(Local/…): the agent's own phone rings first
        return chan

    def _set_first(self, call: CallState, chan: Chan, exten: str, t: float) -> None:
        call.first = chan
        call.created_at = min(call.created_at, chan.created_at)
        party = Party(chan.caller_num, chan.caller_name)
        call.caller_initial = call.caller_latest = party
        if exten not in ("", "s"):
            call.dialled = exten
        if not call.started_emitted:
            call.started_emitted = True
            self._out.append(CallStarted(self.pbx, call.linkedid, chan.created_at,
                                         direction_of(call, self.cls), party,
                                         Party(call.dialled, "")))

    def _linkedid_changed(self, chan: Chan, linkedid: str) -> None:
        target = self.calls.get(linkedid)
        old = chan.call
        if target is None or target is old or target.ended:
            return
        del old.chans[chan.uniqueid]
        chan.call = target
        target.chans[chan.uniqueid] = chan
        if not old.live():
            self._merge(old, target)

    def _merge(self, src: CallState, dst: CallState) -> None:
        """Fold call ``src`` into ``dst`` (attended transfer, or bridging two calls)."""
        if src is dst:
            return
        for uid, chan in src.chans.items():
            chan.call = dst
            dst.chans[uid] = chan
        src.chans = {}
        for ext in src.rung:
            dst.add_rung(ext)
        dst.transfers.extend(src.transfers)
        dst.recordings.extend(r for r in src.recordings if r not in dst.recordings)
        dst.dial_statuses.extend(src.dial_statuses)
        dst.queue = dst.queue or src.queue
        if dst.answered_at is None and src.answered_at is not None:
            dst.answered_at, dst.answer_leg = src.answered_at, src.answer_leg
        src.ended = True
        for key, call in list(self.calls.items()):
            if call is src:
                self.calls[key] = dst

    def _ring(self, chan: Chan, t: float) -> None:
        call = chan.call
        if chan.rung or chan.kind != "extension" or chan is call.first or chan is call.originator:
            return
        chan.rung = True
        call.add_rung(chan.endpoint)
        if call.first is None:
            return
        self._out.append(CallRinging(
            self.pbx, call.linkedid, t, chan.endpoint, direction_of(call, self.cls),
            call.caller_latest, Party(call.dialled, ""), call.queue))

    def _went_up(self, chan: Chan, t: float) -> None:
        chan.up_at = t
        call = chan.call
        if call.answered_at is None and is_callee_leg(call, chan):
            call.answered_at = t
            call.answer_leg = chan
            if call.first is not None:
                ext = chan.endpoint if chan.kind == "extension" else None
                self._out.append(CallAnswered(self.pbx, call.linkedid, t, ext,
                                              direction_of(call, self.cls), call.queue))

    def _hangup(self, chan: Chan, t: float, cause: str) -> None:
        chan.hangup_at = t
        chan.cause = cause
        call = chan.call
        if call.live() or call.ended:
            return
        call.ended = True
        for uid in call.chans:
            self.chans.pop(uid, None)
        for key, c in list(self.calls.items()):
            if c is call:
                del self.calls[key]
        record = finalize(call, self.cls, self.pbx)
        if record is not None:
            self._out.append(CallEnded(self.pbx, call.linkedid, record.ended_at, record))

    def _extension_of(self, msg: Msg, p: str) -> str:
        chan = self.chans.get(msg.get(p + "Uniqueid", ""))
        if chan is not None and chan.kind == "extension":
            return chan.endpoint
        return clean(msg.get(p + "CallerIDNum")) or clean(msg.get(p + "Exten"))

    # ------------------------------------------------------------------ handlers
    def _on_newchannel(self, msg: Msg, t: float) -> None:
        uid = msg.get("Uniqueid")
        name = msg.get("Channel", "")
        if not uid or not valid_channel_name(name):
            self.invalid += 1
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
        chan.call.transfers.append(transfer)
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
        call.transfers.append(transfer)
        self._emit_transfer(call, transfer)

    def _emit_transfer(self, call: CallState, transfer: Transfer) -> None:
        if call.first is not None:
            self._out.append(CallTransferred(self.pbx, call.linkedid, transfer.at, transfer.kind,
                                             transfer.from_, transfer.to))

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
        if var in self.cfg.recording_variables:
            chan = self._snap(msg, "", t)
            path = msg.get("Value", "")
            if chan is not None and path and path not in chan.call.recordings:
                chan.call.recordings.append(path)
                if chan.call.first is not None:
                    self._out.append(RecordingStarted(self.pbx, chan.call.linkedid, t, path))

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
