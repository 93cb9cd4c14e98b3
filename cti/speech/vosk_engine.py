"""The vosk engine (Kaldi): the accurate one (the only module that imports :mod:`vosk`).

Which model: ``model_path`` (``speech.vosk_model_path``), a folder unpacked from a vosk model
archive or shipped by a package; else a language (``speech.vosk_model_lang``, else the
transcription's ``speech.language``), which vosk looks up in its own places
(``$VOSK_MODEL_PATH``, ``/usr/share/vosk``, ``~/.cache/vosk``) and, when none holds a model of
that language, downloads the small one into ``~/.cache/vosk`` — on a machine that can reach
vosk's model site. Small models (40–90 MB) are meant for phones and suit 8 kHz calls; the
big ones are better and need gigabytes of memory per worker process.

A model takes a second or more to load, so it is loaded once per process and kept (the worker's
processes transcribe one recording after another). Audio comes from :func:`cti.audio.prepare`:
16 kHz mono PCM, fed to a ``KaldiRecognizer`` with word times on (``SetWords``); vosk cuts
the stream at its own endpoints and gives every word's start, end and confidence.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import vosk  # type: ignore[import-untyped]

from cti.audio import SPEECH_RATE, prepare
from cti.speech.transcriber import TranscriberError, Transcript, Word, normalise_language

#: Bytes of PCM handed to the recognizer at a time (0.5 s).
CHUNK = SPEECH_RATE
#: Tokens vosk gives for what its vocabulary does not hold.
_UNKNOWN = frozenset({"[unk]", "<unk>"})
_lock = threading.Lock()


class _Model(vosk.Model):  # type: ignore[misc]
    """vosk's model, minus the noise its ``__del__`` makes (an AttributeError printed on
    stderr) when loading failed before the C handle existed."""

    def __del__(self) -> None:
        if hasattr(self, "_handle"):
            super().__del__()


@lru_cache(maxsize=2)
def _model(path: str | None, lang: str | None) -> Any:
    vosk.SetLogLevel(-1)  # Kaldi's start-up log goes to stderr otherwise
    where = path or f"language {lang!r}"
    if path is not None and not any(Path(path, part).is_dir() for part in ("am", "conf")):
        raise TranscriberError(f"vosk: {path} is not a vosk model folder (no am/ or conf/ in it)")
    try:
        if path is not None:
            return _Model(model_path=path)
        return _Model(lang=lang)
    except SystemExit as exc:  # vosk exits on a language its model list does not know
        raise TranscriberError(f"vosk: no model for {where}{_HINT if lang else ''}") from exc
    except Exception as exc:  # requests' errors (no network), "Failed to create a model"
        why = f"{type(exc).__name__}: {str(exc)[:160]}"
        raise TranscriberError(f"vosk: cannot load a model for {where} ({why})"
                               f"{_HINT if lang else ''}") from exc


_HINT = ("; vosk looks in $VOSK_MODEL_PATH, /usr/share/vosk and ~/.cache/vosk, then downloads "
         "the language's small model: unpack one there or set speech.vosk_model_path")


class VoskTranscriber:
    """vosk with the model at ``model_path``, or vosk's model for ``model_lang`` (default:
    the language of each transcription)."""

    name = "vosk"

    def __init__(self, *, model_path: str | None = None, model_lang: str | None = None) -> None:
        self.model_path = str(Path(model_path).expanduser()) if model_path else None
        self.model_lang = normalise_language(model_lang) if model_lang else None

    def transcribe(self, path: str, language: str) -> Transcript:
        lang = self.model_lang or normalise_language(language)
        with _lock:  # loading is not thread-safe; recognizers are one per call
            model = _model(self.model_path, None if self.model_path else lang)
        pcm = prepare(path, SPEECH_RATE)
        recognizer = vosk.KaldiRecognizer(model, SPEECH_RATE)
        recognizer.SetWords(True)
        results: list[str] = []
        for i in range(0, len(pcm), CHUNK):
            if recognizer.AcceptWaveform(pcm[i:i + CHUNK]):
                results.append(recognizer.Result())
        results.append(recognizer.FinalResult())
        words: list[Word] = []
        for raw in results:
            for w in json.loads(raw).get("result", ()):
                text = str(w.get("word", ""))
                if not text or text in _UNKNOWN:
                    continue
                words.append(Word(text, round(float(w["start"]), 3), round(float(w["end"]), 3),
                                  round(float(w.get("conf", 1.0)), 3)))
        return Transcript(self.name, lang, tuple(words), round(len(pcm) / (2 * SPEECH_RATE), 3))
