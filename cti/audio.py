"""Audio files: what a recording holds (probe), its waveform (peaks), and a smaller copy
(transcode). The only module that imports :mod:`pydub`.

Why it is built this way:

* **WAV needs no ffmpeg.** Asterisk's MixMonitor writes 16-bit PCM WAV (``.wav``) by default;
  those are read with the standard library's :mod:`wave` plus a walk over the RIFF chunks, so a
  server without ffmpeg can still probe and draw every usual recording. Other formats (GSM,
  μ-law WAV, MP3, Opus…) go through pydub, which runs ffmpeg/ffprobe.
* **Truncated means corrupt.** A WAV whose ``data`` chunk is shorter on disk than its header
  says was cut (disk full, copy interrupted): it is reported as :class:`AudioError`, not
  silently given a shorter duration. One exception is how Asterisk leaves a file it never
  closed (crash, or still recording): sizes of 0 in the header, the audio after it; that audio
  is real, so it is measured from the file's size.
* **Speech engines get one shape of audio.** :func:`prepare` turns whatever the PBX wrote
  (8 kHz WAV, GSM, WAV49…) into 16 kHz mono 16-bit PCM, the input of both engines' models.
* **Nothing here knows about calls or the database**; the functions are blocking (file I/O,
  subprocesses) and the recordings service runs them in a thread.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import struct
import sys
import warnings
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cti.errors import CtiError

#: Formats :func:`transcode` writes, with ffmpeg's encoder and a bit rate fit for speech.
TRANSCODE_FORMATS: dict[str, tuple[str, str]] = {"opus": ("libopus", "16k"),
                                                 "mp3": ("libmp3lame", "16k")}
#: File name extensions of audio a PBX may write (what a folder scan picks up).
AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    "wav", "wav49", "gsm", "mp3", "ogg", "opus", "flac", "sln", "ulaw", "alaw", "g722",
    "g729", "m4a"})
#: ``format`` reported for a file is its extension when it is one of these (ffprobe says "ogg"
#: for an Opus file, which tells a player less).
_NAMED_BY_EXTENSION = AUDIO_EXTENSIONS - {"wav", "wav49"}
_CHUNK = 1 << 16
#: Sample rate of the audio :func:`prepare` gives the speech engines (their models are 16 kHz).
SPEECH_RATE = 16000


class AudioError(CtiError):
    """The file cannot be read as audio (garbage, truncated, unsupported without ffmpeg)."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    format: str  # wav, gsm, mp3, opus…
    channels: int
    sample_rate: int
    duration: float  # seconds
    size: int  # bytes on disk


def ffmpeg_available() -> bool:
    """Whether pydub can decode and encode non-WAV audio here (ffmpeg and ffprobe on PATH)."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


# --------------------------------------------------------------------------- WAV (stdlib)
@dataclass(frozen=True, slots=True)
class _Wav:
    channels: int
    sample_rate: int
    sample_width: int  # bytes per sample
    data_offset: int
    data_size: int  # bytes of audio actually readable

    @property
    def frames(self) -> int:
        return self.data_size // (self.channels * self.sample_width)


class _NotPcm(Exception):
    """A WAV container holding something else than PCM (GSM, μ-law…): pydub's job."""


def _read_wav(path: Path) -> _Wav:
    size = path.stat().st_size
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            declared_frames = w.getnframes()
    except wave.Error as exc:
        if str(exc).startswith("unknown format"):
            raise _NotPcm(str(exc)) from exc
        raise AudioError(f"{path.name}: not a WAV file ({exc})") from exc
    except (EOFError, struct.error) as exc:
        raise AudioError(f"{path.name}: truncated WAV header") from exc
    if channels < 1 or rate < 1 or width < 1:
        raise AudioError(f"{path.name}: WAV header says {channels} channel(s) at {rate} Hz")
    offset, declared = _data_chunk(path)
    available = size - offset
    if declared == 0 and available > 0:
        declared = available  # never closed by Asterisk: the header was not filled in
    elif declared > available:
        raise AudioError(f"{path.name}: truncated: the header announces {declared} bytes of "
                         f"audio, the file holds {available}")
    if declared_frames and declared_frames * channels * width > declared:
        raise AudioError(f"{path.name}: truncated WAV data")
    return _Wav(channels, rate, width, offset, declared)


def _data_chunk(path: Path) -> tuple[int, int]:
    """Offset and declared size of the ``data`` chunk (the :mod:`wave` module reads the size
    but never checks the file is that long)."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise AudioError(f"{path.name}: not a WAV file")
        while True:
            header = fh.read(8)
            if len(header) < 8:
                raise AudioError(f"{path.name}: no audio data chunk")
            name, length = header[:4], struct.unpack("<I", header[4:])[0]
            if name == b"data":
                return fh.tell(), length
            fh.seek(length + (length & 1), os.SEEK_CUR)


def _is_wav(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _wav_blocks(path: Path, wav: _Wav, frames_per_block: int) -> Iterator[array[int]]:
    """The samples (interleaved channels), ``frames_per_block`` frames at a time."""
    width = wav.sample_width
    typecode = {1: "B", 2: "h", 3: "h", 4: "i"}.get(width, "")
    if not typecode:
        raise AudioError(f"{path.name}: {8 * width}-bit samples are not supported")
    frame = wav.channels * width
    with path.open("rb") as fh:
        fh.seek(wav.data_offset)
        left = wav.frames * frame
        while left > 0:
            raw = fh.read(min(left, frames_per_block * frame))
            if not raw:
                return
            left -= len(raw)
            raw = raw[: len(raw) - len(raw) % width]
            if width == 3:  # 24-bit: the top two bytes of each sample are enough to draw
                raw = b"".join(raw[i + 1:i + 3] for i in range(0, len(raw), 3))
            samples = array(typecode, raw)
            if sys.byteorder == "big" and samples.itemsize > 1:
                samples.byteswap()
            yield samples


# --------------------------------------------------------------------------- pydub (ffmpeg)
def _pydub() -> Any:
    """pydub, imported on first use: it warns at import time when ffmpeg is missing, which
    is expected on a server that only ever sees WAV."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pydub  # type: ignore[import-untyped]
        import pydub.utils  # type: ignore[import-untyped]
    return pydub


def _need_ffmpeg(path: Path) -> None:
    if not ffmpeg_available():
        raise AudioError(f"{path.name}: reading this format needs ffmpeg, not installed")


def _probe_other(path: Path, size: int) -> AudioInfo:
    _need_ffmpeg(path)
    try:
        info = _pydub().utils.mediainfo_json(str(path))
    except (OSError, ValueError) as exc:
        raise AudioError(f"{path.name}: ffprobe failed ({exc})") from exc
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise AudioError(f"{path.name}: no audio in this file")
    stream, fmt = streams[0], info.get("format", {})
    try:
        duration = float(stream.get("duration") or fmt.get("duration"))
        channels, rate = int(stream["channels"]), int(stream["sample_rate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AudioError(f"{path.name}: unreadable audio stream") from exc
    if duration <= 0:  # headerless formats (raw GSM…) "decode" any bytes, to nothing
        raise AudioError(f"{path.name}: no audio in this file")
    ext = path.suffix.lower().lstrip(".")
    name = ext if ext in _NAMED_BY_EXTENSION else str(fmt.get("format_name", ext)).split(",")[0]
    return AudioInfo(name, channels, rate, round(duration, 3), size)


def _segment(path: Path) -> Any:
    _need_ffmpeg(path)
    try:
        return _pydub().AudioSegment.from_file(str(path))
    except Exception as exc:  # pydub raises bare Exceptions (CouldntDecodeError…)
        raise AudioError(f"{path.name}: cannot decode ({str(exc).splitlines()[0]})") from exc


# --------------------------------------------------------------------------- public
def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Format, channels, sample rate, duration (s) and size (bytes) of an audio file.

    Raises :class:`FileNotFoundError` when there is no file and :class:`AudioError` when it
    cannot be read as audio (garbage, truncated, or a non-WAV format without ffmpeg)."""
    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        raise AudioError(f"{p.name}: empty file")
    if _is_wav(p):
        try:
            wav = _read_wav(p)
        except _NotPcm:
            return _probe_other(p, size)
        return AudioInfo("wav", wav.channels, wav.sample_rate,
                         round(wav.frames / wav.sample_rate, 3), size)
    if p.suffix.lower() == ".wav":
        raise AudioError(f"{p.name}: not a WAV file")
    return _probe_other(p, size)


def peaks(path: str | os.PathLike[str], n: int = 800) -> list[float]:
    """The waveform as ``n`` numbers in 0..1: the loudest sample of each of ``n`` equal slices
    of the recording (all channels), scaled so the loudest slice is 1 (silence: all 0).

    A file shorter than ``n`` samples gives one number per sample."""
    if n < 1:
        raise ValueError("peaks: n must be at least 1")
    p = Path(path)
    if p.stat().st_size and _is_wav(p):
        with contextlib.suppress(_NotPcm):
            wav = _read_wav(p)
            per = max(1, -(-wav.frames // n))
            centre = 128 if wav.sample_width == 1 else 0
            raw = [max(max(b) - centre, centre - min(b)) for b in _wav_blocks(p, wav, per) if b]
            return _normalise(raw)
    segment = _segment(p)
    samples = segment.get_array_of_samples()
    per = max(1, -(-int(segment.frame_count()) // n)) * segment.channels
    raw = []
    for i in range(0, len(samples), per):
        block = samples[i:i + per]
        raw.append(max(max(block), -min(block)))
    return _normalise(raw)


def _normalise(values: list[int]) -> list[float]:
    top = max(values, default=0)
    if top <= 0:
        return [0.0] * len(values)
    return [round(v / top, 4) for v in values]


def transcode(src: str | os.PathLike[str], dst: str | os.PathLike[str], fmt: str) -> AudioInfo:
    """Write ``src`` as ``fmt`` (``opus`` or ``mp3``, speech bit rate) to ``dst``; returns the
    new file's :func:`probe`. The file appears whole or not at all (written aside, then
    renamed). Needs ffmpeg."""
    if fmt not in TRANSCODE_FORMATS:
        raise ValueError(f"transcode: format must be one of {sorted(TRANSCODE_FORMATS)}")
    source, target = Path(src), Path(dst)
    segment = _segment(source)
    codec, bitrate = TRANSCODE_FORMATS[fmt]
    part = target.with_name(target.name + ".part")
    try:
        out = segment.export(str(part), format=fmt, codec=codec, bitrate=bitrate)
        out.close()
        os.replace(part, target)
    except Exception as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        if isinstance(exc, OSError):
            raise
        raise AudioError(f"{source.name}: cannot encode as {fmt} "
                         f"({str(exc).splitlines()[0]})") from exc
    return probe(target)


# --------------------------------------------------------------------------- speech input
def prepare(path: str | os.PathLike[str], rate: int = SPEECH_RATE,
            noise_floor: float | None = None) -> bytes:
    """The recording as a speech engine reads it: mono, ``rate`` Hz, signed 16-bit
    little-endian PCM (raw, no header).

    Asterisk records at 8 kHz (``wav``, ``gsm``, ``wav49``) while both engines' models are
    16 kHz, and pocketsphinx refuses 8 kHz input outright: the audio is upsampled. That adds no
    information above 4 kHz, but lets a wideband model read narrowband audio. Stereo files
    (MixMonitor's ``D`` option: one party per channel) are mixed down. PCM WAV needs no ffmpeg;
    GSM, WAV49 and the rest do.

    ``noise_floor`` (dBFS, e.g. ``-60``) adds a fixed, inaudible noise under the audio. Runs of
    exact zeros (digital silence: a leg that sent no RTP, the pauses of synthesised speech)
    push pocketsphinx's log-energy features to minus infinity and throw off its cepstral mean
    normalisation; a -60 dBFS floor took espeak-ng test sentences from about a quarter to
    about two thirds of their words recognised. The noise is the same on every run, so a
    transcript can be reproduced.

    Raises :class:`AudioError` for a missing, empty, garbage or truncated file, and for a
    non-WAV format without ffmpeg."""
    if rate < 1000:
        raise ValueError("prepare: rate must be at least 1000 Hz")
    p = Path(path)
    try:
        size = p.stat().st_size
        segment = _pcm_wav_segment(p) if size and _is_wav(p) else None
    except FileNotFoundError as exc:
        raise AudioError(f"{p.name}: no such file") from exc
    except OSError as exc:
        raise AudioError(f"{p.name}: cannot read ({exc.strerror or exc})") from exc
    if size == 0:
        raise AudioError(f"{p.name}: empty file")
    if segment is None:
        if p.suffix.lower() == ".wav" and not _is_wav(p):
            raise AudioError(f"{p.name}: not a WAV file")
        segment = _segment(p)
    try:
        segment = segment.set_sample_width(2).set_channels(1).set_frame_rate(rate)
        length = len(segment.raw_data)
        if noise_floor is not None and length:
            segment = segment.overlay(_noise(rate, noise_floor), loop=True)
    except Exception as exc:  # audioop.error on samples pydub cannot convert
        raise AudioError(f"{p.name}: cannot convert ({exc})") from exc
    data: bytes = segment.raw_data[:length]  # overlay rounds to whole milliseconds
    return data


def _pcm_wav_segment(path: Path) -> Any:
    """A PCM WAV file as a pydub segment, read here (no ffmpeg; a file Asterisk never closed is
    read whole, a truncated one refused); None for a WAV of another codec (GSM, μ-law…)."""
    try:
        wav = _read_wav(path)
    except _NotPcm:
        return None
    if wav.sample_width > 4:
        raise AudioError(f"{path.name}: {8 * wav.sample_width}-bit samples are not supported")
    with path.open("rb") as fh:
        fh.seek(wav.data_offset)
        raw = fh.read(wav.frames * wav.channels * wav.sample_width)
    if wav.sample_width == 1:  # 8-bit WAV is unsigned; pydub's conversions expect signed
        raw = raw.translate(_UNSIGNED_TO_SIGNED)
    return _pydub().AudioSegment(data=raw, sample_width=wav.sample_width,
                                 frame_rate=wav.sample_rate, channels=wav.channels)


_UNSIGNED_TO_SIGNED = bytes((i - 128) & 0xFF for i in range(256))


@functools.lru_cache(maxsize=4)
def _noise(rate: int, dbfs: float) -> Any:
    """One second of Gaussian noise at ``dbfs`` (RMS), from a fixed seed: looped under a
    recording by :func:`prepare`."""
    sigma = 32768 * 10 ** (dbfs / 20)
    rnd = random.Random(0)
    samples = array("h", (max(-32768, min(32767, round(rnd.gauss(0, sigma))))
                          for _ in range(rate)))
    return _pydub().AudioSegment(data=samples.tobytes(), sample_width=2, frame_rate=rate,
                                 channels=1)
