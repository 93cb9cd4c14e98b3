"""Speech analytics, the pure part: call metrics from word timings, scorecards read from TOML,
and their evaluation on hand-built transcripts with the errors real engines make ("acme" heard
as "acne", "thank you" as "thank your", "Dupont" as "dupond")."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.speech.matching import Variables, normalise
from cti.speech.scoring import (
    DEFAULT_SCORECARD,
    Result,
    RuleResult,
    Scorecard,
    ScorecardError,
    TimedWord,
    merge_speakers,
    metrics,
    name_forms,
    single_track,
)

VARS = {"client": name_forms("Marie Dupont"), "company": "Acme"}


def say(speaker: str, start: float, text: str, step: float = 0.4) -> list[TimedWord]:
    """Words spoken one every ``step`` seconds, each lasting 0.3 s."""
    return [TimedWord(w, round(start + i * step, 3), round(start + i * step + 0.3, 3), speaker)
            for i, w in enumerate(text.split())]


def call(*parts: list[TimedWord]) -> list[TimedWord]:
    return sorted((w for p in parts for w in p), key=lambda w: w.start)


GREETING = say("agent", 0.8, "thank you for calling acne my name is Paul how can I help")
REQUEST = say("caller", 5.0, "hello yes I have a problem with my invoice")
IDENTIFY = say("agent", 9.0, "may I have your name please")
NAME = say("caller", 11.5, "Marie Dupont")
MIDDLE = say("agent", 13.0, "thank you madame dupond so if I understand correctly the invoice "
             "is wrong let me check")
WAIT = say("caller", 20.5, "okay I will wait")
CLOSING = say("agent", 52.0, "it is corrected thank your for calling have a nice day goodbye")
CALL = call(GREETING, REQUEST, IDENTIFY, NAME, MIDDLE, WAIT, CLOSING)
DURATION = 60.0

CARD = """
name = "test"

[global.greeting]
type = "required_phrase"
weight = 30
speaker = "agent"
window = {start = 0, end = 15}
phrases = ["thank you for calling {company}", "welcome to {company}", "{company} bonjour"]

[global.client_name]
type = "required_phrase"
weight = 10
phrases = ["{client}"]

[global.closing]
type = "required_phrase"
weight = 30
window = {last = 30}
phrases = ["thank you for calling", "au revoir", "goodbye"]

[global.courtesy]
type = "forbidden_words"
weight = 10
words = ["shut up", "stupid", "not my problem"]

[global.max_silence]
type = "max_silence"
weight = 10
seconds = 10

[global.talk_ratio]
type = "talk_ratio"
weight = 10
min = 0.3
max = 0.8

[global.refund]
type = "keyword_alert"
keywords = ["refund", "money back"]
speaker = "caller"
severity = "warning"

[global.lawyer]
type = "keyword_alert"
keywords = ["lawyer", "avocat"]
severity = "critical"
"""


def evaluate(words: list[TimedWord], duration: float = DURATION, card: str = CARD,
             variables: Variables | None = None) -> Result:
    sc = Scorecard.from_toml(card)
    return sc.evaluate(words, metrics(words, duration), VARS if variables is None else variables)


def rule(result: Result, name: str) -> RuleResult:
    return next(r for r in result.rules if r.name == name)


# --- matching -----------------------------------------------------------------------------------

def test_normalise_lowercases_strips_accents_and_punctuation() -> None:
    assert normalise("Merci d'avoir appelé, Œuvre à Noël!") == "merci d avoir appele oeuvre a noel"
    assert normalise("  Mulțumesc -- ACME...") == "multumesc acme"


def test_name_forms_give_full_name_and_surname() -> None:
    assert name_forms("Marie Dupont") == ("Marie Dupont", "Dupont")
    assert name_forms("Dupont") == ("Dupont",)
    assert name_forms("  ") == ()


# --- required phrases ---------------------------------------------------------------------------

def test_greeting_with_misrecognised_company_passes_with_time_and_quote() -> None:
    r = rule(evaluate(CALL), "greeting")
    assert r.passed and not r.skipped
    (ev,) = r.evidence
    assert ev.quote == "thank you for calling acne"
    assert ev.speaker == "agent"
    assert ev.start == pytest.approx(0.8)
    assert ev.end == pytest.approx(0.8 + 4 * 0.4 + 0.3)
    assert "thank you for calling Acme" in str(ev.note)
    assert "0:00.8" in r.detail


def test_missing_greeting_fails_saying_what_was_looked_for_and_where() -> None:
    words = call(say("agent", 0.8, "yes what do you want"), REQUEST, IDENTIFY, NAME, MIDDLE,
                 CLOSING)
    r = rule(evaluate(words), "greeting")
    assert not r.passed
    assert "not found" in r.detail
    assert '"thank you for calling Acme"' in r.detail and '"welcome to Acme"' in r.detail
    assert "the agent" in r.detail and "in the first 15 s" in r.detail
    # the closest thing the agent said in the window is quoted, with its time
    (ev,) = r.evidence
    assert ev.speaker == "agent" and ev.start < 15
    assert ev.quote in r.detail and "closest" in str(ev.note)


def test_greeting_said_by_the_caller_does_not_count_for_the_agent() -> None:
    words = call(say("caller", 0.5, "welcome to acme"), REQUEST, MIDDLE, CLOSING)
    assert not rule(evaluate(words), "greeting").passed


def test_greeting_after_the_window_fails() -> None:
    words = call(REQUEST, say("agent", 20.0, "thank you for calling acme"), CLOSING)
    r = rule(evaluate(words), "greeting")
    assert not r.passed
    assert r.evidence == ()  # the agent said nothing in the first 15 s
    assert "said nothing there" in r.detail


def test_closing_counts_only_in_the_last_30_seconds() -> None:
    good = rule(evaluate(CALL), "closing")
    assert good.passed
    assert good.evidence[0].quote == "thank your for calling"
    assert good.evidence[0].start == pytest.approx(52.0 + 3 * 0.4)
    assert "last 30 s (from 0:30.0)" in good.detail
    # the same thanks early in a 3-minute call are not a closing
    r = rule(evaluate(CALL, duration=180.0), "closing")
    assert not r.passed
    assert "last 30 s (from 2:30.0)" in r.detail


def test_client_name_comes_from_the_variable_and_tolerates_errors() -> None:
    r = rule(evaluate(CALL), "client_name")
    assert r.passed
    assert r.evidence[0].quote == "dupond"
    assert r.evidence[0].speaker == "agent"  # the caller saying her own name does not count
    other = rule(evaluate(CALL, variables={"client": "Jean Martin", "company": "Acme"}),
                 "client_name")
    assert not other.passed


def test_rule_needing_a_missing_variable_is_skipped_and_left_out_of_the_score() -> None:
    with_client = evaluate(CALL)
    without = evaluate(CALL, variables={"company": "Acme"})
    r = rule(without, "client_name")
    assert r.skipped and not r.passed
    assert "{client}" in r.detail
    # both fail max_silence (weight 10): 90 of 100, and 80 of the 90 applicable
    assert with_client.score == 90.0
    assert without.score == pytest.approx(round(100 * 80 / 90, 1))


# --- forbidden words, silence, ratio ------------------------------------------------------------

def test_forbidden_words_fail_with_the_quote() -> None:
    words = call(CALL, say("agent", 30.0, "that is not my problem sorry"))
    r = rule(evaluate(words), "courtesy")
    assert not r.passed
    (ev,) = r.evidence
    assert ev.quote == "not my problem" and ev.start == pytest.approx(30.8)
    assert '"not my problem" at 0:30.8' in r.detail
    assert rule(evaluate(CALL), "courtesy").passed


def test_forbidden_words_said_by_the_caller_are_not_the_agents_fault() -> None:
    words = call(CALL, say("caller", 30.0, "this is stupid"))
    assert rule(evaluate(words), "courtesy").passed


def test_max_silence_fails_with_the_silence_and_the_words_before_it() -> None:
    # in CALL nobody speaks from the end of the caller's "okay I will wait" to 52 s
    r = rule(evaluate(CALL), "max_silence")
    assert not r.passed
    (ev,) = r.evidence
    assert ev.start == pytest.approx(20.5 + 3 * 0.4 + 0.3)
    assert ev.end == pytest.approx(52.0)
    assert (ev.speaker, ev.quote) == ("caller", "okay I will wait")
    assert "longest silence 30.0 s from 0:22.0 to 0:52.0" in r.detail
    assert "over the 10 s limit" in r.detail


def test_talk_ratio_band() -> None:
    agent_only = call(GREETING, MIDDLE, CLOSING)
    r = rule(evaluate(agent_only), "talk_ratio")
    assert not r.passed and "100%" in r.detail
    assert rule(evaluate(CALL), "talk_ratio").passed


# --- alerts -------------------------------------------------------------------------------------

def test_refund_alert_by_the_caller_with_time_and_words() -> None:
    words = call(CALL, say("caller", 21.0, "I want a refund or I call my layer"))
    result = evaluate(words)
    refund = [a for a in result.alerts if a.rule == "refund"]
    assert len(refund) == 1
    a = refund[0]
    assert (a.speaker, a.quote, a.severity) == ("caller", "refund", "warning")
    assert a.start == pytest.approx(22.2)
    lawyer = [a for a in result.alerts if a.rule == "lawyer"]
    assert [(a.quote, a.severity) for a in lawyer] == [("layer", "critical")]
    # alerts never change the score
    assert result.score == evaluate(call(CALL, say("caller", 21.0, "I want a new one or I "
                                                   "call my boss"))).score


def test_alert_restricted_to_the_caller_ignores_the_agent() -> None:
    words = call(CALL, say("agent", 21.0, "I can refund you"))
    assert [a for a in evaluate(words).alerts if a.rule == "refund"] == []


# --- metrics ------------------------------------------------------------------------------------

def test_metrics_exact_on_constructed_timings() -> None:
    agent = [TimedWord("hello", 0.0, 0.4, "agent"), TimedWord("there", 0.5, 1.0, "agent"),
             TimedWord("right", 5.0, 5.5, "agent"), TimedWord("okay", 5.6, 6.0, "agent")]
    caller = [TimedWord("hi", 1.5, 2.0, "caller"), TimedWord("I", 2.2, 2.5, "caller"),
              TimedWord("need", 5.5, 6.5, "caller")]
    m = metrics(call(agent, caller), 30.0)
    assert m.talk_seconds == {"agent": pytest.approx(2.0), "caller": pytest.approx(2.0)}
    assert m.agent_ratio == pytest.approx(0.5)
    assert m.overtalk_seconds == pytest.approx(0.5)  # 5.5–6.0
    assert m.words_per_minute == {"agent": pytest.approx(120.0), "caller": pytest.approx(90.0)}
    # silences: 1.0–1.5, 2.5–5.0, 6.5–30.0
    assert m.silence_total == pytest.approx(0.5 + 2.5 + 23.5)
    assert m.longest_silence == pytest.approx(23.5)
    assert m.longest_silence_at is not None and m.longest_silence_at.start == pytest.approx(6.5)
    assert (m.long_pauses, m.holds) == (1, 1)
    assert [round(p.start, 3) for p in m.pauses] == [2.5, 6.5]
    assert json.loads(json.dumps(m.to_json()))["agent_ratio"] == 0.5


def test_metrics_with_a_pause_threshold_and_a_longer_word_than_the_duration() -> None:
    words = [TimedWord("a", 0.0, 1.0, "agent"), TimedWord("b", 4.0, 12.0, "caller")]
    m = metrics(words, 10.0, pause=3.0, hold=5.0)
    assert m.duration == 12.0  # the call lasts at least until its last word
    assert (m.long_pauses, m.holds) == (1, 0)
    assert m.longest_silence == pytest.approx(3.0)
    assert m.agent_ratio == pytest.approx(1 / 9)


def test_merge_speakers_orders_and_tags_each_leg() -> None:
    agent = [TimedWord("bonjour", 0.0, 0.5), TimedWord("madame", 2.0, 2.4)]
    caller = [TimedWord("allo", 0.0, 0.3), TimedWord("oui", 1.0, 1.2)]
    merged = merge_speakers(agent, caller)
    assert [(w.text, w.speaker) for w in merged] == [
        ("allo", "caller"), ("bonjour", "agent"), ("oui", "caller"), ("madame", "agent")]


def test_mixed_track_counts_for_anyone_and_skips_the_talk_ratio() -> None:
    words = single_track(w for w in CALL)
    assert {w.speaker for w in words} == {"mixed"}
    m = metrics(words, DURATION)
    assert m.agent_ratio is None and m.overtalk_seconds == 0.0
    result = Scorecard.from_toml(CARD).evaluate(words, m, VARS)
    assert rule(result, "greeting").passed
    assert rule(result, "talk_ratio").skipped
    assert [r.name for r in result.rules if not r.passed and not r.skipped] == ["max_silence"]
    assert result.score == pytest.approx(round(100 * 80 / 90, 1))


# --- scorecard files ----------------------------------------------------------------------------

def test_default_scorecard_scores_an_english_and_a_french_call() -> None:
    sc = Scorecard.from_toml(DEFAULT_SCORECARD.read_text(encoding="utf-8"))
    assert sc.name == "default"
    assert {r.name for r in sc.rules} >= {"greeting", "company_name", "client_name", "closing",
                                           "courtesy", "max_silence", "talk_ratio"}
    assert {a.name for a in sc.alerts} == {"refund", "cancel", "lawyer", "complaint"}
    english = call(GREETING, REQUEST, IDENTIFY, NAME, MIDDLE,
                   say("agent", 22.0, "it is corrected thank your for calling goodbye"))
    r = sc.evaluate(english, metrics(english, 30.0), VARS)
    assert r.score == 100.0, [x.detail for x in r.rules if not x.passed]
    french = call(say("agent", 0.5, "acne bonjour je suis Paul que puis-je pour vous"),
                  say("caller", 4.0, "bonjour je voudrais me faire rembourser ma facture"),
                  say("agent", 8.0, "très bien madame dupont si j'ai bien compris la facture "
                      "est fausse"),
                  say("caller", 13.0, "oui c'est ça"),
                  say("agent", 15.0, "c'est corrigé merci de votre appel au revoir"))
    r = sc.evaluate(french, metrics(french, 20.0), VARS)
    assert r.score == 100.0, [x.detail for x in r.rules if not x.passed]
    assert [(a.rule, a.quote) for a in r.alerts] == [("refund", "rembourser")]
    rude = call(say("agent", 0.5, "ouais quoi"), say("caller", 2.0, "je veux un avocat"),
                say("agent", 4.0, "débrouillez vous"))
    r = sc.evaluate(rude, metrics(rude, 6.0), VARS)
    assert r.score < 50
    assert not rule(r, "courtesy").passed
    assert [(a.rule, a.severity) for a in r.alerts] == [("lawyer", "critical")]


BAD_CARDS = [
    ('[global.g]\ntype = "required_phrse"\nphrases = ["hi"]', "g", "type",
     "unknown rule type 'required_phrse'"),
    ('[global.g]\nphrases = ["hi"]', "g", "type", "is required"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nwindow = {start = 20, end = 10}',
     "g", "window", "start (20) must be before end (10)"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nwindow = {first = 15}',
     "g", "window", "unknown key 'first'"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nwindow = {last = 30, end = 5}',
     "g", "window", "either last or start/end"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nwindow = {last = -3}',
     "g", "window.last", "must be > 0"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nweight = 0', "g", "weight",
     "must be > 0"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nweight = "high"', "g", "weight",
     "must be a number"),
    ('[global.g]\ntype = "required_phrase"\nphrases = []', "g", "phrases", "non-empty list"),
    ('[global.g]\ntype = "required_phrase"', "g", "phrases", "is required"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi {client"]', "g", "phrases",
     "stray brace"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["!!"]', "g", "phrases", "has no words"),
    ('[global.g]\ntype = "required_phrase"\nphrase = ["hi"]', "g", "phrase", "unknown field"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nspeaker = "boss"', "g",
     "speaker", "agent, caller, any"),
    ('[global.g]\ntype = "required_phrase"\nphrases = ["hi"]\nthreshold = 1.5', "g",
     "threshold", "<= 1"),
    ('[global.k]\ntype = "keyword_alert"\nkeywords = ["refund"]\nweight = 5', "k", "weight",
     "alerts do not count in the score"),
    ('[global.k]\ntype = "keyword_alert"\nkeywords = ["refund"]\nseverity = "urgent"', "k",
     "severity", "info, warning, critical"),
    ('[global.r]\ntype = "talk_ratio"\nmin = 0.9\nmax = 0.2', "r", "min", "must not exceed"),
    ('[global.r]\ntype = "talk_ratio"', "r", "min", "give min, max or both"),
    ('[global.s]\ntype = "max_silence"', "s", "seconds", "is required"),
    ('[global.s]\ntype = "max_silence"\nseconds = 10\nenabled = "no"', "s", "enabled",
     "true or false"),
    ('[global]\ns = 3', "s", None, "must be a table"),
]


@pytest.mark.parametrize(("text", "rule_name", "field", "message"), BAD_CARDS)
def test_scorecard_errors_name_the_rule_and_field(text: str, rule_name: str,
                                                  field: str | None, message: str) -> None:
    with pytest.raises(ScorecardError) as e:
        Scorecard.from_toml(text)
    assert (e.value.rule, e.value.field) == (rule_name, field)
    assert message in str(e.value)
    assert f"rule {rule_name!r}" in str(e.value)
    if field:
        assert f"field {field!r}" in str(e.value)


@pytest.mark.parametrize(("text", "message"), [
    ("[global.g\n", "not valid TOML"),
    ('[greeting]\ntype = "required_phrase"', "unknown top-level key 'greeting'"),
    ('name = "x"', "no rules"),
    ('[queues.support.g]\ntype = "max_silence"\nseconds = -1',
     "queue 'support', rule 'g', field 'seconds': must be > 0"),
    ('[global.g]\ntype = "max_silence"\nseconds = 1\n[queues]\nsupport = 3',
     "queue 'support': must be a table of rules"),
])
def test_scorecard_file_errors(text: str, message: str) -> None:
    with pytest.raises(ScorecardError) as e:
        Scorecard.from_toml(text)
    assert message in str(e.value)


QUEUES = CARD + """
[queues.support.max_silence]
seconds = 40

[queues.support.ticket_number]
type = "required_phrase"
weight = 10
phrases = ["your ticket number is"]

[queues.sales.greeting]
enabled = false

[queues.sales.max_silence]
type = "talk_ratio"
min = 0.5
"""


def test_queue_overrides_merge_add_disable_and_replace() -> None:
    sc = Scorecard.from_toml(QUEUES)
    names = [r.name for r in sc.rules]
    support = sc.for_queue("support")
    assert [r.name for r in support.rules] == [*names, "ticket_number"]
    silence = next(r for r in support.rules if r.name == "max_silence")
    assert (silence.kind, silence.weight, getattr(silence, "seconds", None)) == (
        "max_silence", 10.0, 40.0)  # merged: the weight comes from the global rule
    sales = sc.for_queue("sales")
    assert "greeting" not in [r.name for r in sales.rules]
    assert next(r for r in sales.rules if r.name == "max_silence").kind == "talk_ratio"
    assert [a.name for a in support.alerts] == ["refund", "lawyer"]
    assert sc.for_queue("billing") is sc and sc.for_queue(None) is sc
    # the 32 s silence of CALL fails globally, passes with support's 40 s limit
    m = metrics(CALL, DURATION)
    assert not rule(sc.evaluate(CALL, m, VARS), "max_silence").passed
    result = support.evaluate(CALL, m, VARS)
    assert result.queue == "support"
    assert rule(result, "max_silence").passed
    assert not rule(result, "ticket_number").passed
    assert result.score == pytest.approx(round(100 * 100 / 110, 1))


def test_result_to_json_is_plain_json() -> None:
    words = call(CALL, say("caller", 21.0, "I want a refund"))
    data = json.loads(json.dumps(evaluate(words).to_json(), allow_nan=False))
    assert data["scorecard"] == "test"
    assert [r["name"] for r in data["rules"]] == ["greeting", "client_name", "closing",
                                                   "courtesy", "max_silence", "talk_ratio"]
    greeting = data["rules"][0]
    assert greeting["passed"] is True
    assert greeting["evidence"][0]["quote"] == "thank you for calling acne"
    assert data["alerts"][0]["quote"] == "refund"


# --- properties ---------------------------------------------------------------------------------

VOCAB = ["thank", "you", "your", "for", "calling", "acme", "acne", "welcome", "to", "refund",
         "lawyer", "stupid", "shut", "up", "goodbye", "au", "revoir", "marie", "dupont", "a"]
times = st.one_of(st.floats(min_value=-10, max_value=400),
                  st.sampled_from([math.nan, math.inf, -math.inf]))
word = st.builds(TimedWord, text=st.one_of(st.sampled_from(VOCAB), st.text(max_size=8)),
                 start=times, end=times,
                 speaker=st.sampled_from(["agent", "caller", "mixed", "other"]))
SCORECARDS = [Scorecard.from_toml(CARD), Scorecard.from_toml(QUEUES).for_queue("support"),
              Scorecard.from_toml(DEFAULT_SCORECARD.read_text(encoding="utf-8"))]


@settings(max_examples=150, deadline=None)
@given(words=st.lists(word, max_size=40), which=st.sampled_from(range(len(SCORECARDS))),
       duration=st.one_of(st.floats(min_value=-5, max_value=500), st.just(math.nan)),
       with_client=st.booleans())
def test_evaluate_never_raises_and_scores_stay_in_bounds(words: list[TimedWord], which: int,
                                                         duration: float,
                                                         with_client: bool) -> None:
    sc = SCORECARDS[which]
    m = metrics(words, duration)
    result = sc.evaluate(words, m, VARS if with_client else {"company": "Acme"})
    assert 0.0 <= result.score <= 100.0
    assert len(result.rules) == len(sc.rules)
    assert [r.name for r in result.rules] == [r.name for r in sc.rules]
    assert all(math.isfinite(a.start) and a.start <= a.end for a in result.alerts)
    json.dumps(result.to_json(), allow_nan=False)
    assert m.silence_total >= 0 and m.overtalk_seconds >= 0
    assert m.silence_total + sum(m.talk_seconds.values()) - m.overtalk_seconds >= (
        m.duration - 1e-6)
    assert all(v >= 0 for v in m.talk_seconds.values())
    if m.agent_ratio is not None:
        assert 0.0 <= m.agent_ratio <= 1.0


@settings(max_examples=100, deadline=None)
@given(words=st.lists(word, max_size=30))
def test_evaluate_without_metrics_or_variables_never_raises(words: list[TimedWord]) -> None:
    result = SCORECARDS[0].evaluate(words)
    assert 0.0 <= result.score <= 100.0 and len(result.rules) == len(SCORECARDS[0].rules)


def test_a_phrase_is_not_pieced_together_across_a_long_pause() -> None:
    """"…order number" at 0:02 and "thank you for calling" at 0:40 are two things said, not a
    greeting at 0:02."""
    card = Scorecard.from_toml(
        '[global.greeting]\ntype = "required_phrase"\nphrases = ["number thank you for calling"]'
        '\nspeaker = "agent"\nwindow = {start = 0, end = 15}\n')
    words = merge_speakers(
        [TimedWord("order", 1.5, 1.9), TimedWord("number", 2.0, 2.4),
         TimedWord("thank", 40.0, 40.3), TimedWord("you", 40.35, 40.5),
         TimedWord("for", 40.55, 40.7), TimedWord("calling", 40.75, 41.2)], [])
    assert not card.evaluate(words).rules[0].passed
    close = merge_speakers([TimedWord(w, 2.0 + i * 0.4, 2.3 + i * 0.4) for i, w in enumerate(
        ["number", "thank", "you", "for", "calling"])], [])
    assert card.evaluate(close).rules[0].passed
