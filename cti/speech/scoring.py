"""Call quality scoring: a scorecard (TOML) checked against a transcript (layer 0, pure).

The automatic counterpart of a supervisor listening to a call with the procedure in hand —
greet and name the company, call the client by name, reformulate the request, thank and take
leave — and of a listener flagging calls that mention refunds, cancellations or lawyers. Each
rule's verdict carries its evidence (when, who, the words as recognised), because a score
nobody can check is a score nobody trusts; recognition errors are tolerated by fuzzy matching
(:mod:`cti.speech.matching`).

A scorecard file::

    name = "default"

    [global.greeting]                # every queue
    type = "required_phrase"
    weight = 20
    speaker = "agent"
    window = {start = 0, end = 15}
    phrases = ["welcome to {company}", "{company} bonjour"]

    [queues.support.max_silence]     # this queue only: added, or merged over the global rule
    seconds = 20                     # of the same name (a different type replaces it)

    [queues.sales.greeting]
    enabled = false                  # dropped for this queue

The score is 100 × (weight of passed rules) / (weight of applicable rules), skipped rules
(a ``{client}`` phrase when no client was matched, a talk ratio on a mixed recording) left out;
keyword alerts are listed apart and never change the score. All errors in the file, queues
included, are found when it is read (:class:`ScorecardError` names queue, rule and field).
Nothing here reads files: the caller hands over the text (``DEFAULT_SCORECARD`` is the path of
the one shipped with cti).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cti.speech.matching import Variables, normalise, streams
from cti.speech.metrics import (
    AGENT,
    CALLER,
    MIXED,
    CallMetrics,
    Span,
    SpokenWord,
    TimedText,
    TimedWord,
    clean,
    merge_speakers,
    metrics,
    single_track,
)
from cti.speech.rule_toml import ScorecardError, parse_rule
from cti.speech.rules import Alert, Context, Evidence, KeywordAlert, Rule, RuleResult

__all__ = ["AGENT", "CALLER", "DEFAULT_SCORECARD", "MIXED", "Alert", "CallMetrics", "Evidence",
           "Result", "RuleResult", "Scorecard", "ScorecardError", "Span", "SpokenWord",
           "TimedText", "TimedWord", "merge_speakers", "metrics", "name_forms", "single_track"]

#: The scorecard shipped with cti (English and French phrasings); read it, then ``from_toml``.
DEFAULT_SCORECARD = Path(__file__).with_name("default_scorecard.toml")

_TOP_LEVEL = {"name", "description", "global", "queues"}
_measure = metrics  # ``evaluate`` has a parameter of that name


@dataclass(frozen=True, slots=True)
class Result:
    score: float  # 0–100
    rules: tuple[RuleResult, ...]
    alerts: tuple[Alert, ...]
    scorecard: str = ""
    queue: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "scorecard": self.scorecard, "queue": self.queue,
                "rules": [r.to_json() for r in self.rules],
                "alerts": [a.to_json() for a in self.alerts]}


@dataclass(frozen=True, slots=True)
class Scorecard:
    name: str
    rules: tuple[Rule, ...]
    alerts: tuple[KeywordAlert, ...] = ()
    queues: Mapping[str, Scorecard] = field(default_factory=dict)
    queue: str | None = None  # which queue's rules these are (None: the global ones)

    @classmethod
    def from_toml(cls, text: str) -> Scorecard:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ScorecardError(f"not valid TOML: {e}") from None
        unknown = sorted(set(data) - _TOP_LEVEL)
        if unknown:
            raise ScorecardError(f"unknown top-level key {unknown[0]!r}: rules go in "
                                 "[global.<rule>] or [queues.<queue>.<rule>] tables",
                                 field=unknown[0])
        name = data.get("name", "scorecard")
        if not isinstance(name, str) or not name.strip():
            raise ScorecardError("must be non-empty text", field="name")
        if not isinstance(data.get("description", ""), str):
            raise ScorecardError("must be text", field="description")
        tables = data.get("global", {})
        if not isinstance(tables, dict):
            raise ScorecardError("must be a table of rules ([global.<rule>])", field="global")
        queue_tables = data.get("queues", {})
        if not isinstance(queue_tables, dict):
            raise ScorecardError("must be a table of queues ([queues.<queue>.<rule>])",
                                 field="queues")
        if not tables and not queue_tables:
            raise ScorecardError("no rules: add [global.<rule>] tables")
        rules, alerts = _build(tables, None)
        queues: dict[str, Scorecard] = {}
        for queue, overrides in queue_tables.items():
            if not isinstance(overrides, dict):
                raise ScorecardError("must be a table of rules ([queues.<queue>.<rule>])",
                                     queue=queue)
            merged = dict(tables)
            for rule_name, table in overrides.items():
                base = tables.get(rule_name)
                if (isinstance(base, dict) and isinstance(table, dict)
                        and table.get("type", base.get("type")) == base.get("type")):
                    merged[rule_name] = {**base, **table}
                else:
                    merged[rule_name] = table
            q_rules, q_alerts = _build(merged, queue)
            queues[queue] = cls(name, q_rules, q_alerts, {}, queue)
        return cls(name, rules, alerts, queues)

    def for_queue(self, name: str | None) -> Scorecard:
        """The rules for calls of a queue: its own scorecard when the file has
        ``[queues.<name>]`` tables, the global one otherwise (or for ``None``)."""
        return self.queues[name] if name is not None and name in self.queues else self

    def evaluate(self, words: Sequence[SpokenWord], metrics: CallMetrics | None = None,
                 variables: Variables | None = None) -> Result:
        """Score one call. ``words`` carry their speaker (:func:`merge_speakers`,
        :func:`single_track`); ``metrics`` default to those of the words alone (the call
        then ends with its last word — pass the real ones for ``last``-windows and silences);
        ``variables`` fill the phrases' ``{client}``, ``{company}``… (a value may be a list
        of forms, see :func:`name_forms`). Malformed words are dropped, never raised on."""
        ws = clean(words)
        m = metrics if metrics is not None else _measure(ws, 0.0)
        ctx = Context(ws, streams(ws), m, variables or {})
        results = tuple(rule.check(ctx) for rule in self.rules)
        counted = [r for r in results if not r.skipped]
        total = sum(r.weight for r in counted)
        score = 100.0 * sum(r.weight for r in counted if r.passed) / total if total else 100.0
        alerts = sorted((a for rule in self.alerts for a in rule.alerts(ctx)),
                        key=lambda a: (a.start, a.rule, a.keyword))
        return Result(round(min(100.0, max(0.0, score)), 1), results, tuple(alerts),
                      self.name, self.queue)


def _build(tables: Mapping[str, Any], queue: str | None,
           ) -> tuple[tuple[Rule, ...], tuple[KeywordAlert, ...]]:
    rules: list[Rule] = []
    alerts: list[KeywordAlert] = []
    for name, table in tables.items():
        rule = parse_rule(name, table, queue)
        if isinstance(rule, KeywordAlert):
            alerts.append(rule)
        elif rule is not None:
            rules.append(rule)
    return tuple(rules), tuple(alerts)


def name_forms(name: str) -> tuple[str, ...]:
    """The forms an agent calls a client by: the full name and, for a name of several words,
    the last one ("Marie Dupont" → "Marie Dupont", "Dupont": "Madame Dupont" is the polite
    form the procedure asks for). Pass them as one variable: ``{"client": name_forms(n)}``."""
    parts = name.split()
    if len(parts) > 1 and len(normalise(parts[-1])) >= 3:
        return (name.strip(), parts[-1])
    return (name.strip(),) if normalise(name) else ()
