"""One caller's survey over ARI: prompts, one key per question, retries, the end.

How Asterisk behaves, and what this relies on:

* The caller's channel arrives by ``StasisStart`` and stays under our control until
  ``StasisEnd``: nothing happens to it unless we ask (REST). Hanging up the agent's side does
  not end it; a caller hanging up gives ``ChannelHangupRequest`` then ``StasisEnd``.
* ``POST /channels/{id}/play`` queues a list of media played in turn on the channel
  (``sound:cti/survey-q1`` is ``sounds/<lang>/cti/survey-q1.wav``, the language picked by the
  ``lang`` parameter); its progress comes as ``PlaybackStarted`` / ``PlaybackFinished`` of the
  playback id *we* chose (so an event that overtakes the REST answer is still recognised).
  A missing file finishes the playback as ``failed`` at once: the caller then hears nothing and
  the question just waits for a key.
* Every key pressed is a ``ChannelDtmfReceived`` (``digit``), also while a prompt plays — ARI
  playback ignores keys, so barge-in is ours to do: the first key answers the question and the
  prompt is stopped (``DELETE /playbacks/{id}``; 404 when it had just ended, which is fine).
  Keys pressed between two prompts are kept and answer the next question (type-ahead), as
  callers who know the scale do.
* The answer time starts when the prompt has finished playing. No key by then: the question is
  asked again after the "no input" prompt; a wrong key (not 1–5): after the "invalid" prompt
  (both played in front of the question, as one playback, so a key during them counts too).
  After ``retries`` more tries the question is left ``no_answer`` (or ``invalid``).
* Events can be lost (the events socket was down a moment). No wait here is unbounded: a
  prompt whose end never comes is given up after ``max_prompt`` seconds and the channel is
  checked (404: the caller is gone); the app's watcher also tells a run its channel vanished
  (:meth:`SurveyRun.vanish`). Every REST failure ends the survey as abandoned rather than
  leaving a task waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cti.ari.client import AriClient, AriError, AriEvent
from cti.survey.settings import VALID_SCORES, SurveySettings, media
from cti.survey.store import Answer

log = logging.getLogger(__name__)

#: Events that mean the channel left us: the caller hung up, or the channel is gone.
GONE_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest",
                         "CtiChannelGone"})


class CallerGone(Exception):
    """The caller hung up (or the channel vanished) before the survey ended."""


def gone_event(channel_id: str) -> AriEvent:
    """What :meth:`SurveyRun.vanish` queues: not an Asterisk event, a note of ours."""
    return AriEvent("CtiChannelGone", "", "", {"id": channel_id}, {"type": "CtiChannelGone"})


class SurveyRun:
    """The survey of one channel. ``feed`` it the channel's events; ``await run()``."""

    def __init__(self, ari: AriClient, settings: SurveySettings, channel_id: str,
                 language: str, *, on_answer: Callable[[Answer], Awaitable[None]],
                 answered: bool = True, max_prompt: float = 120.0) -> None:
        self.ari = ari
        self.settings = settings
        self.channel_id = channel_id
        self.language = language
        self.on_answer = on_answer
        self.answered = answered  # the channel is Up already (it has talked to an agent)
        self.max_prompt = max_prompt
        self.events: asyncio.Queue[AriEvent] = asyncio.Queue()
        self.answers: list[Answer] = []
        self._seq = 0

    def feed(self, event: AriEvent) -> None:
        self.events.put_nowait(event)

    def vanish(self) -> None:
        """The channel no longer exists (found by the app after events were lost)."""
        self.feed(gone_event(self.channel_id))

    # ------------------------------------------------------------------ the conversation
    async def run(self) -> bool:
        """Ask every question; True when the survey reached its end (thanks played or the
        caller left during it), False when the caller left before the last answer."""
        s = self.settings
        try:
            if not self.answered:
                await self._rest("POST", ["channels", self.channel_id, "answer"])
            for position, question in enumerate(s.questions, start=1):
                answer = await self._question(position, question.id, question.media,
                                              lead=[media("survey-intro")] if position == 1
                                              else [])
                self.answers.append(answer)
                await self.on_answer(answer)
        except CallerGone:
            return False
        try:
            await self._say([media("survey-thanks")])
        except CallerGone:
            return True
        await self.hangup()
        return True

    async def _question(self, position: int, qid: str, uri: str, lead: list[str]) -> Answer:
        attempts = 0
        while True:
            attempts += 1
            digit = await self.ask([*lead, uri])
            if digit is not None and digit in VALID_SCORES:
                return Answer(position, qid, int(digit), attempts, "answered")
            result = "no_answer" if digit is None else "invalid"
            log.info("survey %s: question %s try %d: %s", self.channel_id, qid, attempts,
                     result if digit is None else f"invalid key {digit!r}")
            if attempts > self.settings.retries:
                return Answer(position, qid, None, attempts, result)
            lead = [media("survey-noinput" if digit is None else "survey-invalid")]

    async def ask(self, uris: Sequence[str]) -> str | None:
        """Play ``uris`` and return the first key pressed (during them or within the timeout
        after them), or None on silence. Raises :class:`CallerGone`."""
        digit = self._typed_ahead()
        if digit is not None:
            return digit
        playback = await self._play(uris)
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # set once the prompt has finished
        while True:
            wait = self.max_prompt if deadline is None else deadline - loop.time()
            event = await self._next(wait)
            if event is None:
                if deadline is not None:
                    return None  # silence: the caller had their time
                await self._check_alive()  # the prompt's end was never heard of
                deadline = loop.time() + self.settings.timeout
                continue
            digit = _digit(event)
            if digit is not None:
                if deadline is None:
                    await self._stop(playback)  # barge-in
                return digit
            if _finished(event, playback):
                if event.data.get("playback", {}).get("state") == "failed":
                    log.warning("survey %s: Asterisk could not play %s (prompt file missing "
                                "on the PBX?)", self.channel_id, ", ".join(uris))
                deadline = loop.time() + self.settings.timeout

    async def _say(self, uris: Sequence[str]) -> None:
        """Play ``uris`` to the end (keys are ignored); bounded by ``max_prompt``."""
        playback = await self._play(uris)
        while True:
            event = await self._next(self.max_prompt)
            if event is None or _finished(event, playback):
                return

    async def hangup(self) -> None:
        try:
            await self.ari.hangup(self.channel_id)
        except AriError as exc:
            if exc.status != 404:  # 404: the caller hung up first
                log.warning("survey %s: hangup failed: %s", self.channel_id, exc)

    # ------------------------------------------------------------------ helpers
    def _typed_ahead(self) -> str | None:
        """A key pressed since the last prompt, if any (other leftovers are dropped)."""
        while not self.events.empty():
            event = self.events.get_nowait()
            if event.type in GONE_EVENTS:
                raise CallerGone(event.type)
            digit = _digit(event)
            if digit is not None:
                return digit
        return None

    async def _next(self, timeout: float) -> AriEvent | None:
        """The next event (None after ``timeout``); a hangup raises :class:`CallerGone`."""
        try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            async with asyncio.timeout(max(0.0, timeout)):
                event = await self.events.get()
        except TimeoutError:
            return None
        if event.type in GONE_EVENTS:
            raise CallerGone(event.type)
        return event

    async def _play(self, uris: Sequence[str]) -> str:
        self._seq += 1
        playback = f"survey-{self.channel_id}-{self._seq}"
        await self._rest("POST", ["channels", self.channel_id, "play"], {
            "media": ",".join(uris), "lang": self.language, "playbackId": playback})
        return playback

    async def _stop(self, playback: str) -> None:
        try:
            await self.ari.request("DELETE", ["playbacks", playback])
        except AriError as exc:
            if exc.status != 404:  # 404: it ended just before
                log.warning("survey %s: cannot stop prompt: %s", self.channel_id, exc)

    async def _check_alive(self) -> None:
        await self._rest("GET", ["channels", self.channel_id])

    async def _rest(self, method: str, path: list[str],
                    params: dict[str, str] | None = None) -> Any:
        """A REST call on our channel; any failure ends the survey (404 and 409 mean the
        channel hung up or left Stasis; others leave us unable to go on)."""
        try:
            return await self.ari.request(method, path, params)
        except AriError as exc:
            if exc.status not in (404, 409):
                log.warning("survey %s: %s %s failed: %s", self.channel_id, method,
                            "/".join(path[2:]) or "channel", exc)
            raise CallerGone(str(exc)) from exc


def _digit(event: AriEvent) -> str | None:
    if event.type != "ChannelDtmfReceived":
        return None
    digit = event.data.get("digit")
    return digit if isinstance(digit, str) and len(digit) == 1 else None


def _finished(event: AriEvent, playback: str) -> bool:
    pb = event.data.get("playback")
    return (event.type == "PlaybackFinished" and isinstance(pb, dict)
            and pb.get("id") == playback)
