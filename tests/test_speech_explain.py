"""Rule explanations in the reader's language: every explanation a rule can give is a template
of :data:`cti.speech.explain.TEMPLATES` with a French entry carrying the same placeholders; the
French rendering keeps what was said as recognised (never translated); stored trees survive
JSON; damaged or old rows fall back to the stored English sentence; a call page in French
shows the French explanation and in English the English one."""

from __future__ import annotations

import html
import json
import string
from collections.abc import Iterator
from typing import Any

from cti.speech.explain import TEMPLATES, T, Text
from cti.speech.scoring import Result
from cti.webapp.i18n import FR, translator
from tests.test_quality_pages import recordings, store, users  # noqa: F401 (fixtures)
from tests.test_scoring import (
    CALL,
    CLOSING,
    GREETING,
    IDENTIFY,
    NAME,
    REQUEST,
    call,
    evaluate,
    rule,
    say,
)
from tests.web_helpers import login, serve_app

FRENCH = translator("fr")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _templates(node: dict[str, Any]) -> Iterator[str]:
    yield node["t"]
    for value in node["a"].values():
        if isinstance(value, dict):
            yield from _templates(value)


def _results() -> list[Result]:
    """Scenarios that take every branch of every rule type: passes, fails, skips."""
    silent = call(GREETING, REQUEST, say("agent", 40.0, "sorry"), CLOSING)
    rude = call(CALL, say("agent", 30.0, "shut up stupid not my problem stupid shut up stupid"))
    return [evaluate(CALL), evaluate(silent), evaluate(rude), evaluate(call(REQUEST, NAME)),
            evaluate([]), evaluate(call(IDENTIFY), variables={}),
            evaluate(call(GREETING), duration=2.0)]


def test_every_explanation_is_a_known_template_with_a_french_twin() -> None:
    seen: set[str] = set()
    for result in _results():
        for r in result.to_json()["rules"]:
            seen |= set(_templates(r["explain"]))
            for e in r["evidence"]:
                if e["note_t"]:
                    seen |= set(_templates(e["note_t"]))
    assert len(seen) >= 15  # the scenarios really went through the branches
    assert sorted(seen - set(TEMPLATES)) == []
    for template in TEMPLATES:
        assert template in FR, template
        assert _fields(FR[template]) == _fields(template), template


def test_a_missing_greeting_reads_in_french_with_the_phrases_as_said() -> None:
    r = rule(evaluate(call(REQUEST, NAME)), "greeting")
    assert not r.passed
    fr = r.explain.render(FRENCH)
    assert fr.startswith("introuvable : l'agent n'a dit aucune de ces phrases : ")
    assert '"thank you for calling Acme"' in fr  # the phrase itself, untranslated
    assert "dans les 15 premières s" in fr and "(similarité ≥ 0.80)" in fr
    assert "not found" not in fr and "the agent" not in fr
    assert r.detail.startswith("not found: the agent said none of")  # English for the logs


def test_text_round_trips_through_json_and_refuses_garbage() -> None:
    text = T("{a}; {b}", a=T("in the first {seconds:g} s", seconds=15), b="x")
    back = Text.from_json(json.loads(json.dumps(text.to_json())))
    assert back == text and back is not None and back.render() == "in the first 15 s; x"
    for bad in (None, "text", {"t": 3}, {"t": "{a}", "a": [1]}, {"t": "{a}", "a": {"a": [1]}},
                {"t": "{a}", "a": {"a": {"t": None}}}):
        assert Text.from_json(bad) is None


def test_a_broken_translation_falls_back_to_english() -> None:
    text = T("between {start} and {end}", start="0:01", end="0:05")
    assert text.render(lambda _: "entre {debut} et {fin}") == "between 0:01 and 0:05"
    assert text.render(FRENCH) == "entre 0:01 et 0:05"


async def test_the_call_page_explains_in_the_readers_language(
        store: Any, users: Any, recordings: Any) -> None:  # noqa: F811
    async with serve_app(store, users=users, recordings=recordings) as client:
        await login(client, "boss")
        fr = html.unescape(await (await client.get("/calls/main/c2?lang=fr",
                                                   headers={"Accept-Language": "fr"})).text())
        assert "introuvable : l'agent n'a dit aucune de ces phrases" in fr
        assert "not found:" not in fr
        en = html.unescape(await (await client.get(
            "/calls/main/c2", headers={"Accept-Language": "en"},
            cookies={"cti_lang": "en"})).text())
        assert "not found: the agent said none of" in en
        # a result stored before explanations were trees: its English sentence is shown
        row = await store.query_one("SELECT result FROM call_quality WHERE call_id = 'c2'")
        result = json.loads(row["result"])
        for r in result["rules"]:
            r.pop("explain", None)
            r["detail"] = f"legacy {r['name']}"
        await store.transaction(lambda tx: tx.execute(
            "UPDATE call_quality SET result = ? WHERE call_id = 'c2'", (json.dumps(result),)))
        old = html.unescape(await (await client.get("/calls/main/c2")).text())
        assert "legacy greeting" in old
