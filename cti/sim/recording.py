"""The simulator's MixMonitor: one WAV per recorded call leg, as Asterisk writes it.

``MixMonitor(file.wav)`` writes 8 kHz, mono, 16-bit signed PCM (slin), both directions mixed,
from the moment it starts (the ``MIXMONITOR_FILENAME`` VarSet, right after the answer in the lab
dialplan's ``sub-rec-on-answer``) until its channel hangs up. The simulator writes the file when
that channel's ``Hangup`` is played, with the length the call really had, so an early hang-up
or a transfer gives a shorter file just as on a real PBX.

Content: a short scripted dialogue (greeting with the company name, the caller's request, the
agent's solution, thanks), in French or English, spoken by ``espeak-ng`` when it is on PATH —
so speech-to-text and quality scoring have real words to work on — then silence up to the talk
time. Without espeak-ng the file holds a quiet 425 Hz tone, one second on, one off. Standard
library only (``wave``, ``array``); the writer blocks, so callers run it with
``asyncio.to_thread``. Files are written to a temporary name and renamed: a reader never sees a
half-written WAV.
"""

from __future__ import annotations

import array
import math
import random
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from cti import pcm

RATE = 8000

SCRIPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {
        "greeting": ("{company}, bonjour, {agent} à votre écoute.",),
        "request": (
            "Bonjour, mon imprimante ne fonctionne plus depuis ce matin.",
            "Bonjour, je n'ai pas reçu ma facture du mois dernier.",
            "Bonjour, je voudrais changer l'adresse de livraison de ma commande.",
            "Bonjour, je n'arrive plus à me connecter à mon espace client.",
        ),
        "solution": (
            "Je vous envoie un technicien demain matin.",
            "Je vous la renvoie par e-mail tout de suite.",
            "C'est fait, la nouvelle adresse est enregistrée.",
            "Je viens de réinitialiser votre mot de passe, vous allez recevoir un e-mail.",
        ),
        "thanks": ("Merci beaucoup, bonne journée.",),
        "bye": ("Merci de votre appel, au revoir.",),
    },
    "en": {
        "greeting": ("{company}, good morning, {agent} speaking.",),
        "request": (
            "Hello, my printer is broken and I would like a refund.",
            "Hello, I did not receive my invoice for last month.",
            "Hello, I would like to change the delivery address of my order.",
            "Hello, I cannot log in to my customer account any more.",
        ),
        "solution": (
            "I am sorry about that. I will process your refund today.",
            "I am sending it to you by e-mail right now.",
            "Done, the new address is saved.",
            "I have reset your password, you will receive an e-mail shortly.",
        ),
        "thanks": ("Thank you very much, goodbye.",),
        "bye": ("Thank you for calling, goodbye.",),
    },
}
VOICES = {"agent": "+f3", "caller": "+m3"}
BASE_VOICE = {"fr": "fr", "en": "en-us"}


@dataclass(frozen=True, slots=True)
class Dialogue:
    language: str
    lines: tuple[tuple[str, str], ...]  # (speaker "agent" | "caller", text)


def make_dialogue(rng: random.Random, company: str, agent: str, language: str) -> Dialogue:
    """Greeting, request, solution, thanks, goodbye; the request/solution pair drawn by ``rng``."""
    lang = language if language in SCRIPTS else "en"
    s = SCRIPTS[lang]
    first_name = agent.split()[0] if agent else ""
    pick = rng.randrange(len(s["request"]))
    return Dialogue(lang, (
        ("agent", s["greeting"][0].format(company=company, agent=first_name)),
        ("caller", s["request"][pick]),
        ("agent", s["solution"][pick]),
        ("caller", s["thanks"][0]),
        ("agent", s["bye"][0]),
    ))


class Speech:
    """``espeak-ng`` lines as 8 kHz PCM, cached (a demo repeats the same few sentences)."""

    def __init__(self, espeak: str | None = None, enabled: bool = True) -> None:
        self.espeak = (espeak or shutil.which("espeak-ng")) if enabled else None
        self._cache: dict[tuple[str, str], array.array[int]] = {}
        self._lock = threading.Lock()
        self.failures = 0

    @property
    def available(self) -> bool:
        return self.espeak is not None

    def line(self, text: str, voice: str) -> array.array[int] | None:
        key = (text, voice)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        pcm = self._synth(text, voice)
        if pcm is not None:
            with self._lock:
                self._cache[key] = pcm
        return pcm

    def _synth(self, text: str, voice: str) -> array.array[int] | None:
        if self.espeak is None:
            return None
        try:
            samples, rate = pcm.speak(text, voice, self.espeak, speed=160, timeout=20)
        except pcm.SpeechError:
            self.failures += 1
            return None
        return resample(samples, rate, RATE)


def resample(samples: array.array[int], src: int, dst: int) -> array.array[int]:
    """Box-filter then pick: enough for telephone speech (espeak says 22050 Hz, slin is 8000)."""
    if src == dst:
        return samples
    ratio = src / dst
    width = max(1, int(ratio))
    n = int(len(samples) / ratio)
    out = array.array("h", bytes(2 * n))
    last = len(samples) - 1
    for i in range(n):
        j = int(i * ratio)
        window = samples[j:min(last, j + width - 1) + 1]
        out[i] = sum(window) // len(window) if window else 0
    return out


def tone(seconds: float) -> array.array[int]:
    """A quiet 425 Hz tone (the European call-progress frequency), 1 s on, 1 s off."""
    period = [int(2000 * math.sin(2 * math.pi * 425 * i / RATE)) for i in range(RATE)]
    block = array.array("h", period) + array.array("h", bytes(2 * RATE))
    total = int(seconds * RATE)
    reps = total // len(block) + 1
    return (block * reps)[:total]


def dialogue_audio(dialogue: Dialogue, speech: Speech, seconds: float) -> array.array[int]:
    """The dialogue's lines with short pauses, padded with silence (or cut) to ``seconds``."""
    total = max(0, round(seconds * RATE))
    pause = array.array("h", bytes(2 * int(0.4 * RATE)))
    out = array.array("h", bytes(2 * int(0.3 * RATE)))
    base = BASE_VOICE.get(dialogue.language, "en-us")
    for speaker, text in dialogue.lines:
        pcm = speech.line(text, base + VOICES.get(speaker, ""))
        if pcm is None:
            return tone(seconds)
        out.extend(pcm)
        out.extend(pause)
        if len(out) >= total:
            break
    if len(out) < total:
        out.extend(array.array("h", bytes(2 * (total - len(out)))))
    return out[:total]


write_wav = pcm.write_wav


def write_recording(path: Path, seconds: float, dialogue: Dialogue | None,
                    speech: Speech) -> Path:
    """Blocking: build and write one recording; returns its path."""
    if dialogue is not None and speech.available:
        samples = dialogue_audio(dialogue, speech, seconds)
    else:
        samples = tone(seconds)
    write_wav(path, samples)
    return path
