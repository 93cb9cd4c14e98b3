"""What a speech engine gives back, and the seam every engine fits (layer 0, pure).

A transcript is a list of recognised words, each with its start and end in seconds from the
start of the recording and the engine's confidence (0..1). Words, not sentences, because
everything after speech-to-text works on words and times: the search index, the quality
scorecard (who said the greeting, how long the silences were), the player that highlights
the word being heard.

Why the seam is synchronous: transcribing is CPU-bound (seconds per minute of audio) and the
worker runs it in a **process pool**, never on the event loop. Models cannot be pickled, so a
child process builds its engine by name (:func:`cti.speech.engines.make_transcriber`) and
hands back :meth:`Transcript.to_json`, plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cti.errors import CtiError

#: A pause this long (seconds) between two words starts a new :class:`Segment`.
SEGMENT_PAUSE = 0.8


class TranscriberError(CtiError):
    """The engine cannot run: unknown engine, unsupported language, a model that is missing,
    cannot be downloaded or fails to load. (An unreadable recording is an ``AudioError``.)"""


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds from the start of the recording
    end: float
    conf: float = 1.0  # the engine's confidence, 0..1

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "start": round(self.start, 3), "end": round(self.end, 3),
                "conf": round(self.conf, 3)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Word:
        return cls(str(data["text"]), float(data["start"]), float(data["end"]),
                   float(data.get("conf", 1.0)))


@dataclass(frozen=True, slots=True)
class Segment:
    """Words said without a long pause: roughly one turn of speech."""

    start: float
    end: float
    words: tuple[Word, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": round(self.start, 3), "end": round(self.end, 3),
                               "text": self.text, "words": [w.to_json() for w in self.words]}
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Segment:
        speaker = data.get("speaker")
        return cls(float(data["start"]), float(data["end"]),
                   tuple(Word.from_json(w) for w in data.get("words", ())),
                   None if speaker is None else str(speaker))


@dataclass(frozen=True, slots=True)
class Transcript:
    """One recording's words. ``speaker`` is set when the file holds one party only (a leg
    recorded on its own); a mixed MixMonitor file has ``None``."""

    engine: str
    language: str
    words: tuple[Word, ...]
    duration: float  # seconds of audio transcribed
    speaker: str | None = None

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def segments(self, pause: float = SEGMENT_PAUSE) -> tuple[Segment, ...]:
        """The words cut wherever nobody spoke for ``pause`` seconds or more."""
        out: list[Segment] = []
        run: list[Word] = []
        for word in self.words:
            if run and word.start - run[-1].end >= pause:
                out.append(Segment(run[0].start, run[-1].end, tuple(run), self.speaker))
                run = []
            run.append(word)
        if run:
            out.append(Segment(run[0].start, run[-1].end, tuple(run), self.speaker))
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "language": self.language,
                               "duration": round(self.duration, 3),
                               "words": [w.to_json() for w in self.words]}
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Transcript:
        speaker = data.get("speaker")
        return cls(str(data["engine"]), str(data["language"]),
                   tuple(Word.from_json(w) for w in data.get("words", ())),
                   float(data.get("duration", 0.0)), None if speaker is None else str(speaker))


class Transcriber(Protocol):
    """A speech engine. ``transcribe`` blocks (CPU-bound): call it in a worker process.

    Raises ``cti.audio.AudioError`` for a recording it cannot read and
    :class:`TranscriberError` when the engine itself cannot run."""

    name: str

    def transcribe(self, path: str, language: str) -> Transcript: ...


class FakeTranscriber:
    """The in-memory engine for tests of what comes after speech-to-text: gives back the same
    words (or, per file name, the words given for that file) for any recording."""

    name = "fake"

    def __init__(self, words: Sequence[Word] = (), duration: float = 0.0,
                 by_file: Mapping[str, Sequence[Word]] | None = None) -> None:
        self.words = tuple(words)
        self.duration = duration
        self.by_file = {k: tuple(v) for k, v in (by_file or {}).items()}
        self.calls: list[tuple[str, str]] = []

    def transcribe(self, path: str, language: str) -> Transcript:
        self.calls.append((path, language))
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        words = self.by_file.get(name, self.words)
        duration = max(self.duration, max((w.end for w in words), default=0.0))
        return Transcript(self.name, language, words, duration)


def normalise_language(language: str) -> str:
    """``en_US``, ``EN-us`` → ``en-us``: the spelling vosk's model list and this code use."""
    return language.strip().replace("_", "-").lower()
