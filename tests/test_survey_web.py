"""Survey results in the web UI over real loopback HTTP and a real SQLite store: a call's page
shows its answers to supervisors (and not to agents, page and JSON alike); ``/quality`` shows
each agent's surveys, response rate and averages, to supervisors only (403 for an agent)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.calls.model import CallRecord, Party
from cti.store.sqlite import Store
from cti.survey.store import Answer, SurveyStart, SurveyStore, survey_status
from cti.users import UserService
from tests.web_helpers import login, open_store, seed_users, serve_app

NOW = time.time() - 60

#: call id → (answering extension, extension the survey knew (None: unknown then), scores)
CALLS: dict[str, tuple[str, str | None, list[int | None]]] = {
    "c1": ("1001", "1001", [4, 5]),
    "c2": ("1001", "1001", [None, None]),
    "c3": ("1002", "1002", [2, None]),
    "c4": ("1002", None, [3, 3]),  # cti did not know the call when the survey began
}


async def add_survey(surveys: SurveyStore, call_id: str, agent: str | None,
                     scores: list[int | None]) -> None:
    survey_id = await surveys.start(SurveyStart("main", call_id, f"chan-{call_id}", "fr",
                                                agent=agent, did="0155512345"))
    assert survey_id is not None
    answers = [Answer(i, f"q{i}", s, 1 if s else 2, "answered" if s else "no_answer")
               for i, s in enumerate(scores, start=1)]
    for a in answers:
        await surveys.answer(survey_id, a)
    await surveys.finish(survey_id, survey_status(answers, True))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    for n, (call_id, (ext, known, scores)) in enumerate(CALLS.items()):
        await s.save_call(CallRecord(
            pbx="main", call_id=call_id, direction="inbound", status="answered", answered=True,
            caller=Party("+33612345678", ""), callee=Party("0155512345"), extension=ext,
            extensions_rung=(ext,), queue=None, started_at=NOW + n, answered_at=NOW + n + 3,
            ended_at=NOW + n + 60, hangup_cause="16"))
        await add_survey(SurveyStore(s), call_id, known, scores)
    old = SurveyStore(s, clock=lambda: NOW - 40 * 86400)  # never in "today"
    await add_survey(old, "c0", "1001", [1, 1])
    await s.flush()
    yield s
    await s.close()


@pytest.fixture
async def users(store: Store) -> UserService:
    service = UserService(store)
    await seed_users(service)
    return service


def row_of(page: str, extension: str) -> str:
    found = re.search(rf'<tr class="agent" data-extension="{extension}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {extension}"
    return found.group(1)


async def test_quality_shows_each_agents_survey_scores_to_supervisors(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "boss")
        data = await (await client.get("/api/quality", params={"period": "today"})).json()
        by_ext = {a["extension"]: a for a in data["surveys"]["agents"]}
        assert by_ext["1001"] == {
            "extension": "1001", "surveys": 2, "responses": 1, "response_rate": 50,
            "scores": 2, "average": 4.5, "questions": {"q1": 4.0, "q2": 5.0},
            "name": "Agent1", "username": "agent1"}
        # c4's survey did not know its agent: the call's row names 1002.
        assert (by_ext["1002"]["surveys"], by_ext["1002"]["responses"]) == (2, 2)
        assert by_ext["1002"]["average"] == 2.67 and by_ext["1002"]["questions"] == {
            "q1": 2.5, "q2": 3.0}
        assert data["surveys"]["questions"] == ["q1", "q2"]
        month = await (await client.get("/api/quality", params={"period": "month"})).json()
        assert {a["extension"] for a in month["surveys"]["agents"]} == {"1001", "1002"}

        resp = await client.get("/quality", params={"period": "today"},
                                headers={"Accept-Language": "en"})
        assert resp.status == 200
        page = await resp.text()
        assert 'id="surveys"' in page and "Satisfaction surveys" in page
        first = row_of(page[page.index('id="surveys"'):], "1001")
        assert "Agent1 (1001)" in first and "4.5/5" in first and "50 %" in first
        assert ">4.0<" in first and ">5.0<" in first
        assert "Answer received" in page and "Courtesy" in page
        fr = await (await client.get("/quality", headers={"Accept-Language": "fr"})).text()
        assert "Enquêtes de satisfaction" in fr and "Taux de réponse" in fr


async def test_quality_survey_scores_are_refused_to_agents(store: Store,
                                                           users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        assert (await client.get("/quality")).status == 403
        assert (await client.get("/api/quality")).status == 403


async def test_the_call_page_shows_the_answers_to_supervisors_only(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "boss")
        page = await (await client.get("/calls/main/c3",
                                       headers={"Accept-Language": "en"})).text()
        section = page[page.index('id="survey"'):]
        assert "Satisfaction survey" in section and "Partly answered" in section
        answers = re.findall(r'<tr class="answer result-(\w+)" data-question="(\w+)">'
                             r'<td>([^<]*)</td><td class="num score">([^<]*)</td>', section)
        assert answers == [("answered", "q1", "Answer received", "2/5"),
                           ("no_answer", "q2", "Courtesy", "—")]
        data = await (await client.get("/api/calls/main/c4")).json()
        survey = data["survey"]
        assert (survey["status"], survey["agent"], survey["average"]) == ("completed", "1002",
                                                                          3.0)
        assert [(a["question"], a["score"]) for a in survey["answers"]] == [("q1", 3),
                                                                           ("q2", 3)]
        fr = await (await client.get("/calls/main/c1", headers={"Accept-Language": "fr"})).text()
        assert "Enquête de satisfaction" in fr and "Réponse obtenue" in fr

        await login(client, "agent1")  # answered c1, whose survey this is
        resp = await client.get("/calls/main/c1")
        assert resp.status == 200 and 'id="survey"' not in await resp.text()
        assert (await (await client.get("/api/calls/main/c1")).json())["survey"] is None
