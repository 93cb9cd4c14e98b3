"""The transcript beside the player in a real headless Chromium: a click on a word seeks the
audio of its recording to that word's time, and the word being played is highlighted."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.calls.model import CallEnded
from cti.users import UserService
from tests.browser import Stack, chromium_page, log_in, product, require_browser
from tests.test_browser_recordings import WAV
from tests.test_ws import events_of

require_browser()

CALL_ID = "1795444272.132"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    recdir = tmp_path / "rec"
    recdir.mkdir()
    async with product(tmp_path, **{"recordings.dir": str(recdir),
                                    "recordings.pbx_dir": "/var/astrec/recordings",
                                    "recordings.scan_interval": 0,
                                    "speech.enabled": False}) as stack:
        daemon = stack.daemon
        assert daemon.store is not None and daemon.recordings is not None
        await UserService(daemon.store).create("boss", "boss-secret!", "supervisor", [])
        shutil.copy(WAV, recdir / WAV.name)
        record = next(e for e in events_of("inbound_answered")
                      if isinstance(e, CallEnded)).record
        await daemon.store.save_call(record)
        await daemon.store.flush()
        await daemon.recordings.finish_call(record)
        with sqlite3.connect(stack.db) as conn:
            rid = conn.execute("SELECT id FROM recordings").fetchone()[0]
        words = [{"text": t, "start": 1.0 + i, "end": 1.6 + i, "conf": 0.9}
                 for i, t in enumerate(("hello", "welcome", "to", "acme"))]
        await daemon.store.transaction(lambda tx: tx.execute(
            "INSERT INTO transcripts (recording_id, pbx, call_id, speaker, engine, language, "
            "duration, words, text, created_at) VALUES (?, 'default', ?, 'mixed', 'e', 'en', "
            "10, ?, 'hello welcome to acme', 0)", (rid, CALL_ID, json.dumps(words))))
        yield stack


async def test_clicking_a_word_seeks_its_recording(stack: Stack) -> None:
    base = stack.web.url
    async with chromium_page(locale="fr-FR") as (page, errors):
        await log_in(page, base, "boss", "boss-secret!")
        await page.goto(f"{base}/calls/default/{CALL_ID}")
        audio = page.locator("li.recording audio")
        await page.wait_for_function("a => a.readyState >= 1 && a.duration > 0",
                                     arg=await audio.element_handle(), timeout=5000)
        await audio.evaluate("a => { a.muted = true; }")
        word = page.locator('#transcript span[data-t="3.0"]')
        assert await word.inner_text() == "to"
        await word.click()
        await page.wait_for_function("a => a.currentTime >= 3.0",
                                     arg=await audio.element_handle(), timeout=5000)
        await audio.evaluate("a => a.pause()")
        seconds = await audio.evaluate("a => a.currentTime")
        assert 3.0 <= seconds < 4.6
        await page.wait_for_function(
            "() => document.querySelector('#transcript .word.playing') !== null", timeout=3000)
        playing = await page.locator("#transcript .word.playing").inner_text()
        assert playing in ("to", "acme")
        assert errors == []
