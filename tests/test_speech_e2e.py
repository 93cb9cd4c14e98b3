"""P7's end-to-end acceptance, with real speech and a real engine: espeak-ng speaks a two-party
English dialogue into per-party files laid out as MixMonitor's ``r()``/``t()`` legs at 8 kHz
(agent: a greeting with the company name, caller: a refund request, agent: thanks and
goodbye); the daemon's worker queues them, pocketsphinx transcribes them in a process pool,
and the call is scored — greeting and closing pass, the caller's "refund" raises an alert,
each transcript is attributed to its speaker. The same dialogue without the greeting fails
that rule, with evidence saying what was looked for."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pydub import AudioSegment

from cti.calls.model import CallRecord, Party
from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.speech.scoring import Result
from cti.speech.worker import SpeechSettings, SpeechWorker
from cti.speech.worker.quality import QualityScorer, load_scorecard
from cti.store.sqlite import Store

T = 1_795_444_272.0
ESPEAK = shutil.which("espeak-ng")
if ESPEAK is None:
    if os.environ.get("CI"):
        raise RuntimeError("the speech test needs espeak-ng (scripts/system-deps.sh)")
    pytest.skip("needs espeak-ng (scripts/system-deps.sh)", allow_module_level=True)

GREETING = (0.5, "agent", "Hello, welcome to Orange. How can I help you?")
REQUEST = (5.0, "caller", "Hello. I would like a refund for my last bill please.")
CLOSING = (25.0, "agent", "Of course. Thank you for calling. Goodbye.")


def speak(text: str, folder: Path, n: int) -> AudioSegment:
    out = folder / f"u{n}.wav"
    subprocess.run([str(ESPEAK), "-v", "en-us", "-s", "150", "-w", str(out), text],
                   check=True, capture_output=True)
    return AudioSegment.from_wav(out)


def leg_files(folder: Path, lines: list[tuple[float, str, str]], length: float) -> None:
    """One file per party, each utterance at its time, silence elsewhere: what MixMonitor's
    r()/t() options write on the answering (agent's) channel — rx the agent, tx the caller."""
    tracks = {"agent": AudioSegment.silent(int(length * 1000), frame_rate=8000),
              "caller": AudioSegment.silent(int(length * 1000), frame_rate=8000)}
    for n, (at, who, text) in enumerate(lines):
        voice = speak(text, folder, n).set_frame_rate(8000).set_channels(1)
        tracks[who] = tracks[who].overlay(voice, position=int(at * 1000))
    for who, leg in (("agent", "rx"), ("caller", "tx")):
        tracks[who].set_frame_rate(8000).set_channels(1).set_sample_width(2).export(
            folder / f"call-{leg}.wav", format="wav")


async def transcribe_and_score(tmp_path: Path, lines: list[tuple[float, str, str]]
                               ) -> tuple[Result, list[dict[str, object]]]:
    recdir = tmp_path / "rec"
    recdir.mkdir()
    leg_files(recdir, lines, 40.0)
    async with await Store.open(tmp_path / "cti.db") as store:
        await store.save_call(CallRecord(
            pbx="main", call_id="c1", direction="inbound", status="answered", answered=True,
            caller=Party("+33612345678"), callee=Party("0155512345"), extension="1001",
            extensions_rung=("1001",), queue=None, started_at=T, answered_at=T + 1,
            ended_at=T + 41, hangup_cause="16"))
        await store.flush()
        recordings = RecordingService(store, RecordingSettings(dir=recdir))
        for leg in ("rx", "tx"):
            rec = await recordings.link("main", "c1", f"/var/spool/asterisk/monitor/call-{leg}"
                                        ".wav", "event", T + 1, leg)
            assert (await recordings.check(rec)).status == "ok"
        scorer = QualityScorer(store, load_scorecard(None), company="Orange")
        results: list[Result] = []

        async def score(pbx: str, call_id: str) -> None:
            result = await scorer.score_call(pbx, call_id)
            assert result is not None
            results.append(result)

        with ProcessPoolExecutor(max_workers=1) as pool:
            worker = SpeechWorker(store, recdir, SpeechSettings(), executor=pool)
            worker.on_call_done.append(score)
            assert await worker.drain() == 2
        assert worker.failed == 0
        transcripts = await store.query(
            "SELECT r.leg, t.speaker, t.text FROM transcripts t JOIN recordings r "
            "ON r.id = t.recording_id ORDER BY r.leg")
    assert len(results) == 1
    return results[0], transcripts


async def test_greeting_closing_refund_alert_and_speakers(tmp_path: Path) -> None:
    result, transcripts = await transcribe_and_score(tmp_path, [GREETING, REQUEST, CLOSING])
    assert [(t["leg"], t["speaker"]) for t in transcripts] == [("rx", "agent"),
                                                              ("tx", "caller")]
    agent_text = str(transcripts[0]["text"])
    assert "refund" not in agent_text  # the caller's words stayed on the caller's track
    rules = {r.name: r for r in result.rules}
    assert rules["greeting"].passed, rules["greeting"]
    assert rules["greeting"].evidence[0].speaker == "agent"
    assert rules["closing"].passed, rules["closing"]
    refund = [a for a in result.alerts if a.keyword == "refund"]
    assert refund and refund[0].speaker == "caller" and 4.0 <= refund[0].start <= 20.0


async def test_without_the_greeting_the_rule_fails_with_evidence(tmp_path: Path) -> None:
    result, _ = await transcribe_and_score(tmp_path, [REQUEST, CLOSING])
    greeting = next(r for r in result.rules if r.name == "greeting")
    assert not greeting.passed
    assert "agent" in greeting.detail and greeting.detail  # who should have said what, where
    assert next(r for r in result.rules if r.name == "closing").passed
