"""In-process fan-out of domain events.

Subscribers are plain callables run in subscription order on the event loop thread. They must
be quick (queue work, schedule a task); one that raises is logged and counted, and the others
still get the event: a bug in the screen-pop hub must never lose a call record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cti.calls.model import DomainEvent

log = logging.getLogger(__name__)

Subscriber = Callable[[DomainEvent], None]


class Bus:
    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self.published = 0
        self.subscriber_errors = 0

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subs.append(fn)

        def unsubscribe() -> None:
            if fn in self._subs:
                self._subs.remove(fn)

        return unsubscribe

    def publish(self, event: DomainEvent) -> None:
        self.published += 1
        for fn in self._subs:
            try:
                fn(event)
            except Exception:
                self.subscriber_errors += 1
                log.exception("bus subscriber %r failed on %s", fn, event.kind)

    def publish_all(self, events: list[DomainEvent]) -> None:
        for event in events:
            self.publish(event)
