"""Asterisk ``.conf`` files read the way Asterisk reads them, to catch mistakes before a reload.

Why: a mistake in ``extensions.conf`` does not stop Asterisk — ``pbx_config`` logs a warning,
drops the line and loads the rest, so one missing parenthesis quietly turns recorded calls into
unrecorded ones. (``asterisklint`` on PyPI knows Asterisk 11/13 and dialplans only.)

Shared syntax (``main/config.c``): ``[name]``; ``[name](!)`` a template; ``[name](tpl,…)``
copies earlier sections and ``[name](+)`` adds to an existing one — both must exist, else
Asterisk refuses the whole file; ``key = value`` or ``key => value``; ``;`` starts a comment
unless written ``\\;``; ``;-- … --;`` spans lines and nests (``;---`` is a plain comment);
``#include`` (missing file: the whole file is refused) and ``#tryinclude`` resolve from the
configuration folder; the included file starts in the includer's current section, and the
includer goes on in its own section afterwards.

The dialplan's own rules are checked by :mod:`cti.asterisk_dialplan`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CONTEXT_KEYS = frozenset({"exten", "same", "include", "switch", "lswitch", "eswitch",
                          "ignorepat", "autohints"})


@dataclass(frozen=True)
class ConfError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    file: str
    line: int


@dataclass
class Section:
    name: str
    file: str
    line: int
    template: bool = False
    bases: tuple[str, ...] = ()
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Config:
    sections: list[Section] = field(default_factory=list)
    errors: list[ConfError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name]

    def values(self, section: str, key: str, _seen: frozenset[str] = frozenset()) -> list[str]:
        """Every value of ``key`` in the sections called ``section``, inherited ones first."""
        out: list[str] = []
        for sec in self.named(section):
            for base in set(sec.bases) - _seen - {section}:
                out += self.values(base, key, _seen | {section})
            out += [e.value for e in sec.entries if e.key.lower() == key.lower()]
        return out


def _uncomment(line: str, depth: int) -> tuple[str, int]:
    """The line without comments, and the ``;-- --;`` nesting depth after it."""
    out, i = [], 0
    while i < len(line):
        opens = line.startswith(";--", i) and not line.startswith(";---", i)
        if depth:
            depth += opens - line.startswith("--;", i)
            i += 3 if opens or line.startswith("--;", i) else 1
        elif line.startswith("\\;", i):
            out.append(";")
            i += 2
        elif opens:
            depth, i = 1, i + 3
        elif line[i] == ";":
            break
        else:
            out.append(line[i])
            i += 1
    return "".join(out), depth


@dataclass
class _Loader:
    dirs: Sequence[Path]
    read: Callable[[Path], str]
    cfg: Config = field(default_factory=Config)
    current: Section | None = None

    def error(self, file: str, line: int, message: str) -> None:
        self.cfg.errors.append(ConfError(file, line, message))

    def text(self, text: str, name: str, stack: tuple[str, ...]) -> None:
        self.cfg.files.append(name)
        depth, no = 0, 0
        for no, raw in enumerate(text.splitlines(), 1):
            line, depth = _uncomment(raw, depth)
            line = line.strip()
            if line.startswith("#"):
                self.directive(line, name, no, stack)
            elif line.startswith("["):
                self.section(line, name, no)
            elif line:
                m = re.fullmatch(r"([^=]+?)\s*=>?\s*(.*)", line)
                if m is None:
                    self.error(name, no, f"expected 'key = value', got {line!r}")
                elif self.current is None:
                    self.error(name, no, f"'{m.group(1)}' outside any [section]")
                else:
                    self.current.entries.append(Entry(m.group(1), m.group(2), name, no))
        if depth:
            self.error(name, no, "';--' block comment never closed")

    def directive(self, line: str, file: str, no: int, stack: tuple[str, ...]) -> None:
        word, *rest = line.split(None, 1)
        arg = (rest[0] if rest else "").strip().strip('"<>').strip()
        if word == "#exec":
            return  # runs a program (asterisk.conf execincludes): nothing to read here
        if word not in ("#include", "#tryinclude") or not arg:
            self.error(file, no, f"unknown or empty directive {line!r}")
            return
        if Path(arg).is_absolute():
            found = [Path(arg)] if Path(arg).is_file() else []
        else:
            found = [p for d in self.dirs for p in sorted(d.glob(arg)) if p.is_file()]
            found = found if any(c in arg for c in "*?[") else found[:1]
        if not found and word == "#include":
            where = ", ".join(map(str, self.dirs))
            self.error(file, no, f"#include {arg}: no such file in {where}")
        for path in found:
            if str(path) in stack:
                self.error(file, no, f"#include {arg}: include loop")
                continue
            current = self.current
            try:
                self.text(self.read(path), str(path), (*stack, str(path)))
            except (OSError, UnicodeDecodeError) as exc:
                self.error(file, no, f"#include {arg}: {exc}")
            self.current = current

    def section(self, line: str, file: str, no: int) -> None:
        m = re.fullmatch(r"\[([^\]\[]+)\](?:\(([^()]*)\))?", line)
        if m is None:
            self.error(file, no, f"malformed section header {line!r}")
            return
        name, opts = m.group(1).strip(), [o.strip() for o in (m.group(2) or "").split(",")]
        known = {s.name for s in self.cfg.sections}
        if "+" in opts:
            if name in known:
                self.current = self.cfg.named(name)[-1]
            else:
                self.error(file, no, f"[{name}](+) adds to a section that does not exist yet")
            return
        bases = tuple(o for o in opts if o and o != "!")
        for base in set(bases) - known:
            self.error(file, no, f"[{name}] inherits unknown template '{base}'")
        self.current = Section(name, file, no, "!" in opts, bases)
        self.cfg.sections.append(self.current)


def parse(text: str, name: str = "<text>", dirs: Iterable[Path] = (Path("."),),
          read: Callable[[Path], str] = Path.read_text) -> Config:
    """Read one file's text; ``#include`` looks in ``dirs`` (Asterisk: its config folder)."""
    loader = _Loader(list(dirs), read)
    loader.text(text, name, (name,))
    return loader.cfg


def load(path: str | Path, include_dirs: Iterable[Path] = ()) -> Config:
    path = Path(path)
    return parse(path.read_text(), str(path), [path.parent, *include_dirs])
