"""Call templates: real Asterisk 22 event sequences with their identities turned into tokens.

Each ``<scenario>.json`` here was built by :mod:`cti.sim.templates.build` from one real capture
in ``tests/fixtures/`` (a lab Asterisk 22.10.1 driven by sipp, see that folder's README). It keeps
the PBX's own event sequence — names, field order, ``VarSet``/``Newexten`` dialplan chatter,
``DeviceStateChange``, ``QueueMemberStatus``, ``Cdr`` — and replaces everything that must be
fresh or configurable in a rendered call by a token:

* ``{U:i}`` / ``{C:i}`` the Uniqueid / channel name of the call's i-th channel, ``{L}`` the
  call's Linkedid, ``{B:i}`` a bridge UUID, ``{X:i}``/``{SIP:i}`` other UUIDs and SIP Call-IDs;
* ``{EXT:r}``/``{NAME:r}`` the extension/name of agent role r (0 = the agent the call is about:
  who answers an inbound call, who dials an outbound one), ``{CALLER}``, ``{CALLER_NAME}``,
  ``{CALLER_DIGITS}``, ``{DID}``, ``{DIALLED}``, ``{CID_NUM}``/``{CID_NAME}`` (Originate's
  CallerID), ``{COMPANY_NAME}``, ``{TRUNK}``, ``{QUEUE}``, ``{RECDIR}``, ``{ACTIONID}``;
* times, which the renderer maps through the call's own time line: ``{STAMP:t:adj}``
  (``STRFTIME(${EPOCH},UTC,%Y%m%d-%H%M%S)`` in recording names), ``{T:t}`` (``Cdr`` times),
  ``{DUR:a:b}`` / ``{MS:a:b}`` (durations in s / ms: ``ANSWEREDTIME``, ``BillableSeconds``…),
  ``{EPOCH:t:adj}``; queue member counters ``{CALLS:r:delta}``, ``{LASTCALL:r}``, ``{LOGIN}``.

An event may carry ``"_x"``: ``"qms:r"`` is one ``QueueMemberStatus`` of agent role r that the
renderer repeats for every queue the agent belongs to (Asterisk sends one per queue and member);
``"vars"`` is the ``VarSet`` of an Originate ``Variable`` (repeated per variable).
Literal braces are doubled (``{{``), as in :meth:`str.format`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

#: Templates shipped (file stem = scenario name).
TEMPLATE_NAMES: tuple[str, ...] = (
    "inbound_answered", "inbound_missed", "inbound_busy_or_rejected", "outbound_answered",
    "outbound_no_answer", "internal", "queue_ringall", "blind_transfer", "long_call",
    "click_to_dial",
)

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Z][A-Z0-9_]*)((?::[^{}:]*)*)\}")


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    args: tuple[str, ...] = ()

    def text(self) -> str:
        return "{" + ":".join((self.name, *self.args)) + "}"


Part = str | Token
Parts = tuple[Part, ...]


def parse_value(text: str) -> Parts:
    """``"in-{STAMP:1.8:0}.wav"`` → ``("in-", Token("STAMP", ("1.8", "0")), ".wav")``."""
    out: list[Part] = []
    literal: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        literal.append(text[pos:m.start()])
        pos = m.end()
        whole = m.group(0)
        if whole in ("{{", "}}"):
            literal.append(whole[0])
            continue
        if literal and "".join(literal):
            out.append("".join(literal))
        literal = []
        args = tuple(m.group(2).split(":")[1:]) if m.group(2) else ()
        out.append(Token(m.group(1), args))
    literal.append(text[pos:])
    if "".join(literal):
        out.append("".join(literal))
    return tuple(out)


def format_parts(parts: Parts) -> str:
    """Inverse of :func:`parse_value` (literal braces doubled)."""
    return "".join(p.text() if isinstance(p, Token) else
                   p.replace("{", "{{").replace("}", "}}") for p in parts)


@dataclass(frozen=True, slots=True)
class TemplateEvent:
    t: float  # seconds since the call's first event
    fields: tuple[tuple[str, Parts], ...]
    expand: str = ""  # "", "qms:<role>" or "vars"

    def tokens(self) -> set[Token]:
        return {p for _, parts in self.fields for p in parts if isinstance(p, Token)}


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    source: str
    marks: dict[str, float]  # named instants of the call (answer, end, xfer…), template seconds
    channels: tuple[Parts, ...]  # endpoint of each channel index (``{TRUNK}``, ``{EXT:0}``)
    events: tuple[TemplateEvent, ...]
    clone: tuple[int, int] | None = None  # (channel, role) repeated per extra queue member

    @property
    def duration(self) -> float:
        return self.events[-1].t if self.events else 0.0


def template_from_json(data: dict[str, Any]) -> Template:
    schemas = [tuple(keys) for keys in data["schemas"]]
    events = []
    for t, schema, *values in data["events"]:
        pairs = dict(zip(schemas[schema], values, strict=True))
        expand = str(pairs.pop("_x", ""))
        events.append(TemplateEvent(float(t), tuple((k, parse_value(v)) for k, v in pairs.items()),
                                    expand))
    clone = data.get("clone")
    return Template(
        name=str(data["name"]), source=str(data.get("source", "")),
        marks={str(k): float(v) for k, v in data["marks"].items()},
        channels=tuple(parse_value(c) for c in data["channels"]),
        events=tuple(events),
        clone=(int(clone[0]), int(clone[1])) if clone else None,
    )


def template_to_json(tpl: Template) -> dict[str, Any]:
    """Events as ``[t, schema, value…]``: the key list of each distinct field layout is stored
    once in ``schemas`` (Asterisk repeats the same fourteen snapshot keys in most events)."""
    schemas: dict[tuple[str, ...], int] = {}
    events: list[list[Any]] = []
    for ev in tpl.events:
        keys = tuple(k for k, _ in ev.fields) + (("_x",) if ev.expand else ())
        values = [format_parts(v) for _, v in ev.fields] + ([ev.expand] if ev.expand else [])
        events.append([round(ev.t, 6), schemas.setdefault(keys, len(schemas)), *values])
    return {
        "name": tpl.name, "source": tpl.source, "marks": tpl.marks,
        "channels": [format_parts(c) for c in tpl.channels],
        "clone": list(tpl.clone) if tpl.clone else None,
        "schemas": [list(k) for k in schemas],
        "events": events,
    }


def dumps(tpl: Template) -> str:
    """Compact JSON, one schema or event per line (readable diffs, small files)."""
    data = template_to_json(tpl)
    lines = []
    for key, value in data.items():
        if key in ("schemas", "events"):
            rows = ",\n".join(json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                              for v in value)
            lines.append(f'"{key}":[\n{rows}\n]')
        else:
            lines.append(f'"{key}":' + json.dumps(value, ensure_ascii=False,
                                                 separators=(",", ":")))
    return "{" + ",\n".join(lines) + "}\n"


@cache
def load_template(name: str) -> Template:
    """A shipped template by scenario name (``KeyError`` when there is none)."""
    if name not in TEMPLATE_NAMES:
        raise KeyError(f"no call template named {name!r}")
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return template_from_json(json.loads(text))
