"""Speech analytics in the web UI over real loopback HTTP and a real SQLite store: the call
page shows the transcript (words with their time and recording, in speaker turns) and the
quality result (rules with evidence that seeks the player, alerts, metrics) to those who may
listen — and nothing of it, in the page or the JSON, to a colleague whose phone only rang;
"said in calls" finds a call by a spoken word and never one where it was not said, whatever
FTS syntax people type; ``/quality`` averages per agent are right and for supervisors only."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cti.calls.model import CallRecord, Party
from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.speech.worker import jobs
from cti.speech.worker.quality import QualityScorer, load_scorecard
from cti.store.sqlite import Store
from cti.users import UserService
from tests.test_speech_quality import AGENT, CALLER, w
from tests.web_helpers import login, open_store, seed_users, serve_app

NOW = time.time() - 120  # today, whatever the zone (unless run at 00:01: see _today)
OLD = NOW - 40 * 86400  # never in this month

#: call id → (answering extension, extensions rung, started, {speaker: words})
CALLS: dict[str, tuple[str, tuple[str, ...], float, dict[str, list[dict[str, Any]]]]] = {
    "c1": ("1001", ("1001", "1002"), NOW, {"agent": AGENT, "caller": CALLER}),
    "c2": ("1002", ("1002",), NOW + 1,
           {"agent": w("yes what is your order number", 0.5) + w("ok bye", 40.0),
            "caller": w("my parcel never arrived where is it", 4.0)}),
    "c3": ("1001", ("1001",), NOW + 2,
           {"agent": AGENT[:12], "caller": w("i just wanted to say thanks", 6.0)}),
    "c4": ("1001", ("1001",), OLD, {"agent": AGENT[12:], "caller": CALLER}),
}


def _today() -> bool:
    return time.localtime(NOW).tm_yday == time.localtime().tm_yday


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    for call_id, (ext, rung, started, _words) in CALLS.items():
        await s.save_call(CallRecord(
            pbx="main", call_id=call_id, direction="inbound", status="answered", answered=True,
            caller=Party("+33612345678", ""), callee=Party("0155512345"), extension=ext,
            extensions_rung=rung, queue="support", started_at=started,
            answered_at=started + 3, ended_at=started + 50, hangup_cause="16"))
    await s.flush()
    yield s
    await s.close()


@pytest.fixture
async def users(store: Store) -> UserService:
    service = UserService(store)
    await seed_users(service)
    return service


@pytest.fixture
async def recordings(store: Store, tmp_path: Path) -> RecordingService:
    """Two legs per call, transcribed, then every call scored (as the speech worker does)."""
    service = RecordingService(store, RecordingSettings(dir=tmp_path))
    for call_id in CALLS:
        for leg in ("rx", "tx"):
            (tmp_path / f"{call_id}-{leg}.wav").write_bytes(b"RIFF")
            rec = await service.link("main", call_id, f"/rec/{call_id}-{leg}.wav", "event",
                                     CALLS[call_id][2], leg)
            await service.set_status(rec.id, "ok")
    await jobs.enqueue_ready(store, 0.0)
    while (job := await jobs.claim(store, 0.0, "pocketsphinx")) is not None:
        speaker = jobs.speaker_of(job.leg, job.direction)
        assert job.call_id is not None
        await jobs.finish(store, job, {"engine": "pocketsphinx", "language": "en-us",
                                       "duration": 50.0,
                                       "words": CALLS[job.call_id][3][speaker]}, speaker, 1.0)
    scorer = QualityScorer(store, load_scorecard(None), company="Acme")
    for call_id in CALLS:
        assert await scorer.score_call("main", call_id) is not None
    return service


async def _leg_ids(store: Store, call_id: str) -> dict[str, int]:
    rows = await store.query("SELECT recording_id, speaker FROM transcripts WHERE call_id = ?",
                             (call_id,))
    return {r["speaker"]: int(r["recording_id"]) for r in rows}


async def test_the_call_page_shows_transcript_and_quality_to_who_may_listen(
        store: Store, users: UserService, recordings: RecordingService) -> None:
    legs = await _leg_ids(store, "c1")
    async with serve_app(store, users=users, recordings=recordings) as client:
        for who in ("boss", "agent1"):  # a supervisor, and the agent who answered
            await login(client, who)
            resp = await client.get("/calls/main/c1")
            assert resp.status == 200
            page = await resp.text()
            assert 'id="transcript"' in page and 'id="quality"' in page
            assert "/static/transcript.js" in page and "/static/transcript.css" in page
            # words: start time and the recording of that voice; turns by speaker, in order
            hello = re.search(r'<span class="word[^"]*" data-t="0.5" data-e="0.8" '
                              r'data-rec="(\d+)">hello</span>', page)
            assert hello and int(hello.group(1)) == legs["agent"]
            assert re.search(rf'data-t="5.0" data-e="5.3" data-rec="{legs["caller"]}">hello<',
                             page)
            turns = re.findall(r'class="turn speaker-(\w+)"', page)
            assert turns[:4] == ["agent", "caller", "agent", "caller"] or turns[:3] == [
                "agent", "caller", "agent"]
            # quality: score, rules passed/failed, evidence buttons seeking a player
            assert re.search(r'class="score">\d+/100<', page)
            assert 'class="rule passed"' in page
            seeks = re.findall(r'class="seek" data-seek="([\d.]+)" data-recording="(\d+)"',
                               page)
            assert seeks and {int(r) for _, r in seeks} <= set(legs.values())
            assert ("0.5", str(legs["agent"])) in seeks  # the greeting's evidence
            assert re.search(r'<li class="alert severity-\w+">.*<strong>refund</strong>', page)
            assert 'class="word alert"' in page  # the alert's words marked in the flow
            assert "Plus long silence" in page and "Mots par minute (Agent)" in page
            data = await (await client.get("/api/calls/main/c1")).json()
            assert {t["speaker"] for t in data["transcripts"]} == {"agent", "caller"}
            assert data["quality"]["score"] >= 0 and data["quality"]["rules"]

        # agent2's phone rang (1002) but agent1 talked: the call yes, its words no.
        await login(client, "agent2")
        resp = await client.get("/calls/main/c1")
        assert resp.status == 200
        page = await resp.text()
        assert 'id="transcript"' not in page and 'id="quality"' not in page
        assert "welcome" not in page and "data-seek" not in page
        api = await client.get("/api/calls/main/c1")
        raw = await api.text()
        data = json.loads(raw)
        assert data["transcripts"] == [] and data["quality"] is None
        assert "welcome" not in raw and "refund" not in raw
        # and their own call shows theirs (a failed greeting among the rules)
        own = await (await client.get("/calls/main/c2")).text()
        assert 'id="transcript"' in own and 'class="rule failed"' in own


async def test_said_in_calls_finds_the_calls_where_a_word_was_spoken(
        store: Store, users: UserService, recordings: RecordingService) -> None:
    async with serve_app(store, users=users, recordings=recordings) as client:
        await login(client, "boss")

        async def found(q: str) -> list[str]:
            resp = await client.get("/api/transcripts/search", params={"q": q})
            assert resp.status == 200, await resp.text()
            return sorted(c["call_id"] for c in (await resp.json())["calls"])

        assert await found("refund") == ["c1", "c4"]  # not c2 nor c3: never said there
        assert await found("parcel") == ["c2"]
        assert await found("refund parcel") == []  # every word must be in one transcript
        for q in ('refund" OR "x', "NEAR(refund parcel)", "refund*", "-parcel", "^hello",
                  '"', "(", "AND", "c1:refund", "refund OR parcel"):
            resp = await client.get("/api/transcripts/search", params={"q": q})
            assert resp.status == 200, (q, await resp.text())
        assert await found("refund OR parcel") == []  # OR is a word here, not an operator
        assert await found("") == []

        page = await client.get("/calls/said", params={"q": "refund"})
        text = await page.text()
        assert page.status == 200 and "<mark>refund</mark>" in text
        assert 'href="/calls/main/c1#transcript"' in text
        assert "/calls/main/c2" not in text
        moved = await client.get("/calls", params={"said": "refund"}, allow_redirects=False)
        assert moved.status == 302 and moved.headers["Location"] == "/calls/said?q=refund"
        calls = await (await client.get("/calls")).text()
        assert 'action="/calls/said"' in calls and 'href="/quality"' in calls

        # agents: only the calls they talked on
        await login(client, "agent2")
        assert await found("refund") == []  # rang on c1, did not talk
        assert await found("parcel") == ["c2"]
        await login(client, "agent1")
        assert await found("refund") == ["c1", "c4"] and await found("parcel") == []
        calls = await (await client.get("/calls")).text()
        assert 'action="/calls/said"' in calls and 'href="/quality"' not in calls
        page = await client.get("/calls/said", params={"q": "parcel"})
        assert page.status == 200 and "/calls/main/c2" not in await page.text()


async def test_quality_averages_per_agent_for_supervisors_only(
        store: Store, users: UserService, recordings: RecordingService) -> None:
    rows = await store.query("SELECT call_id, agent, score, result FROM call_quality")
    score = {r["call_id"]: float(r["score"]) for r in rows}
    greeting = {r["call_id"]: next(x for x in json.loads(r["result"])["rules"]
                                   if x["name"] == "greeting")["passed"] for r in rows}
    assert greeting == {"c1": True, "c2": False, "c3": True, "c4": False}
    async with serve_app(store, users=users, recordings=recordings) as client:
        await login(client, "boss")
        period = "today" if _today() else "week"
        resp = await client.get("/api/quality", params={"period": period})
        assert resp.status == 200
        data = await resp.json()
        agents = {a["extension"]: a for a in data["agents"]}
        assert set(agents) == {"1001", "1002"}
        one, two = agents["1001"], agents["1002"]
        assert one["calls"] == 2 and two["calls"] == 1  # c4 (40 days ago) is out
        assert one["average"] == round((score["c1"] + score["c3"]) / 2, 1)
        assert two["average"] == round(score["c2"], 1)
        assert one["pass_rates"]["greeting"] == 100 and two["pass_rates"]["greeting"] == 0
        assert two["alerts"] == 0 and one["alerts"] >= 1  # the caller's "refund" on c1
        assert one["link"] == f"/calls?agent=agent1&period={period}"
        month = await (await client.get("/api/quality", params={"period": "month"})).json()
        assert {a["extension"]: a["calls"] for a in month["agents"]} == {"1001": 2, "1002": 1}
        page = await client.get("/quality", params={"period": period})
        text = await page.text()
        assert page.status == 200 and 'data-extension="1001"' in text
        assert html.escape(one["link"]) in text and "Agent1 (1001)" in text
        assert f'<td class="num average">{one["average"]}</td>' in text
        assert (await client.get("/quality", params={"period": "decade"})).status == 422
        fr = await client.get("/quality", headers={"Accept-Language": "fr"})
        assert fr.status == 200 and "Qualité des appels" in await fr.text()

        await login(client, "agent1")
        assert (await client.get("/quality")).status == 403
        assert (await client.get("/api/quality")).status == 403
