"""Recordings, on real data: the MixMonitor WAVs of the captures (with what ``soxi`` measured),
laid out in a folder as the PBX wrote them, the AMI captures replayed through the pipeline into
a real SQLite file. Each file is linked to its call (truth.json), probed, checked, drawn, kept
or let go."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti import audio
from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallEnded, CallRecord, DomainEvent
from cti.capture import load
from cti.config import load_config
from cti.daemon import Daemon, attach_store
from cti.errors import NotFound
from cti.pipeline import Pipeline
from cti.recordings.hygiene import RecordingHygiene
from cti.recordings.linker import RecordingLinker
from cti.recordings.naming import call_ids_in, leg_of
from cti.recordings.scanner import RecordingScanner
from cti.recordings.service import RecordingService, pool
from cti.recordings.settings import RecordingSettings
from cti.sim.ami_server import AmiServer
from cti.sim.capture import CapturePlayer, load_capture
from cti.store.sqlite import Store
from cti.tickets.service import TicketService
from tests.captures import FIXTURES, SCENARIOS, truth

PBX_DIR = "/var/astrec/recordings"  # where the captures say Asterisk wrote the files
RECORDED = [s for s in SCENARIOS if (FIXTURES / s / "recordings" / "soxi.json").exists()]
#: Fixture times are Nov 2026; "now" for the tests that age recordings.
NOW = 1795444272.0


def soxi(scenario: str) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(
        (FIXTURES / scenario / "recordings" / "soxi.json").read_text())
    return data


def owners(scenario: str) -> dict[str, str]:
    """file name → the Linkedid of the call that owns it, per truth.json."""
    out = {}
    for call in truth(scenario)["asterisk_calls_by_linkedid"]:
        for name in call.get("recording_files_present", []):
            out[name] = call["linkedid"]
    assert set(out) == set(truth(scenario)["recordings"])
    return out


def lay_out(scenario: str, folder: Path) -> list[Path]:
    """Copy the capture's recordings into ``folder`` as the PBX wrote them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in soxi(scenario):
        out.append(Path(shutil.copyfile(FIXTURES / scenario / "recordings" / name,
                                        folder / name)))
    return out


def replay(scenario: str, bus: Bus, cfg: TrackerConfig | None = None) -> list[CallRecord]:
    ended: list[CallRecord] = []

    def grab(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            ended.append(event.record)

    unsubscribe = bus.subscribe(grab)
    pipeline = Pipeline(cfg or TrackerConfig(), bus)
    for msg, t in load(FIXTURES / scenario).events:
        pipeline.on_ami_event(msg, t)
    unsubscribe()
    return ended


class World:
    """A store, a bus that persists calls, the service and its linker."""

    def __init__(self, store: Store, folder: Path, **settings: Any) -> None:
        self.store = store
        self.folder = folder
        self.bus = Bus()
        attach_store(self.bus, store)
        self.settings = RecordingSettings(dir=folder, **{"pbx_dir": PBX_DIR, **settings})
        self.service = RecordingService(store, self.settings)
        self.linker = RecordingLinker(self.bus, self.service, settle=0)

    async def replay(self, scenario: str, cfg: TrackerConfig | None = None) -> list[CallRecord]:
        ended = replay(scenario, self.bus, cfg)
        await self.linker.flush()
        await self.store.flush()
        return ended

    async def rows(self) -> list[dict[str, Any]]:
        return await self.store.query("SELECT * FROM recordings ORDER BY id")


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    async with await Store.open(tmp_path / "cti.db") as s:
        yield s


# --------------------------------------------------------------------------- linking
@pytest.mark.parametrize("scenario", RECORDED)
async def test_every_recording_is_linked_to_its_call_and_probed_as_soxi_says(
        scenario: str, store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    lay_out(scenario, world.folder)
    ended = await world.replay(scenario)
    assert world.linker.errors == 0 and world.bus.subscriber_errors == 0
    expected = owners(scenario)
    found = {}
    for record in ended:
        for rec in await world.service.for_call(record.pbx, record.call_id):
            found[rec.name] = rec
    assert {name: rec.call_id for name, rec in found.items()} == expected
    measured = soxi(scenario)
    for name, rec in found.items():
        fact = measured[name]
        assert rec.status == "ok", rec
        assert (rec.format, rec.leg, rec.source) == ("wav", "mixed", "variable")
        assert rec.channels == int(fact["channels"])
        assert rec.sample_rate == int(fact["sample_rate"])
        assert rec.duration == pytest.approx(fact["duration_s"], abs=0.01)
        assert rec.size == fact["size_bytes"]
        original = FIXTURES / scenario / "recordings" / name
        assert rec.sha256 == hashlib.sha256(original.read_bytes()).hexdigest()
        assert rec.pbx_path == f"{PBX_DIR}/{name}" and rec.file == name
        assert rec.started_at is not None and rec.checked_at is not None
        shown = rec.to_json()
        assert shown["name"] == name and shown["playable"] is True
        assert shown["media_type"] == "audio/wav"
        assert not any(isinstance(v, str) and PBX_DIR in v for v in shown.values())
        assert str(world.folder) not in json.dumps(shown)


async def test_the_blind_transfer_s_two_files_belong_to_one_call(store: Store,
                                                                 tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    lay_out("blind_transfer", world.folder)
    ended = await world.replay("blind_transfer")
    assert [r.call_id for r in ended] == ["1795444401.149"]
    recs = await world.service.for_call("default", "1795444401.149")
    assert [r.name for r in recs] == [
        "in-20261123-143321-33612345678-1795444401.149.wav",  # the caller with 1001
        "int-20261123-143331-+33612345678-1002-1795444401.149.wav"]  # then with 1002
    assert recs[0].started_at is not None and recs[1].started_at is not None
    assert recs[0].started_at < recs[1].started_at
    # Replaying the capture (a restart, `cti replay`) links nothing twice.
    await world.replay("blind_transfer")
    assert len(await world.rows()) == 2
    again = await world.service.link("default", "1795444401.149",
                                     f"{PBX_DIR}/{recs[0].name}", "event")
    assert again == await world.service.get(recs[0].id)
    assert dataclasses.replace(again, checked_at=None, updated_at=0) == dataclasses.replace(
        recs[0], checked_at=None, updated_at=0)  # only probed again
    usage = await world.service.disk_usage()
    assert usage == {"files": 2, "bytes": 136684 + 200044,
                     "by_status": {"ok": {"files": 2, "bytes": 136684 + 200044}}}


async def test_a_queue_call_s_recording_goes_to_the_caller_s_call(store: Store,
                                                                  tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec", pbx_dir="")  # no pbx_dir: the file name is kept
    lay_out("queue_ringall", world.folder)
    await world.replay("queue_ringall")
    (row,) = await world.rows()
    assert (row["call_id"], row["file"], row["status"]) == (
        "1795444384.146", "q-support-20261123-143304-33698765432-1795444384.146.wav", "ok")
    call = await store.get_call("default", "1795444384.146")
    assert call is not None and call["queue"] == "support"


async def test_missing_truncated_and_garbage_files_are_statuses_not_crashes(
        store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    world.folder.mkdir()
    # inbound_answered: no file at all.
    # outbound_answered: the file cut in half (a copy interrupted).
    (out_name,) = soxi("outbound_answered")
    whole = (FIXTURES / "outbound_answered" / "recordings" / out_name).read_bytes()
    (world.folder / out_name).write_bytes(whole[: len(whole) // 2])
    # internal: bytes that are no audio, named .wav.
    (int_name,) = soxi("internal")
    (world.folder / int_name).write_bytes(os.urandom(4096))
    for scenario in ("inbound_answered", "outbound_answered", "internal"):
        await world.replay(scenario)
    assert world.linker.errors == 0 and world.bus.subscriber_errors == 0
    status = {r["file"].split("-")[0]: (r["status"], r["size"]) for r in await world.rows()}
    assert status == {"in": ("missing", None), "out": ("corrupt", len(whole) // 2),
                      "int": ("corrupt", 4096)}
    with pytest.raises(audio.AudioError, match="truncated"):
        audio.probe(world.folder / out_name)
    usage = await world.service.disk_usage()
    assert usage["by_status"]["missing"]["files"] == 1
    assert usage["files"] == 2  # the corrupt ones are still on disk


@pytest.mark.parametrize("keep", [False, True])
async def test_an_unanswered_call_s_partial_recording_is_dropped_unless_kept(
        keep: bool, store: Store, tmp_path: Path) -> None:
    (missed,) = replay("inbound_missed", Bus())
    assert not missed.answered
    world = World(store, tmp_path / "rec", keep_unanswered=keep)
    (path,) = lay_out("inbound_answered", world.folder)
    record = dataclasses.replace(missed, recordings=(f"{PBX_DIR}/{path.name}",))
    (rec,) = await world.service.finish_call(record)
    assert rec.call_id == missed.call_id and rec.source == "event"
    if keep:
        assert rec.status == "ok" and path.exists()
    else:
        assert rec.status == "dropped" and not path.exists()
        assert (await world.service.finish_call(record))[0].status == "dropped"  # for good


# --------------------------------------------------------------------------- the scan
async def test_the_scan_links_a_file_written_while_cti_was_down_and_sees_it_vanish(
        store: Store, tmp_path: Path) -> None:
    bus = Bus()  # calls reach the store, but nobody follows recordings: cti was "down"
    attach_store(bus, store)
    replay("inbound_answered", bus)
    replay("blind_transfer", bus)
    await store.flush()
    settings = RecordingSettings(dir=tmp_path / "rec", pbx_dir=PBX_DIR)
    service = RecordingService(store, settings)
    (path,) = lay_out("inbound_answered", settings.dir)
    # A per-direction file named after the transfer target's channel (a leg's Uniqueid).
    leg_file = settings.dir / "2026" / "1795444411.151-rx.wav"
    leg_file.parent.mkdir()
    shutil.copyfile(path, leg_file)
    (settings.dir / "unknown-call.wav").write_bytes(path.read_bytes())
    (settings.dir / "notes.txt").write_text("not audio")
    (settings.dir / "junk-1795444272.132.gsm").write_bytes(b"\x00garbage")
    scanner = RecordingScanner(service)
    first = await scanner.scan()
    assert (first.files, first.linked, first.matched, first.unmatched) == (4, 4, 3, 1)
    by_file = {r["file"]: r for r in await store.query("SELECT * FROM recordings")}
    main = by_file[path.name]
    assert (main["call_id"], main["source"], main["status"], main["size"]) == (
        "1795444272.132", "scan", "ok", path.stat().st_size)
    assert main["pbx_path"] == f"{PBX_DIR}/{path.name}"
    leg = by_file["2026/1795444411.151-rx.wav"]
    assert (leg["call_id"], leg["leg"], leg["status"]) == ("1795444401.149", "rx", "ok")
    assert by_file["unknown-call.wav"]["call_id"] is None
    assert by_file["junk-1795444272.132.gsm"]["status"] == "corrupt"  # odd file: a status
    # Nothing changed: a second pass is quiet.
    assert await scanner.scan() == dataclasses.replace(first, linked=0, matched=0,
                                                       unmatched=0, rechecked=0)
    # The PBX reports the file later (a replay, a late event): same row, now by its real path.
    rec = await service.link("default", "1795444272.132", f"{PBX_DIR}/{path.name}",
                             "variable")
    assert rec.id == main["id"] and len(await store.query("SELECT id FROM recordings")) == 4
    path.unlink()
    gone = await scanner.scan()
    assert gone.missing == 1
    assert (await service.get(main["id"])).status == "missing"


async def test_the_scan_leaves_a_running_call_s_recording_to_the_pbx(
        store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    world.folder.mkdir()
    bus = Bus()
    linker = RecordingLinker(bus, world.service, settle=0)
    events = []
    bus.subscribe(events.append)
    replay("inbound_answered", bus)  # no store on this bus: the call is not ended for cti
    await linker.flush()
    assert [e.kind for e in events].count("recording_started") == 1
    (rec,) = await world.rows()
    assert rec["status"] == "missing"  # the linker saw the end and no file
    await store.transaction(lambda tx: tx.execute(
        "UPDATE recordings SET status = 'pending'"))  # as while the call is running
    scanner = RecordingScanner(world.service)
    assert (await scanner.scan()).missing == 0
    assert (await world.service.get(rec["id"])).status == "pending"
    await world.replay("inbound_answered")  # the call ends (and reaches the store)
    await store.transaction(lambda tx: tx.execute("UPDATE recordings SET status = 'pending'"))
    assert (await scanner.scan()).missing == 1


def test_file_names_tell_legs_and_calls() -> None:
    assert leg_of(f"{PBX_DIR}/in-20261123-143321-33612345678-1795444401.149.wav") == "mixed"
    assert [leg_of(n) for n in ("x-rx.wav", "x-tx.wav", "x-r.wav", "x_t.WAV", "x-in.wav",
                                "x-out.wav")] == ["rx", "tx", "rx", "tx", "rx", "tx"]
    assert call_ids_in("int-20261123-143331-+33612345678-1002-1795444401.149.wav") == [
        "1795444401.149"]
    assert call_ids_in("1795444401.149-1795444411.151-t.wav") == ["1795444411.151",
                                                                 "1795444401.149"]
    assert call_ids_in("20261123-143321-33612345678.wav") == []


# --------------------------------------------------------------------------- peaks, listens
async def test_peaks_are_computed_once_and_read_from_the_row_afterwards(
        store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    (path,) = lay_out("long_call", world.folder)
    await world.replay("long_call")
    (rec,) = await world.service.for_call("default", "1795444470.157")
    assert not rec.has_peaks
    first = await world.service.peaks(rec.id, 800)
    assert len(first) == 800 and max(first) == 1.0 and min(first) >= 0.0
    assert first == audio.peaks(path, 800)
    assert (await world.service.get(rec.id)).has_peaks
    path.unlink()  # from now on only the cache can answer
    assert await world.service.peaks(rec.id, 800) == first
    small = await world.service.peaks(rec.id, 100)
    assert len(small) == 100 and small == pool(first, 100) and max(small) == 1.0
    with pytest.raises(NotFound):
        await world.service.peaks(rec.id + 1)


async def test_the_first_listen_is_the_flag(store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    lay_out("internal", world.folder)
    await world.replay("internal")
    (rec,) = await world.service.for_call("default", "1795444367.144")
    assert rec.listened_at is None
    heard = await world.service.mark_listened(rec.id, "supervisor")
    assert heard.listened_by == "supervisor" and heard.listened_at is not None
    again = await world.service.mark_listened(rec.id, "alice")
    assert (again.listened_by, again.listened_at) == ("supervisor", heard.listened_at)
    assert again.to_json()["listened_by"] == "supervisor"


# --------------------------------------------------------------------------- hygiene
async def test_retention_deletes_old_recordings_but_keeps_open_tickets_and_overlong_calls(
        store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path / "rec")
    overlong = TrackerConfig(overlong_seconds=60)  # long_call talks for 70 s
    files = {}
    for scenario in ("inbound_answered", "outbound_answered", "long_call", "internal"):
        (files[scenario],) = lay_out(scenario, world.folder)
        (record,) = await world.replay(scenario, overlong)
        assert record.overlong == (scenario == "long_call")
    tickets = TicketService(store, tz=ZoneInfo("Europe/Paris"))
    await tickets.create("alice", {"subject": "Complaint", "kind": "hotline"},
                         calls=[("default", "1795444272.132")])  # inbound_answered: open
    closed = await tickets.create("alice", {"subject": "Done", "kind": "hotline"},
                                  calls=[("default", "1795444367.144")])  # internal
    await tickets.set_status(closed.id, "alice", "cancelled")
    later = RecordingService(store, dataclasses.replace(world.settings, retention_days=30),
                             clock=lambda: NOW + 31 * 86400)
    young = RecordingService(store, later.settings, clock=lambda: NOW + 20 * 86400)
    assert (await RecordingHygiene(young).run()).deleted == 0
    seen: list[tuple[int, int]] = []
    result = await RecordingHygiene(later).run(progress=lambda d, t: seen.append((d, t)))
    assert (result.deleted, result.kept_open_ticket, result.kept_overlong) == (2, 1, 1)
    sizes = [soxi(s)[files[s].name]["size_bytes"] for s in ("outbound_answered", "internal")]
    assert result.freed_bytes == sum(sizes)
    assert seen[-1] == (4, 4) and "deleted 2" in result.summary()
    status = {r["file"]: r["status"] for r in await world.rows()}
    for scenario, kept in (("inbound_answered", True), ("long_call", True),
                           ("outbound_answered", False), ("internal", False)):
        assert files[scenario].exists() == kept
        assert status[files[scenario].name] == ("ok" if kept else "deleted")
    assert (await RecordingHygiene(later).run()).deleted == 0  # nothing left to do


@pytest.mark.parametrize("fmt", ["opus", "mp3"])
async def test_old_recordings_are_transcoded_to_a_smaller_playable_file(
        fmt: str, store: Store, tmp_path: Path) -> None:
    if not audio.ffmpeg_available():
        if os.environ.get("CI"):  # scripts/system-deps.sh installs it: CI must run this
            raise RuntimeError("ffmpeg is not installed")
        pytest.skip("ffmpeg not installed (scripts/system-deps.sh installs it)")
    world = World(store, tmp_path / "rec")
    (path,) = lay_out("inbound_answered", world.folder)
    await world.replay("inbound_answered")
    (before,) = await world.service.for_call("default", "1795444272.132")
    await world.service.peaks(before.id)
    settings = dataclasses.replace(world.settings, transcode_after_days=7,
                                   transcode_format=fmt)
    later = RecordingService(store, settings, clock=lambda: NOW + 8 * 86400)
    result = await RecordingHygiene(later).run()
    assert (result.transcoded, result.errors) == (1, 0)
    after = await later.get(before.id)
    assert after.file == path.with_suffix(f".{fmt}").name and after.format == fmt
    assert after.transcoded_from == path.name and not path.exists()
    assert after.status == "ok" and after.has_peaks  # same audio, same waveform
    assert after.size is not None and before.size is not None
    assert after.size < before.size / 4
    assert result.freed_bytes == before.size - after.size
    assert after.duration == pytest.approx(before.duration, abs=0.25)
    new = later.path(after)
    assert audio.probe(new).duration == pytest.approx(7.52, abs=0.25)
    assert len(audio.peaks(new, 50)) == 50  # decodes: playable
    assert after.sha256 == hashlib.sha256(new.read_bytes()).hexdigest()
    assert after.to_json()["media_type"] == ("audio/ogg" if fmt == "opus" else "audio/mpeg")
    # The original left behind is not a "new file" for the scan.
    assert (await RecordingScanner(later).scan()).linked == 0


async def test_without_ffmpeg_transcoding_waits_and_wav_stays_playable(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no ffmpeg to be found
    world = World(store, tmp_path / "rec", transcode_after_days=7)
    (path,) = lay_out("outbound_answered", world.folder)
    await world.replay("outbound_answered")
    later = RecordingService(store, world.settings, clock=lambda: NOW + 8 * 86400)
    result = await RecordingHygiene(later).run()
    assert (result.transcoded, result.transcode_skipped) == (0, 1)
    assert "1 waiting for ffmpeg" in result.summary()
    (rec,) = await later.for_call("default", "1795444312.138")
    assert (rec.file, rec.status, rec.format) == (path.name, "ok", "wav") and path.exists()
    assert len(await later.peaks(rec.id, 10)) == 10  # WAV needs no ffmpeg


# --------------------------------------------------------------------------- settings, daemon
def test_settings_come_from_the_configuration() -> None:
    config = load_config(env={"CTI_RECORDINGS_DIR": "/srv/rec",
                              "CTI_RECORDINGS_TRANSCODE_FORMAT": "mp3",
                              "CTI_RECORDINGS_RETENTION_DAYS": "365"})
    settings = RecordingSettings.from_config(config)
    assert (settings.dir, settings.transcode_format, settings.retention_days) == (
        Path("/srv/rec"), "mp3", 365.0)
    assert settings.scan_interval == 600.0 and settings.keep_unanswered is False
    with pytest.raises(ValueError, match="transcode_format"):
        RecordingSettings.from_config(load_config(
            env={"CTI_RECORDINGS_TRANSCODE_FORMAT": "flac"}))
    mapped = RecordingSettings(pbx_dir="/var/spool/asterisk/monitor")
    assert mapped.local_file("/var/spool/asterisk/monitor/2026/11/x.wav") == "2026/11/x.wav"
    assert mapped.local_file("/elsewhere/x.wav") == "x.wav"
    assert mapped.local_file("/var/spool/asterisk/monitor/../../etc/x.wav") == "x.wav"


async def test_the_live_daemon_links_and_checks_recordings(tmp_path: Path) -> None:
    server = AmiServer(timestamp_events=True, auth_fail_delay=0.01)
    await server.start()
    folder = tmp_path / "rec"
    lay_out("blind_transfer", folder)
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": server.port,
        "pbx.ami_backoff_min": 0.01, "pbx.ami_backoff_max": 0.05,
        "recordings.dir": str(folder), "recordings.pbx_dir": PBX_DIR})
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.recordings is not None and daemon.recording_linker is not None
        await server.wait_for_login(1)
        await asyncio.sleep(0.05)
        await CapturePlayer(server, load_capture(FIXTURES / "blind_transfer"),
                            timestamps=True).play()
        for _ in range(100):
            await daemon.recording_linker.flush()
            recs = await daemon.recordings.for_call("default", "1795444401.149")
            if len(recs) == 2 and all(r.status == "ok" for r in recs):
                break
            await asyncio.sleep(0.05)
        assert [(r.name, r.status) for r in recs] == [
            (name, "ok") for name in sorted(soxi("blind_transfer"))]
        assert daemon.status()["recordings"]["errors"] == 0
    finally:
        await daemon.close()
        await server.close()
