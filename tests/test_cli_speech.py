"""``cti transcribe`` from a terminal, as a subprocess over a real SQLite file and a real
MixMonitor recording of the captures: the call's recording is transcribed (pocketsphinx, in a
process pool) and stored; wrong usage is refused with a clear message and exit code 2."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from cti.calls.model import CallEnded
from cti.recordings.service import RecordingService
from cti.recordings.settings import RecordingSettings
from cti.store.sqlite import Store
from tests.captures import FIXTURES
from tests.test_ws import events_of

WAV = next((FIXTURES / "inbound_answered" / "recordings").glob("*.wav"))


async def seed(db: Path, recdir: Path) -> str:
    shutil.copy(WAV, recdir / WAV.name)
    record = next(e for e in events_of("inbound_answered") if isinstance(e, CallEnded)).record
    async with await Store.open(db) as store:
        await store.save_call(record)
        await store.flush()
        service = RecordingService(store, RecordingSettings(dir=recdir,
                                                            pbx_dir="/var/astrec/recordings"))
        recs = await service.finish_call(record)
        assert [r.status for r in recs] == ["ok"]
    return record.call_id


def cti(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_transcribe_a_call_then_usage_errors(tmp_path: Path) -> None:
    db, recdir = tmp_path / "cti.db", tmp_path / "rec"
    recdir.mkdir()
    call_id = asyncio.run(seed(db, recdir))
    env = {"CTI_RECORDINGS_DIR": str(recdir), "CTI_RECORDINGS_PBX_DIR": "/var/astrec/recordings"}
    done = cti("transcribe", call_id, "--db", str(db), env=env)
    assert done.returncode == 0, done.stderr
    assert "1 recording(s) transcribed, 0 failed (pocketsphinx, en-us)" in done.stdout
    with sqlite3.connect(db) as conn:
        words, text = conn.execute("SELECT words, text FROM transcripts").fetchone()
        status = conn.execute("SELECT status FROM speech_jobs").fetchone()[0]
    assert status == "done" and len(text.split()) >= 5 and words.startswith("[{")

    neither = cti("transcribe", "--db", str(db), env=env)
    assert neither.returncode == 2 and "give a CALL_ID or --since DATE" in neither.stderr
    bad_date = cti("transcribe", "--since", "25/11/2026", "--db", str(db), env=env)
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    nothing = cti("transcribe", "no-such-call", "--db", str(db), env=env)
    assert nothing.returncode == 1 and "no playable recording" in nothing.stderr
