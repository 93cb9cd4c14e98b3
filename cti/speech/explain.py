"""Rule explanations that can be shown in the reader's language — layer 0, pure.

Why: the scorer runs in a worker, once per call, long before anybody reads the result, and one
result is read by people with different languages (a French supervisor, an English admin). So a
rule does not store a sentence but a :class:`Text`: an English template with named values
(``"not found: {who} said none of {phrases} {where}"``), whose values may be other texts
("the agent", "in the first 15 s"). The stored JSON keeps both the template tree (``explain``)
and the English rendering (``detail``, for logs, the CLI, and results stored before this
existed); the web page renders the tree through its catalog, where the English template is the
message id as everywhere else in cti.

What the caller said or the agent's phrases are quoted as recognised: they are never
translated, only the words around them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Translate = Callable[[str], str]


def _same(msgid: str) -> str:
    return msgid


@dataclass(frozen=True, slots=True)
class Text:
    """An English template and its named values (numbers, plain strings, or nested texts)."""

    template: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def render(self, tr: Translate = _same) -> str:
        """The sentence in the language of ``tr`` (the catalog lookup; identity: English).

        A translation whose placeholders do not match the English one (a catalog mistake)
        falls back to the English template rather than losing the explanation."""
        values = {k: v.render(tr) if isinstance(v, Text) else v for k, v in self.args.items()}
        try:
            return tr(self.template).format(**values)
        except (KeyError, IndexError, ValueError):
            return self.template.format(**values)

    def __str__(self) -> str:
        return self.render()

    def __add__(self, other: Text) -> Text:
        """Two sentences one after the other (``detail + "; said nothing there"``)."""
        return Text("{a}; {b}", {"a": self, "b": other})

    def to_json(self) -> dict[str, Any]:
        return {"t": self.template,
                "a": {k: v.to_json() if isinstance(v, Text) else v for k, v in self.args.items()}}

    @classmethod
    def from_json(cls, data: object) -> Text | None:
        """The text stored by :meth:`to_json`; ``None`` for anything else (a result stored by
        an older cti, or a damaged row: the page then shows the stored English ``detail``)."""
        if not isinstance(data, dict) or not isinstance(data.get("t"), str):
            return None
        raw = data.get("a") or {}
        if not isinstance(raw, dict):
            return None
        args: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                nested = cls.from_json(value)
                if nested is None:
                    return None
                args[str(key)] = nested
            elif isinstance(value, str | int | float):
                args[str(key)] = value
            else:
                return None
        return cls(data["t"], args)


def T(template: str, **args: Any) -> Text:
    """Shorthand: ``T("in the first {seconds:g} s", seconds=15)``."""
    return Text(template, args)


#: Every template the rules use, so the catalog test can check each has its French entry.
TEMPLATES: tuple[str, ...] = (
    "{a}; {b}",
    "anyone", "the agent", "the caller",
    "agent", "caller",
    "in the last {seconds:g} s (from {start})",
    "anywhere in the call",
    "in the first {seconds:g} s",
    "between {start} and {end}",
    "{shown} and {more} more",
    "not applicable: no value for {names}",
    '{speaker} said "{quote}" at {at} {where}',
    "not found: {who} said none of {phrases} {where} (similarity ≥ {threshold:.2f})",
    "{who} said nothing there",
    'closest was "{quote}" at {at}',
    '≈ "{phrase}" (similarity {similarity:.2f})',
    'closest: ≈ "{phrase}" (similarity {similarity:.2f} < {threshold:.2f})',
    "{who} said none of the {count} forbidden words",
    "forbidden words said: {said}",
    '"{quote}" at {at}',
    "no silence at all",
    "{seconds:.1f} s of silence after these words",
    "{seconds:.1f} s of silence from the start",
    "longest silence {seconds:.1f} s from {start} to {end} (within the {limit:g} s limit)",
    "longest silence {seconds:.1f} s from {start} to {end} (over the {limit:g} s limit)",
    "not applicable: needs the agent's and the caller's legs recorded apart (or some talk)",
    "the agent talked {ratio:.0%} of the talk time ({agent:.1f} s of {total:.1f} s); "
    "expected {low:.0%}–{high:.0%}",
)
