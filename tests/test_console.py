"""Terminal call lines: local time, human durations, direction-aware parties."""

from __future__ import annotations

import os
import time

import pytest

from cti.calls.model import CallEnded
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.console import call_line, human_duration
from tests.captures import FIXTURES


@pytest.mark.parametrize(("secs", "text"), [(0.4, "0 s"), (7.5, "8 s"), (71, "1 min 11 s"),
                                            (3725, "1 h 02 min")])
def test_human_duration(secs: float, text: str) -> None:
    assert human_duration(secs) == text


def record(scenario: str):  # type: ignore[no-untyped-def]
    return next(e.record for e in Tracker().feed_all(load(FIXTURES / scenario).events)
                if isinstance(e, CallEnded))


def test_call_lines_in_the_users_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        line = call_line(record("blind_transfer"))
        assert line.startswith("15:33:21")  # 14:33:21 UTC in Paris (CET)
        assert "Marie Dupont" in line and "→ 1001" in line
        assert "talk 24 s" in line and "transferred to 1002" in line
        assert "talk" not in call_line(record("inbound_missed"))
        out = call_line(record("click_to_dial"))
        assert "1001 → 0612345678" in out and "outbound" in out
    finally:
        os.environ.pop("TZ", None)
        time.tzset()
