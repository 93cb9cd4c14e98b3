"""The ``survey.*`` settings as one value, checked once at start-up.

What reaches Asterisk from here is strict on purpose: a prompt name becomes part of an ARI
media URI (``sound:cti/<name>``) and ARI splits ``media`` on commas, so a name is letters,
digits, ``_`` and ``-`` only — a comma or a slash in the settings would otherwise let a typo (or
a hostile configuration) play another file or a list of files. Question ids are stored and
shown, so they are short identifiers too.

Questions are written ``"id"`` or ``"id:prompt"`` (``["q1", "q2"]``, ``["reception:my-q1"]``);
without a prompt the question plays ``survey-<id>``. One to three questions: a caller who has
just hung up on an agent gives a few seconds, not a questionnaire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cti.config import Config, ConfigError

#: Languages the shipped prompts exist in (``dialplan/sounds/<lang>/``).
LANGUAGES: tuple[str, ...] = ("en", "fr")
#: Prompts every survey plays besides its questions (``survey-intro.wav`` …).
FIXED_PROMPTS: tuple[str, ...] = ("survey-intro", "survey-invalid", "survey-noinput",
                                  "survey-thanks")
#: Folder of the prompts under the language's sounds folder: ``sound:cti/survey-q1``.
SOUND_DIR = "cti"
VALID_SCORES = frozenset("12345")
MAX_QUESTIONS = 3

_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_PROMPT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    prompt: str  # sound file name without extension, under sounds/<lang>/cti/

    @property
    def media(self) -> str:
        return media(self.prompt)


def media(prompt: str) -> str:
    """The ARI media URI of a prompt: Asterisk picks ``sounds/<lang>/cti/<prompt>.wav``."""
    return f"sound:{SOUND_DIR}/{prompt}"


def parse_question(text: str) -> Question:
    qid, _, prompt = text.strip().partition(":")
    prompt = prompt.strip() or f"survey-{qid}"
    if not _ID.match(qid):
        raise ConfigError(f"setting 'survey.questions': question id {qid!r} must be a lower-case "
                          "letter then up to 31 letters, digits or _")
    if not _PROMPT.match(prompt):
        raise ConfigError(f"setting 'survey.questions': prompt {prompt!r} may hold only letters, "
                          "digits, _ and - (it becomes sound:cti/<prompt>)")
    return Question(qid, prompt)


@dataclass(frozen=True, slots=True)
class SurveySettings:
    """``queues``/``dids``: which answered inbound calls get the survey (both empty: all; else
    a call whose queue is listed *or* whose dialled number is listed). ``timeout``: seconds
    the caller has to press a key once a question has been played; ``retries``: how many
    more times a question is asked after a wrong key or silence."""

    enabled: bool = False
    queues: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()
    questions: tuple[Question, ...] = (Question("q1", "survey-q1"), Question("q2", "survey-q2"))
    language: str = "fr"
    timeout: float = 6.0
    retries: int = 1

    def __post_init__(self) -> None:
        if not 1 <= len(self.questions) <= MAX_QUESTIONS:
            raise ConfigError(f"setting 'survey.questions': 1 to {MAX_QUESTIONS} questions, "
                              f"not {len(self.questions)}")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"setting 'survey.questions': duplicate id in {ids}")
        if self.language not in LANGUAGES:
            raise ConfigError(f"setting 'survey.language': one of {', '.join(LANGUAGES)}, "
                              f"not {self.language!r}")
        if not 0 < self.timeout <= 60:
            raise ConfigError("setting 'survey.timeout': more than 0 and at most 60 seconds")
        if not 0 <= self.retries <= 5:
            raise ConfigError("setting 'survey.retries': 0 to 5")

    @classmethod
    def from_config(cls, config: Config) -> SurveySettings:
        return cls(
            enabled=bool(config.get("survey.enabled")),
            queues=tuple(str(q) for q in config.get("survey.queues")),
            dids=tuple(str(d) for d in config.get("survey.dids")),
            questions=tuple(parse_question(q) for q in config.get("survey.questions")),
            language=str(config.get("survey.language")),
            timeout=float(config.get("survey.timeout")),
            retries=int(config.get("survey.retries")),
        )

    def pick_language(self, wanted: str) -> str:
        """``fr``, ``fr_FR``, ``FR-be`` → ``fr``; anything without prompts → the default."""
        base = re.split(r"[_-]", wanted.strip().lower(), maxsplit=1)[0]
        return base if base in LANGUAGES else self.language

    def prompts(self) -> tuple[str, ...]:
        """Every sound file the survey may play (the generator makes them, a test checks)."""
        return FIXED_PROMPTS + tuple(dict.fromkeys(q.prompt for q in self.questions))

    def wants(self, queue: str | None, did: str | None) -> bool:
        """Is an answered inbound call through ``queue`` to ``did`` one to survey?"""
        if not self.queues and not self.dids:
            return True
        return bool((queue and queue in self.queues) or (did and did in self.dids))
