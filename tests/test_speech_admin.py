"""``/admin/speech`` over real HTTP on a real SQLite file: supervisors see the transcription
queue (counts, failures with their error) and retry a failed job or all of them; agents get
403; a retry without CSRF token is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.speech.worker import jobs
from cti.store.sqlite import Store
from cti.users import UserService
from tests.web_helpers import login, seed_users, serve_app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    service = RecordingService(s, RecordingSettings(dir=tmp_path))

    async def recording(name: str) -> None:
        rec = await service.link("main", f"call-{name}", f"/rec/{name}.wav", "event", 0.0)
        await service.set_status(rec.id, "ok")
        await jobs.enqueue_ready(s, 0.0)

    await recording("a")
    for attempt in range(jobs.MAX_ATTEMPTS):  # the worker gives up on "a"
        job = await jobs.claim(s, 1e6 * attempt, "vosk")
        assert job is not None
        await jobs.fail(s, job, "TranscriberError: no vosk model for 'fr'", 1e6 * attempt)
    await recording("b")  # waiting
    yield s
    await s.close()


async def test_supervisors_see_the_queue_and_retry_failures(store: Store) -> None:
    await seed_users(UserService(store))
    async with serve_app(store) as http:
        await login(http, "agent1")
        assert (await http.get("/admin/speech")).status == 403
        assert (await http.get("/api/speech/jobs")).status == 403
        csrf = await login(http, "boss")
        state = await (await http.get("/api/speech/jobs")).json()
        assert state["counts"]["failed"] == 1
        failed = [j for j in state["jobs"] if j["status"] == "failed"]
        assert failed[0]["error"] == "TranscriberError: no vosk model for 'fr'"
        assert failed[0]["name"] == "a.wav" and "/rec/" not in str(state)
        page = await (await http.get("/admin/speech")).text()
        assert "no vosk model" in page and 'action="/admin/speech/retry-failed"' in page
        rid = failed[0]["recording_id"]
        refused = await http.post(f"/admin/speech/{rid}/retry", allow_redirects=False)
        assert refused.status == 403  # no CSRF token
        retried = await http.post(f"/admin/speech/{rid}/retry", data={"csrf_token": csrf},
                                  allow_redirects=False)
        assert retried.status == 303
        row = await store.query_one("SELECT status, attempts, error FROM speech_jobs "
                                    "WHERE recording_id = ?", (rid,))
        assert row == {"status": "queued", "attempts": 0, "error": ""}
        missing = await http.post("/admin/speech/999/retry", data={"csrf_token": csrf},
                                  allow_redirects=False)
        assert missing.status == 404


async def test_a_keyword_alert_reaches_the_supervisor_live(store: Store) -> None:
    from cti.bus import Bus
    from cti.live import LiveCalls
    from cti.webapp.keys import NOTIFICATIONS
    from tests.test_ws import log_in, next_json, until
    from tests.web_helpers import app_of

    await seed_users(UserService(store))
    async with serve_app(store, live=LiveCalls(Bus())) as http:
        boss, _ = await log_in(http, "boss")
        async with boss:
            ws = await boss.ws_connect("/ws")
            await next_json(ws)  # hello
            await app_of(http)[NOTIFICATIONS].add(
                "boss", "speech_alert", "Call c1: refund", "/calls/main/c1#quality")
            notice = await until(ws, lambda m: m["type"] == "notice")
            assert notice == {"type": "notice", "kind": "speech_alert",
                              "text": "Call c1: refund", "link": "/calls/main/c1#quality"}
            await ws.close()
