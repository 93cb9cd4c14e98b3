"""Live overlong-call alerts.

The pure tracker can only flag a call as overlong once it has ended. Supervisors want to know
*while* the call runs, so this service arms a timer when a call is answered and publishes
``CallOverlong`` if the call is still running when the threshold passes. Thresholds come from the
same settings as the record's flag (global, per direction, per queue).

The timer counts from the moment we *learn* of the answer, on our own clock: event times are on
the PBX's clock (its ``Timestamp`` header), which need not agree with ours, and answers reach us
live (an answer adopted at a resync is stamped with the resync time anyway). The alert's time is
put back on the PBX clock (answer time + threshold) so it sorts with the call's other events.
"""

from __future__ import annotations

import asyncio

from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallAnswered, CallEnded, CallOverlong, DomainEvent


class OverlongWatcher:
    def __init__(self, bus: Bus, configs: dict[str, TrackerConfig]) -> None:
        self.bus = bus
        self.configs = configs
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
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(threshold, self._fire, event, threshold)
        elif isinstance(event, CallEnded):
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()

    def _fire(self, answered: CallAnswered, threshold: float) -> None:
        self._timers.pop((answered.pbx, answered.call_id), None)
        self.fired += 1
        self.bus.publish(CallOverlong(answered.pbx, answered.call_id, answered.at + threshold,
                                      threshold, threshold, answered.extension))

    def active(self) -> int:
        return len(self._timers)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
