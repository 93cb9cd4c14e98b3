"""What the simulated PBX knows about its live channels and bridges, learnt from its own events.

A real Asterisk answers ``CoreShowChannels`` and ``BridgeList`` from its channel and bridge
caches (stasis snapshots). The simulator has no media or dialplan: it *plays* events, so it
rebuilds the same caches by folding every event it emits through :meth:`PbxState.observe`. That
way ``CoreShowChannels`` tells the truth at any point of a played capture, which is exactly what
the daemon's resync-after-reconnect needs to be tested against.

How Asterisk 22 fills the snapshot fields:

* every channel event carries the whole channel snapshot (``Channel`` … ``Linkedid``, the
  fourteen :data:`CHANNEL_FIELDS`), sometimes several of them under a prefix (``DialBegin``
  has the caller unprefixed and the callee as ``DestChannel``, ``DestUniqueid``…);
* ``Newexten`` is the only event naming the running application (``Application`` and
  ``AppData``, which ``CoreShowChannel`` spells ``ApplicationData``); an outgoing channel of
  ``Dial`` never runs dialplan and shows ``AppDial`` / ``(Outgoing Line)`` until it does;
* bridge events carry the bridge snapshot (:data:`BRIDGE_FIELDS`), ``BridgeEnter`` and
  ``BridgeLeave`` with the count *after* the move;
* ``Hangup`` ends a channel, ``BridgeDestroy`` a bridge. Duration is counted from the moment
  the simulator saw ``Newchannel``, on the server clock (virtual during a capture replay).

A channel first seen mid-life (a capture that starts during a call) is adopted from the first
event carrying its full snapshot, as a real PBX would list it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.ami.messages import AmiMessage

CHANNEL_FIELDS = (
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
    "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten",
    "Priority", "Uniqueid", "Linkedid",
)
BRIDGE_FIELDS = (
    "BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName",
    "BridgeNumChannels", "BridgeVideoSourceMode",
)
#: Prefixes under which Asterisk nests extra channel snapshots in one event.
CHANNEL_PREFIXES = (
    "", "Dest", "LocalOne", "LocalTwo", "Transferer", "Transferee", "TransferTarget",
    "OrigTransferer", "SecondTransferer", "Bridged", "Spy", "Spyee",
)
#: Events that can change the caches; anything else is ignored without parsing.
STATE_EVENTS = frozenset({
    "Newchannel", "Newstate", "NewCallerid", "NewConnectedLine", "NewAccountCode", "Newexten",
    "Rename", "Hangup", "DialBegin", "DialState", "DialEnd", "BridgeCreate", "BridgeEnter",
    "BridgeLeave", "BridgeDestroy", "BridgeMerge", "VarSet", "Hold", "Unhold",
})


@dataclass(slots=True)
class ChannelRecord:
    fields: dict[str, str]  # the CHANNEL_FIELDS, as last reported
    created_at: float
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""
    #: The file a MixMonitor writes for this channel (its ``MIXMONITOR_FILENAME``), whoever
    #: started it (the dialplan of a played call, or the ``MixMonitor`` action); "" when none.
    recording: str = ""


@dataclass(slots=True)
class BridgeRecord:
    fields: dict[str, str]  # the BRIDGE_FIELDS, as last reported
    members: list[str] = field(default_factory=list)  # Uniqueids, in order of entry


def format_duration(seconds: float) -> str:
    """``HH:MM:SS`` as CoreShowChannel prints it (whole seconds, truncated)."""
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


class PbxState:
    """Live channels (by ``Uniqueid``) and bridges (by ``BridgeUniqueid``), in creation order."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelRecord] = {}
        self.bridges: dict[str, BridgeRecord] = {}
        # Hung-up Uniqueids: late events about them (VarSet from hangup handlers…) must not
        # bring them back. Bounded, oldest forgotten first.
        self._dead: dict[str, None] = {}

    def clear(self) -> None:
        self.channels.clear()
        self.bridges.clear()
        self._dead.clear()

    def observe(self, msg: AmiMessage, now: float) -> None:
        name = msg.get("Event")
        if name not in STATE_EVENTS:
            return
        if name == "Hangup":
            self._hangup(msg.get("Uniqueid", ""))
            return
        for prefix in CHANNEL_PREFIXES:
            self._update_channel(msg, prefix, now)
        if name == "Newexten":
            rec = self.channels.get(msg.get("Uniqueid", ""))
            if rec is not None:
                rec.application = msg.get("Application", "")
                rec.application_data = msg.get("AppData", "")
        elif name == "DialBegin":
            rec = self.channels.get(msg.get("DestUniqueid", ""))
            if rec is not None and not rec.application:
                rec.application, rec.application_data = "AppDial", "(Outgoing Line)"
        elif name == "VarSet" and msg.get("Variable") == "MIXMONITOR_FILENAME":
            rec = self.channels.get(msg.get("Uniqueid", ""))
            if rec is not None:
                rec.recording = msg.get("Value", "")
        elif name == "Rename":
            rec = self.channels.get(msg.get("Uniqueid", ""))
            if rec is not None and msg.get("Newname"):
                rec.fields["Channel"] = msg["Newname"]
        elif name.startswith("Bridge"):
            self._bridge_event(name, msg)

    def _update_channel(self, msg: AmiMessage, prefix: str, now: float) -> None:
        uid = msg.get(prefix + "Uniqueid")
        if not uid:
            return
        rec = self.channels.get(uid)
        if rec is None:
            if prefix + "ChannelState" not in msg or uid in self._dead:
                return
            rec = self.channels[uid] = ChannelRecord(
                {k: "" for k in CHANNEL_FIELDS}, created_at=now)
        fields = rec.fields
        for key in CHANNEL_FIELDS:
            value = msg.get(prefix + key)
            if value is not None:
                fields[key] = value

    def _hangup(self, uid: str) -> None:
        self._dead[uid] = None
        if len(self._dead) > 4096:
            del self._dead[next(iter(self._dead))]
        rec = self.channels.pop(uid, None)
        if rec is not None and rec.bridge_id in self.bridges:
            members = self.bridges[rec.bridge_id].members
            if uid in members:
                members.remove(uid)

    def _bridge_event(self, name: str, msg: AmiMessage) -> None:
        if name == "BridgeMerge":
            self._merge(msg.get("FromBridgeUniqueid", ""), msg.get("ToBridgeUniqueid", ""))
            return
        bid = msg.get("BridgeUniqueid")
        if not bid:
            return
        if name == "BridgeDestroy":
            gone = self.bridges.pop(bid, None)
            for uid in gone.members if gone else ():
                if uid in self.channels and self.channels[uid].bridge_id == bid:
                    self.channels[uid].bridge_id = ""
            return
        bridge = self.bridges.get(bid)
        if bridge is None:
            bridge = self.bridges[bid] = BridgeRecord({k: "" for k in BRIDGE_FIELDS})
        for key in BRIDGE_FIELDS:
            value = msg.get(key)
            if value is not None:
                bridge.fields[key] = value
        uid = msg.get("Uniqueid", "")
        chan = self.channels.get(uid)
        if name == "BridgeEnter":
            if uid and uid not in bridge.members:
                bridge.members.append(uid)
            if chan is not None:
                chan.bridge_id = bid
        elif name == "BridgeLeave":
            if uid in bridge.members:
                bridge.members.remove(uid)
            if chan is not None and chan.bridge_id == bid:
                chan.bridge_id = ""

    def _merge(self, src: str, dst: str) -> None:
        gone = self.bridges.pop(src, None)
        target = self.bridges.get(dst)
        if gone is None or target is None:
            return
        for uid in gone.members:
            if uid not in target.members:
                target.members.append(uid)
            if uid in self.channels:
                self.channels[uid].bridge_id = dst
        target.fields["BridgeNumChannels"] = str(len(target.members))

    def core_show_channel(self, rec: ChannelRecord, now: float) -> list[tuple[str, str]]:
        """The body of one ``CoreShowChannel`` list item, in Asterisk 22's field order."""
        return [
            *((k, rec.fields[k]) for k in CHANNEL_FIELDS),
            ("Application", rec.application),
            ("ApplicationData", rec.application_data),
            ("Duration", format_duration(now - rec.created_at)),
            ("BridgeId", rec.bridge_id),
        ]

    def bridge_list_item(self, rec: BridgeRecord) -> list[tuple[str, str]]:
        return [(k, rec.fields[k]) for k in BRIDGE_FIELDS]
