"""Reading a scorecard rule from its TOML table, strictly (layer 0, pure).

Every mistake is reported with the queue, rule and field it is in, and unknown fields are errors
rather than ignored: a misspelt ``phrase =`` silently ignored would be a rule that checks
nothing. The rule types and their fields are described in :mod:`cti.speech.rules`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cti.errors import CtiError
from cti.speech.matching import normalise, placeholders, template_error
from cti.speech.metrics import AGENT
from cti.speech.rules import (
    ForbiddenWords,
    KeywordAlert,
    MaxSilence,
    RequiredPhrase,
    Rule,
    TalkRatio,
    Window,
)

SPEAKERS = ("agent", "caller", "any")
SEVERITIES = ("info", "warning", "critical")


class ScorecardError(CtiError, ValueError):
    """A scorecard that cannot be used; the message names the queue, rule and field."""

    def __init__(self, message: str, *, rule: str | None = None, field: str | None = None,
                 queue: str | None = None) -> None:
        where = [f"{k} {v!r}" for k, v in (("queue", queue), ("rule", rule), ("field", field))
                 if v is not None]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.rule, self.field, self.queue, self.message = rule, field, queue, message


RULE_TYPES: dict[str, type[Rule] | type[KeywordAlert]] = {
    cls.kind: cls for cls in (RequiredPhrase, ForbiddenWords, MaxSilence, TalkRatio,
                              KeywordAlert)}
_COMMON = {"type", "enabled", "description"}
FIELDS: dict[str, set[str]] = {
    "required_phrase": {"weight", "phrases", "speaker", "window", "threshold"},
    "forbidden_words": {"weight", "words", "speaker", "threshold"},
    "max_silence": {"weight", "seconds"},
    "talk_ratio": {"weight", "min", "max"},
    "keyword_alert": {"keywords", "speaker", "severity", "threshold"},
}


class _Reader:
    """One rule's TOML table, read field by field; every error names the rule and field."""

    def __init__(self, name: str, table: Mapping[str, Any], queue: str | None) -> None:
        self.name, self.table, self.queue = name, table, queue

    def error(self, field: str | None, message: str) -> ScorecardError:
        return ScorecardError(message, rule=self.name, field=field, queue=self.queue)

    def number(self, key: str, default: float | None = None, *, low: float = -math.inf,
               high: float = math.inf, low_open: bool = False) -> float:
        value = self.table.get(key, default)
        if value is None:
            raise self.error(key, "is required")
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise self.error(key, f"must be a number, not {value!r}")
        if value < low or (low_open and value == low) or value > high:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            text = bound if high == math.inf else f"{bound} and <= {high:g}"
            raise self.error(key, f"must be {text}, not {value!r}")
        return float(value)

    def text(self, key: str, default: str) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"must be text, not {value!r}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def phrases(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key)
        if value is None:
            raise self.error(key, "is required (a list of phrases)")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.error(key, "must be a non-empty list of phrases")
        for p in value:
            if not isinstance(p, str):
                raise self.error(key, f"must be a list of text, found {p!r}")
            problem = template_error(p)
            if problem:
                raise self.error(key, problem)
            if not normalise(p) and not placeholders(p):
                raise self.error(key, f"{p!r} has no words")
        return tuple(value)

    def window(self, key: str) -> Window:
        value = self.table.get(key)
        if value is None:
            return Window()
        if not isinstance(value, dict):
            raise self.error(key, "must be a table such as {start = 0, end = 15} or {last = 30}")
        unknown = set(value) - {"start", "end", "last"}
        if unknown:
            raise self.error(key, f"unknown key {sorted(unknown)[0]!r} (use start/end or last)")
        if not value:
            raise self.error(key, "is empty (use {start = 0, end = 15} or {last = 30})")
        sub = _Reader(self.name, {f"{key}.{k}": v for k, v in value.items()}, self.queue)
        if "last" in value:
            if {"start", "end"} & set(value):
                raise self.error(key, "give either last or start/end, not both")
            return Window(last=sub.number(f"{key}.last", low=0, low_open=True))
        start = sub.number(f"{key}.start", 0.0, low=0)
        end = sub.number(f"{key}.end", math.inf, low=0) if "end" in value else math.inf
        if end <= start:
            raise self.error(key, f"start ({start:g}) must be before end ({end:g})")
        return Window(start, end)


def parse_rule(name: str, table: Any, queue: str | None = None) -> Rule | KeywordAlert | None:
    """A rule from its TOML table, or ``None`` when it says ``enabled = false``."""
    r = _Reader(name, table if isinstance(table, dict) else {}, queue)
    if not isinstance(table, dict):
        raise r.error(None, "must be a table ([global.<name>] with a type and its fields)")
    kind = table.get("type")
    if kind is None:
        raise r.error("type", f"is required (one of {', '.join(RULE_TYPES)})")
    if kind not in RULE_TYPES:
        raise r.error("type", f"unknown rule type {kind!r} (one of {', '.join(RULE_TYPES)})")
    allowed = _COMMON | FIELDS[kind]
    unknown = sorted(set(table) - allowed)
    if unknown:
        hint = " (alerts do not count in the score)" if unknown[0] == "weight" else ""
        raise r.error(unknown[0], f"unknown field for a {kind} rule{hint}; expected one of "
                      + ", ".join(sorted(allowed)))
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise r.error("enabled", f"must be true or false, not {enabled!r}")
    description = r.text("description", "")
    if kind == "keyword_alert":
        rule: Rule | KeywordAlert = KeywordAlert(
            name=name, keywords=r.phrases("keywords"), description=description,
            speaker=r.choice("speaker", SPEAKERS, "any"),
            severity=r.choice("severity", SEVERITIES, "warning"),
            threshold=r.number("threshold", 0.85, low=0, high=1, low_open=True))
    else:
        common: dict[str, Any] = {"name": name, "description": description,
                                  "weight": r.number("weight", 1.0, low=0, low_open=True)}
        if kind == "required_phrase":
            rule = RequiredPhrase(**common, phrases=r.phrases("phrases"),
                                  speaker=r.choice("speaker", SPEAKERS, AGENT),
                                  window=r.window("window"),
                                  threshold=r.number("threshold", 0.8, low=0, high=1,
                                                     low_open=True))
        elif kind == "forbidden_words":
            rule = ForbiddenWords(**common, words=r.phrases("words"),
                                  speaker=r.choice("speaker", SPEAKERS, AGENT),
                                  threshold=r.number("threshold", 0.85, low=0, high=1,
                                                     low_open=True))
        elif kind == "max_silence":
            rule = MaxSilence(**common, seconds=r.number("seconds", low=0, low_open=True))
        else:
            if "min" not in table and "max" not in table:
                raise r.error("min", "give min, max or both (the agent's share, 0 to 1)")
            low = r.number("min", 0.0, low=0, high=1)
            high = r.number("max", 1.0, low=0, high=1)
            if low > high:
                raise r.error("min", f"min ({low:g}) must not exceed max ({high:g})")
            rule = TalkRatio(**common, min=low, max=high)
    return rule if enabled else None
