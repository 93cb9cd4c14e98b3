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
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3),
                "speaker": self.speaker, "quote": self.quote, "note": self.note}


@dataclass(frozen=True, slots=True)
class RuleResult:
    name: str
    kind: str
    weight: float
    passed: bool
    evidence: tuple[Evidence, ...]
    detail: str
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "weight": self.weight,
                "passed": self.passed, "skipped": self.skipped, "detail": self.detail,
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

    def describe(self, duration: float) -> str:
        lo, hi = self.bounds(duration)
        if self.last is not None:
            return f"in the last {self.last:g} s (from {clock(lo)})"
        if lo == 0 and hi == math.inf:
            return "anywhere in the call"
        if lo == 0:
            return f"in the first {hi:g} s"
        return f"between {clock(lo)} and {clock(hi)}"


def _evidence(m: Match, words: Sequence[TimedWord], note: str) -> Evidence:
    return Evidence(words[m.first].start, words[m.last].end, words[m.first].speaker, m.quote,
                    note)


def _listing(phrases: Sequence[str], most: int = 4) -> str:
    shown = ", ".join(f'"{p}"' for p in phrases[:most])
    return shown + (f" and {len(phrases) - most} more" if len(phrases) > most else "")


def _who(speaker: str) -> str:
    return "anyone" if speaker == "any" else f"the {speaker}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A scored rule: ``check`` says whether the call passes it, and why."""

    kind: ClassVar[str] = ""
    name: str
    weight: float = 1.0
    description: str = ""

    def check(self, ctx: Context) -> RuleResult:
        raise NotImplementedError

    def result(self, passed: bool, detail: str, evidence: Sequence[Evidence] = (),
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
            return self.result(False, "not applicable: no value for "
                               + ", ".join(f"{{{v}}}" for v in wanted), skipped=True)
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
            ev = _evidence(m, ctx.words, f'≈ "{m.phrase}" (similarity {m.similarity:.2f})')
            return self.result(True, f'{ev.speaker} said "{m.quote}" at {clock(ev.start)} '
                               f'{where}', [ev])
        detail = (f"not found: {_who(self.speaker)} said none of {_listing(phrases)} {where} "
                  f"(similarity ≥ {self.threshold:.2f})")
        if closest is None:
            return self.result(False, detail + f"; {_who(self.speaker)} said nothing there")
        ev = _evidence(closest, ctx.words, f'closest: ≈ "{closest.phrase}" (similarity '
                       f"{closest.similarity:.2f} < {self.threshold:.2f})")
        return self.result(False, detail + f'; closest was "{closest.quote}" at '
                           f"{clock(ev.start)}", [ev])


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
        evidence = [_evidence(m, ctx.words, f'≈ "{m.phrase}" (similarity {m.similarity:.2f})')
                    for m in found]
        if not evidence:
            return self.result(True, f"{_who(self.speaker)} said none of the "
                               f"{len(phrases)} forbidden words")
        said = "; ".join(f'"{e.quote}" at {clock(e.start)}' for e in evidence[:5])
        more = f" and {len(evidence) - 5} more" if len(evidence) > 5 else ""
        return self.result(False, f"forbidden words said: {said}{more}", evidence)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxSilence(Rule):
    kind: ClassVar[str] = "max_silence"
    seconds: float

    def check(self, ctx: Context) -> RuleResult:
        m = ctx.metrics
        at = m.longest_silence_at
        if at is None:
            return self.result(True, "no silence at all")
        before: list[TimedWord] = []  # the last words of whoever spoke last before it
        for w in reversed([w for w in ctx.words if w.end <= at.start]):
            if len(before) == 6 or (before and w.speaker != before[0].speaker):
                break
            before.insert(0, w)
        ev = Evidence(at.start, at.end, before[-1].speaker if before else "",
                      " ".join(w.text for w in before),
                      f"{at.seconds:.1f} s of silence after these words" if before
                      else f"{at.seconds:.1f} s of silence from the start")
        verdict = at.seconds <= self.seconds
        return self.result(verdict, f"longest silence {at.seconds:.1f} s from {clock(at.start)} "
                           f"to {clock(at.end)} ({'within' if verdict else 'over'} the "
                           f"{self.seconds:g} s limit)", [ev])


@dataclass(frozen=True, slots=True, kw_only=True)
class TalkRatio(Rule):
    kind: ClassVar[str] = "talk_ratio"
    min: float = 0.0
    max: float = 1.0

    def check(self, ctx: Context) -> RuleResult:
        m = ctx.metrics
        ratio = m.agent_ratio
        if ratio is None:
            return self.result(False, "not applicable: needs the agent's and the caller's "
                               "legs recorded apart (or some talk)", skipped=True)
        ok = self.min <= ratio <= self.max
        total = m.talk("agent") + m.talk("caller")
        return self.result(ok, f"the agent talked {ratio:.0%} of the talk time "
                           f"({m.talk('agent'):.1f} s of {total:.1f} s); expected "
                           f"{self.min:.0%}–{self.max:.0%}")


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
