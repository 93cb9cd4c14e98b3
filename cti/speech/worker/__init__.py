"""The transcription worker: takes jobs from the SQLite queue (:mod:`.jobs`) and runs the speech
engine in a **process pool**, so the event loop (AMI, pops, web) never waits for the CPU.

One loop, one job at a time per pool slot: claim the oldest due job, prepare and transcribe the
file in a child process (the engine is built there by name: models are not picklable, and a
crashing engine takes down a child, not the daemon), store the transcript, and when every
recording of the call has one, hand the call to the ``on_call_done`` hooks (the scorecard).
Failures are retried with backoff (:func:`.jobs.fail`); nothing escapes the loop. ``wake()``
after new recordings; otherwise the queue is looked at every ``poll`` seconds, so jobs added
by another process (``cti transcribe``) are picked up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cti.config import Config
from cti.speech.worker import jobs
from cti.store.sqlite import Store

log = logging.getLogger(__name__)

CallHook = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    engine: str = "pocketsphinx"
    language: str = "en-us"
    workers: int = 1
    options: dict[str, Any] = field(default_factory=dict)  # engine settings (vosk model…)
    poll: float = 30.0


def speech_settings(config: Config) -> SpeechSettings:
    """``speech.*`` settings; the vosk model options are handed to the engine as they are."""
    options: dict[str, Any] = {}
    if config.get("speech.vosk_model_path"):
        options["model_path"] = str(config.get("speech.vosk_model_path"))
    if config.get("speech.vosk_model_lang"):
        options["model_lang"] = str(config.get("speech.vosk_model_lang"))
    engine = str(config.get("speech.engine"))
    return SpeechSettings(engine=engine, language=str(config.get("speech.language")),
                          workers=int(config.get("speech.workers")),
                          options=options if engine == "vosk" else {})


def run_transcription(engine: str, path: str, language: str,
                      options: dict[str, Any]) -> dict[str, Any]:
    """In the child process: build the engine by name, transcribe, return plain data."""
    from cti.speech.engines import make_transcriber  # the engine libraries load here only

    transcript = make_transcriber(engine, **options).transcribe(path, language)
    data: dict[str, Any] = transcript.to_json()
    return data


class SpeechWorker:
    def __init__(self, store: Store, recordings_dir: Path, settings: SpeechSettings, *,
                 clock: Callable[[], float] = time.time,
                 executor: Executor | None = None) -> None:
        self.store = store
        self.recordings_dir = recordings_dir
        self.settings = settings
        self.clock = clock
        self._executor = executor
        self._own_executor = executor is None
        self.on_call_done: list[CallHook] = []
        self.done = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._tasks:
            return
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=max(1, self.settings.workers))
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name=f"speech-{i}")
                       for i in range(max(1, self.settings.workers))]

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("speech: a pass failed; trying again later")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll)

    # ------------------------------------------------------------------ one job
    async def run_once(self) -> bool:
        """Queue what is new, then run one due job; False when there was none."""
        now = self.clock()
        await jobs.enqueue_ready(self.store, now)
        job = await jobs.claim(self.store, now, self.settings.engine)
        if job is None:
            return False
        path = self.recordings_dir / job.file
        try:
            loop = asyncio.get_running_loop()
            transcript = await loop.run_in_executor(
                self._executor, run_transcription, self.settings.engine, str(path),
                self.settings.language, dict(self.settings.options))
        except Exception as exc:  # a bad file, a missing model, a crashed child
            status = await jobs.fail(self.store, job, f"{type(exc).__name__}: {exc}",
                                     self.clock())
            self.failed += status == "failed"
            log.warning("speech: recording %d (%s): %s", job.recording_id, job.file, exc)
            return True
        await jobs.finish(self.store, job, transcript, jobs.speaker_of(job.leg, job.direction),
                          self.clock())
        self.done += 1
        if job.call_id and await jobs.call_done(self.store, job.pbx, job.call_id):
            for hook in self.on_call_done:
                try:
                    await hook(job.pbx, job.call_id)
                except Exception:
                    log.exception("speech: after-transcription hook failed for %s/%s",
                                  job.pbx, job.call_id)
        return True

    async def drain(self) -> int:
        """Run jobs until none is due (tests, ``cti transcribe``); returns how many ran."""
        ran = 0
        while await self.run_once():
            ran += 1
        return ran
