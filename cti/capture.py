"""Reading AMI captures: the test data, the bug-report format and the ``cti replay`` input.

Three formats are accepted, told apart by their first non-blank byte:

* **raw AMI bytes** exactly as read from the socket (banner included), as written by
  ``cti record-ami``. Receive times come from a sidecar ``PATH.timing.jsonl`` (or
  ``ami.timing.jsonl`` beside ``ami.raw``) of ``{"t": seconds, "offset": byte}`` lines, where
  ``t`` counts from the capture start; an optional ``{"t0": epoch}`` line gives that start.
  Without ``t0`` the start is recovered from the first security event's ``EventTV`` (Asterisk
  sends ``SuccessfulAuth`` right after login), else it is the epoch.
* a **JSON array** of event objects, or
* **JSON lines**, one event object per line.

In JSON forms, values are strings as on the wire; an optional ``"_t"`` number is the receive
time (epoch seconds). Events without any time get the previous event's time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cti.ami.messages import AmiMessage, AmiParser, ParserStats


class CaptureError(Exception):
    """A capture file that cannot be read at all (missing, or not one of the formats)."""


@dataclass
class Capture:
    events: list[tuple[AmiMessage, float]]
    stats: ParserStats = field(default_factory=ParserStats)
    bad_lines: int = 0


def resolve(path: Path) -> Path:
    if path.is_dir():
        for name in ("ami.raw", "ami.jsonl", "ami.json"):
            if (path / name).exists():
                return path / name
        raise CaptureError(f"{path}: no ami.raw, ami.jsonl or ami.json in this folder")
    if not path.exists():
        raise CaptureError(f"{path}: no such file")
    return path


def load(path: Path) -> Capture:
    path = resolve(Path(path))
    data = path.read_bytes()
    head = data.lstrip()[:1]
    if head == b"[":
        return _load_json_array(path, data)
    if head == b"{":
        return _load_json_lines(data)
    return _load_raw(path, data)


def _timing_path(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".timing.jsonl"),
                 path.with_name(path.stem + ".timing.jsonl")):
        if cand.exists():
            return cand
    return None


def _load_raw(path: Path, data: bytes) -> Capture:
    times: dict[int, float] = {}
    t0: float | None = None
    tp = _timing_path(path)
    if tp is not None:
        for line in tp.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            if "t0" in row:
                t0 = float(row["t0"])
            elif "offset" in row and "t" in row:
                times[int(row["offset"])] = float(row["t"])
    parser = AmiParser()
    parsed = parser.feed(data)
    if t0 is None:
        t0 = _guess_start(parsed, times)
    events: list[tuple[AmiMessage, float]] = []
    last = 0.0
    for offset, msg in parsed:
        rel = times.get(offset)
        if rel is not None:
            last = rel
        events.append((msg, t0 + last))
    return Capture(events, parser.stats)


def _guess_start(parsed: list[tuple[int, AmiMessage]], times: dict[int, float]) -> float:
    for offset, msg in parsed:
        tv = msg.get("EventTV")
        if tv:
            try:
                epoch = datetime.fromisoformat(tv.replace("+0000", "+00:00")).timestamp()
            except ValueError:
                continue
            return epoch - times.get(offset, 0.0)
    return 0.0


def _coerce(obj: object) -> tuple[AmiMessage, float | None] | None:
    if not isinstance(obj, dict):
        return None
    t = obj.get("_t")
    msg = {str(k): str(v) for k, v in obj.items() if k != "_t"}
    return msg, (float(t) if isinstance(t, (int, float)) else None)


def _with_times(items: Iterator[tuple[AmiMessage, float | None]]) -> list[tuple[AmiMessage, float]]:
    out: list[tuple[AmiMessage, float]] = []
    last = 0.0
    for msg, t in items:
        if t is not None:
            last = t
        out.append((msg, last))
    return out


def _load_json_array(path: Path, data: bytes) -> Capture:
    try:
        rows = json.loads(data)
    except ValueError as exc:
        raise CaptureError(f"{path}: not valid JSON ({exc})") from exc
    good = [c for c in (_coerce(r) for r in rows) if c is not None]
    return Capture(_with_times(iter(good)), bad_lines=len(rows) - len(good))


def _load_json_lines(data: bytes) -> Capture:
    good: list[tuple[AmiMessage, float | None]] = []
    bad = 0
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            item = _coerce(json.loads(line))
        except ValueError:
            item = None
        if item is None:
            bad += 1
        else:
            good.append(item)
    return Capture(_with_times(iter(good)), bad_lines=bad)
