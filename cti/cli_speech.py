"""``cti transcribe CALL_ID | --since DATE``: transcribe (again) recorded calls now, with a
progress bar — after installing a better model, changing the language, or for calls recorded
before speech analytics was turned on. The daemon's worker does the same in the background
for every new recording; this runs the same queue in the foreground."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

from cti.config import Config
from cti.progress import Progress
from cti.recordings.settings import RecordingSettings
from cti.speech.worker import SpeechWorker, jobs, speech_settings
from cti.store.sqlite import Store


def add_parsers(sub: Any, common: Any) -> None:
    p = sub.add_parser("transcribe", help="transcribe recorded calls now (progress bar)")
    p.add_argument("call_id", nargs="?", help="the call's id (its Linkedid, as in the call log)")
    p.add_argument("--since", metavar="DATE",
                   help="every recorded call since this day (YYYY-MM-DD, web.timezone)")
    p.add_argument("--pbx", help="the PBX of CALL_ID (default: any)")
    common(p)
    p.add_argument("--db", dest="db.path", help="SQLite database file")


async def _recordings(store: Store, ns: argparse.Namespace, config: Config) -> list[int]:
    if ns.call_id:
        rows = await store.query(
            "SELECT id FROM recordings WHERE call_id = ? AND (? IS NULL OR pbx = ?) "
            "AND status = 'ok' ORDER BY id", (ns.call_id, ns.pbx, ns.pbx))
    else:
        tz = ZoneInfo(str(config.get("web.timezone")))
        day = dt.date.fromisoformat(ns.since)
        since = dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()
        rows = await store.query(
            "SELECT r.id FROM recordings r JOIN calls c ON c.pbx = r.pbx "
            "AND c.call_id = r.call_id WHERE c.started_at >= ? AND r.status = 'ok' "
            "ORDER BY c.started_at, r.id", (since,))
    return [int(r["id"]) for r in rows]


async def run(ns: argparse.Namespace, config: Config) -> int:
    if bool(ns.call_id) == bool(ns.since):
        print("cti transcribe: give a CALL_ID or --since DATE (one of them)", file=sys.stderr)
        return 2
    try:
        if ns.since:
            dt.date.fromisoformat(ns.since)
    except ValueError:
        print(f"cti transcribe: --since wants YYYY-MM-DD, not {ns.since!r}", file=sys.stderr)
        return 2
    settings = speech_settings(config)
    store = await Store.open(config.db_path)
    try:
        ids = await _recordings(store, ns, config)
        if not ids:
            print("cti transcribe: no playable recording for that", file=sys.stderr)
            return 1
        await jobs.requeue(store, ids, 0.0)
        with ProcessPoolExecutor(max_workers=max(1, settings.workers)) as pool:
            worker = SpeechWorker(store, RecordingSettings.from_config(config).dir, settings,
                                  executor=pool)
            progress = Progress(len(ids), "transcribing")
            ran = 0
            while await worker.run_once():
                ran += 1
                progress.update(ran)
            progress.done(ran)
        print(f"{worker.done:,} recording(s) transcribed, {worker.failed:,} failed "
              f"({settings.engine}, {settings.language})")
        return 0 if worker.failed == 0 else 1
    finally:
        await store.close()
