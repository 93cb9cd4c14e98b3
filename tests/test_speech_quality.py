"""The transcription queue and the call scoring on a real SQLite file: every playable recording
gets one job, a claim takes it once, failures retry with backoff then stop; transcripts are
searchable (FTS5, people's words never read as operators); once every recording of a call is
transcribed the call is scored with its client's name and the company, the result saved with
evidence, and keyword alerts handed to the live hooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cti.calls.model import CallRecord, Party
from cti.clients.directory import ClientDirectory
from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.speech.worker import jobs
from cti.speech.worker.quality import QualityScorer, load_scorecard
from cti.store.sqlite import Store

T = 1_795_444_272.0


def w(text: str, start: float, gap: float = 0.35) -> list[dict[str, Any]]:
    out = []
    for i, word in enumerate(text.split()):
        out.append({"text": word, "start": start + i * gap, "end": start + i * gap + 0.3,
                    "conf": 0.9})
    return out


AGENT = (w("hello welcome to acme my name is alice how can i help you", 0.5)
         + w("so you want a refund for the last invoice marie dupont", 12.0)
         + w("thank you for calling goodbye", 40.0))
CALLER = w("hello i would like a refund please my invoice is wrong", 5.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    record = CallRecord(pbx="main", call_id="c1", direction="inbound", status="answered",
                        answered=True, caller=Party("+33612345678", ""),
                        callee=Party("0155512345"), extension="1001", extensions_rung=("1001",),
                        queue="support", started_at=T, answered_at=T + 3, ended_at=T + 50,
                        hangup_cause="16")
    await s.save_call(record)
    await s.flush()
    yield s
    await s.close()


async def two_legs(store: Store, tmp_path: Path) -> RecordingService:
    service = RecordingService(store, RecordingSettings(dir=tmp_path))
    for leg in ("rx", "tx"):
        (tmp_path / f"c1-{leg}.wav").write_bytes(b"x")
        rec = await service.link("main", "c1", f"/rec/c1-{leg}.wav", "event", T, leg)
        await service.set_status(rec.id, "ok")
    return service


async def test_queue_claims_once_retries_then_gives_up(store: Store, tmp_path: Path) -> None:
    await two_legs(store, tmp_path)
    assert await jobs.enqueue_ready(store, 100.0) == 2
    assert await jobs.enqueue_ready(store, 100.0) == 0  # one job per recording
    first = await jobs.claim(store, 100.0, "pocketsphinx")
    second = await jobs.claim(store, 100.0, "pocketsphinx")
    assert first and second and first.id != second.id
    assert await jobs.claim(store, 100.0, "pocketsphinx") is None  # both taken
    assert first.direction == "inbound" and first.leg == "rx"
    assert jobs.speaker_of("rx", "inbound") == "agent"
    assert jobs.speaker_of("rx", "outbound") == "caller"
    assert jobs.speaker_of("mixed", None) == "mixed"
    status = await jobs.fail(store, first, "RuntimeError: no model", 100.0)
    assert status == "queued"
    assert await jobs.claim(store, 110.0, "pocketsphinx") is None  # backing off (60 s)
    again = await jobs.claim(store, 161.0, "pocketsphinx")
    assert again is not None and again.id == first.id and again.attempts == 2
    await jobs.fail(store, again, "x", 161.0)
    third = await jobs.claim(store, 1000.0, "pocketsphinx")
    assert third is not None and third.attempts == 3
    assert await jobs.fail(store, third, "still broken", 1000.0) == "failed"
    row = await store.query_one("SELECT status, error FROM speech_jobs WHERE id = ?",
                                (first.id,))
    assert row == {"status": "failed", "error": "still broken"}
    assert await jobs.claim(store, 1000.0, "pocketsphinx") is None  # failed stays failed
    # A job left running by a worker that died is due again after an hour.
    stale = await jobs.claim(store, 100.0 + jobs.STALE_AFTER + 1, "pocketsphinx")
    assert stale is not None and stale.id == second.id and stale.attempts == 2


async def test_a_transcribed_call_is_scored_with_evidence_and_alerts(
        store: Store, tmp_path: Path) -> None:
    await two_legs(store, tmp_path)
    marie = await ClientDirectory(store).create({"name": "Marie Dupont",
                                                 "phones": ["+33612345678"]})
    await ClientDirectory(store).link_call("main", "c1", {marie.id: "e164"},
                                           number="+33612345678", at=T)
    await jobs.enqueue_ready(store, 0.0)
    for words in (AGENT, CALLER):
        job = await jobs.claim(store, 0.0, "pocketsphinx")
        assert job is not None
        speaker = jobs.speaker_of(job.leg, job.direction)
        mine = AGENT if speaker == "agent" else CALLER
        assert await jobs.call_done(store, "main", "c1") is False
        await jobs.finish(store, job, {"engine": "pocketsphinx", "language": "en-us",
                                       "duration": 50.0, "words": mine}, speaker, 1.0)
        assert words  # (both transcripts written, in job order)
    assert await jobs.call_done(store, "main", "c1") is True

    scorer = QualityScorer(store, load_scorecard(None), company="Acme")
    heard: list[tuple[str, str, list[dict[str, Any]]]] = []
    scorer.alert_hooks.append(lambda pbx, call_id, alerts: heard.append((pbx, call_id, alerts)))
    result = await scorer.score_call("main", "c1")
    assert result is not None and 0 <= result.score <= 100
    by_name = {r.name: r for r in result.rules}
    assert by_name["greeting"].passed and by_name["greeting"].evidence[0].start < 15
    assert by_name["client_name"].passed  # "marie dupont" said by the agent
    assert by_name["closing"].passed
    assert [a.keyword for a in result.alerts if a.speaker == "caller"][:1] == ["refund"]
    assert heard and heard[0][:2] == ("main", "c1")
    row = await store.query_one("SELECT score, agent, result, metrics FROM call_quality")
    assert row is not None and row["agent"] == "1001" and row["score"] == result.score
    saved = json.loads(row["result"])
    assert saved["alerts"] and json.loads(row["metrics"])["agent_ratio"] is not None

    # Full-text search across transcripts, with people's text quoted, never an operator.
    found = await jobs.search(store, "refund invoice")
    assert {(r["pbx"], r["call_id"]) for r in found} == {("main", "c1")}
    assert "[refund]" in found[0]["snippet"]
    assert await jobs.search(store, 'refund" OR "x* NEAR(') == await jobs.search(
        store, "refund OR x* NEAR(")
    assert await jobs.search(store, "   ") == []


async def test_the_same_call_without_a_greeting_fails_that_rule_with_evidence(
        store: Store, tmp_path: Path) -> None:
    await two_legs(store, tmp_path)
    await jobs.enqueue_ready(store, 0.0)
    for _ in range(2):
        job = await jobs.claim(store, 0.0, "pocketsphinx")
        assert job is not None
        speaker = jobs.speaker_of(job.leg, job.direction)
        words = AGENT[12:] if speaker == "agent" else CALLER  # no "hello welcome to acme…"
        await jobs.finish(store, job, {"engine": "e", "language": "en", "duration": 50.0,
                                       "words": words}, speaker, 1.0)
    result = await QualityScorer(store, load_scorecard(None), company="Acme").score_call(
        "main", "c1")
    assert result is not None
    greeting = next(r for r in result.rules if r.name == "greeting")
    assert not greeting.passed and greeting.detail
