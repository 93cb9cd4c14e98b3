"""Live overlong-call alerts.

The pure tracker can only flag a call as overlong once it has ended. Supervisors want to know
*while* the call runs, so this service arms a timer when a call is answered and publishes
``CallOverlong`` if the call is still running when the threshold passes. Thresholds come from the
same settings as the record's flag (global, per direction, per queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallAnswered, CallEnded, CallOverlong, DomainEvent


class OverlongWatcher:
    def __init__(self, bus: Bus, configs: dict[str, TrackerConfig],
                 clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.configs = configs
        self.clock = clock
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.fired = 0
        bus.subscribe(self.on_event)

    def on_event(self, event: DomainEvent) -> None:
        key = (event.pbx, event.call_id)
        if isinstance(event, CallAnswered):
            cfg = self.configs.get(event.pbx)
            if cfg is None or key in self._timers:
                return
            threshold = cfg.overlong_threshold(event.direction, event.queue)
            if threshold <= 0:
                return
            delay = max(0.0, threshold - max(0.0, self.clock() - event.at))
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(delay, self._fire, event, threshold)
        elif isinstance(event, CallEnded):
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()

    def _fire(self, answered: CallAnswered, threshold: float) -> None:
        self._timers.pop((answered.pbx, answered.call_id), None)
        self.fired += 1
        now = self.clock()
        self.bus.publish(CallOverlong(answered.pbx, answered.call_id, now,
                                      round(now - answered.at, 3), threshold,
                                      answered.extension))

    def active(self) -> int:
        return len(self._timers)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
