"""``/admin/speech``: where the transcription queue stands, for supervisors — how many jobs
are queued, running, done and failed, the failures with their error, and a retry button (one
job, or every failed one). ``/api/speech/jobs`` is the JSON twin.

A failed job is one the worker gave up on after its retries (a damaged file, a missing vosk
model…): retrying puts it back in the queue with its attempts reset; the daemon's worker takes
it at its next look at the queue (within ``poll`` seconds).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from cti.speech.worker import jobs
from cti.webapp.api import json_response, path_id
from cti.webapp.auth import require_role
from cti.webapp.errors import HttpError
from cti.webapp.keys import STORE
from cti.webapp.templating import render

LIST_LIMIT = 100
STATUSES = ("queued", "running", "done", "failed")
JOB_LABELS = {"queued": "Waiting", "running": "Transcribing", "done": "Transcribed",
              "failed": "Failed"}


async def queue_state(request: web.Request) -> dict[str, Any]:
    store = request.app[STORE]
    rows = await store.query("SELECT status, COUNT(*) AS n FROM speech_jobs GROUP BY status")
    counts = {s: 0 for s in STATUSES}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    waiting = await store.query(
        "SELECT COUNT(*) AS n FROM recordings r WHERE r.status = 'ok' AND NOT EXISTS "
        "(SELECT 1 FROM speech_jobs j WHERE j.recording_id = r.id)")
    counts["queued"] += int(waiting[0]["n"]) if waiting else 0  # (queued at the next look)
    recent = await store.query(
        "SELECT j.recording_id, j.status, j.engine, j.attempts, j.progress, j.error, "
        "j.created_at, j.started_at, j.finished_at, r.pbx, r.call_id, r.file "
        "FROM speech_jobs j JOIN recordings r ON r.id = j.recording_id "
        "WHERE j.status != 'done' ORDER BY j.status = 'failed' DESC, j.next_try_at LIMIT ?",
        (LIST_LIMIT,))
    for r in recent:
        r["name"] = r.pop("file").rsplit("/", 1)[-1]
    return {"counts": counts, "jobs": recent}


@require_role("supervisor")
async def speech_page(request: web.Request) -> web.StreamResponse:
    return render(request, "admin_speech.html", {**await queue_state(request),
                                                 "job_labels": JOB_LABELS})


@require_role("supervisor")
async def speech_api(request: web.Request) -> web.StreamResponse:
    return json_response(await queue_state(request))


@require_role("supervisor")
async def retry_one(request: web.Request) -> web.StreamResponse:
    changed = await jobs.requeue(request.app[STORE], [path_id(request)], time.time())
    if not changed:
        raise HttpError(404, "No such recording.", code="not_found")
    raise web.HTTPSeeOther("/admin/speech")


@require_role("supervisor")
async def retry_failed(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    rows = await store.query("SELECT recording_id FROM speech_jobs WHERE status = 'failed'")
    await jobs.requeue(store, [int(r["recording_id"]) for r in rows], time.time())
    raise web.HTTPSeeOther("/admin/speech")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/speech", speech_page, name="admin_speech")
    r.add_get("/api/speech/jobs", speech_api, name="api_speech_jobs")
    r.add_post(r"/admin/speech/{id:\d+}/retry", retry_one, name="admin_speech_retry")
    r.add_post("/admin/speech/retry-failed", retry_failed, name="admin_speech_retry_failed")
