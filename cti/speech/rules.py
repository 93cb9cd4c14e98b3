"""Scorecard rules: what each rule type checks, with the evidence a supervisor can verify
(times and the words as recognised) — layer 0, pure. Reading them from TOML is
:mod:`cti.speech.rule_toml`.

Rule types — the call procedure agents follow (greet and name the company, call the client by
name, reformulate, thank and take leave) and what a supervisor is warned about:

* ``required_phrase`` — one of ``phrases`` said by ``speaker`` within ``window``
  (``{start = 0, end = 15}``, ``{last = 30}``; anywhere without one). Phrases may use variables
  (``{client}``, ``{company}``); a rule whose phrases all need a variable the call lacks (no
  matched client) is *skipped*: it neither passes nor fails, and does not weigh in the score.
* ``forbidden_words`` — none of ``words`` said by ``speaker``.
* ``max_silence`` — no silence longer than ``seconds``.
* ``talk_ratio`` — the agent's share of the talk time within ``min``/``max`` (skipped on a
  mixed mono recording, where the parties cannot be told apart).
* ``keyword_alert`` — every occurrence of ``keywords`` is reported as an alert with its
  ``severity``; alerts do not count in the score (hence no ``weight``).

Speakers are ``agent``, ``caller`` or ``any``; words on a ``mixed`` track count for anyone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cti.speech.explain import T, Text
from cti.speech.matching import (
    Match,
    Token,
    Variables,
    clock,
    expand,
    placeholders,
    scan,
    tracks_for,
)
from cti.speech.metrics import AGENT, CallMetrics, TimedWord


@dataclass(frozen=True, slots=True)
class Evidence:
    start: float
    end: float
    speaker: str
    quote: str  # the words as recognised
    note: Text | None = None

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3),
                "speaker": self.speaker, "quote": self.quote,
                "note": self.note.render() if self.note else "",
                "note_t": self.note.to_json() if self.note else None}


@dataclass(frozen=True, slots=True)
class RuleResult:
    name: str
    kind: str
    weight: float
    passed: bool
    evidence: tuple[Evidence, ...]
    explain: Text
    skipped: bool = False

    @property
    def detail(self) -> str:
        """The explanation in English (logs, the CLI; the page renders ``explain``)."""
        return self.explain.render()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "weight": self.weight,
                "passed": self.passed, "skipped": self.skipped, "detail": self.detail,
                "explain": self.explain.to_json(),
                "evidence": [e.to_json() for e in self.evidence]}


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    severity: str
    keyword: str
    start: float
    end: float
    speaker: str
    quote: str
    similarity: float

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "keyword": self.keyword,
                "start": round(self.start, 3), "end": round(self.end, 3),
                "speaker": self.speaker, "quote": self.quote,
                "similarity": round(self.similarity, 3)}


@dataclass(frozen=True, slots=True)
class Context:
    """What every rule looks at: the cleaned words, each speaker's tokens, the metrics."""

    words: Sequence[TimedWord]
    streams: Mapping[str, list[Token]]
    metrics: CallMetrics
    variables: Variables


@dataclass(frozen=True, slots=True)
class Window:
    start: float = 0.0
    end: float = math.inf
    last: float | None = None  # the last N seconds of the call

    def bounds(self, duration: float) -> tuple[float, float]:
        if self.last is not None:
            return max(0.0, duration - self.last), math.inf
        return self.start, self.end

    def describe(self, duration: float) -> Text:
        lo, hi = self.bounds(duration)
        if self.last is not None:
            return T("in the last {seconds:g} s (from {start})", seconds=self.last,
                     start=clock(lo))
        if lo == 0 and hi == math.inf:
            return T("anywhere in the call")
        if lo == 0:
            return T("in the first {seconds:g} s", seconds=hi)
        return T("between {start} and {end}", start=clock(lo), end=clock(hi))


def _evidence(m: Match, words: Sequence[TimedWord], note: Text) -> Evidence:
    return Evidence(words[m.first].start, words[m.last].end, words[m.first].speaker, m.quote,
                    note)


def _listing(phrases: Sequence[str], most: int = 4) -> str | Text:
    """The phrases as quoted (never translated), "and N more" past ``most``."""
    shown = ", ".join(f'"{p}"' for p in phrases[:most])
    if len(phrases) > most:
        return T("{shown} and {more} more", shown=shown, more=len(phrases) - most)
    return shown


def _who(speaker: str) -> Text:
    return T({"any": "anyone", "caller": "the caller"}.get(speaker, "the agent"))


def _speaker(speaker: str) -> Text | str:
    """A track's speaker as a word of the sentence (``agent``/``caller`` are translated)."""
    return T(speaker) if speaker in ("agent", "caller") else speaker


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A scored rule: ``check`` says whether the call passes it, and why."""

    kind: ClassVar[str] = ""
    name: str
    weight: float = 1.0
    description: str = ""

    def check(self, ctx: Context) -> RuleResult:
        raise NotImplementedError

    def result(self, passed: bool, detail: Text, evidence: Sequence[Evidence] = (),
               skipped: bool = False) -> RuleResult:
        return RuleResult(self.name, self.kind, self.weight, passed, tuple(evidence), detail,
                          skipped)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequiredPhrase(Rule):
    kind: ClassVar[str] = "required_phrase"
    phrases: tuple[str, ...]
    speaker: str = AGENT
    window: Window = Window()
    threshold: float = 0.8

    def check(self, ctx: Context) -> RuleResult:
        phrases = [p for template in self.phrases for p in expand(template, ctx.variables)]
        if not phrases:
            wanted = sorted({v for p in self.phrases for v in placeholders(p)})
            return self.result(False, T("not applicable: no value for {names}",
                                        names=", ".join(f"{{{v}}}" for v in wanted)),
                               skipped=True)
        lo, hi = self.window.bounds(ctx.metrics.duration)
        where = self.window.describe(ctx.metrics.duration)
        found: list[Match] = []
        closest: Match | None = None
        for track in tracks_for(self.speaker, ctx.streams):
            matches, near = scan(track, ctx.words, phrases, threshold=self.threshold,
                                 start=lo, end=hi, nearest=True)
            found += matches
            if near and (closest is None or near.similarity > closest.similarity):
                closest = near
        if found:
            m = min(found, key=lambda m: (ctx.words[m.first].start, -m.similarity))
            ev = _evidence(m, ctx.words, T('≈ "{phrase}" (similarity {similarity:.2f})',
                                           phrase=m.phrase, similarity=m.similarity))
            return self.result(True, T('{speaker} said "{quote}" at {at} {where}',
                                       speaker=_speaker(ev.speaker), quote=m.quote,
                                       at=clock(ev.start), where=where), [ev])
        detail = T("not found: {who} said none of {phrases} {where} "
                   "(similarity ≥ {threshold:.2f})", who=_who(self.speaker),
                   phrases=_listing(phrases), where=where, threshold=self.threshold)
        if closest is None:
            return self.result(False, detail + T("{who} said nothing there",
                                                 who=_who(self.speaker)))
        ev = _evidence(closest, ctx.words,
                       T('closest: ≈ "{phrase}" (similarity {similarity:.2f} < '
                         '{threshold:.2f})', phrase=closest.phrase,
                         similarity=closest.similarity, threshold=self.threshold))
        return self.result(False, detail + T('closest was "{quote}" at {at}',
                                             quote=closest.quote, at=clock(ev.start)), [ev])


@dataclass(frozen=True, slots=True, kw_only=True)
class ForbiddenWords(Rule):
    kind: ClassVar[str] = "forbidden_words"
    words: tuple[str, ...]
    speaker: str = AGENT
    threshold: float = 0.85

    def check(self, ctx: Context) -> RuleResult:
        phrases = [p for template in self.words for p in expand(template, ctx.variables)]
        found: list[Match] = []
        for track in tracks_for(self.speaker, ctx.streams):
            found += scan(track, ctx.words, phrases, threshold=self.threshold)[0]
        found.sort(key=lambda m: ctx.words[m.first].start)
        evidence = [_evidence(m, ctx.words, T('≈ "{phrase}" (similarity {similarity:.2f})',
                                              phrase=m.phrase, similarity=m.similarity))
                    for m in found]
        if not evidence:
            return self.result(True, T("{who} said none of the {count} forbidden words",
                                       who=_who(self.speaker), count=len(phrases)))
        items = [T('"{quote}" at {at}', quote=e.quote, at=clock(e.start)) for e in evidence[:5]]
        said = items[0]
        for item in items[1:]:
            said = said + item
        if len(evidence) > 5:
            said = T("{shown} and {more} more", shown=said, more=len(evidence) - 5)
        return self.result(False, T("forbidden words said: {said}", said=said), evidence)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxSilence(Rule):
    kind: ClassVar[str] = "max_silence"
    seconds: float

    def check(self, ctx: Context) -> RuleResult:
        m = ctx.metrics
        at = m.longest_silence_at
        if at is None:
            return self.result(True, T("no silence at all"))
        before: list[TimedWord] = []  # the last words of whoever spoke last before it
        for w in reversed([w for w in ctx.words if w.end <= at.start]):
            if len(before) == 6 or (before and w.speaker != before[0].speaker):
                break
            before.insert(0, w)
        ev = Evidence(at.start, at.end, before[-1].speaker if before else "",
                      " ".join(w.text for w in before),
                      T("{seconds:.1f} s of silence after these words" if before
                        else "{seconds:.1f} s of silence from the start", seconds=at.seconds))
        verdict = at.seconds <= self.seconds
        template = ("longest silence {seconds:.1f} s from {start} to {end} (within the "
                    "{limit:g} s limit)" if verdict else "longest silence {seconds:.1f} s "
                    "from {start} to {end} (over the {limit:g} s limit)")
        return self.result(verdict, T(template, seconds=at.seconds, start=clock(at.start),
                                      end=clock(at.end), limit=self.seconds), [ev])


@dataclass(frozen=True, slots=True, kw_only=True)
class TalkRatio(Rule):
    kind: ClassVar[str] = "talk_ratio"
    min: float = 0.0
    max: float = 1.0

    def check(self, ctx: Context) -> RuleResult:
        m = ctx.metrics
        ratio = m.agent_ratio
        if ratio is None:
            return self.result(False, T("not applicable: needs the agent's and the caller's "
                                        "legs recorded apart (or some talk)"), skipped=True)
        ok = self.min <= ratio <= self.max
        total = m.talk("agent") + m.talk("caller")
        return self.result(ok, T("the agent talked {ratio:.0%} of the talk time ({agent:.1f} "
                                 "s of {total:.1f} s); expected {low:.0%}–{high:.0%}",
                                 ratio=ratio, agent=m.talk("agent"), total=total,
                                 low=self.min, high=self.max))


@dataclass(frozen=True, slots=True, kw_only=True)
class KeywordAlert:
    """Not scored: every occurrence of a keyword becomes an :class:`Alert`."""

    kind: ClassVar[str] = "keyword_alert"
    name: str
    keywords: tuple[str, ...]
    speaker: str = "any"
    severity: str = "warning"
    threshold: float = 0.85
    description: str = ""

    def alerts(self, ctx: Context) -> list[Alert]:
        phrases = [p for template in self.keywords for p in expand(template, ctx.variables)]
        out = []
        for track in tracks_for(self.speaker, ctx.streams):
            for m in scan(track, ctx.words, phrases, threshold=self.threshold)[0]:
                w = ctx.words[m.first]
                out.append(Alert(self.name, self.severity, m.phrase, w.start,
                                 ctx.words[m.last].end, w.speaker, m.quote, m.similarity))
        return sorted(out, key=lambda a: (a.start, a.keyword))
