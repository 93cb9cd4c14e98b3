"""Building blocks for events the simulator *synthesises* (no capture holds them): channel and
bridge snapshots in Asterisk 22's field order (as in the real captures' ``Newchannel`` and
``BridgeCreate``), bridge moves, and the end of a call whose planned future an action
replaced. Used by :mod:`cti.sim.call_features` and :mod:`cti.sim.atxfer`.
"""

from __future__ import annotations

from collections.abc import Callable

from cti.ami.messages import AmiMessage
from cti.sim.ami_state import BRIDGE_FIELDS, ChannelRecord, PbxState
from cti.sim.generator import CallGenerator, LiveCall
from cti.sim.teardown import snapshot, teardown

STATE_CODES = {"Down": "0", "Ring": "4", "Ringing": "5", "Up": "6"}


def channel(name: str, uid: str, linkedid: str, state: str, context: str, exten: str,
            cid: tuple[str, str] = ("<unknown>", "<unknown>"),
            connected: tuple[str, str] = ("<unknown>", "<unknown>")) -> AmiMessage:
    """A whole channel snapshot (the fourteen fields every channel event carries)."""
    return {"Channel": name, "ChannelState": STATE_CODES[state], "ChannelStateDesc": state,
            "CallerIDNum": cid[0], "CallerIDName": cid[1], "ConnectedLineNum": connected[0],
            "ConnectedLineName": connected[1], "Language": "en", "AccountCode": "",
            "Context": context, "Exten": exten, "Priority": "1", "Uniqueid": uid,
            "Linkedid": linkedid}


def prefixed(fields: AmiMessage, prefix: str) -> AmiMessage:
    return {prefix + k: v for k, v in fields.items()}


def event(name: str, *parts: AmiMessage, **extra: str) -> AmiMessage:
    out: AmiMessage = {"Event": name, "Privilege": "call,all"}
    for part in parts:
        out.update(part)
    out.update(extra)
    return out


def with_state(rec: ChannelRecord, state: str, **changes: str) -> AmiMessage:
    """The channel's current snapshot with another state (and other changed fields)."""
    return {**snapshot(rec), "ChannelState": STATE_CODES[state], "ChannelStateDesc": state,
            **changes}


def new_bridge(gen: CallGenerator, kind: str = "basic", technology: str = "simple_bridge",
               creator: str = "<unknown>", name: str = "<unknown>") -> AmiMessage:
    return {"BridgeUniqueid": gen.pbx.uuid(), "BridgeType": kind,
            "BridgeTechnology": technology, "BridgeCreator": creator, "BridgeName": name,
            "BridgeNumChannels": "0", "BridgeVideoSourceMode": "none"}


def bridge_of(state: PbxState, bid: str, count: int) -> AmiMessage:
    """Bridge ``bid``'s snapshot with ``count`` channels (the count *after* the move)."""
    rec = state.bridges.get(bid)
    fields = {k: rec.fields.get(k, "") for k in BRIDGE_FIELDS} if rec else {
        "BridgeUniqueid": bid}
    fields["BridgeNumChannels"] = str(count)
    return fields


def members(state: PbxState, bid: str) -> int:
    rec = state.bridges.get(bid)
    return len(rec.members) if rec else 0


def leave(state: PbxState, uid: str) -> list[AmiMessage]:
    """``uid`` leaves its bridge (and the bridge goes if it was the last one in it)."""
    rec = state.channels.get(uid)
    if rec is None or not rec.bridge_id:
        return []
    bid = rec.bridge_id
    left = members(state, bid) - 1
    out = [event("BridgeLeave", bridge_of(state, bid, left), snapshot(rec))]
    if left <= 0:
        out.append(event("BridgeDestroy", bridge_of(state, bid, 0)))
    return out


def live_uids(state: PbxState, live: LiveCall) -> list[str]:
    """The call's channels the PBX still has, the first channel (the caller) first."""
    uids = [u for u in live.uniqueids() if u in state.channels]
    return sorted(uids, key=lambda u: (u != live.linkedid, state.channels[u].created_at))


def end_call(gen: CallGenerator, state: PbxState, live: LiveCall, at: float,
             before: Callable[[], list[AmiMessage]] | None = None) -> None:
    """At ``at``, the caller hangs up: every channel of ``live`` left is torn down, after what
    ``before()`` says then (a parked caller's ``ParkedCallGiveUp``)."""

    def finish() -> None:
        uids = live_uids(state, live)
        for msg in [*(before() if before else []), *teardown(state, uids, 16)]:
            gen.emit(live, msg, at)

    gen.call_at(at, live, finish)
