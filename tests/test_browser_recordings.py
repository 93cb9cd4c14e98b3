"""Replaying a recording in a real headless Chromium against the whole product: a supervisor
opens the call page of a real recorded call (the MixMonitor WAV of the inbound_answered
capture), plays it and seeks to the middle — the browser's Range request is answered 206 —,
the waveform is drawn and the play is audited and flagged as listened; an agent who was not on
the call gets 403 for the audio, an anonymous request 401. A missing file shows its status."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cti.calls.model import CallEnded
from cti.users import UserService
from tests.browser import Stack, chromium_page, log_in, product, require_browser
from tests.captures import FIXTURES
from tests.test_ws import events_of

require_browser()

RECDIR = FIXTURES / "inbound_answered" / "recordings"
WAV = RECDIR / "in-20261123-143112-33612345678-1795444272.132.wav"
TRUE_SECONDS = json.loads((RECDIR / "soxi.json").read_text())[WAV.name]["duration_s"]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    recdir = tmp_path / "rec"
    recdir.mkdir()
    async with product(tmp_path, **{"recordings.dir": str(recdir),
                                    "recordings.pbx_dir": "/var/astrec/recordings",
                                    "recordings.scan_interval": 0}) as stack:
        daemon = stack.daemon
        assert daemon.store is not None and daemon.recordings is not None
        users = UserService(daemon.store)
        await users.create("boss", "boss-secret!", "supervisor", [])
        await users.create("agent1", "agent1-secret", "agent", ["1001"])
        await users.create("agent2", "agent2-secret", "agent", ["1002"])
        shutil.copy(WAV, recdir / WAV.name)
        record = next(e for e in events_of("inbound_answered")
                      if isinstance(e, CallEnded)).record
        await daemon.store.save_call(record)
        await daemon.store.flush()
        await daemon.recordings.finish_call(record)
        yield stack


def recording_row(db: Path) -> tuple[int, str, str | None]:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT id, status, listened_by FROM recordings").fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), row[2]


async def test_a_supervisor_plays_and_seeks_others_are_refused(stack: Stack) -> None:
    rid, status, listened = recording_row(stack.db)
    assert (status, listened) == ("ok", None)
    base = stack.web.url
    async with aiohttp.ClientSession(base_url=base) as anonymous:
        resp = await anonymous.get(f"/recordings/{rid}", allow_redirects=False)
        assert resp.status in (401, 302, 303)
    async with chromium_page(locale="fr-FR", viewport={"width": 1200, "height": 900}) as (
            page, errors):
        # An agent who was not on the call: 403 for the audio itself.
        await log_in(page, base, "agent2", "agent2-secret")
        refused = await page.request.get(f"{base}/recordings/{rid}")
        assert refused.status == 403
        await page.request.post(f"{base}/logout", form={"csrf_token": await page.evaluate(
            "() => document.querySelector('meta[name=csrf-token]').content")})

        await log_in(page, base, "boss", "boss-secret!")
        ranges: list[tuple[int, str]] = []
        page.on("response", lambda r: ranges.append((r.status, r.request.headers.get(
            "range", ""))) if f"/recordings/{rid}" in r.url else None)
        call_id = "1795444272.132"
        await page.goto(f"{base}/calls?period=all")
        assert "Enregistrements sur disque : un fichier" in await page.locator(
            ".rec-usage").inner_text()
        await page.locator(f'a.play[href="/calls/default/{call_id}#recordings"]').click()
        await page.wait_for_url(f"{base}/calls/default/{call_id}#recordings")
        item = page.locator(f'li.recording[data-recording-id="{rid}"]')
        await item.wait_for(timeout=3000)
        assert "Disponible" in await item.inner_text()
        audio = item.locator("audio")
        await page.wait_for_function(
            "a => a.readyState >= 1 && a.duration > 0", arg=await audio.element_handle(),
            timeout=5000)
        duration = await audio.evaluate("a => a.duration")
        assert duration == pytest.approx(TRUE_SECONDS, abs=0.05)
        await audio.evaluate("a => { a.muted = true; return a.play(); }")
        await audio.evaluate("a => { a.currentTime = a.duration / 2; }")
        await page.wait_for_function("a => a.currentTime >= a.duration / 2 - 0.5",
                                     arg=await audio.element_handle(), timeout=5000)
        assert any(s == 206 for s, _ in ranges), ranges  # seeking used byte ranges
        await page.wait_for_function(
            "() => { const c = document.querySelector('canvas.waveform');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " return d.some(v => v !== 0); }", timeout=3000)
        await item.locator("select.speed").select_option("1.5")
        assert await audio.evaluate("a => a.playbackRate") == 1.5
        assert errors == []
    _, _, listened = recording_row(stack.db)
    assert listened == "boss"
    with sqlite3.connect(stack.db) as conn:
        plays = conn.execute("SELECT username FROM audit_log WHERE action = 'recording_play'"
                             ).fetchall()
    assert plays and {p[0] for p in plays} == {"boss"}


async def test_a_truncated_then_missing_file_shows_its_status_and_no_player(
        stack: Stack, tmp_path: Path) -> None:
    recordings = stack.daemon.recordings
    assert recordings is not None
    rid, _, _ = recording_row(stack.db)
    file = tmp_path / "rec" / WAV.name
    async with chromium_page(locale="fr-FR") as (page, errors):
        await log_in(page, stack.web.url, "boss", "boss-secret!")
        for damage, label in ((lambda: file.write_bytes(WAV.read_bytes()[:5000]),
                               "Fichier endommagé"),
                              (file.unlink, "Fichier manquant")):
            damage()
            await recordings.check(await recordings.get(rid))
            await page.goto(f"{stack.web.url}/calls/default/1795444272.132")
            item = page.locator(f'li.recording[data-recording-id="{rid}"]')
            await item.wait_for(timeout=3000)
            assert label in await item.inner_text()
            assert await item.locator("audio").count() == 0
            gone = await page.request.get(f"{stack.web.url}/recordings/{rid}")
            assert gone.status == 410
        assert errors == []
