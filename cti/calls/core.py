"""Tracker state bookkeeping: channels, calls, merges, rings, answers and hang-ups.

The event handlers (``tracker.py``) read AMI fields and call these; everything that decides
*what happened to the call* lives here and in ``state.py``. See ``tracker.py`` for how Asterisk
describes a call.
"""

from __future__ import annotations

from collections.abc import Mapping

from cti.calls.classify import Classifier, TrackerConfig, parse_channel, valid_channel_name
from cti.calls.model import (
    CallAnswered,
    CallEnded,
    CallRinging,
    CallStarted,
    CallTransferred,
    DomainEvent,
    Party,
    Transfer,
)
from cti.calls.state import CallState, Chan, clean, direction_of, finalize, is_callee_leg

Msg = Mapping[str, str]

#: Uniqueid prefix of the legs cti itself originates to *control* a call (a supervisor's phone
#: running ChanSpy, an agent's phone fetching a parked caller back), set with the Originate
#: ``ChannelId`` header. They are not calls of their own: the tracker never adopts them, so
#: they neither pop nor land in the call log (see :mod:`cti.pbx.call_control`).
CONTROL_UID_PREFIX = "ctictl-"


class TrackerCore:
    def __init__(self, cfg: TrackerConfig | None = None) -> None:
        self.cfg = cfg or TrackerConfig()
        self.cls = Classifier(self.cfg)
        self.pbx = self.cfg.pbx
        self.chans: dict[str, Chan] = {}
        self.calls: dict[str, CallState] = {}  # by Linkedid (aliases after merges)
        self.bridges: dict[str, set[str]] = {}  # bridge id -> Uniqueids in it
        self.ignored = 0
        self.invalid = 0  # consumed events too broken to use (no valid channel name)
        self.clock_offset = 0.0  # PBX Timestamp minus our receive time, from the last event
        self._out: list[DomainEvent] = []

    # ------------------------------------------------------------------ channel bookkeeping
    def _snap(self, msg: Msg, p: str, t: float, adopt: bool = True) -> Chan | None:
        uid = msg.get(p + "Uniqueid")
        if not uid or uid.startswith(CONTROL_UID_PREFIX):
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
            if chan is call.first and not call.dialled and _meaningful(chan, exten):
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
        if _meaningful(chan, exten):
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
            self._answer(call, chan, t)

    def _answer(self, call: CallState, chan: Chan, t: float) -> None:
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
        """Who a transfer party is: the phone's extension, or for a Local channel (AMI Atxfer
        dials the target through ``Local/<exten>@<context>``) the extension it dials."""
        chan = self.chans.get(msg.get(p + "Uniqueid", ""))
        if chan is not None and chan.kind in ("extension", "local") and chan.endpoint:
            return chan.endpoint
        return clean(msg.get(p + "CallerIDNum")) or clean(msg.get(p + "Exten"))

    def _emit_transfer(self, call: CallState, transfer: Transfer) -> None:
        call.transfers.append(transfer)
        if call.first is not None:
            self._out.append(CallTransferred(self.pbx, call.linkedid, transfer.at, transfer.kind,
                                             transfer.from_, transfer.to))

    def _bridged(self, chan: Chan, bridge: str, t: float) -> None:
        """A channel entered a bridge. If that puts the caller and a callee party together
        while the call is not answered yet, this is the answer: call pickup (``*8``) and parked
        calls connect the caller to a channel that went Up in *another* call."""
        members = self.bridges.setdefault(bridge, set())
        members.add(chan.uniqueid)
        chan.bridge = bridge
        call = chan.call
        if call.answered_at is not None or call.first is None:
            return
        peers = [self.chans[u] for u in members if u in self.chans]
        if call.first not in peers:
            return
        for peer in peers:
            if peer.call is call and peer.up_at is not None and is_callee_leg(call, peer):
                self._answer(call, peer, t)
                return


def _meaningful(chan: Chan, exten: str) -> bool:
    """Whether the first channel's extension is the number dialled. ``s`` is a placeholder,
    and a Local channel starts at its own ``exten@context`` (``Local/1001@from-internal`` of an
    Originate sits at 1001 until answered, then moves to the number being called)."""
    return exten not in ("", "s") and not (chan.kind == "local" and exten == chan.endpoint)
