"""Who spoke when: speaker-attributed words and the timing metrics of a call (layer 0, pure).

A recording reaches the speech worker in one of two shapes. With **per-party legs** (MixMonitor's
``r()``/``t()`` options, or one recording per channel) each leg is transcribed on its own and
:func:`merge_speakers` attributes every word to ``agent`` or ``caller``. With a **mixed mono
file** (MixMonitor's default) nobody can tell the voices apart, so :func:`single_track` puts every
word on one ``mixed`` track; the metrics that need two parties (agent ratio, overtalk) are then
``None``/0 and the scorecard treats ``mixed`` words as said by whoever a rule asks for.

Talk time is measured from word spans, not from the audio: a speaker's consecutive words whose
gap is at most ``join`` seconds (breathing between words) form one stretch of talk. Silence is
the time inside the call that nobody's stretch covers, the edges included (an agent who says
nothing for 12 s after answering *is* a 12 s silence).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

AGENT = "agent"
CALLER = "caller"
MIXED = "mixed"  # one track for everybody (a mixed mono recording)


class TimedText(Protocol):
    """A recognised word with its times in seconds from the start of the recording — what a
    speech engine gives (``cti.speech.transcriber.Word`` fits)."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


class SpokenWord(TimedText, Protocol):
    """A recognised word attributed to a speaker (``agent``, ``caller`` or ``mixed``)."""

    @property
    def speaker(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TimedWord:
    text: str
    start: float
    end: float
    speaker: str = MIXED
    conf: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "start": _r(self.start), "end": _r(self.end),
                "speaker": self.speaker, "conf": _r(self.conf)}


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, float]:
        return {"start": _r(self.start), "end": _r(self.end), "seconds": _r(self.seconds)}


def _attributed(words: Iterable[TimedText], speaker: str) -> list[TimedWord]:
    out = []
    for w in words:
        conf = getattr(w, "conf", 1.0)
        out.append(TimedWord(w.text, float(w.start), float(w.end), speaker,
                             float(conf) if isinstance(conf, int | float) else 1.0))
    return out


def merge_speakers(agent_words: Iterable[TimedText],
                   caller_words: Iterable[TimedText]) -> list[TimedWord]:
    """The two legs' words on one time line, each tagged with its speaker. Ties keep the agent
    first (a stable sort), so the result does not depend on dictionary or set order."""
    both = _attributed(agent_words, AGENT) + _attributed(caller_words, CALLER)
    return sorted(both, key=lambda w: (w.start, w.end))


def single_track(words: Iterable[TimedText]) -> list[TimedWord]:
    """The words of a mixed mono recording, time-ordered, all on the ``mixed`` track."""
    return sorted(_attributed(words, MIXED), key=lambda w: (w.start, w.end))


def clean(words: Iterable[SpokenWord]) -> list[TimedWord]:
    """Words fit for measuring: non-finite times dropped, negative times clamped to 0, an end
    before its start moved up to the start, time-ordered. Engines do emit such words (a
    zero-length word at a chunk boundary, a rounding that puts ``end`` before ``start``)."""
    out = []
    for w in words:
        start, end = float(w.start), float(w.end)
        if not (math.isfinite(start) and math.isfinite(end)):
            continue
        start = max(0.0, start)
        conf = getattr(w, "conf", 1.0)
        speaker = getattr(w, "speaker", MIXED)  # a bare engine word: one mixed track
        out.append(TimedWord(str(w.text), start, max(start, end), str(speaker),
                             float(conf) if isinstance(conf, int | float) else 1.0))
    return sorted(out, key=lambda w: (w.start, w.end))


@dataclass(frozen=True, slots=True)
class CallMetrics:
    """Timing of one call. Per-speaker values are keyed by speaker; ``agent_ratio`` is the
    agent's share of the agent+caller talk time (``None`` on a mixed track or with no talk).
    ``pauses`` lists every silence of at least ``pause`` seconds; those shorter than ``hold``
    count as ``long_pauses``, the others as ``holds`` (nobody speaks for that long unless the
    caller was put on hold or the agent left the line)."""

    duration: float
    talk_seconds: Mapping[str, float]
    word_counts: Mapping[str, int]
    words_per_minute: Mapping[str, float]
    agent_ratio: float | None
    silence_total: float
    longest_silence: float
    longest_silence_at: Span | None
    overtalk_seconds: float
    pauses: tuple[Span, ...]
    long_pauses: int
    holds: int

    def talk(self, speaker: str) -> float:
        return self.talk_seconds.get(speaker, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": _r(self.duration),
            "talk_seconds": {k: _r(v) for k, v in self.talk_seconds.items()},
            "word_counts": dict(self.word_counts),
            "words_per_minute": {k: _r(v) for k, v in self.words_per_minute.items()},
            "agent_ratio": None if self.agent_ratio is None else _r(self.agent_ratio),
            "silence_total": _r(self.silence_total),
            "longest_silence": _r(self.longest_silence),
            "longest_silence_at": (None if self.longest_silence_at is None
                                   else self.longest_silence_at.to_json()),
            "overtalk_seconds": _r(self.overtalk_seconds),
            "pauses": [p.to_json() for p in self.pauses],
            "long_pauses": self.long_pauses,
            "holds": self.holds,
        }


def talk_spans(words: Sequence[TimedWord], join: float) -> list[Span]:
    """A speaker's stretches of talk: word spans merged across gaps of at most ``join`` s."""
    spans: list[Span] = []
    for w in sorted(words, key=lambda w: w.start):
        if spans and w.start - spans[-1].end <= join:
            if w.end > spans[-1].end:
                spans[-1] = Span(spans[-1].start, w.end)
        else:
            spans.append(Span(w.start, w.end))
    return spans


def _union(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: s.start):
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return out


def _overtalk(per_speaker: Mapping[str, list[Span]]) -> float:
    """Seconds during which at least two different speakers' stretches overlap (a sweep over
    start/end events; ends sort before starts at the same instant so touching spans don't
    count)."""
    events = sorted((t, delta) for spans in per_speaker.values() for s in spans
                    for t, delta in ((s.start, 1), (s.end, -1)))
    total, active, since = 0.0, 0, 0.0
    for t, delta in events:
        if active >= 2:
            total += t - since
        active += delta
        since = t
    return total


def metrics(words: Sequence[SpokenWord], duration: float, *, pause: float = 2.0,
            hold: float = 20.0, join: float = 0.5) -> CallMetrics:
    """Measure a call from its speaker-attributed words. ``duration`` is the recording's length
    in seconds; if a word ends later (a rounded length), the call is taken to last until then."""
    ws = clean(words)
    total = float(max(duration if math.isfinite(duration) else 0.0, 0.0,
                      max((w.end for w in ws), default=0.0)))
    by_speaker: dict[str, list[TimedWord]] = {}
    for w in ws:
        by_speaker.setdefault(w.speaker, []).append(w)
    spans = {sp: talk_spans(group, join) for sp, group in by_speaker.items()}
    talk = {sp: sum(s.seconds for s in group) for sp, group in spans.items()}
    counts = {sp: sum(1 for w in group if w.text.strip()) for sp, group in by_speaker.items()}
    wpm = {sp: (counts[sp] * 60.0 / talk[sp] if talk[sp] > 0 else 0.0) for sp in by_speaker}
    parties = talk.get(AGENT, 0.0) + talk.get(CALLER, 0.0)
    ratio = talk.get(AGENT, 0.0) / parties if parties > 0 else None

    silences: list[Span] = []
    cursor = 0.0
    for s in _union(s for group in spans.values() for s in group):
        if s.start > cursor:
            silences.append(Span(cursor, s.start))
        cursor = max(cursor, s.end)
    if total > cursor:
        silences.append(Span(cursor, total))
    longest = max(silences, key=lambda s: s.seconds, default=None)
    pauses = tuple(s for s in silences if s.seconds >= pause)
    return CallMetrics(
        duration=total, talk_seconds=talk, word_counts=counts, words_per_minute=wpm,
        agent_ratio=ratio, silence_total=sum(s.seconds for s in silences),
        longest_silence=longest.seconds if longest else 0.0, longest_silence_at=longest,
        overtalk_seconds=_overtalk(spans), pauses=pauses,
        long_pauses=sum(1 for s in pauses if s.seconds < hold),
        holds=sum(1 for s in pauses if s.seconds >= hold))


def _r(x: float) -> float:
    return round(x, 3)
