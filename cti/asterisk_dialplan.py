"""Dialplan rules on top of :mod:`cti.asterisk_conf` (which reads the files as Asterisk does).

Dialplan (``pbx/pbx_config.c``): every section but ``[general]``/``[globals]`` is a context
(same-named ones merge); ``exten => ext,prio[(label)],App(args)``; ``same =>`` continues the
context's previous extension; a priority is a number, ``n`` (previous + 1), ``s`` (same),
``hint`` or ``label+offset``; a second entry for one priority is dropped with a warning. Literal
targets (no ``${…}``) of Goto/GotoIf/Gosub/GosubIf/ExecIf, Dial ``U()``/``b()``/``B()`` and
Queue's ``gosub`` argument must exist: context, a matching extension, the label.

``python -m cti.asterisk_dialplan FILE...`` checks files (their includes too) and prints each
error as ``file:line: message``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cti.asterisk_conf import (
    CONTEXT_KEYS,
    ConfError,
    Config,
    Entry,
    Section,
    load,
)

#: Contexts other modules create (res_parking), so an ``include =>`` of them is fine.
EXTERNAL_CONTEXTS = frozenset({"parkedcalls"})
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_PRIORITY = re.compile(r"(?:(\d+)|(n|s|hint)|(\w+)\s*([+-]\s*\d+))\s*(?:\(([^()]+)\))?")


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    priority: int
    label: str
    app: str
    args: str
    file: str
    line: int


@dataclass
class Context:
    name: str
    steps: list[Step] = field(default_factory=list)
    includes: list[Entry] = field(default_factory=list)  # value: the included context
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # exten → label → prio


@dataclass
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)
    errors: list[ConfError] = field(default_factory=list)

    def steps(self, app: str | None = None) -> list[Step]:
        return [s for c in self.contexts.values() for s in c.steps
                if app is None or s.app.lower() == app.lower()]

    def error(self, at: Entry | Step, message: str) -> None:
        self.errors.append(ConfError(at.file, at.line, message))


def split_top(text: str, seps: str) -> list[str]:
    """Split at separators outside ``()``/``[]``/``{}``, as Asterisk splits arguments."""
    parts, cur, depth, escaped = [], "", 0, False
    for c in text:
        if not escaped and c in seps and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += c
        if not escaped:
            depth += (c in _PAIRS) - (c in _PAIRS.values() and depth > 0)
        escaped = c == "\\" and not escaped
    return [*parts, cur]


def _unbalanced(text: str) -> str | None:
    stack: list[str] = []
    escaped = False
    for c in text:
        if not escaped and c in _PAIRS:
            stack.append(_PAIRS[c])
        elif not escaped and c in _PAIRS.values() and (not stack or stack.pop() != c):
            return f"unexpected '{c}'"
        escaped = c == "\\" and not escaped
    return f"missing '{stack[-1]}'" if stack else None


def matches(pattern: str, exten: str) -> bool:
    """Asterisk extension matching: ``_`` patterns with X, Z, N, ``[…]``, ``.`` and ``!``."""
    pattern = pattern.split("/")[0]  # exten/callerid
    if not pattern.startswith("_"):
        return pattern == exten
    rx, i = "", 1
    while i < len(pattern):
        c = pattern[i]
        if c == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            rx, i = rx + "[" + pattern[i + 1:end].replace("\\", "\\\\").lstrip("^") + "]", end
        else:
            special = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
            rx += special.get(c.upper(), re.escape(c))
        i += 1
    return re.fullmatch(rx, exten) is not None


def _context(plan: Dialplan, sec: Section, seen: dict[tuple[str, str, int], Step]) -> None:
    ctx = plan.contexts.setdefault(sec.name, Context(sec.name))
    last_exten, last = "", 0
    for e in sec.entries:
        key = e.key.lower()
        if key not in CONTEXT_KEYS:
            plan.error(e, f"unknown dialplan keyword '{e.key}' in [{sec.name}]")
        elif key == "include":
            ctx.includes.append(replace(e, value=split_top(e.value, ",")[0].strip()))
        elif key in ("exten", "same"):
            fields = e.value.split(",", 2) if key == "exten" else [last_exten,
                                                                  *e.value.split(",", 1)]
            exten = fields[0].strip()
            if not exten or len(fields) < 3:
                plan.error(e, "'same =>' without an 'exten =>' before it in this context"
                           if not exten and key == "same" else
                           f"expected 'extension,priority,Application(...)': {e.value!r}")
                continue
            labels = ctx.labels.setdefault(exten, {})
            m = _PRIORITY.fullmatch(fields[1].strip())
            if m is None or (m.group(3) and m.group(3) not in ("n", "s", *labels)):
                plan.error(e, f"unknown priority label '{m.group(3)}' for {exten}" if m else
                           f"bad priority {fields[1].strip()!r}")
                continue
            num, word, base, offset, label = m.groups()
            if num:
                prio = int(num)
            elif word:
                prio = {"n": last + 1, "s": last, "hint": -1}[word]
            else:  # n+2, s+1, label+101
                start = {"n": last + 1, "s": last}.get(base, labels.get(base, 0))
                prio = start + int(offset.replace(" ", ""))
            if prio == 0 or prio < -1:
                plan.error(e, f"priority {fields[1].strip()!r} gives {prio}: priorities start at 1")
                continue
            if label and label in labels:
                plan.error(e, f"duplicate label '{label}' in extension {exten}")
            if label:
                labels[label] = prio
            last_exten, last = exten, prio if prio > 0 else last
            first = seen.get((ctx.name, exten, prio))
            if first is not None:
                plan.error(e, f"duplicate priority {prio} of extension {exten} in [{ctx.name}] "
                              f"(first at {first.file}:{first.line})")
            else:
                _step(plan, ctx, e, exten, prio, label or "", fields[2].strip(), seen)


def _step(plan: Dialplan, ctx: Context, e: Entry, exten: str, prio: int, label: str, rest: str,
          seen: dict[tuple[str, str, int], Step]) -> None:
    """``App(args)`` (Asterisk strips the *last* ``)``), or the old ``App,args``."""
    app, args = "hint", rest
    if prio != -1:
        comma, paren = rest.find(","), rest.find("(")
        if paren < 0 or 0 <= comma < paren:
            app, _, args = rest.partition(",")
        else:
            app, args = rest[:paren], rest[paren + 1:]
            close = args.rfind(")")
            if close < 0 or args[close + 1:].strip():
                what = "missing ')'" if close < 0 else "text after the closing ')'"
                plan.error(e, f"{app.strip()}: {what} in {rest!r}")
                return
            args = args[:close]
        app = app.strip()
        problem = _unbalanced(args) if re.fullmatch(r"[A-Za-z]\w*", app) else "bad name"
        if problem:
            plan.error(e, f"{app or 'application'}: {problem} in {rest!r}")
            return
    step = Step(ctx.name, exten, prio, label, app, args, e.file, e.line)
    seen[(ctx.name, exten, prio)] = step
    ctx.steps.append(step)


def _targets(app: str, args: str) -> list[list[str]]:
    """``[[context,]exten,]priority`` targets an application jumps or calls to."""
    name, parts = app.lower(), split_top(args, ",")
    if name in ("goto", "gosub"):
        return [parts]
    if name in ("gotoif", "gosubif", "execif"):
        cond = split_top(args, "?")
        branches = [b for b in split_top("?".join(cond[1:]), ":") if b.strip()][:2]
        if name != "execif":
            return [split_top(b, ",") for b in branches if len(cond) > 1]
        inner = [re.fullmatch(r"\s*(\w+)\((.*)\)\s*", b, re.S) for b in branches]
        return [t for m in inner if m for t in _targets(m.group(1), m.group(2))]
    if name == "dial" and len(parts) > 2:
        found = re.findall(r"([UbB])\(([^)]*)\)", parts[2])
        subs = [[p.split("^")[0], "s", "1"] if o == "U" else p.split("^") for o, p in found]
        return [t for t in subs if len(t) == 3]  # b(exten^prio) is relative to the callee
    if name == "queue" and len(parts) > 6 and parts[6].strip():
        return [[parts[6].strip(), "s", "1"]]
    return []


def _find(plan: Dialplan, ctx: str, exten: str, label: str, seen: set[str]) -> bool:
    """Is there an extension matching ``exten`` (with ``label``, if given) here or included?"""
    context = plan.contexts.get(ctx)
    if context is None or ctx in seen:
        return False
    seen.add(ctx)
    if label and exten in context.labels:  # Asterisk looks in the best match: the literal one
        return label in context.labels[exten]
    if any((p == exten or matches(p, exten)) and (not label or label in labels)
           for p, labels in context.labels.items()):
        return True
    return any(_find(plan, inc.value, exten, label, seen) for inc in context.includes)


def dialplan(cfg: Config) -> Dialplan:
    """The contexts of an ``extensions.conf`` (and its includes), with their errors."""
    plan, seen = Dialplan(), dict[tuple[str, str, int], Step]()
    for sec in cfg.sections:
        if sec.name.lower() not in ("general", "globals") and not sec.template:
            _context(plan, sec, seen)
    for step in plan.steps():
        for target in _targets(step.app, step.args):
            target = [re.sub(r"\(.*\)$", "", t.strip(), flags=re.S) for t in target]
            if not 1 <= len(target) <= 3 or any("$" in t or not t for t in target):
                continue  # computed at run time
            ctx, exten, prio = [step.context, step.exten][:3 - len(target)] + target
            where = f"{step.app}({step.args})"
            if ctx not in plan.contexts:
                plan.error(step, f"unknown context '{ctx}' in {where}")
            elif not _find(plan, ctx, exten, "", set()):
                plan.error(step, f"no extension '{exten}' in [{ctx}] for {where}")
            elif not prio.isdigit() and not _find(plan, ctx, exten, prio, set()):
                plan.error(step, f"unknown priority label '{prio}' in {where}")
    for context in plan.contexts.values():
        for inc in context.includes:
            if inc.value not in plan.contexts and inc.value not in EXTERNAL_CONTEXTS:
                plan.error(inc, f"[{context.name}] includes unknown context '{inc.value}'")
    return plan


def check(path: str | Path, include_dirs: Iterable[Path] = ()) -> list[ConfError]:
    """Every error in one file (and its includes); dialplan rules for ``extensions*.conf``."""
    cfg = load(path, include_dirs)
    return cfg.errors + (dialplan(cfg).errors if Path(path).name.startswith("extensions") else [])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cti.asterisk_conf FILE...``; includes are looked up beside every file."""
    files = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    dirs = list(dict.fromkeys(f.parent for f in files))
    errors = [e for f in files for e in check(f, dirs)]
    for e in errors:
        print(e)
    print(f"{len(files)} file(s), {len(errors)} error(s)", file=sys.stderr)
    return 1 if errors or not files else 0


if __name__ == "__main__":
    raise SystemExit(main())
