"""A dependency-free progress bar for long CLI work (stderr, only when it is a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        self._draw(done)

    def _draw(self, done: int) -> None:
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done:,}/{self.total:,} {frac:6.1%}")
        self.stream.flush()

    def done(self, done: int) -> None:
        if self.enabled:
            self._draw(done)
            self.stream.write("\n")
