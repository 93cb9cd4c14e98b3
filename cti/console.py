"""One-line, human-readable call summaries for the terminal (``cti demo``, ``cti sim``).

Times are shown in the user's local timezone (the machine's, or ``TZ``), durations as people
say them ("1 min 11 s"), never as raw seconds or UTC ISO strings.
"""

from __future__ import annotations

from datetime import datetime

from cti.calls.model import CallRecord

ARROWS = {"inbound": "←", "outbound": "→", "internal": "↔"}


def human_duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%H:%M:%S")


def call_line(rec: CallRecord) -> str:
    who = rec.caller.number or "anonymous"
    if rec.caller.name:
        who += f" ({rec.caller.name})"
    target = rec.extension or rec.callee.number or "?"
    if rec.direction == "inbound" and rec.queue:
        target = f"{rec.queue}/{target}"
    parts = [local_time(rec.started_at), ARROWS.get(rec.direction, "?"), f"{rec.direction:8}",
             f"{rec.status:9}", f"{who} → {target}"]
    if rec.direction != "inbound":
        parts[-1] = f"{rec.extension or who} → {rec.callee.number or '?'}"
    parts.append(f"ring {human_duration(rec.ring_seconds)}")
    if rec.answered:
        parts.append(f"talk {human_duration(rec.talk_seconds)}")
    if rec.transfers:
        parts.append("transferred to " + ", ".join(t.to for t in rec.transfers))
    if rec.overlong:
        parts.append("OVERLONG")
    return "  ".join(parts)
