"""The transcription queue in SQLite (``speech_jobs``, migration 11) and the transcripts.

Why a table and not an in-memory queue: a transcription costs seconds to minutes of CPU, a
daemon restarts, and supervisors want to see where their calls are. Every playable recording
gets one job (:func:`enqueue_ready` adds the missing ones, whatever linked the file: the bus,
the folder scan, a replay); a worker *claims* the oldest due job in a transaction (so two
workers never take the same one), and marks it ``done`` with its transcript or ``failed`` with
the error, retried with backoff up to ``MAX_ATTEMPTS``. A job left ``running`` by a crash is
due again after ``STALE_AFTER``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from cti.store.sqlite import Store
from cti.store.tx import Tx

MAX_ATTEMPTS = 3
RETRY_AFTER = 60.0  # seconds, doubled per attempt
STALE_AFTER = 3600.0  # a "running" job older than this was lost with its worker


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    recording_id: int
    status: str
    attempts: int
    pbx: str
    call_id: str | None
    file: str
    leg: str
    direction: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(int(row["id"]), int(row["recording_id"]), str(row["status"]),
                   int(row["attempts"]), str(row["pbx"]), row["call_id"], str(row["file"]),
                   str(row["leg"]), row.get("direction"))


async def enqueue_ready(store: Store, now: float) -> int:
    """A job for every playable recording that has none; returns how many were added."""

    async def work(tx: Tx) -> int:
        await tx.execute(
            "INSERT INTO speech_jobs (recording_id, next_try_at, created_at) "
            "SELECT r.id, ?, ? FROM recordings r WHERE r.status = 'ok' AND NOT EXISTS "
            "(SELECT 1 FROM speech_jobs j WHERE j.recording_id = r.id)", (now, now))
        return await tx.changes()

    return await store.transaction(work)


async def requeue(store: Store, recording_ids: list[int], now: float) -> int:
    """Run these recordings again (``cti transcribe``): back to ``queued``, attempts reset."""
    if not recording_ids:
        return 0
    marks = ", ".join("?" for _ in recording_ids)

    async def work(tx: Tx) -> int:
        await tx.execute(
            "INSERT INTO speech_jobs (recording_id, next_try_at, created_at) "
            f"SELECT id, ?, ? FROM recordings WHERE id IN ({marks}) AND status = 'ok' "
            "ON CONFLICT (recording_id) DO UPDATE SET status = 'queued', attempts = 0, "
            "error = '', progress = 0, next_try_at = excluded.next_try_at, "
            "started_at = NULL, finished_at = NULL", (now, now, *recording_ids))
        return await tx.changes()

    return await store.transaction(work)


async def claim(store: Store, now: float, engine: str) -> Job | None:
    """Take the oldest due job (queued, retry time passed, or running but stale)."""

    async def work(tx: Tx) -> Job | None:
        rows = await tx.fetch(
            "SELECT j.id, j.recording_id, j.status, j.attempts, r.pbx, r.call_id, r.file, "
            "r.leg, c.direction FROM speech_jobs j JOIN recordings r ON r.id = j.recording_id "
            "LEFT JOIN calls c ON c.pbx = r.pbx AND c.call_id = r.call_id "
            "WHERE (j.status = 'queued' AND j.next_try_at <= ?) "
            "OR (j.status = 'running' AND j.started_at < ?) "
            "ORDER BY j.next_try_at, j.id LIMIT 1", (now, now - STALE_AFTER))
        if not rows:
            return None
        found = Job.from_row(rows[0])
        await tx.execute("UPDATE speech_jobs SET status = 'running', engine = ?, "
                         "attempts = attempts + 1, progress = 0.1, started_at = ?, error = '' "
                         "WHERE id = ?", (engine, now, found.id))
        return replace(found, status="running", attempts=found.attempts + 1)  # this attempt

    return await store.transaction(work)


async def finish(store: Store, job: Job, transcript: dict[str, Any], speaker: str,
                 now: float) -> None:
    """Store the transcript (replacing an earlier one) and close the job."""
    words = transcript.get("words") or []
    text = " ".join(str(w.get("text", "")) for w in words)

    async def work(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO transcripts (recording_id, pbx, call_id, speaker, engine, language, "
            "duration, words, text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (recording_id) DO UPDATE SET speaker = excluded.speaker, "
            "engine = excluded.engine, language = excluded.language, "
            "duration = excluded.duration, words = excluded.words, text = excluded.text, "
            "created_at = excluded.created_at",
            (job.recording_id, job.pbx, job.call_id, speaker, str(transcript.get("engine", "")),
             str(transcript.get("language", "")), float(transcript.get("duration") or 0.0),
             json.dumps(words, ensure_ascii=False, separators=(",", ":")), text, now))
        await tx.execute("UPDATE speech_jobs SET status = 'done', progress = 1, "
                         "finished_at = ? WHERE id = ?", (now, job.id))

    await store.transaction(work)


async def fail(store: Store, job: Job, error: str, now: float) -> str:
    """Record the failure: due again after a backoff, or ``failed`` for good."""
    final = job.attempts >= MAX_ATTEMPTS
    status = "failed" if final else "queued"
    retry = now + RETRY_AFTER * 2 ** max(0, job.attempts - 1)
    await store.transaction(lambda tx: tx.execute(
        "UPDATE speech_jobs SET status = ?, error = ?, progress = 0, next_try_at = ?, "
        "finished_at = ? WHERE id = ?",
        (status, error[:1000], retry, now if final else None, job.id)))
    return status


async def call_done(store: Store, pbx: str, call_id: str) -> bool:
    """True when every playable recording of the call has its transcript."""
    row = await store.query_one(
        "SELECT COUNT(*) AS n FROM recordings r WHERE r.pbx = ? AND r.call_id = ? "
        "AND r.status = 'ok' AND NOT EXISTS (SELECT 1 FROM transcripts t "
        "WHERE t.recording_id = r.id)", (pbx, call_id))
    return row is not None and int(row["n"]) == 0


async def transcripts_of_call(store: Store, pbx: str, call_id: str) -> list[dict[str, Any]]:
    rows = await store.query(
        "SELECT recording_id, speaker, engine, language, duration, words FROM transcripts "
        "WHERE pbx = ? AND call_id = ? ORDER BY recording_id", (pbx, call_id))
    out = []
    for r in rows:
        out.append({**r, "words": json.loads(r["words"])})
    return out


async def search(store: Store, query: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Calls whose transcripts match ``query`` (FTS5 syntax of plain words: each word is
    quoted, so people's text is never read as operators), best first, with a snippet."""
    terms = [w for w in query.replace('"', " ").split() if w][:10]
    if not terms:
        return []
    match = " ".join(f'"{t}"' for t in terms)
    return await store.query(
        "SELECT t.pbx, t.call_id, t.recording_id, "
        "snippet(transcripts_fts, 0, '[', ']', '…', 12) AS snippet "
        "FROM transcripts_fts JOIN transcripts t ON t.recording_id = transcripts_fts.rowid "
        "WHERE transcripts_fts MATCH ? ORDER BY rank LIMIT ?", (match, limit))


def speaker_of(leg: str, direction: str | None) -> str:
    """Who speaks in a file: MixMonitor runs on the answering channel (``dialplan/``): its
    ``rx`` is that channel's party — the agent on an inbound (or internal) call, the remote
    party on an outbound one —, ``tx`` the other party; a mixed file is everybody."""
    if leg == "mixed":
        return "mixed"
    agent_is_rx = direction != "outbound"
    return "agent" if (leg == "rx") == agent_is_rx else "caller"
