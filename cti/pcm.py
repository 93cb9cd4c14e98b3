"""16-bit mono PCM: speech from espeak-ng and WAV files as Asterisk plays and records them.

Shared by the simulator's recordings (:mod:`cti.sim.recording`) and the survey's prompts
(:mod:`cti.survey.prompts`): both write 8 kHz mono 16-bit PCM WAV, the format Asterisk's
MixMonitor writes and plays without transcoding (``slin``), and both ask espeak-ng for speech,
which it gives at its own rate (22,050 Hz), little-endian, in a WAV file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from array import array
from pathlib import Path

RATE = 8000


class SpeechError(Exception):
    """espeak-ng failed, or wrote something else than 16-bit mono."""


def speak(text: str, voice: str, espeak: str, speed: int = 150,
          timeout: float = 60.0) -> tuple[array[int], int]:
    """espeak-ng's 16-bit mono samples for ``text`` (native byte order) and their rate."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        try:
            subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(out), text],
                           check=True, capture_output=True, timeout=timeout)
            with wave.open(str(out), "rb") as w:
                if (w.getnchannels(), w.getsampwidth()) != (1, 2):
                    raise SpeechError(f"espeak-ng wrote {w.getnchannels()} channels, "
                                      f"{8 * w.getsampwidth()} bits")
                rate = w.getframerate()
                samples = array("h")
                samples.frombytes(w.readframes(w.getnframes()))
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
            raise SpeechError(f"espeak-ng failed: {exc}") from exc
    if sys.byteorder == "big":
        samples.byteswap()
    return samples, rate


def write_wav(path: Path, samples: array[int], rate: int = RATE) -> None:
    """Mono 16-bit PCM WAV, written atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    tmp = path.with_name(f".{path.name}.part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    tmp.replace(path)
