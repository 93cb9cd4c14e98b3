"""The AMI wire parser on its own: banner, offsets, filters, repeated keys."""

from __future__ import annotations

from cti.ami.messages import AmiParser
from tests.captures import FIXTURES


def test_banner_and_offsets_match_the_capture_timing_file() -> None:
    import json

    raw = (FIXTURES / "inbound_answered" / "ami.raw").read_bytes()
    timing = [json.loads(line) for line in
              (FIXTURES / "inbound_answered" / "ami.timing.jsonl").read_text().splitlines()]
    parser = AmiParser()
    out = parser.feed(raw)
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    # the timing file lists the banner's offset (0) and then every message's
    assert [o for o, _ in out] == [t["offset"] for t in timing][1:]
    assert parser.stats.malformed == 0


def test_wanted_filter_skips_unparsed_and_keeps_header_only_events() -> None:
    parser = AmiParser(wanted={"Newchannel", "Hangup"}, expect_banner=False)
    out = parser.feed(b"Event: VarSet\r\nVariable: X\r\n\r\nEvent: Hangup\r\n\r\n"
                      b"Response: Success\r\nActionID: 1\r\n\r\n"
                      b"Event: Newchannel\r\nUniqueid: 1.2\r\n\r\n")
    assert [m.get("Event", m.get("Response")) for _, m in out] == [
        "Hangup", "Success", "Newchannel"]
    assert parser.stats.skipped == 1


def test_repeated_keys_keep_every_value() -> None:
    parser = AmiParser(expect_banner=False)
    ((_, msg),) = parser.feed(b"Event: X\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n")
    assert msg["ChanVariable"] == "A=1\nB=2"


def test_originate_response_keeps_its_response_line() -> None:
    parser = AmiParser(expect_banner=False)
    ((_, msg),) = parser.feed(b"Event: OriginateResponse\r\nResponse: Success\r\n"
                              b"Uniqueid: 1.2\r\n\r\n")
    assert msg["Event"] == "OriginateResponse" and msg["Response"] == "Success"
    assert parser.stats.malformed == 0
