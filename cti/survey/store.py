"""Surveys and their answers in SQLite (tables of :mod:`cti.store.survey_schema`).

Writes go through ``Store.transaction`` (the store's one writer), reads through
``Store.query``. Each answer is written when it is given, so what a caller said survives them
hanging up, and a daemon restart loses at most the question being asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cti.store.sqlite import Store
from cti.store.tx import Tx


@dataclass(frozen=True, slots=True)
class SurveyStart:
    """What is known of the call when its caller reaches the survey."""

    pbx: str
    call_id: str
    channel: str
    language: str
    agent: str | None = None
    queue: str | None = None
    did: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    position: int  # 1-based, order asked
    question: str
    score: int | None
    attempts: int
    result: str  # answered, invalid, no_answer


def survey_status(answers: list[Answer], finished: bool) -> str:
    """``abandoned`` when the caller left before the last question had its result, else
    ``completed`` (every question scored), ``no_answer`` (none) or ``partial``."""
    if not finished:
        return "abandoned"
    scored = sum(1 for a in answers if a.score is not None)
    if scored == len(answers):
        return "completed"
    return "no_answer" if scored == 0 else "partial"


class SurveyStore:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # ------------------------------------------------------------------ writing
    async def start(self, s: SurveyStart) -> int | None:
        """A new running survey; None when the call already has one (asked once per call)."""

        async def work(tx: Tx) -> int | None:
            await tx.execute(
                "INSERT OR IGNORE INTO surveys (pbx, call_id, channel, agent, queue, did, "
                "language, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                (s.pbx, s.call_id, s.channel, s.agent, s.queue, s.did, s.language,
                 self.clock()))
            if not await tx.changes():
                return None
            rows = await tx.fetch("SELECT id FROM surveys WHERE pbx = ? AND call_id = ?",
                                  (s.pbx, s.call_id))
            return int(rows[0]["id"])

        return await self.store.transaction(work)

    async def answer(self, survey_id: int, a: Answer) -> None:
        at = self.clock() if a.score is not None else None

        async def work(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO survey_answers (survey_id, position, question, score, attempts, "
                "result, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (survey_id, position) DO UPDATE SET score = excluded.score, "
                "attempts = excluded.attempts, result = excluded.result, "
                "answered_at = excluded.answered_at",
                (survey_id, a.position, a.question, a.score, a.attempts, a.result, at))

        await self.store.transaction(work)

    async def finish(self, survey_id: int, status: str) -> None:
        now = self.clock()

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE surveys SET status = ?, ended_at = ? "
                             "WHERE id = ? AND status = 'running'", (status, now, survey_id))

        await self.store.transaction(work)

    async def fill_from_call(self, pbx: str, call_id: str, agent: str | None,
                             queue: str | None, did: str | None) -> int:
        """Fill what was unknown when the survey started from the call's record (never
        overwrite what the live call said). Returns the rows changed (0 or 1)."""

        async def work(tx: Tx) -> int:
            await tx.execute(
                "UPDATE surveys SET agent = COALESCE(agent, ?), queue = COALESCE(queue, ?), "
                "did = COALESCE(did, ?) WHERE pbx = ? AND call_id = ? "
                "AND (agent IS NULL OR queue IS NULL OR did IS NULL)",
                (agent or None, queue or None, did or None, pbx, call_id))
            return await tx.changes()

        return await self.store.transaction(work)

    async def close_orphans(self) -> int:
        """Surveys left ``running`` by a process that stopped: the caller is long gone."""
        now = self.clock()

        async def work(tx: Tx) -> int:
            await tx.execute("UPDATE surveys SET status = 'abandoned', ended_at = ? "
                             "WHERE status = 'running'", (now,))
            return await tx.changes()

        return await self.store.transaction(work)

    # ------------------------------------------------------------------ reading
    async def of_call(self, pbx: str, call_id: str) -> dict[str, Any] | None:
        """The call's survey with its answers in the order asked, or None. ``agent`` falls
        back on the call row's extension (a survey started while cti did not know the call,
        whose record came after)."""
        row = await self.store.query_one(
            "SELECT s.*, COALESCE(s.agent, c.extension) AS agent_ext FROM surveys s "
            "LEFT JOIN calls c ON c.pbx = s.pbx AND c.call_id = s.call_id "
            "WHERE s.pbx = ? AND s.call_id = ?", (pbx, call_id))
        if row is None:
            return None
        answers = await self.store.query(
            "SELECT position, question, score, attempts, result, answered_at "
            "FROM survey_answers WHERE survey_id = ? ORDER BY position", (row["id"],))
        return {**{k: v for k, v in row.items() if k != "agent_ext"},
                "agent": row["agent_ext"], "answers": answers}

    async def by_agent(self, since: float, until: float) -> list[dict[str, Any]]:
        """Per agent extension, surveys started in ``[since, until)`` and not running:
        ``surveys`` offered, ``responses`` (with at least one score), ``response_rate`` (%),
        ``scores`` given, ``average`` of every score, and ``questions``: id → average."""
        rows = await self.store.query(
            "SELECT s.id, COALESCE(s.agent, c.extension, '') AS agent, a.question, a.score "
            "FROM surveys s LEFT JOIN calls c ON c.pbx = s.pbx AND c.call_id = s.call_id "
            "LEFT JOIN survey_answers a ON a.survey_id = s.id "
            "WHERE s.started_at >= ? AND s.started_at < ? AND s.status != 'running' "
            "ORDER BY agent, s.id, a.position", (since, until))
        agents: dict[str, dict[str, Any]] = {}
        for r in rows:
            a = agents.setdefault(str(r["agent"]), {"surveys": set(), "responded": set(),
                                                    "scores": [], "questions": {}})
            a["surveys"].add(r["id"])
            if r["score"] is not None:
                a["responded"].add(r["id"])
                a["scores"].append(int(r["score"]))
                a["questions"].setdefault(str(r["question"]), []).append(int(r["score"]))
        out = []
        for ext, a in sorted(agents.items()):
            scores: list[int] = a["scores"]
            out.append({
                "extension": ext, "surveys": len(a["surveys"]),
                "responses": len(a["responded"]),
                "response_rate": round(100 * len(a["responded"]) / len(a["surveys"])),
                "scores": len(scores),
                "average": round(sum(scores) / len(scores), 2) if scores else None,
                "questions": {q: round(sum(v) / len(v), 2)
                              for q, v in sorted(a["questions"].items())}})
        return out
