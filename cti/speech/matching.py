"""Finding phrases in a transcript despite recognition errors (layer 0, pure).

Speech engines get words slightly wrong ("acme" heard as "acne", "thank you" as "thank your"),
split them ("dupont" → "du pont") or glue them ("thankyou"). So a phrase is compared with
windows of consecutive words of one speaker, after normalisation (lowercase, accents stripped,
punctuation and apostrophes turned into spaces: "Merci d'avoir appelé" → "merci d avoir
appele"), using :class:`difflib.SequenceMatcher`'s ratio over the window's text. Windows of
n−1, n and n+1 words are tried for an n-word phrase, so one dropped, split or inserted word
does not hide it.

Why whole-window ratio rather than word-by-word: a ratio over ~15 characters absorbs one
wrong letter or a split word (ratio ≥ 0.9), while a single short word alone does not ("acme" vs
"acne" is 0.75). Phrasings therefore carry a little context ("welcome to {company}"), and a
scorecard lists several alternatives per rule.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise, product
from typing import TypeAlias

from cti.speech.metrics import MIXED, TimedWord

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_NOT_WORD = re.compile(r"[\W_]+")  # letters and digits of any script are words
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Variables may give several forms of a value ("Marie Dupont", "Dupont"): each is tried.
Variables: TypeAlias = Mapping[str, str | Sequence[str]]


def normalise(text: str) -> str:
    """Lowercase words without accents, separated by single spaces ("L'Été, à Noël!" →
    "l ete a noel"; Romanian "mulțumesc" → "multumesc")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(_NOT_WORD.sub(" ", bare).split())


def placeholders(phrase: str) -> list[str]:
    """The ``{name}`` variables a phrase uses."""
    return _PLACEHOLDER.findall(phrase)


def template_error(phrase: str) -> str | None:
    """Why a phrase is not a valid template (a stray brace), or ``None``."""
    if "{" in _PLACEHOLDER.sub("", phrase) or "}" in _PLACEHOLDER.sub("", phrase):
        return f"stray brace in {phrase!r} (variables are written {{name}})"
    return None


def expand(phrase: str, variables: Variables) -> list[str]:
    """The phrase with its variables filled in, once per combination of the values' forms.
    A variable that is missing or empty yields nothing: the phrase cannot be said (an unknown
    caller has no name to be called by)."""
    names = list(dict.fromkeys(placeholders(phrase)))
    choices: list[list[str]] = []
    for name in names:
        value = variables.get(name)
        forms = [value] if isinstance(value, str) else list(value or [])
        forms = [f for f in forms if isinstance(f, str) and normalise(f)]
        if not forms:
            return []
        choices.append(forms)
    return [_fill(phrase, dict(zip(names, combo, strict=True))) for combo in product(*choices)]


def _fill(phrase: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], phrase)


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # one normalised word
    word: int  # index of the transcript word it came from


def streams(words: Sequence[TimedWord]) -> dict[str, list[Token]]:
    """Each speaker's normalised words, in time order. A recognised "l'entreprise" gives two
    tokens of the same word; a punctuation-only "word" gives none."""
    out: dict[str, list[Token]] = {}
    for i, w in enumerate(words):
        stream = out.setdefault(w.speaker, [])
        stream.extend(Token(t, i) for t in normalise(w.text).split())
    return out


def tracks_for(speaker: str, all_streams: Mapping[str, list[Token]]) -> list[list[Token]]:
    """The streams a rule about ``speaker`` looks at: that speaker's and the ``mixed`` track
    (where anyone may have said it); ``any`` looks at every stream, one at a time, since a
    phrase is said by one person."""
    if speaker == "any":
        return list(all_streams.values())
    return [all_streams[s] for s in (speaker, MIXED) if s in all_streams]


@dataclass(frozen=True, slots=True)
class Match:
    phrase: str  # the phrase looked for, variables filled in
    similarity: float
    first: int  # first and last transcript word of the window
    last: int
    tokens: tuple[int, int]  # the window's token positions in its stream (half-open)
    quote: str  # the words as recognised


def _quote(stream: Sequence[Token], lo: int, hi: int, words: Sequence[TimedWord]) -> str:
    idx = list(dict.fromkeys(t.word for t in stream[lo:hi]))
    return " ".join(words[i].text.strip() for i in idx)


#: Longest pause (s) inside one spoken phrase.
PHRASE_GAP = 2.0


def scan(stream: Sequence[Token], words: Sequence[TimedWord], phrases: Iterable[str], *,
         threshold: float, start: float = 0.0, end: float = math.inf, nearest: bool = False,
         ) -> tuple[list[Match], Match | None]:
    """Occurrences of any of ``phrases`` in one speaker's stream, within the time window
    (a window of words counts if it overlaps ``[start, end]``): the non-overlapping matches
    with similarity ≥ ``threshold`` (best first when two compete for the same words, returned
    in time order), and with ``nearest`` the closest candidate overall — the evidence of what
    *was* said when nothing matched (looking for it costs more: fewer windows can be ruled out
    by their length alone)."""
    candidates: list[Match] = []
    closest: Match | None = None
    matcher = SequenceMatcher(None, autojunk=False)
    offsets = [0]
    for t in stream:
        offsets.append(offsets[-1] + len(t.text) + 1)
    # A phrase is said in one go: a window may not jump a pause longer than PHRASE_GAP
    # (else "…order number" at 0:02 and "thank you for calling" at 0:40 would "greet" at 0:02).
    breaks = [0]
    for a, b in pairwise(stream):
        breaks.append(breaks[-1] + (words[b.word].start - words[a.word].end > PHRASE_GAP))
    for phrase in phrases:
        target = normalise(phrase)
        n = len(target.split())
        if not n:
            continue
        matcher.set_seq2(target)
        for lo in range(len(stream)):
            for size in (n, n - 1, n + 1):
                hi = lo + size
                if size < 1 or hi > len(stream):
                    continue
                first, last = stream[lo].word, stream[hi - 1].word
                if words[first].start > end or words[last].end < start:
                    continue
                if breaks[hi - 1] - breaks[lo]:
                    continue
                best = closest.similarity if closest else -1.0
                floor = min(threshold, best) if nearest else threshold
                length = offsets[hi] - offsets[lo] - 1
                if 2.0 * min(length, len(target)) / (length + len(target)) < floor:
                    continue  # SequenceMatcher.real_quick_ratio, without building the text
                matcher.set_seq1(" ".join(t.text for t in stream[lo:hi]))
                if matcher.quick_ratio() < floor:
                    continue
                sim = matcher.ratio()
                if sim < floor:
                    continue
                m = Match(phrase, sim, first, last, (lo, hi), _quote(stream, lo, hi, words))
                if nearest and sim > best:
                    closest = m
                if sim >= threshold:
                    candidates.append(m)
    taken: list[Match] = []
    for m in sorted(candidates, key=lambda m: (-m.similarity, m.tokens)):
        if all(m.tokens[1] <= t.tokens[0] or t.tokens[1] <= m.tokens[0] for t in taken):
            taken.append(m)
    return sorted(taken, key=lambda m: m.tokens), closest


def clock(seconds: float) -> str:
    """``m:ss.s`` — how a time in the call reads in a detail line (75.25 → "1:15.2")."""
    if not math.isfinite(seconds):
        return "end" if seconds > 0 else "?"
    minutes, rest = divmod(round(max(seconds, 0.0), 1), 60.0)
    return f"{int(minutes)}:{rest:04.1f}"
