"""Survey results in a real headless Chromium on the whole product (simulator, daemon, web):
the supervisor reads an agent's average satisfaction on /quality and the caller's answers on
the call's page; the agent is refused /quality."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.calls.model import CallEnded
from cti.survey.store import Answer, SurveyStart, SurveyStore
from cti.users import UserService
from tests.browser import ARTIFACTS, Stack, chromium_page, log_in, product, require_browser
from tests.test_survey import call_events

require_browser()

CALL_ID = "1795444272.132"  # inbound_answered, answered by 1001


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with product(tmp_path, **{"speech.enabled": False}) as stack:
        store = stack.daemon.store
        assert store is not None
        users = UserService(store)
        await users.create("boss", "boss-secret!", "supervisor", [])
        await users.create("agent1", "agent1-secret", "agent", ["1001"],
                           display_name="Alice Martin")
        record = next(e for e in call_events("inbound_answered")
                      if isinstance(e, CallEnded)).record
        await store.save_call(record)
        await store.flush()
        surveys = SurveyStore(store)
        survey_id = await surveys.start(SurveyStart("default", CALL_ID, "c1", "fr",
                                                    agent="1001", did="0155512345"))
        assert survey_id is not None
        await surveys.answer(survey_id, Answer(1, "q1", 4, 1, "answered"))
        await surveys.answer(survey_id, Answer(2, "q2", 5, 2, "answered"))
        await surveys.finish(survey_id, "completed")
        yield stack


async def test_a_supervisor_reads_the_agents_average_and_the_callers_answers(
        stack: Stack) -> None:
    base = stack.web.url
    async with chromium_page(locale="en-US") as (page, errors):
        await log_in(page, base, "boss", "boss-secret!")
        await page.goto(f"{base}/quality?period=today")
        row = page.locator('#surveys tr.agent[data-extension="1001"]')
        assert await row.locator("td").first.inner_text() == "Alice Martin (1001)"
        assert await row.locator("td.average").inner_text() == "4.5/5"
        assert await row.locator("td.rate").inner_text() == "100 %"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "survey-quality.png"), full_page=True)

        await page.goto(f"{base}/calls/default/{CALL_ID}")
        survey = page.locator("#survey")
        assert "Completed" in await survey.locator("h2").inner_text()
        assert await survey.locator("td.score").all_inner_texts() == ["4/5", "5/5"]
        assert errors == []

    async with chromium_page(locale="en-US") as (page, errors):
        await log_in(page, base, "agent1", "agent1-secret")
        response = await page.goto(f"{base}/quality")
        assert response is not None and response.status == 403
        await page.goto(f"{base}/calls/default/{CALL_ID}")
        assert await page.locator("#survey").count() == 0
