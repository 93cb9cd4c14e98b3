"""``/admin/scorecard`` over real HTTP on a real SQLite file: admins see the scorecard in force,
a mistake is refused with the parser's message naming the rule and field (text kept, nothing
saved), a valid one becomes the version in force — the scorer uses it for the next call —;
supervisors and agents get 403; CSRF required."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.speech.scoring import DEFAULT_SCORECARD
from cti.speech.worker.quality import QualityScorer, load_scorecard
from cti.store.sqlite import Store
from cti.users import UserService
from tests.web_helpers import hidden, login, seed_users, serve_app

GOOD = ('[global.greeting]\ntype = "required_phrase"\nphrases = ["bonjour"]\n'
        'speaker = "agent"\nwindow = {start = 0, end = 10}\n')
BAD = GOOD.replace("end = 10", "end = -5")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


async def test_admins_edit_the_scorecard_with_clear_refusals(store: Store) -> None:
    await seed_users(UserService(store))
    scorer = QualityScorer(store, load_scorecard(None))
    assert {r.name for r in (await scorer.current()).rules} >= {"greeting", "closing"}
    async with serve_app(store) as http:
        for who in ("agent1", "boss"):
            await login(http, who)
            assert (await http.get("/admin/scorecard")).status == 403
        csrf = await login(http, "root")
        page = await (await http.get("/admin/scorecard")).text()
        assert "[global.greeting]" in page  # starts from the scorecard in force (default)
        assert DEFAULT_SCORECARD.read_text()[:40].split("\n")[0] in page
        no_token = await http.post("/admin/scorecard", data={"text": GOOD})
        assert no_token.status == 403
        refused = await http.post("/admin/scorecard", data={"text": BAD, "csrf_token": csrf})
        assert refused.status == 400
        text = await refused.text()
        assert "greeting" in text and "window" in text and "end = -5" in text
        assert await store.query("SELECT id FROM scorecards") == []
        garbage = await http.post("/admin/scorecard", data={"text": "[[[", "csrf_token": csrf})
        assert garbage.status == 400
        saved = await http.post("/admin/scorecard", data={"text": GOOD, "note": "plus court",
                                                          "csrf_token": hidden(page,
                                                                               "csrf_token")},
                                allow_redirects=False)
        assert saved.status == 303
        after = await (await http.get("/admin/scorecard?saved=1")).text()
        assert "plus court" in after and 'phrases = [&#34;bonjour&#34;]' in after
    assert [r.name for r in (await scorer.current()).rules] == ["greeting"]  # in force now
