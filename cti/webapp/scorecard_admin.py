"""``/admin/scorecard``: admins edit the quality rules (TOML) in the browser.

The text is checked by the same parser the worker uses (:meth:`Scorecard.from_toml`) before
it is saved; a mistake comes back with the message naming the queue, rule and field, and the
text as typed. Every save is a new version (table ``scorecards``): the newest is in force for
calls scored from then on (:meth:`QualityScorer.current`), the older ones stay listed.
Without any saved version the page starts from the scorecard in force (``speech.scorecard``
or the default shipped with cti).
"""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from cti.speech.scoring import DEFAULT_SCORECARD, Scorecard
from cti.webapp.auth import current_user, require_role
from cti.webapp.keys import CONFIG, STORE
from cti.webapp.templating import render

MAX_TEXT = 100_000
HISTORY = 20


async def _in_force(request: web.Request) -> str:
    row = await request.app[STORE].query_one(
        "SELECT text FROM scorecards ORDER BY id DESC LIMIT 1")
    if row is not None:
        return str(row["text"])
    path = request.app[CONFIG].get("speech.scorecard") or DEFAULT_SCORECARD
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_SCORECARD.read_text(encoding="utf-8")


async def _page(request: web.Request, text: str, *, error: str = "", saved: bool = False,
                status: int = 200) -> web.Response:
    history = await request.app[STORE].query(
        "SELECT id, saved_by, saved_at, note FROM scorecards ORDER BY id DESC LIMIT ?",
        (HISTORY,))
    return render(request, "admin_scorecard.html", {"text": text, "error": error,
                                                    "saved": saved, "history": history},
                  status=status)


@require_role("admin")
async def scorecard_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, await _in_force(request),
                       saved=request.query.get("saved") == "1")


@require_role("admin")
async def scorecard_save(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    text = form.get("text")
    note = form.get("note")
    text = text.replace("\r\n", "\n") if isinstance(text, str) else ""
    note = note.strip()[:200] if isinstance(note, str) else ""
    if not text.strip() or len(text) > MAX_TEXT:
        return await _page(request, text[:MAX_TEXT], error="The scorecard is empty or too long.",
                           status=400)
    try:
        Scorecard.from_toml(text)
    except ValueError as exc:  # ScorecardError (a ValueError) or a TOML syntax error
        return await _page(request, text, error=str(exc), status=400)
    user = current_user(request)
    await request.app[STORE].transaction(lambda tx: tx.execute(
        "INSERT INTO scorecards (text, saved_by, saved_at, note) VALUES (?, ?, ?, ?)",
        (text, user.username, time.time(), note)))
    raise web.HTTPSeeOther("/admin/scorecard?saved=1")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/scorecard", scorecard_page, name="admin_scorecard")
    app.router.add_post("/admin/scorecard", scorecard_save)
