"""The live path over real TCP: the simulator's AMI server plays each real capture, the daemon
(AMI client → tracker → SQLite) records it. Same records as ``cti replay``; and with the
connection cut in the middle of the call (events lost while cut, as with a real PBX), the
resync on reconnect keeps every call, once, with the right durations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cti.calls.model import CallEnded, CallRecord, DomainEvent
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.config import load_config
from cti.daemon import Daemon
from cti.sim.ami_server import AmiServer
from cti.sim.capture import CapturePlayer, load_capture
from tests.captures import FIXTURES, SCENARIOS


def replayed(scenario: str) -> dict[str, CallRecord]:
    events = Tracker().feed_all(load(FIXTURES / scenario).events)
    return {e.record.call_id: e.record for e in events if isinstance(e, CallEnded)}


async def run_live(scenario: str, tmp_path: Path, drop_at: int | None = None,
                   outage: int = 0) -> tuple[dict[str, CallRecord], Daemon, CapturePlayer]:
    server = AmiServer(timestamp_events=True, auth_fail_delay=0.01)
    await server.start()
    capture = load_capture(FIXTURES / scenario)
    player = CapturePlayer(server, capture, timestamps=True,
                           drop_at=() if drop_at is None else (drop_at,), outage=outage)
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": server.port,
        "pbx.ami_backoff_min": 0.01, "pbx.ami_backoff_max": 0.05})
    daemon = Daemon(config)
    ended: list[CallRecord] = []
    done = asyncio.Event()
    expected = len(replayed(scenario))

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            ended.append(event.record)
            if len(ended) >= expected:
                done.set()

    daemon.bus.subscribe(on_event)
    await daemon.start()
    try:
        await server.wait_for_login(1)
        await asyncio.sleep(0.05)  # let the login resync finish
        await player.play()
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.05)  # anything extra (a duplicate) would show up now
        assert daemon.store is not None
        await daemon.store.flush()
        stored = await daemon.store.count_calls()
        assert stored == len({r.call_id for r in ended})
    finally:
        await daemon.close()
        await server.close()
    ids = [r.call_id for r in ended]
    assert len(ids) == len(set(ids)), f"duplicated call: {ids}"
    return {r.call_id: r for r in ended}, daemon, player


def same_call(got: CallRecord, want: CallRecord, tolerance: float) -> None:
    assert (got.direction, got.status, got.answered, got.extension) == (
        want.direction, want.status, want.answered, want.extension)
    assert got.talk_seconds == pytest.approx(want.talk_seconds, abs=tolerance)
    assert got.duration_seconds == pytest.approx(want.duration_seconds, abs=tolerance)
    assert got.caller == want.caller and got.callee == want.callee
    assert got.queue == want.queue
    assert [(t.kind, t.from_, t.to) for t in got.transfers] == [
        (t.kind, t.from_, t.to) for t in want.transfers]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_live_tcp_gives_the_replay_records(scenario: str, tmp_path: Path) -> None:
    want = replayed(scenario)
    got, _, _ = await run_live(scenario, tmp_path)
    assert set(got) == set(want)
    for call_id, rec in want.items():
        same_call(got[call_id], rec, tolerance=0.01)
        assert got[call_id].recordings == rec.recordings


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
async def test_connection_dropped_mid_call_then_resync(scenario: str, where: float,
                                                        tmp_path: Path) -> None:
    want = replayed(scenario)
    n = len(load_capture(FIXTURES / scenario).messages)
    got, daemon, player = await run_live(scenario, tmp_path, drop_at=int(n * where), outage=3)
    assert player.lost >= 1  # events really were lost while the link was down
    assert daemon.links[0].resyncs >= 2  # first login + the reconnect
    assert set(got) == set(want)
    for call_id, rec in want.items():
        same_call(got[call_id], rec, tolerance=1.0)


async def test_periodic_resync_closes_a_call_whose_hangup_was_lost(tmp_path: Path) -> None:
    """The last Hangups reach the PBX state but never the daemon (a corrupted read): the
    periodic CoreShowChannels resync ends the call anyway, once."""
    from cti.ami.messages import AmiParser

    server = AmiServer(timestamp_events=True, auth_fail_delay=0.01)
    await server.start()
    capture = load_capture(FIXTURES / "inbound_answered")
    player = CapturePlayer(server, capture, timestamps=True)
    first_hangup = player.index("Hangup")
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": server.port,
        "pbx.resync_interval": 0.2})
    daemon = Daemon(config)
    ended: list[CallRecord] = []
    daemon.bus.subscribe(lambda e: ended.append(e.record) if isinstance(e, CallEnded) else None)
    await daemon.start()
    try:
        await server.wait_for_login(1)
        while daemon.links[0].resyncs < 1:  # the login's own resync, before the call
            await asyncio.sleep(0.01)
        await player.play(until=first_hangup)
        await asyncio.sleep(0.1)
        assert not ended  # the daemon still thinks the call is up
        for _, raw in capture.messages[first_hangup:]:
            for _, msg in AmiParser(expect_banner=False).feed(raw):
                server.state.observe(msg, player.now())  # the PBX saw it; we did not
        assert server.state.channels == {}
        for _ in range(50):
            if ended:
                break
            await asyncio.sleep(0.05)
    finally:
        await daemon.close()
        await server.close()
    (rec,) = ended
    assert rec.status == "answered" and rec.extension == "1001"
    assert daemon.links[0].resyncs >= 2
