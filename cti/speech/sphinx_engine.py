"""The pocketsphinx engine: the zero-download default (the only module that imports
:mod:`pocketsphinx`).

The ``pocketsphinx`` wheel (≥ 5) carries a US English model (acoustic model, a general
language model and the CMU dictionary), so ``cti demo`` and CI transcribe offline out of the
box, with nothing to fetch. It is far less accurate than vosk on telephone audio (its model is
wideband, calls are 8 kHz): good enough to find the words of a greeting or a keyword, not to
read a call back. Set ``speech.engine = "vosk"`` with a model for real use.

How a recording is read:

* :func:`cti.audio.prepare` gives 16 kHz mono PCM (pocketsphinx refuses 8 kHz input), with a
  -60 dBFS noise floor: digital silence (exact zeros) otherwise throws off its features.
* pocketsphinx's own voice-activity endpointer cuts the audio into stretches of speech, each
  decoded as one utterance: memory stays bounded on an hour-long call, and the silences in
  between cost nothing.
* Word times come from frames (``frate``, 100 per second) plus the stretch's start. Fillers
  (``<sil>``, ``[NOISE]``…) are dropped and alternate pronunciations (``refund(2)``) named by
  their word.
* Confidence: pocketsphinx's Python API gives no word posteriors (every word reads 1.0), so a
  word's confidence is the share of the utterance's ``nbest`` best hypotheses that also hold
  it, aligned in order: 1.0 when every alternative agrees, low for a word the decoder was
  unsure of.
"""

from __future__ import annotations

import difflib
import io
import itertools
import re
import threading
from typing import Any

from pocketsphinx import Decoder, Segmenter  # type: ignore[import-untyped]

from cti.audio import SPEECH_RATE, prepare
from cti.speech.transcriber import TranscriberError, Transcript, Word, normalise_language

#: Languages the bundled model speaks.
LANGUAGES = frozenset({"en", "en-us"})
#: Level (dBFS) of the noise laid under the audio (see :func:`cti.audio.prepare`).
NOISE_FLOOR = -60.0
_ALTERNATE = re.compile(r"\(\d+\)$")

# One decoder per process, built on first use (0.2 s: loading the model) and reused: the worker
# runs one recording at a time per process; the lock covers callers that use threads.
_decoder: Any = None
_lock = threading.Lock()


def _get_decoder() -> Any:
    global _decoder
    if _decoder is None:
        try:
            _decoder = Decoder(samprate=SPEECH_RATE, loglevel="FATAL")
        except (RuntimeError, ValueError, OSError) as exc:
            raise TranscriberError(f"pocketsphinx: cannot load its model ({exc})") from exc
    return _decoder


def _is_filler(word: str) -> bool:
    return word[:1] in "<[+" or not word


def _agreement(best: list[str], alternatives: list[list[str]]) -> list[float]:
    """For each word of ``best``, the share of ``alternatives`` that hold it in the same place
    (aligned in order)."""
    if not alternatives:
        return [1.0] * len(best)
    counts = [0] * len(best)
    for alt in alternatives:
        matcher = difflib.SequenceMatcher(None, best, alt, autojunk=False)
        for block in matcher.get_matching_blocks():
            for i in range(block.a, block.a + block.size):
                counts[i] += 1
    return [c / len(alternatives) for c in counts]


class SphinxTranscriber:
    """pocketsphinx with its bundled en-us model. ``nbest``: hypotheses compared for each
    word's confidence (0: no confidence, every word 1.0)."""

    name = "pocketsphinx"

    def __init__(self, *, nbest: int = 10) -> None:
        if nbest < 0:
            raise TranscriberError("pocketsphinx: nbest must be 0 or more")
        self.nbest = nbest

    def transcribe(self, path: str, language: str) -> Transcript:
        lang = normalise_language(language)
        if lang not in LANGUAGES:
            raise TranscriberError(
                f"pocketsphinx speaks only en-us (its bundled model), not {language!r}: "
                "set speech.engine = \"vosk\" with a model of that language")
        pcm = prepare(path, SPEECH_RATE, noise_floor=NOISE_FLOOR)
        with _lock:
            words = self._decode(_get_decoder(), pcm)
        return Transcript(self.name, "en-us", tuple(words),
                          round(len(pcm) / (2 * SPEECH_RATE), 3))

    def _decode(self, decoder: Any, pcm: bytes) -> list[Word]:
        frate = float(decoder.config["frate"])
        words: list[Word] = []
        segmenter = Segmenter(sample_rate=SPEECH_RATE)
        for speech in segmenter.segment(io.BytesIO(pcm)):
            decoder.start_utt()
            decoder.process_raw(speech.pcm, full_utt=True)
            decoder.end_utt()
            found = [(_ALTERNATE.sub("", s.word), s.start_frame, s.end_frame)
                     for s in decoder.seg() if not _is_filler(s.word)]
            if not found:
                continue
            alternatives: list[list[str]] = []
            if self.nbest:
                alternatives = [h.hypstr.split() for h in
                                itertools.islice(decoder.nbest(), self.nbest) if h is not None]
            confs = _agreement([w for w, _, _ in found], alternatives)
            offset = float(speech.start_time)
            for (text, first, last), conf in zip(found, confs, strict=True):
                start = offset + first / frate
                end = offset + (last + 1) / frate
                words.append(Word(text, round(start, 3), round(end, 3), round(conf, 3)))
        return words
