"""Recordings follow the bus: ``RecordingStarted`` links the file to its call as soon as
Asterisk names it, ``CallEnded`` links whatever the record lists that was not seen and has the
call's files checked (:meth:`RecordingService.finish_call`).

Like the other subscribers, it never blocks the bus: each event's work is a task, run one at a
time in event order (a FIFO lock), so a call's end is never handled before its files were
linked. A failure is logged and counted, never raised into the bus. ``settle`` waits a little
after the hangup before probing: MixMonitor writes its last frames and the WAV header when the
channel's audio hook closes, just after the ``Hangup`` event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from cti.bus import Bus
from cti.calls.model import CallEnded, DomainEvent, RecordingStarted
from cti.recordings.naming import leg_of
from cti.recordings.service import RecordingService

log = logging.getLogger(__name__)


class RecordingLinker:
    """Subscribes to ``bus`` at construction; ``close()`` unsubscribes and waits."""

    def __init__(self, bus: Bus, service: RecordingService, *, settle: float = 1.0) -> None:
        self.service = service
        self.settle = settle
        self.linked = 0
        self.finished = 0
        self.errors = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        #: Called (synchronously, never raising) after a call's recordings were checked.
        self.after_finish: list[Callable[[], None]] = []
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self.on_event)

    def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, RecordingStarted) and event.path.strip():
            self._spawn(self._link(event), event)
        elif isinstance(event, CallEnded):
            delay = self.settle if event.record.recordings else 0.0
            self._spawn(self._finish(event), event, delay)

    async def _link(self, event: RecordingStarted) -> None:
        await self.service.link(event.pbx, event.call_id, event.path, "variable", event.at,
                                leg_of(event.path))
        self.linked += 1

    async def _finish(self, event: CallEnded) -> None:
        done = await self.service.finish_call(event.record)
        self.finished += 1
        if any(r.playable for r in done):
            for hook in self.after_finish:
                hook()  # e.g. wake the transcription worker: a playable file is ready

    def _spawn(self, work: Coroutine[Any, Any, None], event: DomainEvent,
               delay: float = 0.0) -> None:
        async def run() -> None:
            try:
                if delay > 0:  # outside the lock: other calls' work goes on meanwhile
                    await asyncio.sleep(delay)
                async with self._lock:
                    try:
                        await work
                    except Exception:
                        self.errors += 1
                        log.exception("call %s/%s: recording %s failed", event.pbx,
                                      event.call_id, event.kind)
            finally:
                work.close()  # cancelled before it ran: no "never awaited" warning

        task = asyncio.get_running_loop().create_task(run(), name=f"recording:{event.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def flush(self) -> None:
        """Wait until every event's work started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.flush()
