"""Template time → call time: the piecewise-linear map that stretches a recorded call.

Asterisk sends events in bursts (a few milliseconds apart) separated by silences (ringing,
talking). Stretching a recorded call to other ring/talk times must keep the bursts intact and
only stretch the silences, or the event order and spacing stop looking like Asterisk's.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Mapping, Sequence

from cti.sim.templates import Template

BURST = 0.25  # events closer than this belong to one burst and keep their spacing


class TimeMap:
    """Template seconds → call seconds, piecewise linear between anchors.

    ``anchors`` are (template time, call time) pairs, increasing in both. Between two anchors,
    gaps shorter than :data:`BURST` keep their length and longer ones share what is left; if
    nothing is left (or no gap is long) the whole phase is scaled. Outside the anchors the map
    has slope 1.
    """

    def __init__(self, times: Sequence[float], anchors: Sequence[tuple[float, float]]) -> None:
        xs = sorted(set(times) | {a for a, _ in anchors})
        ys = [0.0] * len(xs)
        anchors = sorted(anchors)
        a0, b0 = anchors[0]
        i0 = bisect.bisect_left(xs, a0)
        ys[i0] = b0
        for j in range(i0 - 1, -1, -1):
            ys[j] = ys[j + 1] - (xs[j + 1] - xs[j])
        for (a, b), (c, d) in itertools.pairwise(anchors):
            lo, hi = bisect.bisect_left(xs, a), bisect.bisect_left(xs, c)
            gaps = [xs[j + 1] - xs[j] for j in range(lo, hi)]
            fixed = sum(g for g in gaps if g < BURST)
            big = sum(g for g in gaps if g >= BURST)
            want = max(0.0, d - b)
            total = c - a
            for k, g in enumerate(gaps):
                if big > 0 and want >= fixed:
                    step = g if g < BURST else g * (want - fixed) / big
                else:
                    step = g * want / total if total > 0 else 0.0
                ys[lo + k + 1] = ys[lo + k] + step
            ys[hi] = d
        last = bisect.bisect_left(xs, anchors[-1][0])
        for j in range(last + 1, len(xs)):
            ys[j] = ys[j - 1] + (xs[j] - xs[j - 1])
        self.xs, self.ys = xs, ys

    def __call__(self, t: float) -> float:
        xs, ys = self.xs, self.ys
        j = bisect.bisect_right(xs, t) - 1
        if j < 0:
            return ys[0] - (xs[0] - t)
        if j >= len(xs) - 1:
            return ys[-1] + (t - xs[-1])
        x0, x1 = xs[j], xs[j + 1]
        return ys[j] + (ys[j + 1] - ys[j]) * (t - x0) / (x1 - x0)

    @classmethod
    def for_lengths(cls, tpl: Template, lengths: Mapping[str, float | None]) -> TimeMap:
        anchors = [(0.0, 0.0)]
        for mark, at in sorted(tpl.marks.items(), key=lambda kv: kv[1]):
            want = lengths.get(mark)
            prev_a, prev_b = anchors[-1]
            anchors.append((at, prev_b + (at - prev_a if want is None else max(0.0, want))))
        return cls([e.t for e in tpl.events], anchors)


class VirtualClock:
    """Simulated epoch seconds: ``epoch + elapsed real time × scale``."""

    def __init__(self, scale: float = 1.0, epoch: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("time_scale must be positive")
        self.scale = scale
        self.epoch = time.time() if epoch is None else epoch
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self.epoch + (time.monotonic() - self._mono0) * self.scale

    def real_delay(self, at: float) -> float:
        return (at - self.now()) / self.scale
