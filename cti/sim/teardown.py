"""What Asterisk reports when a call is torn down from outside (AMI Hangup, Local halves).

Built from the simulator's live channel and bridge caches (:class:`~cti.sim.ami_state.PbxState`),
so the snapshots are the channels' current ones. The order follows the real captures' ends: the
hung-up channel's ``SoftHangupRequest``, every member leaving each bridge (``BridgeLeave`` with the
count after the move) and the bridge destroyed, dialled legs still ringing cancelled
(``DialEnd`` ``CANCEL``), one ``Hangup`` per channel with its cause and text, then the devices
back to ``NOT_INUSE``.
"""

from __future__ import annotations

from cti.ami.messages import AmiMessage
from cti.sim.ami_state import BRIDGE_FIELDS, CHANNEL_FIELDS, ChannelRecord, PbxState

CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "No user responding",
              21: "Call Rejected", 26: "Answered elsewhere", 34: "Circuit/channel congestion",
              127: "Interworking, unspecified"}


def snapshot(rec: ChannelRecord, prefix: str = "") -> AmiMessage:
    return {prefix + k: rec.fields.get(k, "") for k in CHANNEL_FIELDS}


def teardown(state: PbxState, uids: list[str], cause: int) -> list[AmiMessage]:
    """What Asterisk reports when ``uids[0]`` is hung up and the call falls apart."""
    chans = {u: state.channels[u] for u in uids if u in state.channels}
    if not chans:
        return []
    target = uids[0]
    out: list[AmiMessage] = [{"Event": "SoftHangupRequest", "Privilege": "call,all",
                              **snapshot(chans[target]), "Cause": str(cause)}]
    for bid in dict.fromkeys(r.bridge_id for r in chans.values() if r.bridge_id):
        bridge = state.bridges.get(bid)
        if bridge is None:
            continue
        members = sorted(bridge.members, key=lambda u: (u != target, u not in chans))
        left = len(members)
        for member in members:
            left -= 1
            rec = state.channels.get(member)
            fields = {k: bridge.fields.get(k, "") for k in BRIDGE_FIELDS}
            fields["BridgeNumChannels"] = str(left)
            if rec is not None:
                out.append({"Event": "BridgeLeave", "Privilege": "call,all", **fields,
                            **snapshot(rec)})
        fields = {k: bridge.fields.get(k, "") for k in BRIDGE_FIELDS}
        fields["BridgeNumChannels"] = "0"
        out.append({"Event": "BridgeDestroy", "Privilege": "call,all", **fields})
    first = chans.get(next((r.fields.get("Linkedid", "") for r in chans.values()), ""))
    for rec in chans.values():
        if rec is not first and first is not None and rec.fields.get(
                "ChannelStateDesc") in ("Ringing", "Down", "Ring"):
            out.append({"Event": "DialEnd", "Privilege": "call,all", **snapshot(first),
                        **snapshot(rec, "Dest"), "DialStatus": "CANCEL"})
    for u, rec in chans.items():
        up = rec.fields.get("ChannelStateDesc") == "Up"
        code = cause if u == target or not up else 16
        out.append({"Event": "Hangup", "Privilege": "call,all", **snapshot(rec),
                    "Cause": str(code), "Cause-txt": CAUSE_TEXT.get(code, "Unknown")})
    devices = dict.fromkeys(rec.fields.get("Channel", "").rsplit("-", 1)[0]
                            for rec in chans.values())
    for device in devices:
        if device and not device.lower().startswith("local/"):
            out.append({"Event": "DeviceStateChange", "Privilege": "call,all",
                        "Device": device, "State": "NOT_INUSE"})
    return out
