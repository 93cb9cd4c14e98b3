"""Bad input: 10,000 malformed or truncated AMI messages and garbage bytes mixed into real
streams. Nothing raises, every anomaly is counted, and the good events around them still
produce exactly the calls of the clean stream."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.messages import AmiParser, encode_action
from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallEnded, CallRecord, DomainEvent
from cti.calls.tracker import Tracker
from cti.pipeline import Pipeline
from tests.captures import FIXTURES, SCENARIOS


def messages_of(scenario: str) -> list[bytes]:
    raw = (FIXTURES / scenario / "ami.raw").read_bytes()
    body = raw[raw.index(b"\r\n") + 2:]
    return [m + b"\r\n\r\n" for m in body.split(b"\r\n\r\n") if m]


def bad_message(rng: random.Random, real: list[bytes]) -> tuple[bytes, bool]:
    """One piece of bad input; the flag says whether it ends with its own terminator (if not,
    it is glued to the next good message, the hardest case)."""
    kind = rng.randrange(7)
    if kind == 0:  # random garbage bytes, terminated
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) + b"\r\n\r\n", True
    if kind == 1:  # a real message truncated mid-way, then the stream goes on (glued)
        m = rng.choice(real)
        return m[: rng.randrange(1, len(m) - 4)], False
    if kind == 2:  # no Event/Response header at all
        return b"Foo: bar\r\nBaz: qux\r\n\r\n", True
    if kind == 3:  # an event of ours with fields missing or nonsense
        name = rng.choice([b"Newchannel", b"Hangup", b"DialEnd", b"BridgeEnter", b"Newstate",
                           b"AttendedTransfer", b"BlindTransfer", b"VarSet", b"QueueCallerJoin"])
        fields = rng.choice([b"", b"Uniqueid: \r\n", b"Uniqueid: x\r\nLinkedid: \r\n",
                             b"Uniqueid: 1.1\r\nChannel: \xff\xfe/\r\nTimestamp: abc\r\n",
                             b"Result: Success\r\nTransfererUniqueid: nope\r\n",
                             b"Channel: Local/;;;\r\nUniqueid: 9.9\r\nLinkedid: 9.9\r\n"])
        return b"Event: " + name + b"\r\n" + fields + b"\r\n", True
    if kind == 4:  # invalid UTF-8 in a known field
        return b"Event: NewCallerid\r\nUniqueid: 7.7\r\nCallerIDName: \xc3\x28\xa0\r\n\r\n", True
    if kind == 5:  # lines without a colon, odd spacing
        return b"Event: Newstate\r\nthis is not a header\r\n:\r\n: \r\n\r\n", True
    # garbage without terminator, glued in front of the next message
    return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 40))), False


def records(events: list[DomainEvent]) -> list[CallRecord]:
    return [e.record for e in events if isinstance(e, CallEnded)]


def run(stream: bytes, chunk_rng: random.Random) -> tuple[list[DomainEvent], AmiParser, Pipeline]:
    parser = AmiParser()
    bus = Bus()
    seen: list[DomainEvent] = []
    bus.subscribe(seen.append)
    pipe = Pipeline(TrackerConfig(), bus)
    pos = 0
    while pos < len(stream):
        n = chunk_rng.randrange(1, 3000)
        for _, msg in parser.feed(stream[pos:pos + n]):
            pipe.on_ami_event(msg, 1000.0 + pos / 1e4)
        pos += n
    return seen, parser, pipe


def test_ten_thousand_bad_messages_between_real_calls() -> None:
    rng = random.Random(20261125)
    all_real = [m for s in SCENARIOS for m in messages_of(s)]
    stream = bytearray(b"Asterisk Call Manager/11.0.0\r\n")
    clean = bytearray(stream)
    bad = 0
    for scenario in SCENARIOS:
        for msg in messages_of(scenario):
            # bad input goes only *between* messages; a glued piece has no terminator
            for _ in range(rng.randrange(0, 6)):
                piece, _terminated = bad_message(rng, all_real)
                stream += piece
                bad += 1
            stream += msg
            clean += msg
    while bad < 10_000:
        piece, terminated = bad_message(rng, all_real)
        if terminated:
            stream += piece
            bad += 1
    good_events, _, _ = run(bytes(clean), random.Random(1))
    events, parser, pipe = run(bytes(stream), random.Random(2))
    assert bad >= 10_000
    want = {r.call_id: r for r in records(good_events)}
    got = {r.call_id: r for r in records(events)}
    assert len(want) == len(SCENARIOS)
    assert set(got) == set(want)
    for call_id, rec in want.items():
        assert got[call_id].direction == rec.direction
        assert got[call_id].status == rec.status
        assert got[call_id].extension == rec.extension
    stats = parser.stats
    assert stats.malformed + stats.garbage_bytes > 0
    assert stats.malformed >= 1_000  # counted, not silently swallowed
    assert pipe.tracker_errors == 0
    assert pipe.tracker.invalid > 0  # nonsense events of ours were counted, not used


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_parser_never_raises_on_arbitrary_bytes(data: bytes, chunk: int) -> None:
    parser = AmiParser()
    tracker = Tracker()
    for i in range(0, len(data), chunk):
        for _, msg in parser.feed(data[i:i + chunk]):
            assert "Event" in msg or "Response" in msg
            tracker.feed(msg, 0.0)


def test_oversized_message_is_discarded_and_counted() -> None:
    parser = AmiParser(max_message=1000, expect_banner=False)
    assert parser.feed(b"Event: X\r\nA: " + b"a" * 5000) == []
    assert parser.stats.oversized == 1
    out = parser.feed(b"\r\n\r\nEvent: Newchannel\r\nUniqueid: 1\r\n\r\n")
    assert [m["Event"] for _, m in out] == ["Newchannel"]


def test_utf8_split_at_every_byte_is_decoded_whole() -> None:
    msg = "Event: Newchannel\r\nCallerIDName: José Müller 山田\r\n\r\n".encode()
    for cut in range(1, len(msg)):
        parser = AmiParser(expect_banner=False)
        out = parser.feed(msg[:cut]) + parser.feed(msg[cut:])
        assert [m["CallerIDName"] for _, m in out] == ["José Müller 山田"]


@pytest.mark.parametrize("value", ["1001\r\nAction: Hangup", "x\ny", "a\rb"])
def test_action_encoder_refuses_crlf_injection(value: str) -> None:
    with pytest.raises(ValueError, match="CR, LF"):
        encode_action({"Action": "Originate", "Exten": value})
