"""Prometheus metrics without a client library: a histogram, metric families, and the text
exposition format 0.0.4 (what ``/metrics`` answers).

Why not ``prometheus_client``: it keeps a process-global registry (tests that build several
apps in one process then collide on metric names), and what cti exports is a handful of
counters it already keeps (AMI events, reconnects, store queue…). Those are read when the
scraper asks, so the hot paths pay nothing; the only value measured on purpose is the client
lookup latency, with :class:`Histogram` (one ``bisect`` and two additions per lookup).

Format rules that matter (https://prometheus.io/docs/instrumenting/exposition_formats/):
one ``# HELP`` and ``# TYPE`` per family, label values escaped (``\\``, ``"``, newline),
histogram buckets cumulative with a final ``le="+Inf"`` equal to ``_count``, plus ``_sum``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]

#: Latency buckets (seconds) for lookups: a directory probe takes well under a millisecond,
#: an external HTTP lookup tens to hundreds of milliseconds.
LATENCY_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1.0, 2.5)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Cumulative-on-read histogram of observations (seconds, usually)."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        bounds = sorted(set(buckets))
        if not bounds or any(math.isnan(b) or math.isinf(b) for b in bounds):
            raise ValueError("histogram buckets must be finite numbers")
        self.bounds: tuple[float, ...] = tuple(bounds)
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``[(upper bound, observations <= it)…, (inf, count)]``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: float | Histogram


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: ``name``, ``help`` text, type, and its samples (one per label set)."""

    name: str
    help: str
    type: MetricType
    samples: tuple[Sample, ...] = field(default=())

    @classmethod
    def single(cls, name: str, help: str, type: MetricType, value: float | Histogram,
               **labels: str) -> Family:
        return cls(name, help, type, (Sample(labels, value),))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(labels: Mapping[str, str], extra: tuple[str, str] | None = None) -> str:
    pairs = [*labels.items(), *([extra] if extra else [])]
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The text exposition of ``families`` (names must be unique; checked, a bug otherwise)."""
    lines: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if fam.name in seen:
            raise ValueError(f"metric {fam.name} exported twice")
        seen.add(fam.name)
        lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.type}")
        for sample in fam.samples:
            value = sample.value
            if isinstance(value, Histogram):
                for bound, n in value.cumulative():
                    le = "+Inf" if math.isinf(bound) else _number(bound)
                    lines.append(f"{fam.name}_bucket{_labels(sample.labels, ('le', le))} {n}")
                lines.append(f"{fam.name}_sum{_labels(sample.labels)} {_number(value.sum)}")
                lines.append(f"{fam.name}_count{_labels(sample.labels)} {value.count}")
            else:
                lines.append(f"{fam.name}{_labels(sample.labels)} {_number(value)}")
    return "\n".join(lines) + "\n"
