"""The commands as a user runs them: replay (stdout + SQLite), record-ami → replay round trip,
serve start/stop, and the live overlong alert."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cti.ami.recorder import record
from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallAnswered, CallEnded, CallOverlong, DomainEvent
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.config import load_config
from cti.daemon import serve
from cti.rules import OverlongWatcher
from cti.sim.ami_server import AmiServer
from cti.sim.capture import CapturePlayer, load_capture
from tests.captures import FIXTURES, TRUTH_SCENARIOS, truth


def cti(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_replay_prints_one_json_call_per_line_and_stores_them(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    for scenario in TRUTH_SCENARIOS:
        proc = cti("replay", str(FIXTURES / scenario / "ami.raw"), "--db", str(db))
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        (call,) = [json.loads(line) for line in lines]
        (want,) = truth(scenario)["calls"]
        assert call["call_id"] == want["linkedid"]
        assert call["status"] == want["status"]
    # replaying everything twice changes nothing in the database (idempotent)
    for scenario in TRUTH_SCENARIOS:
        assert cti("replay", str(FIXTURES / scenario), "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from calls").fetchone()[0] == len(TRUTH_SCENARIOS)
        events = conn.execute("select count(*) from call_events").fetchone()[0]
    for scenario in TRUTH_SCENARIOS[:2]:
        assert cti("replay", str(FIXTURES / scenario), "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from call_events").fetchone()[0] == events


def test_replay_of_json_lines_and_bad_paths(tmp_path: Path) -> None:
    events = load(FIXTURES / "internal").events
    jl = tmp_path / "cap.jsonl"
    jl.write_text("\n".join(json.dumps({**m, "_t": t}) for m, t in events) + "\nnot json\n")
    proc = cti("replay", str(jl))
    assert proc.returncode == 0
    (call,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert call["direction"] == "internal" and call["answered"] is True
    assert "1 malformed" in proc.stderr
    proc = cti("replay", str(tmp_path / "missing.raw"))
    assert proc.returncode == 1 and "no such file" in proc.stderr


async def test_record_ami_then_replay_gives_the_same_call(tmp_path: Path) -> None:
    server = AmiServer(auth_fail_delay=0.01)
    await server.start()
    player = CapturePlayer(server, load_capture(FIXTURES / "queue_ringall"), speed=10.0)
    pbx = load_config(env={}, overrides={"pbx.ami_port": server.port}).pbxes[0]
    out = tmp_path / "bug.raw"
    timing = tmp_path / "bug.raw.timing.jsonl"
    with open(out, "wb") as fh:
        task = asyncio.create_task(record(pbx, seconds=3.0, timing_path=timing, out=fh))
        await server.wait_for_login(1)
        await player.play()
        await asyncio.sleep(0.1)
        server.drop_clients()
        assert await task == 0
    await server.close()
    proc = cti("replay", str(out))
    assert proc.returncode == 0, proc.stderr
    (call,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert (call["queue"], call["extension"], call["status"]) == ("support", "1002", "answered")
    # played at 10× speed: the sidecar's receive times give a tenth of the real 7.5 s
    assert call["talk_seconds"] == pytest.approx(0.75, abs=0.3)
    assert json.loads(timing.read_text().splitlines()[0])["t0"] > 0


async def test_serve_runs_until_stopped(tmp_path: Path) -> None:
    server = AmiServer(auth_fail_delay=0.01)
    await server.start()
    config = load_config(env={}, overrides={"db.path": str(tmp_path / "s.db"),
                                            "pbx.ami_port": server.port})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop))
    await server.wait_for_login(1)
    player = CapturePlayer(server, load_capture(FIXTURES / "inbound_missed"))
    await player.play()
    await asyncio.sleep(0.2)
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    await server.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = conn.execute("select status, extension from calls").fetchall()
    assert rows == [("missed", "1001")]


async def test_overlong_alert_fires_while_the_call_runs_and_not_after_it_ended() -> None:
    bus = Bus()
    seen: list[DomainEvent] = []
    bus.subscribe(seen.append)
    now = 1000.0  # a PBX clock far from ours: the alert must still wait for the threshold
    watcher = OverlongWatcher(bus, {"p": TrackerConfig(pbx="p", overlong_seconds=0.05,
                                                       overlong_by_queue={"vip": 60})})
    bus.publish(CallAnswered("p", "c1", now, "1001", "inbound"))
    bus.publish(CallAnswered("p", "c2", now, "1002", "inbound"))
    bus.publish(CallAnswered("p", "c3", now, "1003", "inbound", "vip"))
    assert watcher.active() == 3
    rec = next(e.record for e in Tracker().feed_all(load(FIXTURES / "internal").events)
               if isinstance(e, CallEnded))
    bus.publish(CallEnded("p", "c2", now, rec))
    assert not [e for e in seen if isinstance(e, CallOverlong)]  # not before the threshold
    await asyncio.sleep(0.2)
    overlong = [e for e in seen if isinstance(e, CallOverlong)]
    assert [(e.call_id, e.extension, e.threshold) for e in overlong] == [("c1", "1001", 0.05)]
    assert overlong[0].at == now + 0.05
    assert watcher.active() == 1  # c3 (vip queue, 60 s) still armed
    watcher.close()


def test_clients_import_export_and_vcard_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("Nom;Téléphone;E-mail\nMarie Dupont;06 12 34 56 78;marie@example.fr\n"
                        "Jean Bon;+32 71 84 43 18;jean@\n", encoding="cp1252")
    proc = cti("clients", "import", str(csv_file), "--db", db)
    assert proc.returncode == 1  # one bad row
    assert "line 3: email" in proc.stdout and "2 rows: 1 was imported" in proc.stdout
    exported = cti("clients", "export", "--db", db)
    assert exported.returncode == 0
    assert "Marie Dupont" in exported.stdout and "+33612345678" in exported.stdout
    assert "Jean Bon" not in exported.stdout
    card = cti("clients", "vcard", "1", "--db", db)
    assert card.stdout.startswith("BEGIN:VCARD") and "FN:Marie Dupont" in card.stdout
    assert cti("clients", "vcard", "42", "--db", db).returncode == 1
