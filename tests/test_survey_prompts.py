"""The survey's shipped parts: every prompt the settings can name exists in French and English
as 8 kHz mono 16-bit WAV (what Asterisk plays untranscoded), the generator's resampler, the
``survey.*`` settings and their checks, and the dialplan that sends callers to the survey."""

from __future__ import annotations

import math
import shutil
import wave
from array import array
from pathlib import Path

import pytest

from cti.asterisk_conf import load
from cti.asterisk_dialplan import dialplan
from cti.config import ConfigError, load_config
from cti.survey import prompts
from cti.survey.settings import LANGUAGES, Question, SurveySettings, parse_question

ROOT = Path(__file__).parent.parent


def test_every_prompt_the_settings_name_is_a_valid_8khz_wav_in_both_languages() -> None:
    names = set(SurveySettings().prompts()) | set(prompts.TEXTS)
    assert {"survey-intro", "survey-q1", "survey-q2", "survey-q3", "survey-invalid",
            "survey-noinput", "survey-thanks"} <= names
    for name in sorted(names):
        for lang in LANGUAGES:
            path = ROOT / "dialplan" / "sounds" / lang / f"{name}.wav"
            assert prompts.check(path) == [], path
            with wave.open(str(path), "rb") as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
                frames = array("h", w.readframes(w.getnframes()))
            assert max(abs(v) for v in frames) > 3000  # someone speaks, not silence
    # French and English are different recordings, not one file copied.
    assert ((ROOT / "dialplan/sounds/fr/survey-q1.wav").read_bytes()
            != (ROOT / "dialplan/sounds/en/survey-q1.wav").read_bytes())
    assert prompts.main(["--check"]) == 0


def test_check_reports_what_asterisk_would_not_play(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.wav"
    with wave.open(str(wrong), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(bytes(4 * 22050))
    assert "Asterisk wants 8000 Hz mono 16-bit" in prompts.check(wrong)[0]
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really")
    assert "not a WAV file" in prompts.check(tmp_path / "junk.wav")[0]
    assert prompts.check(tmp_path / "none.wav") == [f"{tmp_path / 'none.wav'}: missing"]


def test_the_resampler_keeps_speech_band_and_removes_what_8khz_cannot_carry() -> None:
    def tone(freq: float, rate: int = 22050, seconds: float = 0.5) -> array[int]:
        return array("h", (round(8000 * math.sin(2 * math.pi * freq * i / rate))
                           for i in range(int(rate * seconds))))

    def rms(samples: array[int]) -> float:
        body = samples[400:-400]  # away from the edges
        return math.sqrt(sum(v * v for v in body) / len(body))

    kept = prompts.resample(tone(1000), 22050)
    gone = prompts.resample(tone(6000), 22050)  # would alias to 2 kHz if not filtered
    assert len(kept) == 4000
    assert rms(kept) == pytest.approx(8000 / math.sqrt(2), rel=0.05)
    assert rms(gone) < 0.02 * rms(kept)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_the_generator_rewrites_a_prompt_from_its_text(tmp_path: Path) -> None:
    written = prompts.generate(tmp_path, only=["survey-thanks"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "en/survey-thanks.wav", "fr/survey-thanks.wav"]
    assert all(prompts.check(p) == [] for p in written)


# ------------------------------------------------------------------------------ settings
def test_settings_from_the_configuration() -> None:
    cfg = load_config(env={"CTI_SURVEY_ENABLED": "yes", "CTI_SURVEY_QUEUES": "support,sales"},
                      overrides={"survey.questions": ["q1", "reception:my-prompt_2"],
                                 "survey.timeout": 3})
    s = SurveySettings.from_config(cfg)
    assert s.enabled and s.queues == ("support", "sales") and s.dids == ()
    assert s.questions == (Question("q1", "survey-q1"), Question("reception", "my-prompt_2"))
    assert s.questions[1].media == "sound:cti/my-prompt_2"
    assert (s.timeout, s.retries, s.language) == (3.0, 1, "fr")
    assert s.prompts()[-2:] == ("survey-q1", "my-prompt_2")
    assert s.pick_language("en_US") == "en" and s.pick_language("FR-be") == "fr"
    assert s.pick_language("de") == "fr" and s.pick_language("") == "fr"
    assert s.wants("support", None) and s.wants(None, None) is False
    assert SurveySettings().wants(None, None)  # no filter: every answered inbound call
    assert SurveySettings(dids=("0155512345",)).wants("support", "0155512345")


@pytest.mark.parametrize("text", ["", "Q1", "q1:a,b", "q1:../secret", "q1:sound:x", "1q",
                                  "q1:" + "x" * 65])
def test_a_prompt_or_id_that_could_reach_ari_unchecked_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"survey\.questions"):
        parse_question(text)


@pytest.mark.parametrize("values", [
    {"questions": ()}, {"questions": tuple(Question(f"q{i}", "p") for i in range(4))},
    {"questions": (Question("a", "p"), Question("a", "q"))}, {"language": "de"},
    {"timeout": 0.0}, {"retries": -1}])
def test_impossible_settings_stop_the_start(values: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="survey"):
        SurveySettings(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ dialplan
def test_the_example_contexts_send_answered_callers_to_the_survey() -> None:
    plan = dialplan(load(ROOT / "dialplan" / "extensions_cti.conf"))
    assert plan.errors == []
    survey = plan.contexts["cti-survey"].steps
    stasis = [s for s in survey if s.app == "Stasis"]
    assert [s.args for s in stasis] == ["cti,survey,${CHANNEL(linkedid)},${lang}"]
    assert survey[-1].app == "Hangup"  # Stasis failed (cti down) or sent back: hang up
    inbound = plan.contexts["from-trunk-cti"].steps
    for app, option, status in (("Dial", "g", "DIALSTATUS"), ("Queue", "c", "QUEUESTATUS")):
        [step] = [s for s in inbound if s.app == app]
        assert option in step.args.split(",")[{"Dial": 2, "Queue": 1}[app]]
        after = inbound[inbound.index(step) + 1]
        assert after.app == "GosubIf" and status in after.args
        assert after.args.endswith("?cti-survey,s,1")
