"""Callers who answer the post-call survey, for ``cti demo``.

On a real PBX the caller of an answered inbound call stays on the line when the agent hangs up
(Dial ``g`` / Queue ``c``) and the dialplan's ``[cti-survey]`` hands their channel to
``Stasis(cti,survey,<Linkedid>,<lang>)``. The simulator's AMI calls end with everyone hanging
up, so the demo plays that tail on the simulator's ARI instead: after a share of the answered
inbound calls, the same caller (same Linkedid) enters the ``cti`` application a moment after
the call ended, and presses keys like people do — mostly 4 and 5, sometimes a wrong key first,
sometimes nothing at all (the survey then times out) — so the survey's results and per-agent
averages fill up while the demo runs. Not modelled from a capture: a demo's convenience.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from cti.calls.model import CallEnded, DomainEvent
from cti.sim.ari_server import AriServer
from cti.sim.ari_survey import survey_caller

log = logging.getLogger(__name__)


class DemoSurveyCallers:
    """Subscribe :meth:`on_event` to the daemon's bus; :meth:`close` cancels pending callers."""

    def __init__(self, ari: AriServer, *, share: float = 0.5, seed: int = 1,
                 language: str = "fr", questions: int = 2, pace: float = 2.0) -> None:
        self.ari = ari
        self.share = share
        self.language = language
        self.questions = questions
        self.pace = pace  # seconds between a prompt starting and the caller's key
        self.rng = random.Random(seed)
        self.started = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_event(self, event: DomainEvent) -> None:
        if not isinstance(event, CallEnded):
            return
        record = event.record
        if record.direction != "inbound" or not record.answered:
            return
        if self.rng.random() >= self.share:
            return
        keys = self._keys()
        task = asyncio.get_running_loop().create_task(
            self._caller(record.call_id, record.caller.number, record.callee.number, keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _keys(self) -> list[str]:
        """What this caller will press, one entry per key (``""``: stays silent from there)."""
        keys: list[str] = []
        for _ in range(self.questions):
            roll = self.rng.random()
            if roll < 0.1:
                keys.append("")  # no answer: the survey retries, then moves on
                break
            if roll < 0.2:
                keys.append("9")  # a wrong key: the survey says so and asks again
            keys.append(self.rng.choices("12345", weights=(1, 1, 3, 6, 8))[0])
        return keys

    async def _caller(self, linkedid: str, caller: str, did: str, keys: list[str]) -> None:
        await asyncio.sleep(0.5)
        try:
            chan = survey_caller(self.ari, linkedid, language=self.language,
                                 caller=caller or "anonymous", did=did or "s")
        except LookupError:  # cti's survey is off or not connected: Stasis() would fail
            return
        except ValueError as exc:
            log.debug("demo survey caller for %s: %s", linkedid, exc)
            return
        self.started += 1
        for key in keys:
            await asyncio.sleep(self.pace + self.rng.random())
            if not key:
                return
            with contextlib.suppress(LookupError, ValueError):  # hung up meanwhile
                self.ari.send_dtmf(chan.id, key)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
