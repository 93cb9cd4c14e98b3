"""Attended transfer, built event by event the way Asterisk 22 reports a phone's REFER/Replaces
transfer (field names as in its AMI docs): the consultation call is folded into the original
call, which keeps one record with the transfer listed."""

from __future__ import annotations

from cti.calls.model import CallEnded, CallRecord, CallTransferred
from cti.calls.tracker import Tracker

CHANS = {
    "A1": ("PJSIP/trunk-00000001", "+33612345678", "from-trunk", "0155512345"),
    "A2": ("PJSIP/1001-00000002", "1001", "from-internal", "s"),
    "B1": ("PJSIP/1001-00000003", "1001", "from-internal", "1002"),
    "B2": ("PJSIP/1002-00000004", "1002", "from-internal", "s"),
}


def snap(uid: str, linkedid: str, state: str, prefix: str = "") -> dict[str, str]:
    name, num, ctx, exten = CHANS[uid]
    return {prefix + "Channel": name, prefix + "Uniqueid": uid, prefix + "Linkedid": linkedid,
            prefix + "ChannelStateDesc": state, prefix + "CallerIDNum": num,
            prefix + "CallerIDName": "", prefix + "Context": ctx, prefix + "Exten": exten}


def ev(name: str, **parts: dict[str, str] | str) -> dict[str, str]:
    out = {"Event": name}
    for value in parts.values():
        if isinstance(value, dict):
            out.update(value)
    out.update({k: v for k, v in parts.items() if isinstance(v, str)})
    return out


def attended_transfer_stream() -> list[tuple[dict[str, str], float]]:
    s = [
        (ev("Newchannel", a=snap("A1", "A1", "Ring")), 100.0),
        (ev("Newchannel", a=snap("A2", "A1", "Down")), 100.1),
        (ev("DialBegin", a=snap("A1", "A1", "Ring"), b=snap("A2", "A1", "Down", "Dest")), 100.1),
        (ev("Newstate", a=snap("A2", "A1", "Ringing")), 100.1),
        (ev("Newstate", a=snap("A2", "A1", "Up")), 103.0),
        (ev("DialEnd", a=snap("A1", "A1", "Ring"), b=snap("A2", "A1", "Up", "Dest"),
            DialStatus="ANSWER"), 103.0),
        (ev("Newstate", a=snap("A1", "A1", "Up")), 103.0),
        (ev("BridgeEnter", a=snap("A2", "A1", "Up"), BridgeUniqueid="br-1"), 103.0),
        (ev("BridgeEnter", a=snap("A1", "A1", "Up"), BridgeUniqueid="br-1"), 103.0),
        # agent puts the caller on hold and calls 1002: a new call, its own Linkedid
        (ev("Newchannel", a=snap("B1", "B1", "Ring")), 110.0),
        (ev("Newchannel", a=snap("B2", "B1", "Down")), 110.1),
        (ev("DialBegin", a=snap("B1", "B1", "Ring"), b=snap("B2", "B1", "Down", "Dest")), 110.1),
        (ev("Newstate", a=snap("B2", "B1", "Ringing")), 110.1),
        (ev("Newstate", a=snap("B2", "B1", "Up")), 112.0),
        (ev("Newstate", a=snap("B1", "B1", "Up")), 112.0),
        (ev("BridgeEnter", a=snap("B1", "B1", "Up"), BridgeUniqueid="br-2"), 112.0),
        (ev("BridgeEnter", a=snap("B2", "B1", "Up"), BridgeUniqueid="br-2"), 112.0),
        (ev("AttendedTransfer", o=snap("A2", "A1", "Up", "OrigTransferer"),
            s2=snap("B1", "B1", "Up", "SecondTransferer"),
            t=snap("A1", "A1", "Up", "Transferee"),
            tt=snap("B2", "B1", "Up", "TransferTarget"),
            Result="Success", DestType="Bridge", IsExternal="No"), 120.0),
        (ev("BridgeLeave", a=snap("A2", "A1", "Up"), BridgeUniqueid="br-1"), 120.0),
        (ev("BridgeLeave", a=snap("B1", "B1", "Up"), BridgeUniqueid="br-2"), 120.0),
        (ev("BridgeEnter", a=snap("A1", "A1", "Up"), BridgeUniqueid="br-2"), 120.0),
        (ev("Hangup", a=snap("A2", "A1", "Up"), Cause="16"), 120.1),
        (ev("Hangup", a=snap("B1", "B1", "Up"), Cause="16"), 120.1),
        # Asterisk copies the oldest Linkedid onto the bridge: 1002's leg now says A1
        (ev("BridgeLeave", a=snap("B2", "A1", "Up"), BridgeUniqueid="br-2"), 150.0),
        (ev("Hangup", a=snap("B2", "A1", "Up"), Cause="16"), 150.0),
        (ev("Hangup", a=snap("A1", "A1", "Up"), Cause="16"), 150.0),
    ]
    return s


def test_attended_transfer_is_one_call_with_the_consultation_folded_in() -> None:
    tracker = Tracker()
    out = tracker.feed_all(attended_transfer_stream())
    records: list[CallRecord] = [e.record for e in out if isinstance(e, CallEnded)]
    assert [r.call_id for r in records] == ["A1"]
    (rec,) = records
    assert (rec.direction, rec.status, rec.extension) == ("inbound", "answered", "1001")
    assert [(t.kind, t.from_, t.to) for t in rec.transfers] == [("attended", "1001", "1002")]
    assert rec.extensions_rung == ("1001", "1002")
    assert rec.talk_seconds == 47.0  # from 1001's answer to the end, transfer included
    assert {leg.uniqueid for leg in rec.legs} == {"A1", "A2", "B1", "B2"}
    assert [e.to for e in out if isinstance(e, CallTransferred)] == ["1002"]
    assert tracker.live_calls() == []


def test_cancelled_consultation_stays_a_separate_internal_call() -> None:
    stream = [item for item in attended_transfer_stream()
              if item[0]["Event"] != "AttendedTransfer"]
    # without the transfer, 1001 hangs up the consultation and the caller ends later
    stream = [(m, t) for m, t in stream if not (m["Event"] == "BridgeEnter" and t == 120.0)]
    stream = [({**m, "Linkedid": "B1"} if m.get("Uniqueid") == "B2" else m, t)
              for m, t in stream]
    records = {e.record.call_id: e.record
               for e in Tracker().feed_all(stream) if isinstance(e, CallEnded)}
    assert set(records) == {"A1", "B1"}
    assert records["B1"].direction == "internal" and records["B1"].extension == "1001"
    assert records["A1"].transfers == ()
