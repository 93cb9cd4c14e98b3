"""The simulator's call generator: rendered calls look like the real Asterisk captures to the
real parser and tracker, identities are fresh and unique, seeds replay, and generated traffic
reaches the daemon over real TCP with recordings on disk."""

from __future__ import annotations

import array
import asyncio
import itertools
import re
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from cti.ami.messages import AmiMessage
from cti.calls.model import CallEnded, CallRecord, DomainEvent
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.config import load_config
from cti.daemon import Daemon
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import format_message
from cti.sim.generator import CallGenerator
from cti.sim.recording import make_dialogue
from cti.sim.scenarios import KINDS, Agent, CallSpec, SimPbx, render_call
from cti.sim.templates.build import TemplateBuilder
from cti.sim.templates.lab import LAB_AGENTS, LAB_QUEUES
from cti.sim.traffic import DEFAULT_AGENTS, SimConfig
from tests.captures import FIXTURES, TRUTH_SCENARIOS

KIND_OF = {tpl: kind for kind, (tpl, _) in KINDS.items()}
EXPECTED_STATUS = {"inbound_answered": "answered", "inbound_missed": "missed",
                   "inbound_busy": "busy", "outbound_answered": "answered",
                   "outbound_no_answer": "no_answer", "internal": "answered",
                   "queue_ringall": "answered", "blind_transfer": "answered",
                   "long_call": "answered", "click_to_dial": "answered"}


def records(events: list[tuple[AmiMessage, float]]) -> list[CallRecord]:
    return [e.record for e in Tracker().feed_all(events) if isinstance(e, CallEnded)]


def as_capture_file(rendered: list[tuple[float, AmiMessage]], path: Path) -> Path:
    """Raw AMI bytes as a client reads them from a PBX with ``timestampevents = yes``."""
    out = [b"Asterisk Call Manager/11.0.0\r\n"]
    for t, msg in rendered:
        pairs = list(msg.items())
        pairs.insert(2, ("Timestamp", f"{t:.6f}"))
        out.append(format_message(pairs))
    path.write_bytes(b"".join(out))
    return path


def capture_spec(scenario: str, want: CallRecord) -> CallSpec:
    """The scenario again, with the capture's own people, numbers and times."""
    roles = TemplateBuilder(scenario, FIXTURES / scenario).roles
    agents = [Agent(ext, LAB_AGENTS[ext]) for ext in roles.agents]
    answered = want.answered_at is not None
    after = None
    if want.transfers and want.answered_at is not None:
        after = want.transfers[0].at - want.answered_at
    return CallSpec(
        KIND_OF[scenario], agents[0], tuple(agents[1:]), caller=roles.caller,
        caller_name=roles.caller_name, did=roles.did, dialled=roles.dialled, queue=roles.queue,
        cid_num=roles.cid_num, cid_name=roles.cid_name, action_id=roles.action_id,
        variables=tuple(roles.variables),
        ring=want.ring_seconds if answered else want.duration_seconds,
        talk=want.talk_seconds if answered else None, transfer_after=after)


def same_record(got: CallRecord, want: CallRecord, tolerance: float = 0.5) -> None:
    assert (got.direction, got.status, got.answered, got.extension) == (
        want.direction, want.status, want.answered, want.extension)
    assert got.extensions_rung == want.extensions_rung
    assert got.queue == want.queue
    assert got.caller == want.caller and got.callee == want.callee
    assert [(t.kind, t.from_, t.to) for t in got.transfers] == [
        (t.kind, t.from_, t.to) for t in want.transfers]
    assert got.ring_seconds == pytest.approx(want.ring_seconds, abs=tolerance)
    assert got.talk_seconds == pytest.approx(want.talk_seconds, abs=tolerance)
    assert got.duration_seconds == pytest.approx(want.duration_seconds, abs=tolerance)
    assert got.hangup_cause == want.hangup_cause
    assert len(got.recordings) == len(want.recordings)


@pytest.mark.parametrize("scenario", [s for s in TRUTH_SCENARIOS if s in KIND_OF])
def test_rendered_call_gives_the_real_captures_record(scenario: str, tmp_path: Path) -> None:
    (want,) = records(load(FIXTURES / scenario).events)
    pbx = SimPbx(seed=11, queues=LAB_QUEUES, recordings_dir="/var/astrec/recordings")
    rendered = render_call(capture_spec(scenario, want), pbx, start=1_900_000_000.0)
    capture = load(as_capture_file(rendered, tmp_path / "ami.raw"))  # the real parser
    assert capture.stats.malformed == 0
    (got,) = records(capture.events)
    same_record(got, want, tolerance=0.01)  # exact: the map hits the requested times
    assert got.call_id != want.call_id and got.started_at == pytest.approx(1_900_000_000.0)


def test_substituted_people_numbers_and_times_show_in_the_record() -> None:
    pbx = SimPbx(seed=3, queues={"sales": ("2001", "2002", "2003")}, recordings_dir="/rec")
    a, b, c = Agent("2001", "Ana Pop"), Agent("2002", "Ion Rusu"), Agent("2003", "Eva Kiss")
    queue = CallSpec("queue_ringall", b, (a, c), caller="+40721000111", caller_name="Dan Ene",
                     did="0219990000", queue="sales", ring=7.25, talk=123.5)
    (rec,) = records([(m, t) for t, m in render_call(queue, pbx, 2e9)])
    assert (rec.direction, rec.status, rec.extension, rec.queue) == (
        "inbound", "answered", "2002", "sales")
    assert set(rec.extensions_rung) == {"2001", "2002", "2003"}
    assert rec.caller.number == "+40721000111" and rec.caller.name == "Dan Ene"
    assert rec.callee.number == "0219990000"
    assert (rec.ring_seconds, rec.talk_seconds) == (7.25, 123.5)
    assert rec.recordings == (f"/rec/q-sales-20330518-033320-40721000111-{rec.call_id}.wav",)
    xfer = CallSpec("blind_transfer", a, (c,), caller="+40721000222", did="0219990001",
                    ring=3, talk=300, transfer_after=100, target_ring=10)
    (rec,) = records([(m, t) for t, m in render_call(xfer, pbx, 2e9 + 1000)])
    assert [(t.kind, t.from_, t.to, t.at) for t in rec.transfers] == [
        ("blind", "2001", "2003", 2e9 + 1000 + 103)]
    assert (rec.ring_seconds, rec.talk_seconds, rec.extensions_rung) == (3, 300, ("2001", "2003"))


def test_a_spec_the_templates_cannot_play_is_refused_up_front() -> None:
    pbx = SimPbx()
    with pytest.raises(ValueError, match="needs 2 agents"):
        render_call(CallSpec("internal", Agent("1001", "Alice")), pbx, 0.0)
    with pytest.raises(ValueError, match="unknown call kind"):
        render_call(CallSpec("conference", Agent("1001", "Alice")), pbx, 0.0)
    lonely = CallSpec("queue_ringall", Agent("1001", "Alice"), queue="q", ring=1, talk=2)
    (rec,) = records([(m, t) for t, m in render_call(lonely, pbx, 0.0)])
    assert rec.extensions_rung == ("1001",)  # nobody else free: only the answerer rang


def rendered_plan(seed: int, n: int = 150) -> list[tuple[float, AmiMessage]]:
    cfg = SimConfig(calls_per_minute=12, talk_mean=120)
    gen = CallGenerator(AmiServer(), cfg, seed=seed, epoch=1_800_000_000.0)
    return gen.render_plan(n, start=1_800_000_000.0)


def test_rendered_ids_are_fresh_unique_and_asterisk_shaped() -> None:
    events = rendered_plan(seed=7)
    new = [(t, m) for t, m in events if m["Event"] == "Newchannel"]
    uids = [m["Uniqueid"] for _, m in new]
    names = [m["Channel"] for _, m in new]
    assert len(set(uids)) == len(uids) and len(set(names)) == len(names)
    for t, m in new:
        epoch, _, seq = m["Uniqueid"].partition(".")
        assert int(epoch) == int(t) and seq.isdigit()  # <epoch of creation>.<sequence>
        assert re.fullmatch(r"PJSIP/(trunk|100[1-4])-[0-9a-f]{8}", m["Channel"])
    seqs = [int(u.split(".")[1]) for u in uids]
    assert seqs == sorted(seqs)  # one PBX-wide counter, in creation order
    bridges = [m["BridgeUniqueid"] for _, m in events if m["Event"] == "BridgeCreate"]
    assert len(set(bridges)) == len(bridges)
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            b) for b in bridges)
    firsts = {m["Linkedid"] for _, m in new if m["Uniqueid"] == m["Linkedid"]}
    assert len(firsts) == 150
    assert [t for t, _ in events] == sorted(t for t, _ in events)  # calls interleave by time
    recs = records([(m, t) for t, m in events])
    assert {r.call_id for r in recs} == firsts  # every interleaved call tracked, once
    assert {r.status for r in recs} >= {"answered", "missed", "no_answer"}


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a, b, c = rendered_plan(seed=1, n=40), rendered_plan(seed=1, n=40), rendered_plan(2, n=40)
    assert a == b
    assert a != c


def test_an_agent_on_a_call_is_not_rung_again_except_to_be_told_busy() -> None:
    cfg = SimConfig(agents=DEFAULT_AGENTS[:2], calls_per_minute=20, talk_mean=150)
    gen = CallGenerator(AmiServer(), cfg, seed=3)
    legs: dict[str, list[tuple[float, float, str]]] = {}
    for planned, render in gen.plan(150, start=1_800_000_000.0):
        opened: dict[str, tuple[str, float]] = {}
        for t, m in render.messages():
            name = m.get("Channel", "")
            if m["Event"] == "Newchannel" and name.startswith("PJSIP/100"):
                opened[m["Uniqueid"]] = (name[6:10], t)
            elif m["Event"] == "Hangup" and m["Uniqueid"] in opened:
                ext, start = opened.pop(m["Uniqueid"])
                legs.setdefault(ext, []).append((start, t, planned.spec.kind))
    overlaps = []
    for spans in legs.values():
        spans.sort()
        for (_, end, kind), (start, _, next_kind) in itertools.pairwise(spans):
            if start < end:
                overlaps.append((kind, next_kind))
    assert overlaps  # two agents, heavy traffic: agents were busy
    assert all("inbound_busy" in pair for pair in overlaps)  # only a 486 reject rings them


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_generated_traffic_reaches_the_daemon_over_tcp(tmp_path: Path) -> None:
    server = AmiServer(timestamp_events=True, auth_fail_delay=0.01)
    await server.start()
    mix = {"inbound": 3, "queue": 2, "outbound": 2, "internal": 1, "blind_transfer": 1,
           "click_to_dial": 1}
    cfg = SimConfig(calls_per_minute=20, time_scale=400, talk_mean=40, mix=mix, speech=False,
                    recordings_dir=str(tmp_path / "rec"))
    gen = CallGenerator(server, cfg, seed=5)
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": server.port,
        "pbx.ami_backoff_min": 0.01, "pbx.ami_backoff_max": 0.05})
    daemon = Daemon(config)
    ended: list[CallRecord] = []

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            ended.append(event.record)

    daemon.bus.subscribe(on_event)
    await daemon.start()
    n = 14
    try:
        await server.wait_for_login(1)
        await asyncio.sleep(0.05)  # the login resync
        await gen.run(calls=n)
        await until(lambda: not gen.calls and len(ended) >= n, timeout=10)
        await gen.flush()
        assert daemon.store is not None
        await daemon.store.flush()
        assert await daemon.store.count_calls() == n
    finally:
        await gen.close()
        await daemon.close()
        await server.close()
    by_id = {r.call_id: r for r in ended}
    assert len(by_id) == n
    kinds = set()
    for live in gen.finished:
        rec, spec = by_id[live.linkedid], live.spec
        kinds.add(spec.kind)
        assert rec.status == EXPECTED_STATUS[spec.kind], spec
        assert rec.extension == spec.agent.extension
        if spec.talk is not None:
            assert rec.talk_seconds == pytest.approx(spec.talk, abs=0.5)
    assert len(kinds) >= 4
    answered = [r for r in ended if r.recordings]
    assert answered and all(Path(p).exists() for r in answered for p in r.recordings)


def wav_info(path: Path) -> tuple[int, int, int, float, array.array[int]]:
    with wave.open(str(path)) as w:
        frames = w.readframes(w.getnframes())
        samples = array.array("h")
        samples.frombytes(frames)
        return (w.getframerate(), w.getnchannels(), w.getsampwidth(),
                w.getnframes() / w.getframerate(), samples)


def rms(samples: array.array[int]) -> float:
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


@pytest.mark.parametrize("speech", [True, False])
async def test_recordings_are_mixmonitor_wavs_of_the_talk_time(tmp_path: Path,
                                                               speech: bool) -> None:
    server = AmiServer(timestamp_events=True)
    cfg = SimConfig(time_scale=200, speech=speech, recordings_dir=str(tmp_path))
    gen = CallGenerator(server, cfg, seed=2)
    seen: list[tuple[AmiMessage, float]] = []
    try:
        await gen.start()
        spec = CallSpec("blind_transfer", Agent("1001", "Alice Martin"),
                        (Agent("1002", "Bruno Petit"),), caller="+33611111111", did="0155512345",
                        ring=2, talk=30, transfer_after=9, target_ring=3)
        dialogue = make_dialogue(gen.traffic.rng, "ACME Support", "Alice Martin", "fr")
        live = gen.play(spec, dialogue=dialogue, listener=lambda m, t: seen.append((m, t)))
        await live.wait(5)
        await gen.flush()
    finally:
        await gen.close()
    (rec,) = records(seen)
    assert len(rec.recordings) == 2 and [Path(p) for p in rec.recordings] == live.written
    first, second = (wav_info(Path(p)) for p in rec.recordings)
    for rate, channels, width, _, _ in (first, second):
        assert (rate, channels, width) == (8000, 1, 2)
    assert first[3] == pytest.approx(9, abs=0.05)  # answer → transfer (1001's MixMonitor)
    assert second[3] == pytest.approx(30 - 9 - 3, abs=0.05)  # target's answer → end
    opening = first[4][:3 * 8000]
    assert rms(opening) > 100  # words (espeak-ng) or the fallback tone, not silence
    if speech and gen.speech.available:
        assert gen.speech.failures == 0


async def test_without_a_recordings_folder_names_are_announced_but_nothing_written(
        tmp_path: Path) -> None:
    server = AmiServer()
    gen = CallGenerator(server, SimConfig(time_scale=500, speech=False), seed=4)
    spec = CallSpec("inbound_answered", Agent("1003", "Chloe Durand"), caller="+33622222222",
                    did="0155512345", ring=1, talk=5)
    live = await gen.play_one(spec, timeout=5)
    await gen.close()
    assert live.written == [] and gen.recordings == []
    assert live.done.is_set() and live.messages > 50
