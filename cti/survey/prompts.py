"""The survey's voice prompts: their text in French and English, and the generator that speaks
them with espeak-ng into ``dialplan/sounds/<lang>/<prompt>.wav``.

``python -m cti.survey.prompts`` (re)writes every prompt; ``--check`` only checks the files
(what the tests do). The WAVs are committed: a PBX needs no espeak-ng, and a re-run after a
text change rewrites only the files — nothing else refers to their content.

Format: 8 kHz, mono, 16-bit signed PCM (``slin``), the native format of Asterisk's core for
narrowband calls: ``sound:cti/survey-q1`` then plays with no transcoding but the codec's own
(µ-law/A-law/G.722 by the channel). espeak-ng speaks at 22,050 Hz, so the generator resamples
with a windowed-sinc low-pass at 3.6 kHz (below the 4 kHz Nyquist limit of 8 kHz: no
aliasing whistle), in plain Python — slow-ish (seconds), but it runs once and needs nothing
but espeak-ng.

Asterisk finds ``sound:cti/survey-q1`` as ``<astdatadir>/sounds/<lang>/cti/survey-q1.wav``, the
language being the one the survey asks for (the ``lang`` of the playback): mount or copy
``dialplan/sounds/en`` to ``/var/lib/asterisk/sounds/en/cti`` and ``…/fr`` to ``…/fr/cti``.
"""

from __future__ import annotations

import argparse
import math
import operator
import shutil
import subprocess
import sys
import wave
from array import array
from pathlib import Path

from cti import pcm

RATE = 8000
ROOT = Path(__file__).resolve().parent.parent.parent
SOUNDS = ROOT / "dialplan" / "sounds"
VOICES = {"en": "en-us", "fr": "fr-fr"}

#: prompt name → language → text. ``survey-q<n>`` are the default questions' prompts.
TEXTS: dict[str, dict[str, str]] = {
    "survey-intro": {
        "en": "Thank you for calling. Please stay on the line for a short survey about your "
              "call. Answer each question with a key from 1 to 5: 1 is very poor, 5 is "
              "excellent.",
        "fr": "Merci de votre appel. Restez en ligne pour une courte enquête sur votre appel. "
              "Répondez à chaque question par une touche de 1 à 5 : 1 pour très mauvais, 5 "
              "pour excellent.",
    },
    "survey-q1": {
        "en": "How satisfied are you with the answer you received? Press 1 to 5.",
        "fr": "Êtes-vous satisfait de la réponse que vous avez reçue ? Tapez de 1 à 5.",
    },
    "survey-q2": {
        "en": "How would you rate the courtesy of the person you spoke to? Press 1 to 5.",
        "fr": "Comment jugez-vous l'amabilité de votre interlocuteur ? Tapez de 1 à 5.",
    },
    "survey-q3": {
        "en": "How likely are you to recommend us to someone you know? Press 1 to 5.",
        "fr": "Recommanderiez-vous nos services à un proche ? Tapez de 1 à 5.",
    },
    "survey-invalid": {
        "en": "Sorry, that key is not valid. Please press a key from 1 to 5.",
        "fr": "Désolé, cette touche n'est pas valide. Tapez une touche de 1 à 5.",
    },
    "survey-noinput": {
        "en": "Sorry, we did not get your answer.",
        "fr": "Désolé, nous n'avons pas reçu votre réponse.",
    },
    "survey-thanks": {
        "en": "Thank you for your answers. Goodbye.",
        "fr": "Merci pour vos réponses. Au revoir.",
    },
}


class PromptError(Exception):
    pass


def path_of(prompt: str, language: str, root: Path = SOUNDS) -> Path:
    return root / language / f"{prompt}.wav"


def check(path: Path) -> list[str]:
    """What is wrong with a prompt file for Asterisk (empty: nothing)."""
    if not path.is_file():
        return [f"{path}: missing"]
    try:
        with wave.open(str(path), "rb") as w:
            problems = []
            if w.getcomptype() != "NONE":
                problems.append(f"{path}: compressed ({w.getcomptype()}), not PCM")
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                problems.append(f"{path}: {w.getframerate()} Hz, {w.getnchannels()} channel(s), "
                                f"{8 * w.getsampwidth()} bits; Asterisk wants 8000 Hz mono "
                                "16-bit")
            if w.getnframes() < RATE // 2:
                problems.append(f"{path}: shorter than half a second")
            return problems
    except (wave.Error, EOFError) as exc:
        return [f"{path}: not a WAV file ({exc})"]


def lowpass_kernels(src: int, dst: int, cutoff: float, half: int) -> tuple[int, int,
                                                                            list[list[float]]]:
    """Polyphase windowed-sinc (Blackman) kernels for ``src`` → ``dst`` Hz: output sample
    ``i`` sits at input position ``i * up / down``; ``up`` phases of ``2 * half`` taps."""
    g = math.gcd(src, dst)
    up, down = dst // g, src // g  # 8000/22050 → 160/441
    fc = cutoff / src  # cycles per input sample
    kernels = []
    for phase in range(up):
        frac = phase / up  # the output sample lies frac after input sample j
        taps = []
        for k in range(-half + 1, half + 1):
            x = k - frac
            sinc = 2 * fc if x == 0 else math.sin(2 * math.pi * fc * x) / (math.pi * x)
            t = (x + half) / (2 * half)  # 0..1 across the window
            window = 0.42 - 0.5 * math.cos(2 * math.pi * t) + 0.08 * math.cos(4 * math.pi * t)
            taps.append(sinc * window)
        total = sum(taps)
        kernels.append([v / total for v in taps])
    return up, down, kernels


def resample(samples: array[int], src: int, dst: int = RATE, cutoff: float = 3600.0,
             half: int = 24) -> array[int]:
    if src == dst:
        return array("h", samples)
    up, down, kernels = lowpass_kernels(src, dst, cutoff, half)
    padded = [0] * half + list(samples) + [0] * (half + 1)
    n = len(samples) * up // down
    out = array("h", bytes(2 * n))
    for i in range(n):
        j, rem = divmod(i * down, up)  # input index and phase
        window = padded[j + 1:j + 2 * half + 1]  # input j-half+1 .. j+half
        value = sum(map(operator.mul, kernels[rem], window))
        out[i] = max(-32768, min(32767, round(value)))
    return out


def speak(text: str, voice: str, espeak: str) -> tuple[array[int], int]:
    """espeak-ng's 16-bit mono samples for ``text`` and their rate."""
    try:
        return pcm.speak(text, voice, espeak, speed=150)
    except pcm.SpeechError as exc:
        raise PromptError(str(exc)) from exc


write_wav = pcm.write_wav


def generate(root: Path = SOUNDS, espeak: str | None = None,
             only: list[str] | None = None) -> list[Path]:
    """Speak every prompt (or ``only`` those) in every language; returns the files written."""
    exe = espeak or shutil.which("espeak-ng")
    if exe is None:
        raise PromptError("espeak-ng is not installed (apt-get install espeak-ng)")
    written = []
    for prompt, texts in TEXTS.items():
        if only and prompt not in only:
            continue
        for language, text in texts.items():
            samples, rate = speak(text, VOICES[language], exe)
            pcm = resample(samples, rate)
            pcm.extend(array("h", bytes(2 * RATE // 4)))  # a quarter second to breathe
            path = path_of(prompt, language, root)
            write_wav(path, pcm)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cti.survey.prompts",
                                     description="Speak the survey prompts into WAV files.")
    parser.add_argument("--out", type=Path, default=SOUNDS, help="sounds folder (%(default)s)")
    parser.add_argument("--check", action="store_true", help="only check the files")
    parser.add_argument("prompts", nargs="*", help="only these prompts (default: all)")
    args = parser.parse_args(argv)
    names = args.prompts or list(TEXTS)
    if not args.check:
        try:
            for path in generate(args.out, only=names):
                print(path)
        except (PromptError, OSError, subprocess.SubprocessError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    problems = [p for n in names for lang in VOICES for p in check(path_of(n, lang, args.out))]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
