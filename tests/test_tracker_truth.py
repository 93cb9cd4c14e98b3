"""Every real capture, replayed through parser + tracker, agrees with truth.json and the CDR."""

from __future__ import annotations

import pytest

from cti.calls.model import CallEnded, CallRecord, parse_iso_utc
from cti.calls.tracker import Tracker
from cti.capture import load
from tests.captures import FIXTURES, SCENARIOS, TRUTH_SCENARIOS, cdr_rows, truth


def replay(scenario: str) -> list[CallRecord]:
    cap = load(FIXTURES / scenario)
    tracker = Tracker()
    return [e.record for e in tracker.feed_all(cap.events) if isinstance(e, CallEnded)]


@pytest.mark.parametrize("scenario", TRUTH_SCENARIOS)
def test_records_agree_with_truth(scenario: str) -> None:
    records = {r.call_id: r for r in replay(scenario)}
    expected = truth(scenario)["calls"]
    assert sorted(records) == sorted(c["linkedid"] for c in expected)
    for want in expected:
        got = records[want["linkedid"]]
        assert got.direction == want["direction"]
        assert got.answered == want["answered"]
        assert got.extension == want["extension"]
        assert got.talk_seconds == pytest.approx(want["talk_seconds"], abs=1.0)
        if "status" in want:
            assert got.status == want["status"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_records_agree_with_pbx_cdr(scenario: str) -> None:
    """Start/end times within the CDR's whole seconds; answered iff a CDR row was answered by a
    real destination channel; for inbound calls billsec (truncated per row) matches talk time."""
    (record,) = replay(scenario)
    rows = cdr_rows(scenario)
    assert {r["uniqueid"] for r in rows} == {record.call_id}
    start = min(r["start"] for r in rows)
    end = max(r["end"] for r in rows)
    assert 0 <= record.started_at - start < 1.0
    assert 0 <= record.ended_at - end < 1.0
    answered_rows = [r for r in rows if r["disposition"] == "ANSWERED" and r["dstchannel"]]
    assert record.answered == bool(answered_rows)
    if record.direction == "inbound" and answered_rows:
        billsec = sum(r["billsec"] for r in answered_rows)
        assert abs(billsec - record.talk_seconds) <= len(answered_rows)


def test_recordings_are_linked_from_the_stream() -> None:
    (record,) = replay("blind_transfer")
    names = [p.rsplit("/", 1)[-1] for p in record.recordings]
    assert names == truth("blind_transfer")["recordings"]


def test_blind_transfer_stays_one_call_with_its_transfer() -> None:
    (record,) = replay("blind_transfer")
    assert [(t.kind, t.from_, t.to) for t in record.transfers] == [("blind", "1001", "1002")]
    assert record.extensions_rung == ("1001", "1002")
    assert record.to_json()["transfers"][0]["at"].startswith("2026-11-23T14:33:31")


def test_queue_call_names_queue_and_every_member_rung() -> None:
    (record,) = replay("queue_ringall")
    assert record.queue == "support"
    assert set(record.extensions_rung) == {"1001", "1002"}
    assert record.caller.number == "+33698765432"
    assert record.callee.number == "0155512346"


def test_click_to_dial_caller_is_the_agent_and_callee_the_number() -> None:
    (record,) = replay("click_to_dial")
    assert record.caller.number == "1001"
    assert record.callee.number == "0612345678"
    # the agent's own phone ringing back is not "answered" nor a rung extension
    assert record.extensions_rung == ()
    assert record.answered_at is not None
    assert record.ring_seconds > 5  # agent pick-up (2 s) + far end ringing (4 s)


def test_long_call_is_flagged_overlong_with_a_low_threshold() -> None:
    from cti.calls.classify import TrackerConfig

    cap = load(FIXTURES / "long_call")
    for threshold, expected in ((60.0, True), (600.0, False), (0.0, False)):
        tracker = Tracker(TrackerConfig(overlong_seconds=threshold))
        (rec,) = [e.record for e in tracker.feed_all(cap.events) if isinstance(e, CallEnded)]
        assert rec.overlong is expected
    tracker = Tracker(TrackerConfig(overlong_seconds=600, overlong_by_direction={"inbound": 30}))
    (rec,) = [e.record for e in tracker.feed_all(cap.events) if isinstance(e, CallEnded)]
    assert rec.overlong


def test_json_schema_fields() -> None:
    (record,) = replay("inbound_answered")
    j = record.to_json()
    assert set(j) == {
        "pbx", "call_id", "direction", "status", "answered", "caller", "callee", "extension",
        "extensions_rung", "queue", "started_at", "answered_at", "ended_at", "ring_seconds",
        "talk_seconds", "duration_seconds", "hangup_cause", "transfers", "recordings", "overlong",
    }
    assert j["caller"] == {"number": "+33612345678", "name": "Marie Dupont"}
    assert j["hangup_cause"] == "16"
    start = parse_iso_utc(j["started_at"])
    end = parse_iso_utc(j["ended_at"])
    assert start is not None and end is not None
    assert j["duration_seconds"] == pytest.approx(end - start, abs=0.01)


def _with_survey(varset: bool) -> list[tuple[dict[str, str], float]]:
    """The real inbound_answered call, but the caller stays 25 s more on the line after the
    agent hangs up (Dial's ``g``: the post-call survey), with or without the dialplan's
    ``CTI_SURVEY`` VarSet as they go to it."""
    events = []
    for msg, t in load(FIXTURES / "inbound_answered").events:
        if msg.get("Event") == "Hangup" and msg.get("Channel", "").startswith("PJSIP/trunk"):
            if varset:
                events.append(({"Event": "VarSet", "Privilege": "dialplan,all",
                                "Channel": msg["Channel"], "Uniqueid": msg["Uniqueid"],
                                "Linkedid": msg["Linkedid"], "Variable": "CTI_SURVEY",
                                "Value": "1"}, t + 0.01))
            events.append((msg, t + 25.0))
        else:
            events.append((msg, t))
    return sorted(events, key=lambda e: e[1])


def test_the_post_call_survey_is_not_talk_time() -> None:
    plain = replay("inbound_answered")[0]
    records = {}
    for varset in (False, True):
        tracker = Tracker()
        ended = [e.record for e in tracker.feed_all(_with_survey(varset))
                 if isinstance(e, CallEnded)]
        assert len(ended) == 1  # the call ends once, when the caller hangs up after the survey
        records[varset] = ended[0]
    # without the marker the caller's 25 s of keypad answers count as talk (what cti can't know)
    assert records[False].talk_seconds == pytest.approx(plain.talk_seconds + 25.0, abs=0.02)
    # with it, the conversation ends when the caller went to the survey
    assert records[True].talk_seconds == pytest.approx(plain.talk_seconds + 0.01, abs=0.02)
    assert records[True].ended_at == pytest.approx(plain.ended_at + 0.01, abs=0.02)
    assert records[True].status == plain.status == "answered"
    assert records[True].extension == plain.extension
