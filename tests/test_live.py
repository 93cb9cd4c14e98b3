"""LiveCalls on the real captures: what each phone's pop would show at every step, the
per-extension index, lingering after hangup, and robustness to streams cut anywhere."""

from __future__ import annotations

import dataclasses

import pytest

from cti.bus import Bus
from cti.calls.model import (
    CallEnded,
    CallOverlong,
    CallRinging,
    ClientMatched,
    DomainEvent,
    Party,
    Transfer,
)
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.live import Change, LiveCall, LiveCalls
from tests.captures import FIXTURES, SCENARIOS


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events_of(scenario: str) -> list[DomainEvent]:
    return Tracker().feed_all(load(FIXTURES / scenario).events)


def fold(scenario: str, **kw: object) -> tuple[LiveCalls, list[Change], list[DomainEvent]]:
    bus = Bus()
    live = LiveCalls(bus, **kw)  # type: ignore[arg-type]
    changes: list[Change] = []
    live.subscribe(changes.append)
    events = events_of(scenario)
    bus.publish_all(events)
    return live, changes, events


def test_inbound_answered_step_by_step() -> None:
    live, changes, events = fold("inbound_answered")
    call_id = events[0].call_id
    assert [(c.kind, c.cause, c.call.state) for c in changes] == [
        ("new", "call_started", "ringing"),
        ("update", "call_ringing", "ringing"),
        ("update", "call_answered", "up"),
        ("update", "recording_started", "up"),
        ("ended", "call_ended", "ended"),
    ]
    assert [c.call.version for c in changes] == [1, 2, 3, 4, 5]
    ringing = changes[1].call
    assert ringing.ringing == ("1001",) and ringing.extensions == {"1001"}
    assert ringing.outside == Party("+33612345678", "Marie Dupont")
    record = next(e for e in events if isinstance(e, CallEnded)).record
    assert changes[-1].call == LiveCall(
        pbx="default", call_id=call_id, direction="inbound",
        caller=Party("+33612345678", "Marie Dupont"), callee=Party("0155512345", ""),
        state="ended", started_at=events[0].at, answered_at=record.answered_at,
        ended_at=record.ended_at, rung=("1001",), extension="1001", recording=True,
        status="answered", version=5)
    assert changes[-1].call.talked == {"1001"}
    assert live.get("default", call_id) == changes[-1].call  # lingers after the hangup
    assert live.in_progress == 0 and len(live) == 1


def test_queue_ringall_rings_both_and_the_answer_stops_the_other() -> None:
    live, changes, _ = fold("queue_ringall")
    both = [c.call for c in changes if c.cause == "call_ringing"][-1]
    assert both.ringing == ("1002", "1001") and both.queue == "support"
    answered = next(c.call for c in changes if c.cause == "call_answered")
    assert answered.ringing == () and answered.extension == "1002"
    assert answered.talked == {"1002"}  # 1001 only rang: no wrap-up of its own to write
    assert [c.call_id for c in live.for_extensions(["1001"])] == [answered.call_id]
    assert live.for_extensions(["1003"]) == []


def test_blind_transfer_moves_the_call_to_the_target() -> None:
    _, changes, _ = fold("blind_transfer")
    moved = next(c.call for c in changes if c.cause == "call_transferred")
    assert moved.extension == "1002" and moved.state == "up"
    assert moved.transfers == (Transfer("blind", "1001", "1002", moved.transfers[0].at),)
    rung = next(c.call for c in changes if c.cause == "call_ringing" and c.call.version > 3)
    assert rung.ringing == ("1002",) and rung.rung == ("1001", "1002")
    end = changes[-1].call
    assert end.state == "ended" and end.extension == "1002"
    assert end.extensions == {"1001", "1002"} and end.talked == {"1001", "1002"}


@pytest.mark.parametrize("scenario", ["outbound_answered", "click_to_dial"])
def test_an_outbound_call_belongs_to_the_agent_who_placed_it(scenario: str) -> None:
    live, changes, _ = fold(scenario)
    first = changes[0].call
    agent = "1002" if scenario == "outbound_answered" else "1001"
    assert first.origin == agent and first.extensions == {agent}
    up = next(c.call for c in changes if c.cause == "call_answered")
    assert up.direction == "outbound" and up.extension == agent
    # A click-to-dial call's number is only known at its end (Asterisk dials it from the
    # dialplan after the agent picked up); an outbound call's from the start.
    assert up.outside.number == ("0612345678" if scenario == "outbound_answered" else "")
    assert changes[-1].call.outside.number == "0612345678"
    assert changes[-1].call.talked == {agent} and changes[-1].call.status == "answered"
    assert [c.key for c in live.for_extensions([agent])] == [up.key]


def test_internal_call_is_seen_by_both_colleagues() -> None:
    _, changes, _ = fold("internal")
    ringing = next(c.call for c in changes if c.cause == "call_ringing")
    assert ringing.origin == "1001" and ringing.ringing == ("1002",)
    assert ringing.extensions == {"1001", "1002"}
    assert changes[-1].call.talked == {"1001", "1002"}


def test_missed_call_has_nobody_who_talked() -> None:
    _, changes, _ = fold("inbound_missed")
    end = changes[-1].call
    assert (end.state, end.status, end.talked, end.extensions) == (
        "ended", "missed", frozenset(), {"1001"})


def test_ended_calls_linger_then_go_and_the_index_is_clean() -> None:
    clock = Clock()
    live, changes, events = fold("inbound_answered", linger=30.0, clock=clock)
    call_id = events[0].call_id
    clock.now += 29
    assert live.get("default", call_id) is not None
    clock.now += 2
    assert live.get("default", call_id) is None
    assert changes[-1].kind == "gone" and changes[-1].cause == "expired"
    assert live.for_extensions(["1001"]) == [] and len(live) == 0


def test_late_client_match_and_overlong_update_the_call() -> None:
    live, changes, events = fold("click_to_dial")
    call_id = events[0].call_id
    live.on_event(ClientMatched("default", call_id, events[-1].at, (7, 9), True))
    late = live.get("default", call_id)
    assert late is not None and late.client_ids == (7, 9) and late.auto_created
    assert changes[-1].kind == "ended" and changes[-1].cause == "client_matched"
    bus = Bus()
    live2 = LiveCalls(bus)
    ring = next(e for e in events_of("long_call") if isinstance(e, CallRinging))
    bus.publish(ring)
    bus.publish(CallOverlong("default", ring.call_id, ring.at + 700, 700, 600, "1001"))
    got = live2.get("default", ring.call_id)
    assert got is not None and got.overlong and got.state == "ringing"


def test_a_ring_without_start_is_adopted_and_unknown_ends_make_no_pop() -> None:
    events = events_of("inbound_answered")
    bus = Bus()
    live = LiveCalls(bus)
    ended = next(e for e in events if isinstance(e, CallEnded))
    bus.publish(ended)
    assert len(live) == 0
    ring = next(e for e in events if isinstance(e, CallRinging))
    bus.publish(ring)
    adopted = live.get("default", ring.call_id)
    assert adopted is not None and adopted.started_at == ring.at and adopted.rung == ("1001",)


def test_a_failing_listener_does_not_stop_the_others() -> None:
    bus = Bus()
    live = LiveCalls(bus)
    seen: list[str] = []

    def broken(change: Change) -> None:
        raise RuntimeError("bug in a listener")

    live.subscribe(broken)
    unsubscribe = live.subscribe(lambda c: seen.append(c.cause))
    bus.publish_all(events_of("inbound_missed"))
    assert seen == ["call_started", "call_ringing", "call_ended"]
    assert live.listener_errors == 3 and bus.subscriber_errors == 0
    unsubscribe()
    live.close()
    bus.publish_all(events_of("inbound_answered"))
    assert len(seen) == 3


def test_memory_is_bounded_when_ends_never_come() -> None:
    bus = Bus()
    live = LiveCalls(bus, max_calls=3)
    ring = next(e for e in events_of("inbound_missed") if isinstance(e, CallRinging))
    for i in range(5):
        bus.publish(dataclasses.replace(ring, call_id=f"c{i}", extension=f"10{i}"))
    assert [c.call_id for c in live.all()] == ["c2", "c3", "c4"] and live.dropped == 2
    assert live.for_extensions(["100", "101"]) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_streams_cut_anywhere_never_break_the_model(scenario: str) -> None:
    """Attach at every point of the capture (as after a restart): never raises, every call
    shown is consistent, and nothing is left running once the capture's calls ended."""
    items = list(load(FIXTURES / scenario).events)
    for cut in range(0, len(items), max(1, len(items) // 40)):
        bus = Bus()
        live = LiveCalls(bus)
        bus.publish_all(Tracker().feed_all(items[cut:]))
        for call in live.all():
            assert call.state in ("ringing", "up", "ended")
            assert set(call.ringing) <= set(call.rung)
            if call.state == "up":
                assert call.answered_at is not None
        assert live.listener_errors == 0 and bus.subscriber_errors == 0
