"""One PBX's event path: parsed AMI messages → tracker → bus.

The live daemon and ``cti replay`` both go through this class, so what a test replays is what
production runs. The tracker is pure and *should* never raise; if a bug makes it raise on some
odd event, the pipeline logs it, counts it and goes on with the next event — one bad event must
not stop the call log of a whole company.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.tracker import CONSUMED_EVENTS, Tracker

log = logging.getLogger(__name__)

#: Events the AMI adapter must parse: what the tracker reads plus what resync needs.
WANTED_EVENTS: frozenset[str] = CONSUMED_EVENTS | {
    "CoreShowChannel", "CoreShowChannelsComplete", "BridgeListItem", "BridgeListComplete",
    "FullyBooted", "Shutdown",
}


class Pipeline:
    def __init__(self, cfg: TrackerConfig, bus: Bus) -> None:
        self.tracker = Tracker(cfg)
        self.bus = bus
        self.events_in = 0
        self.tracker_errors = 0

    @property
    def pbx(self) -> str:
        return self.tracker.pbx

    def on_ami_event(self, msg: Mapping[str, str], received_at: float) -> None:
        self.events_in += 1
        try:
            out = self.tracker.feed(msg, received_at)
        except Exception:
            self.tracker_errors += 1
            log.exception("tracker failed on %s event; skipped", msg.get("Event"))
            return
        for event in out:
            self.bus.publish(event)

    def resync(self, channels: Iterable[Mapping[str, str]], at: float) -> int:
        """Feed a CoreShowChannels answer; returns the number of domain events it caused."""
        try:
            out = self.tracker.resync(list(channels), at)
        except Exception:
            self.tracker_errors += 1
            log.exception("tracker resync failed")
            return 0
        for event in out:
            self.bus.publish(event)
        return len(out)
