"""Partial attach (cacofonisk's idea): replay every capture with its first N events cut off, for
every N. The tracker must never raise and never invent a call: every record it emits is a real
call of the capture, once, with the right direction."""

from __future__ import annotations

import random

import pytest

from cti.calls.model import CallEnded
from cti.calls.tracker import Tracker
from cti.capture import load
from tests.captures import FIXTURES, SCENARIOS, truth


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_suffix_of_the_stream(scenario: str) -> None:
    events = load(FIXTURES / scenario).events
    t = truth(scenario)
    linkedids = {c["linkedid"] for c in t["asterisk_calls_by_linkedid"]}
    directions = {c["linkedid"]: c["direction"] for c in t.get("calls", [])}
    emitted_somewhere = 0
    for n in range(len(events) + 1):
        tracker = Tracker()
        out = tracker.feed_all(events[n:])
        records = [e.record for e in out if isinstance(e, CallEnded)]
        ids = [r.call_id for r in records]
        assert len(ids) == len(set(ids)), f"N={n}: duplicate call"
        assert set(ids) <= linkedids, f"N={n}: invented {set(ids) - linkedids}"
        for r in records:
            if r.call_id in directions:
                assert r.direction == directions[r.call_id], f"N={n}"
            assert r.ended_at >= r.started_at
            assert r.talk_seconds <= r.duration_seconds
        emitted_somewhere += len(records)
        # every domain event belongs to a real call
        assert {e.call_id for e in out} <= linkedids
    assert emitted_somewhere > 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dropped_events_never_raise(scenario: str) -> None:
    """Random holes (lost events) anywhere: no exception, no invented call."""
    events = load(FIXTURES / scenario).events
    linkedids = {c["linkedid"] for c in truth(scenario)["asterisk_calls_by_linkedid"]}
    rng = random.Random(scenario)
    for _ in range(200):
        kept = [e for e in events if rng.random() > 0.2]
        out = Tracker().feed_all(kept)
        assert {e.call_id for e in out} <= linkedids
        ended = [e.call_id for e in out if isinstance(e, CallEnded)]
        assert len(ended) == len(set(ended))
