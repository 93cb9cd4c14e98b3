"""The Stasis application ``cti`` on one PBX, as far as surveys go: one ARI link, one task per
caller in the survey.

The dialplan sends a caller here with ``Stasis(cti,survey,<Linkedid>[,<lang>])`` once their
agent has hung up (``dialplan/extensions_cti.conf``, ``[cti-survey]``). At ``StasisStart`` cti
decides whether this call gets the survey:

* the call must be one the tracker knows as **inbound and answered** (:class:`LiveCalls`, keyed
  by the Linkedid the dialplan passed), through a queue of ``survey.queues`` or to a number of
  ``survey.dids`` (both empty: every such call), and not surveyed already (one per call);
* a call cti does not know (it was restarted, or its AMI link was down, when the call began) is
  surveyed only when no queue/DID filter is set — the dialplan sends only answered inbound
  callers — and its agent, queue and DID are filled in from the call's record when it ends.

A call that does not qualify is hung up at once, without a word: the caller had stayed on the
line only because the dialplan sends every answered caller here, and hears the same silence as
after any call. ``StasisStart`` whose first argument is not ``survey`` is not ours: it goes back
to the dialplan (``POST …/continue``: the priority after ``Stasis()``).

The events socket can drop (cti's link, a restart of Asterisk's HTTP server). Events of that gap
are lost for good, so after every (re)connect the app asks for the channels (``GET
/channels``): a survey whose channel is gone is closed as abandoned, and a caller sitting in
``Stasis(cti,survey,…)`` with no survey task (the ``StasisStart`` fell in the gap) is taken as if
it had just arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from cti.ari.client import AriClient, AriConfig, AriError, AriEvent, AriState
from cti.live import LiveCalls
from cti.survey.flow import SurveyRun
from cti.survey.settings import SurveySettings
from cti.survey.store import Answer, SurveyStart, SurveyStore, survey_status

log = logging.getLogger(__name__)

#: A Linkedid as the dialplan passes it: Asterisk's ``<epoch>.<seq>``, maybe behind a
#: ``systemname-`` prefix. Anything else is refused (it is stored and shown).
_LINKEDID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(slots=True)
class SurveyCounters:
    started: int = 0
    skipped: int = 0  # not eligible, hung up
    finished: int = 0  # reached the end (completed, partial or no answer)
    abandoned: int = 0
    not_ours: int = 0  # another StasisStart, sent back to the dialplan
    errors: int = 0


@dataclass(slots=True)
class _Active:
    run: SurveyRun
    survey_id: int | None = None
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class SurveyApp:
    """``start()`` connects the events socket; ``close()`` stops it and every survey."""

    pbx: str
    ari_config: AriConfig
    settings: SurveySettings
    surveys: SurveyStore
    live: LiveCalls | None = None
    check_interval: float = 1.0  # how often the link's reconnects are looked for
    max_prompt: float = 120.0
    #: ``(pbx, call_id)`` of surveys started without knowing the call: filled at its end.
    unknown_calls: set[tuple[str, str]] = field(default_factory=set)
    counters: SurveyCounters = field(default_factory=SurveyCounters)
    client: AriClient = field(init=False)
    _active: dict[str, _Active] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _watch: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.client = AriClient(self.ari_config, self.on_event)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.client.start()
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_link(), name=f"survey-{self.pbx}")

    async def close(self) -> None:
        tasks = [t for t in (self._watch, *self._tasks) if t is not None]
        self._watch = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.close()

    @property
    def running(self) -> int:
        return len(self._active)

    # ------------------------------------------------------------------ events
    def on_event(self, event: AriEvent) -> None:
        """The ARI client's callback: never raises, whatever the event looks like."""
        if event.type == "StasisStart":
            args = event.data.get("args")
            if event.channel is not None and isinstance(args, list):
                self._arrived(event.channel, [str(a) for a in args])
            return
        channel_id = _channel_of(event)
        active = self._active.get(channel_id) if channel_id else None
        if active is not None:
            active.run.feed(event)

    def _arrived(self, channel: dict[str, Any], args: list[str]) -> None:
        channel_id = str(channel.get("id") or "")
        if not channel_id or channel_id in self._active:
            return  # a StasisStart we already took (adopted after a reconnect)
        if not args or args[0] != "survey":
            self.counters.not_ours += 1
            log.info("pbx %s: Stasis(cti,%s) on %s is not a survey: back to the dialplan",
                     self.pbx, ",".join(args), channel_id)
            self._spawn(self._back_to_dialplan(channel_id))
            return
        language = self.settings.pick_language(args[2] if len(args) > 2 else "")
        run = SurveyRun(self.client, self.settings, channel_id, language,
                        on_answer=lambda a: self._answered(channel_id, a),
                        answered=channel.get("state") == "Up", max_prompt=self.max_prompt)
        active = _Active(run)
        self._active[channel_id] = active
        active.task = self._spawn(self._survey(active, args[1] if len(args) > 1 else "",
                                               language))

    # ------------------------------------------------------------------ one survey
    async def _survey(self, active: _Active, linkedid: str, language: str) -> None:
        run = active.run
        try:
            start = self._eligible(linkedid, run.channel_id, language)
            survey_id = await self.surveys.start(start) if start is not None else None
            if survey_id is None:
                self.counters.skipped += 1
                await run.hangup()
                return
            active.survey_id = survey_id
            self.counters.started += 1
            log.info("pbx %s: survey of call %s (agent %s, %s) on %s", self.pbx, linkedid,
                     start.agent if start else None, language, run.channel_id)
            finished = await run.run()
            status = survey_status(run.answers, finished)
            await self.surveys.finish(survey_id, status)
            if status == "abandoned":
                self.counters.abandoned += 1
            else:
                self.counters.finished += 1
        except asyncio.CancelledError:
            if active.survey_id is not None:  # cti stops: keep what was answered
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.surveys.finish(active.survey_id, "abandoned"))
            raise
        except Exception:
            self.counters.errors += 1
            log.exception("pbx %s: survey on %s failed", self.pbx, run.channel_id)
            if active.survey_id is not None:
                with contextlib.suppress(Exception):
                    await self.surveys.finish(active.survey_id,
                                              survey_status(run.answers, False))
            await run.hangup()
        finally:
            self._active.pop(run.channel_id, None)

    def _eligible(self, linkedid: str, channel_id: str, language: str) -> SurveyStart | None:
        if not _LINKEDID.match(linkedid):
            log.warning("pbx %s: survey on %s: bad Linkedid argument %.80r", self.pbx,
                        channel_id, linkedid)
            return None
        call = self.live.get(self.pbx, linkedid) if self.live is not None else None
        if call is None:
            if self.settings.queues or self.settings.dids:
                log.info("pbx %s: call %s unknown: cannot check its queue/DID, no survey",
                         self.pbx, linkedid)
                return None
            self.unknown_calls.add((self.pbx, linkedid))
            return SurveyStart(self.pbx, linkedid, channel_id, language)
        if call.direction != "inbound" or call.answered_at is None:
            log.info("pbx %s: call %s is %s and %s: no survey", self.pbx, linkedid,
                     call.direction, "answered" if call.answered_at else "unanswered")
            return None
        did = call.callee.number or None
        if not self.settings.wants(call.queue, did):
            return None
        if call.extension is None:
            self.unknown_calls.add((self.pbx, linkedid))
        return SurveyStart(self.pbx, linkedid, channel_id, language, agent=call.extension,
                           queue=call.queue, did=did)

    async def _answered(self, channel_id: str, answer: Answer) -> None:
        active = self._active.get(channel_id)
        if active is not None and active.survey_id is not None:
            await self.surveys.answer(active.survey_id, answer)

    async def _back_to_dialplan(self, channel_id: str) -> None:
        try:
            await self.client.request("POST", ["channels", channel_id, "continue"])
        except AriError as exc:
            log.warning("pbx %s: cannot send %s back to the dialplan: %s", self.pbx,
                        channel_id, exc)

    # ------------------------------------------------------------------ the link
    async def _watch_link(self) -> None:
        """After each (re)connect: close surveys whose channel vanished, adopt survey
        callers whose StasisStart was lost."""
        seen = 0
        while True:
            await asyncio.sleep(self.check_interval)
            connects = self.client.counters.connects
            if connects == seen or self.client.state is not AriState.CONNECTED:
                continue
            seen = connects
            before = set(self._active)  # a survey begun meanwhile may be missing from the list
            try:
                channels = await self.client.channels()
            except AriError as exc:
                log.warning("pbx %s: survey check after reconnect failed: %s", self.pbx, exc)
                seen = 0  # try again next time
                continue
            self.reconcile(channels, before)

    def reconcile(self, channels: list[dict[str, Any]], surveys: set[str]) -> None:
        """``channels``: the PBX's answer to ``GET /channels``; ``surveys``: the channels
        surveyed when it was asked for."""
        live = {str(c.get("id")): c for c in channels if isinstance(c, dict)}
        for channel_id in surveys - set(live):
            active = self._active.get(channel_id)
            if active is not None:
                log.info("pbx %s: survey channel %s vanished while the link was down",
                         self.pbx, channel_id)
                active.run.vanish()
        for channel_id, chan in live.items():
            plan = chan.get("dialplan") or {}
            data = str(plan.get("app_data") or "")
            if (channel_id not in self._active and plan.get("app_name") == "Stasis"
                    and data.startswith(f"{self.ari_config.app},survey,")):
                log.info("pbx %s: adopting survey caller %s (StasisStart lost)", self.pbx,
                         channel_id)
                self._arrived(chan, data.split(",")[1:])

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _channel_of(event: AriEvent) -> str:
    """The channel an event is about: its snapshot, or a playback's ``channel:<id>``."""
    if event.channel is not None:
        return str(event.channel.get("id") or "")
    playback = event.data.get("playback")
    if isinstance(playback, dict):
        target = str(playback.get("target_uri") or "")
        if target.startswith("channel:"):
            return target[len("channel:"):]
    return ""
