"""Satisfaction surveys in the web UI: a call's answers on its page, per-agent scores on
``/quality``.

Who sees them: supervisors and admins, like the quality averages of ``/quality`` (where the
per-agent scores sit). An agent sees neither their own nor a colleague's survey — not in the
call page, not in its JSON (``/api/calls/{pbx}/{id}``): what a caller says of an agent is
their supervisor's to read, and the quality page itself is a supervisor page.

Question ids come from ``survey.questions``; the default ones (``q1``–``q3``) have a label
(what the shipped prompt asks, :mod:`cti.survey.prompts`), others are shown as they are.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cti.calls.model import iso_utc
from cti.survey.store import SurveyStore
from cti.users import User
from cti.webapp.keys import STORE

#: What the shipped prompts ``survey-q1``… ask, as a column or row heading.
QUESTION_LABELS = {"q1": "Answer received", "q2": "Courtesy", "q3": "Would recommend"}
STATUS_LABELS = {"running": "In progress", "completed": "Completed",
                 "partial": "Partly answered", "no_answer": "No answer",
                 "abandoned": "Caller hung up"}
RESULT_LABELS = {"answered": "Answered", "invalid": "Wrong key", "no_answer": "No answer"}


def may_see_surveys(user: User) -> bool:
    return user.at_least("supervisor")


def question_label(qid: str) -> str:
    return QUESTION_LABELS.get(qid, qid)


async def survey_of_call(request: web.Request, call: dict[str, Any],
                         user: User) -> dict[str, Any]:
    """``{"survey": …}`` for the call page and its JSON: None when there is none or the
    viewer may not see it."""
    if not may_see_surveys(user):
        return {"survey": None}
    row = await SurveyStore(request.app[STORE]).of_call(str(call["pbx"]), str(call["call_id"]))
    if row is None:
        return {"survey": None}
    answers = [{"position": a["position"], "question": a["question"],
                "label": question_label(str(a["question"])), "score": a["score"],
                "attempts": a["attempts"], "result": a["result"],
                "result_label": RESULT_LABELS.get(str(a["result"]), str(a["result"])),
                "answered_at": iso_utc(a["answered_at"])} for a in row["answers"]]
    scores = [int(a["score"]) for a in answers if a["score"] is not None]
    return {"survey": {
        "status": row["status"], "status_label": STATUS_LABELS.get(row["status"], row["status"]),
        "agent": row["agent"], "queue": row["queue"], "did": row["did"],
        "language": row["language"], "started_at": iso_utc(row["started_at"]),
        "ended_at": iso_utc(row["ended_at"]), "answers": answers,
        "average": round(sum(scores) / len(scores), 1) if scores else None}}


async def survey_by_agent(request: web.Request, since: float | None, until: float | None,
                          people: dict[str, User]) -> dict[str, Any]:
    """Per agent extension over ``[since, until)`` (None: unbounded): surveys, responses,
    response rate, average score and per-question averages (``people``: extension → user,
    for names)."""
    rows = await SurveyStore(request.app[STORE]).by_agent(
        0.0 if since is None else since, float("inf") if until is None else until)
    questions: list[str] = []
    for row in rows:
        for q in row["questions"]:
            if q not in questions:
                questions.append(q)
        person = people.get(row["extension"])
        row["name"] = person.label if person is not None else ""
        row["username"] = person.username if person is not None else None
    return {"agents": rows, "questions": questions,
            "question_labels": {q: question_label(q) for q in questions}}
