"""Shared test helpers: the real Asterisk captures in tests/fixtures."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "ami.raw").exists())
#: Scenarios whose truth.json states the call-log answer.
TRUTH_SCENARIOS = [s for s in SCENARIOS if json.loads((FIXTURES / s / "truth.json").read_text())
                   .get("calls")]


def truth(scenario: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / scenario / "truth.json").read_text())
    return data


CDR_COLUMNS = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
               "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
               "disposition", "amaflags", "uniqueid", "userfield"]


def cdr_rows(scenario: str) -> list[dict[str, Any]]:
    """The PBX's own cdr_csv rows (usegmtime=yes, loguniqueid=yes, loguserfield=yes)."""
    rows = []
    with open(FIXTURES / scenario / "cdr.csv", newline="") as fh:
        for values in csv.reader(fh):
            row: dict[str, Any] = dict(zip(CDR_COLUMNS, values, strict=True))
            for key in ("start", "answer", "end"):
                row[key] = (datetime.strptime(row[key], "%Y-%m-%d %H:%M:%S")
                            .replace(tzinfo=UTC).timestamp() if row[key] else None)
            row["billsec"] = int(row["billsec"])
            row["duration"] = int(row["duration"])
            rows.append(row)
    return rows


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)
