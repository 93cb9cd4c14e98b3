"""Speech engines by name (layer 1): what a worker process calls to build its engine.

Models cannot cross a process boundary (they are C objects of hundreds of MB), so the worker
sends a name and settings — plain, picklable data — and the child process builds the engine
here. Each engine's library is imported only when that engine is asked for: a daemon set up
for pocketsphinx never loads vosk, and the other way round.
"""

from __future__ import annotations

from typing import Any

from cti.config import SPEECH_ENGINES
from cti.speech.transcriber import FakeTranscriber, Transcriber, TranscriberError

#: The engines ``speech.engine`` may name (``fake``, for tests, is not one).
ENGINES = SPEECH_ENGINES


def make_transcriber(engine: str, **settings: Any) -> Transcriber:
    """The engine called ``engine``, built with its ``settings``: ``vosk`` takes
    ``model_path`` and ``model_lang``; ``pocketsphinx`` takes ``nbest``; ``fake`` takes the
    :class:`FakeTranscriber` arguments. Raises :class:`TranscriberError` for an unknown engine
    or setting."""
    try:
        if engine == "pocketsphinx":
            from cti.speech.sphinx_engine import SphinxTranscriber

            return SphinxTranscriber(**settings)
        if engine == "vosk":
            from cti.speech.vosk_engine import VoskTranscriber

            return VoskTranscriber(**settings)
        if engine == "fake":
            return FakeTranscriber(**settings)
    except TypeError as exc:
        raise TranscriberError(f"speech engine {engine}: {exc}") from exc
    raise TranscriberError(f"unknown speech engine {engine!r}: use one of {', '.join(ENGINES)}")
