"""Scoring a call once all its recordings are transcribed: metrics, the scorecard of its queue,
the result saved in ``call_quality``, keyword alerts handed to the live hooks.

Speakers: per-party files (``rx``/``tx``) give agent and caller tracks; a mixed file gives one
``mixed`` track (rules asking for a speaker then accept anybody, and the talk ratio is
skipped — see :mod:`cti.speech.scoring`). Variables for the rules: ``client`` (the call's
linked client: full name and surname, as people say them) and ``company``
(``speech.company``). The scorecard is read once (``speech.scorecard``, else the default
shipped with cti); its evaluation is CPU work, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cti.speech.metrics import AGENT, CALLER, MIXED, TimedWord, metrics
from cti.speech.scoring import DEFAULT_SCORECARD, Result, Scorecard, name_forms
from cti.speech.worker import jobs
from cti.store.sqlite import Store

log = logging.getLogger(__name__)

#: ``(pbx, call_id, alerts as JSON)`` — e.g. the websocket notice to supervisors.
AlertHook = Callable[[str, str, list[dict[str, Any]]], None]


def load_scorecard(path: str | Path | None) -> Scorecard:
    """The configured scorecard, else the default; a bad file stops start-up with the
    :class:`~cti.speech.scoring.ScorecardError` naming the rule and field."""
    return Scorecard.from_toml(Path(path or DEFAULT_SCORECARD).read_text(encoding="utf-8"))


def words_of(transcripts: list[dict[str, Any]]) -> list[TimedWord]:
    out: list[TimedWord] = []
    for t in transcripts:
        speaker = t["speaker"] if t["speaker"] in (AGENT, CALLER) else MIXED
        for w in t["words"]:
            try:
                out.append(TimedWord(str(w["text"]), float(w["start"]), float(w["end"]),
                                     speaker, float(w.get("conf", 1.0))))
            except (KeyError, TypeError, ValueError):
                continue  # a malformed word is dropped, not the call
    out.sort(key=lambda w: (w.start, w.end))
    return out


class QualityScorer:
    def __init__(self, store: Store, scorecard: Scorecard, *, company: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.scorecard = scorecard
        self.company = company
        self.clock = clock
        self.alert_hooks: list[AlertHook] = []
        self.scored = 0
        self._edited: tuple[int, Scorecard] | None = None

    async def current(self) -> Scorecard:
        """The scorecard in force: the newest one an admin saved in the UI, else the file's
        (``speech.scorecard``) or the default. Read once per version."""
        row = await self.store.query_one("SELECT id, text FROM scorecards ORDER BY id DESC "
                                         "LIMIT 1")
        if row is None:
            return self.scorecard
        if self._edited is None or self._edited[0] != row["id"]:
            try:
                self._edited = (int(row["id"]), Scorecard.from_toml(str(row["text"])))
            except ValueError:  # checked when saved; a hand-edited row must not stop scoring
                log.exception("speech: scorecard version %s is invalid; using the file's",
                              row["id"])
                return self.scorecard
        return self._edited[1]

    async def score_call(self, pbx: str, call_id: str) -> Result | None:
        transcripts = await jobs.transcripts_of_call(self.store, pbx, call_id)
        if not transcripts:
            return None
        call = await self.store.query_one(
            "SELECT queue, extension, direction, caller_number FROM calls "
            "WHERE pbx = ? AND call_id = ?", (pbx, call_id))
        client = await self.store.query_one(
            "SELECT c.name FROM call_clients cc JOIN clients c ON c.id = cc.client_id "
            "WHERE cc.pbx = ? AND cc.call_id = ? ORDER BY cc.at LIMIT 1", (pbx, call_id))
        variables: dict[str, Any] = {}
        if client is not None and not str(client["name"]).startswith("+"):
            variables["client"] = name_forms(str(client["name"]))
        if self.company:
            variables["company"] = self.company
        words = words_of(transcripts)
        duration = max((float(t["duration"] or 0) for t in transcripts), default=0.0)
        card = (await self.current()).for_queue(call["queue"] if call else None)

        def evaluate() -> tuple[Result, dict[str, Any]]:
            measured = metrics(words, duration)
            return card.evaluate(words, measured, variables), measured.to_json()

        result, measured = await asyncio.to_thread(evaluate)
        agent = (call["extension"] or (call["caller_number"] if call["direction"] != "inbound"
                                       else None)) if call else None
        now = self.clock()
        data = result.to_json()
        await self.store.transaction(lambda tx: tx.execute(
            "INSERT INTO call_quality (pbx, call_id, scorecard, score, result, metrics, agent, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (pbx, call_id) DO UPDATE SET scorecard = excluded.scorecard, "
            "score = excluded.score, result = excluded.result, metrics = excluded.metrics, "
            "agent = excluded.agent, updated_at = excluded.updated_at",
            (pbx, call_id, result.scorecard, result.score,
             json.dumps(data, ensure_ascii=False), json.dumps(measured), agent, now, now)))
        self.scored += 1
        alerts = list(data.get("alerts") or [])
        if alerts:
            for hook in self.alert_hooks:
                try:
                    hook(pbx, call_id, alerts)
                except Exception:
                    log.exception("speech: alert hook failed for %s/%s", pbx, call_id)
        return result
