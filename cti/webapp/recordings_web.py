"""Replaying recordings: the audio stream (with HTTP Range, so the browser can seek), download,
the waveform's peaks, and the list of a call's recordings.

Who may listen: supervisors and admins, and the agents who **talked** on the call (answered it,
placed it, or were a transfer's end) — not every colleague whose phone merely rang: a
recording is the most personal thing cti keeps. Anyone else gets 403, as for another agent's
call; an unknown recording 404.

Every play and download is audited (who, when, which recording) and the first listen sets the
"recording listened" flag on it (shown on the call page). A player asks for many byte ranges
while it plays and seeks: only the request that starts the file (no ``Range``, or one from byte
0) counts as a play, so the audit log holds one line per listen, not one per chunk.

The file is served by aiohttp's ``FileResponse``, which answers ``Range`` with 206 and
``Content-Range`` and streams from disk; a file that went missing or is corrupt answers 410
with a clear message (the call page shows the status from the database).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from cti.errors import NotFound
from cti.pbx.audit import AuditEntry, AuditLog
from cti.recordings.model import Recording
from cti.recordings.naming import leg_of
from cti.users import User
from cti.webapp.api import json_response
from cti.webapp.auth import current_user
from cti.webapp.errors import HttpError
from cti.webapp.keys import RECORDINGS, STORE
from cti.webapp.templating import file_size

PEAKS_MAX = 2000
#: Recording status → its label, and what the call page says when there is nothing to play.
REC_LABELS = {"pending": "Recording…", "ok": "Available", "missing": "File missing",
              "corrupt": "File damaged", "deleted": "Deleted (retention)",
              "dropped": "Not kept (unanswered)"}
REC_HELP = {"missing": "The file is not where the PBX wrote it: check the recordings folder.",
            "corrupt": "The file is damaged or truncated and cannot be played.",
            "deleted": "Deleted by the retention rule.",
            "dropped": "A partial recording of an unanswered call, not kept."}


def talked_in_record(call: dict[str, Any]) -> set[str]:
    """Extensions that were connected on a finished call: the answerer, the one who placed
    an outbound or internal call, both ends of each transfer (rung-only phones excluded)."""
    found = {call["extension"]} if call.get("extension") else set()
    if call.get("direction") in ("outbound", "internal"):
        number = (call.get("caller") or {}).get("number")
        if number:
            found.add(number)
    for t in call.get("transfers") or ():
        found.update(x for x in (t.get("from"), t.get("to")) if x)
    return found


async def recording_for(request: web.Request) -> tuple[User, Recording]:
    """The recording of the URL, if this person may hear it; else 404/403."""
    user = current_user(request)
    try:
        recording = await request.app[RECORDINGS].get(int(request.match_info["id"]))
    except (NotFound, ValueError):
        raise HttpError(404, "No such recording.", code="not_found") from None
    if user.at_least("supervisor"):
        return user, recording
    call = (await request.app[STORE].get_call(recording.pbx, recording.call_id)
            if recording.call_id else None)
    if call is None or not talked_in_record(call) & set(user.extensions):
        raise HttpError(403, "Only the agents who were on the call may listen to it.")
    return user, recording


async def _audit(request: web.Request, user: User, recording: Recording, action: str) -> None:
    await AuditLog(request.app[STORE]).record(AuditEntry(
        user.username, action, f"{recording.pbx}/{recording.call_id or ''}#{recording.id}",
        "ok", user_id=user.id, pbx=recording.pbx, ip=request.remote or ""))


def _starts_the_file(request: web.Request) -> bool:
    rng = request.headers.get("Range", "").replace(" ", "")
    return not rng or rng.startswith("bytes=0-")


async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /recordings/{id}`` (``?download=1`` for a file to save)."""
    user, recording = await recording_for(request)
    service = request.app[RECORDINGS]
    path = service.path(recording)
    if recording.status in ("missing", "deleted", "dropped") or not path.is_file():
        raise HttpError(410, "The recording file is missing.", code="missing")
    if recording.status == "corrupt":
        raise HttpError(410, "The recording file is damaged and cannot be played.",
                        code="corrupt")
    download = request.query.get("download") == "1"
    if download:
        await _audit(request, user, recording, "recording_download")
    elif _starts_the_file(request):
        await _audit(request, user, recording, "recording_play")
        await service.mark_listened(recording.id, user.username)
    response = web.FileResponse(path, headers={
        "Content-Type": recording.media_type,
        "Content-Disposition": f"{'attachment' if download else 'inline'}; "
                               f"filename*=UTF-8''{quote(recording.name)}",
        "Cache-Control": "private, no-store",
    })
    return response


async def api_recording(request: web.Request) -> web.StreamResponse:
    _, recording = await recording_for(request)
    return json_response(recording.to_json())


async def api_peaks(request: web.Request) -> web.StreamResponse:
    """``GET /api/recordings/{id}/peaks?n=`` — 0..1 levels for the waveform."""
    _, recording = await recording_for(request)
    try:
        n = int(request.query.get("n", "600"))
    except ValueError:
        raise HttpError(400, "n must be a number.", code="validation") from None
    if not 10 <= n <= PEAKS_MAX:
        raise HttpError(400, "n must be a number.", code="validation")
    if not recording.playable:
        return json_response({"id": recording.id, "status": recording.status, "peaks": []})
    peaks = await request.app[RECORDINGS].peaks(recording.id, n)
    return json_response({"id": recording.id, "status": recording.status, "peaks": peaks})


async def recordings_of_call(request: web.Request, call: dict[str, Any],
                             user: User) -> list[dict[str, Any]]:
    """A call's recordings as the call page shows them (``url`` only when this person may
    listen)."""
    service = request.app.get(RECORDINGS)
    if service is None:
        return []
    may = user.at_least("supervisor") or bool(talked_in_record(call) & set(user.extensions))
    rows = await service.for_call(call["pbx"], call["call_id"])
    known = {r.pbx_path for r in rows}
    for path in call.get("recordings") or ():
        if path and path not in known:  # logged before the recordings table (or a replay):
            row = await service.link(call["pbx"], call["call_id"], path, "event",  # link it now
                                     leg=leg_of(path))
            rows.append(await service.check(row))
    out = []
    for r in rows:
        item = r.to_json()
        item["url"] = f"/recordings/{r.id}" if may and r.playable else None
        out.append(item)
    return out


async def recordings_usage(request: web.Request) -> dict[str, Any] | None:
    """What the recordings take on disk, for supervisors (the call log's footer)."""
    service = request.app.get(RECORDINGS)
    if service is None:
        return None
    usage = await service.disk_usage()
    return {"count": int(usage["files"]),
            "files": f"{usage['files']:,}".replace(",", "\u202f"),
            "size": file_size(int(usage["bytes"]))}


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(r"/recordings/{id:\d+}", stream, name="recording")
    r.add_get(r"/api/recordings/{id:\d+}", api_recording, name="api_recording")
    r.add_get(r"/api/recordings/{id:\d+}/peaks", api_peaks, name="api_recording_peaks")
