"""The SQLite call store, against a real database file in tmp_path."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cti.calls.model import (
    CallAnswered,
    CallEnded,
    CallRecord,
    CallRinging,
    CallStarted,
    DomainEvent,
    Leg,
    Party,
    RecordingStarted,
    Transfer,
)
from cti.store.schema import MIGRATIONS, Migration
from cti.store.sqlite import Store, StoreError

T0 = 1_764_000_000.0


def make_record(i: int = 0, **changes: Any) -> CallRecord:
    t0 = T0 + i * 10.123457
    record = CallRecord(
        pbx="pbx1",
        call_id=f"{t0:.6f}",
        direction="inbound",
        status="answered",
        answered=True,
        caller=Party(f"+4072100{i:04d}", "Ana Pop"),
        callee=Party("0212345678", "Office"),
        extension="201",
        extensions_rung=("201", "202"),
        queue="sales",
        started_at=t0,
        answered_at=t0 + 4.25,
        ended_at=t0 + 95.5,
        hangup_cause="16",
        transfers=(Transfer("blind", "201", "202", t0 + 30.0001),),
        recordings=(f"/var/spool/asterisk/monitor/{i}.wav",),
        legs=(
            Leg("PJSIP/trunk-0001", f"{t0:.6f}", "trunk", "trunk", t0, t0 + 4.25, t0 + 95.5, "16"),
            Leg("PJSIP/201-0002", f"{t0:.6f}1", "extension", "201", t0 + 0.2, t0 + 4.25),
        ),
    )
    return record.replace(**changes)


def timeline(record: CallRecord) -> list[DomainEvent]:
    pbx, cid, t0 = record.pbx, record.call_id, record.started_at
    return [
        CallStarted(pbx, cid, t0, record.direction, record.caller, record.callee),
        CallRinging(pbx, cid, t0 + 0.2, "201", record.direction, record.caller, record.callee),
        CallAnswered(pbx, cid, t0 + 4.25, "201", record.direction),
        RecordingStarted(pbx, cid, t0 + 4.3, record.recordings[0]),
        CallEnded(pbx, cid, record.ended_at, record),
    ]


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("calls", "call_legs", "call_events")
        }


def dump(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()


def ticking(start: float = 5000.0) -> Callable[[], float]:
    """A clock that moves one second per reading, so any rewrite of a stamp is visible."""
    now = [start]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    return clock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "calls.db")
    yield s
    await s.close()


# --------------------------------------------------------------------------- opening
async def test_migrations_applied_once_and_data_kept_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with await Store.open(path, clock=lambda: 111.0) as first:
        await first.save_call(make_record())
    applied = [(m.version, 111.0) for m in MIGRATIONS]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version, applied_at FROM schema_migrations").fetchall() == (
            applied
        )
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    async with await Store.open(path, clock=lambda: 222.0) as again:
        assert await again.get_call("pbx1", make_record().call_id) == make_record().to_json()
        assert await again.count_calls() == 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version, applied_at FROM schema_migrations").fetchall() == (
            applied
        )


async def test_a_new_migration_runs_on_reopen_and_only_it(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    await (await Store.open(path, clock=lambda: 1.0)).close()
    nxt = len(MIGRATIONS) + 1  # the registry grows as services add their tables
    extra = Migration(nxt, "notes", ("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",))
    for _ in range(2):
        s = await Store.open(path, clock=lambda: 2.0, migrations=(*MIGRATIONS, extra))
        await s.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version, applied_at FROM schema_migrations").fetchall() == [
            *((m.version, 1.0) for m in MIGRATIONS),
            (nxt, 2.0),
        ]
        assert db.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)


async def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    broken = Migration(len(MIGRATIONS) + 1, "broken", ("CREATE TABLE half (x)",
                                                        "THIS IS NOT SQL"))
    with pytest.raises(StoreError, match=r"calls\.db"):
        await Store.open(path, migrations=(*MIGRATIONS, broken))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (
            len(MIGRATIONS),)
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in names
    assert "calls" in names
    async with await Store.open(path) as s:  # the good part of the schema is still usable
        assert await s.count_calls() == 0


async def test_a_database_from_a_newer_cti_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    extra = Migration(len(MIGRATIONS) + 1, "future", ("CREATE TABLE future (x)",))
    await (await Store.open(path, migrations=(*MIGRATIONS, extra))).close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(path)


async def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "calls.db"
    with pytest.raises(StoreError, match="does not exist") as caught:
        await Store.open(path)
    assert str(path) in str(caught.value)
    assert not path.parent.exists()


async def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    path.write_text("this is a call log in CSV, not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        await Store.open(path)
    assert str(path) in str(caught.value)
    assert "not a database" in str(caught.value)


async def test_a_folder_as_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder") as caught:
        await Store.open(tmp_path)
    assert str(tmp_path) in str(caught.value)


# --------------------------------------------------------------------------- round trips
async def test_save_and_get_round_trip(store: Store) -> None:
    record = make_record(3)
    await store.save_call(record)
    assert await store.get_call(record.pbx, record.call_id) == record.to_json()
    rebuilt = await store.get_record(record.pbx, record.call_id)
    assert rebuilt == record
    assert rebuilt is not None and rebuilt.legs == record.legs
    assert await store.get_call("pbx1", "no-such-call") is None
    assert await store.get_record("pbx2", record.call_id) is None


async def test_unanswered_call_with_empty_lists_round_trips(store: Store) -> None:
    record = make_record(
        1,
        status="missed",
        answered=False,
        answered_at=None,
        extension=None,
        queue=None,
        extensions_rung=(),
        transfers=(),
        recordings=(),
        overlong=True,
        legs=(),
    )
    await store.save_call(record)
    got = await store.get_call(record.pbx, record.call_id)
    assert got == record.to_json()
    assert got is not None and got["talk_seconds"] == 0.0 and got["answered_at"] is None
    assert await store.call_legs(record.pbx, record.call_id) == []


async def test_legs_and_events_read_back(store: Store) -> None:
    record = make_record()
    await store.add_events(timeline(record))
    legs = await store.call_legs(record.pbx, record.call_id)
    assert [leg["channel"] for leg in legs] == ["PJSIP/trunk-0001", "PJSIP/201-0002"]
    assert legs[1]["answered_at"] == "2025-11-24T16:00:04.250Z"
    assert legs[1]["ended_at"] is None
    events = await store.call_events(record.pbx, record.call_id)
    assert [e["kind"] for e in events] == [
        "call_started",
        "call_ringing",
        "call_answered",
        "recording_started",
        "call_ended",
    ]
    assert events[1]["detail"]["extension"] == "201"
    assert events[1]["detail"]["caller"] == {"number": "+40721000000", "name": "Ana Pop"}
    assert events[0]["at"] == "2025-11-24T16:00:00.000Z"
    # CallEnded carries the record: the store saved the call from it.
    assert await store.get_call(record.pbx, record.call_id) == record.to_json()


# --------------------------------------------------------------------------- idempotency
async def test_saving_and_replaying_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with await Store.open(path, clock=ticking()) as store:
        records = [make_record(i) for i in range(20)]
        stream = [event for record in records for event in timeline(record)]
        for item in stream:
            store.submit(item)
        await store.flush()
        counts = table_counts(path)
        rows = {t: dump(path, t) for t in ("calls", "call_legs", "call_events")}
        assert counts == {"calls": 20, "call_legs": 40, "call_events": 100}

        for item in stream:  # the same capture replayed
            store.submit(item)
        for record in records:
            await store.save_call(record)
        await store.add_events(stream[:7])
        await store.flush()
        assert table_counts(path) == counts
        # Row for row the same, created_at/updated_at included, though the clock moved on.
        assert {t: dump(path, t) for t in rows} == rows


async def test_a_changed_record_updates_the_row_and_keeps_created_at(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with await Store.open(path, clock=ticking()) as store:
        record = make_record()
        await store.save_call(record)
        (before,) = dump(path, "calls")
        changed = record.replace(overlong=True, recordings=(*record.recordings, "/more.wav"))
        await store.save_call(changed)
        (after,) = dump(path, "calls")
        assert await store.get_call(record.pbx, record.call_id) == changed.to_json()
        assert await store.count_calls() == 1
        created, updated = -2, -1
        assert after[created] == before[created]
        assert after[updated] > before[updated]


# --------------------------------------------------------------------------- batching
async def test_five_thousand_submits_are_batched(tmp_path: Path) -> None:
    async with await Store.open(
        tmp_path / "calls.db", batch_size=500, batch_interval=30.0
    ) as store:
        for i in range(5000):
            store.submit(make_record(i))
        assert store.stats.pending == 5000  # submit never waits for the disk
        # A flush must not sit out the 30 s batch timer, even after the last full batch.
        await asyncio.wait_for(store.flush(), timeout=10)
        assert await store.count_calls() == 5000
        stats = store.stats
        assert (stats.submitted, stats.written, stats.failed, stats.pending) == (5000, 5000, 0, 0)
        assert stats.batches == 10
        assert vars(stats) == {
            "submitted": 5000,
            "written": 5000,
            "failed": 0,
            "pending": 0,
            "batches": 10,
        }


async def test_flush_does_not_wait_for_the_batch_timer(tmp_path: Path) -> None:
    async with await Store.open(
        tmp_path / "calls.db", batch_size=10_000, batch_interval=60.0
    ) as store:
        store.submit(make_record(1))
        store.submit(make_record(2))
        started = time.monotonic()
        await asyncio.wait_for(store.flush(), timeout=10)
        assert time.monotonic() - started < 5
        assert await store.count_calls() == 2


async def test_a_partial_batch_is_written_after_the_interval(tmp_path: Path) -> None:
    async with await Store.open(
        tmp_path / "calls.db", batch_size=10_000, batch_interval=0.02
    ) as store:
        store.submit(make_record(1))
        for _ in range(200):
            if await store.count_calls() == 1:
                break
            await asyncio.sleep(0.01)
        assert await store.count_calls() == 1


async def test_close_writes_what_was_submitted(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    store = await Store.open(path, batch_interval=60.0)
    for i in range(30):
        store.submit(make_record(i))
    await store.close()
    await store.close()  # idempotent
    assert table_counts(path)["calls"] == 30
    with pytest.raises(StoreError, match="closed"):
        store.submit(make_record(99))
    with pytest.raises(StoreError, match="closed"):
        await store.get_call("pbx1", "x")


async def test_submit_refuses_what_is_not_a_call_value(store: Store) -> None:
    with pytest.raises(TypeError):
        store.submit({"call_id": "1"})  # type: ignore[arg-type]
    assert store.stats.submitted == 0


# --------------------------------------------------------------------------- bad items
async def test_writer_survives_bad_items(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with await Store.open(tmp_path / "calls.db") as store:
        good1, good2 = make_record(1), make_record(2)
        null_pbx = make_record(3, pbx=None)  # NOT NULL constraint: fails in SQLite
        huge_pbx = make_record(5, pbx=2**70)  # OverflowError while binding, not a sqlite3.Error
        unencodable = RecordingStarted("pbx1", "x", T0, object())  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="cti.store.sqlite"):
            for item in (good1, null_pbx, unencodable, good2):
                store.submit(item)
            await store.flush()
            assert (store.stats.written, store.stats.failed) == (2, 2)
            # A batch whose only fault is not a sqlite3.Error takes the same road.
            store.submit(huge_pbx)
            store.submit(make_record(6))
            await store.flush()
        assert (store.stats.written, store.stats.failed) == (3, 3)
        assert await store.get_call("pbx1", good1.call_id) == good1.to_json()
        assert await store.get_call("pbx1", good2.call_id) == good2.to_json()
        assert await store.count_calls() == 3
        assert "dropped CallRecord" in caplog.text
        assert "dropped RecordingStarted" in caplog.text

        # The writer is still alive and save_call tells its caller when its record failed.
        with pytest.raises(StoreError, match="could not save"):
            await store.save_call(null_pbx)
        await store.save_call(make_record(4))
        assert await store.count_calls() == 4
        assert store.stats.failed == 4


# --------------------------------------------------------------------------- reading
async def _fill(store: Store) -> list[CallRecord]:
    records = []
    for i in range(120):
        record = make_record(
            i,
            pbx=f"pbx{i % 2}",
            call_id=f"c{i:03d}",
            started_at=T0 + (i // 10),  # ten calls share each start second: ties on purpose
            ended_at=T0 + (i // 10) + 60,
            answered_at=None if i % 3 == 0 else T0 + (i // 10) + 2,
            answered=i % 3 != 0,
            status="missed" if i % 3 == 0 else "answered",
            direction="outbound" if i % 4 == 0 else "inbound",
            extension=f"20{i % 5}",
            caller=Party(f"+40721{i % 7}", ""),
        )
        records.append(record)
        store.submit(record)
    await store.flush()
    return records


def _newest_first(records: list[CallRecord]) -> list[tuple[str, str]]:
    ordered = sorted(records, key=lambda r: (r.started_at, r.pbx, r.call_id), reverse=True)
    return [(r.pbx, r.call_id) for r in ordered]


async def _all_pages(store: Store, size: int, **filters: object) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    before: tuple[str, str] | None = None
    for _ in range(1000):  # a broken cursor must fail the test, not loop for ever
        page = await store.list_calls(limit=size, before=before, **filters)
        assert len(page) <= size
        seen.extend((c["pbx"], c["call_id"]) for c in page)
        if len(page) < size:
            return seen
        before = (page[-1]["pbx"], page[-1]["call_id"])
    raise AssertionError(f"pagination never ended; {len(seen)} rows seen")


async def test_keyset_pagination_returns_every_call_once_in_order(store: Store) -> None:
    records = await _fill(store)
    assert await _all_pages(store, 7) == _newest_first(records)
    assert await _all_pages(store, 120) == _newest_first(records)
    first = await store.list_calls(limit=3)
    by_key = {(r.pbx, r.call_id): r for r in records}
    assert first == [by_key[key].to_json() for key in _newest_first(records)[:3]]


async def test_pagination_with_a_filter(store: Store) -> None:
    records = await _fill(store)
    wanted = [r for r in records if r.extension == "203"]
    assert await _all_pages(store, 4, extension="203") == _newest_first(wanted)


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({"status": "missed"}, lambda r: r.status == "missed"),
        ({"direction": "outbound"}, lambda r: r.direction == "outbound"),
        ({"extension": "201", "answered": True}, lambda r: r.extension == "201" and r.answered),
        ({"caller_number": "+407213"}, lambda r: r.caller.number == "+407213"),
        ({"number": "0212345678"}, lambda r: True),
        ({"number": "+407215", "pbx": "pbx1"}, lambda r: r.caller.number == "+407215"),
        ({"since": T0 + 3, "until": T0 + 5}, lambda r: T0 + 3 <= r.started_at < T0 + 5),
        ({"overlong": True}, lambda r: False),
        ({"status": None, "queue": "sales"}, lambda r: True),
    ],
)
async def test_filters(
    store: Store, filters: dict[str, object], keep: Callable[[CallRecord], bool]
) -> None:
    records = await _fill(store)
    if "pbx" in filters:
        records = [r for r in records if r.pbx == filters["pbx"]]
    wanted = _newest_first([r for r in records if keep(r)])
    got = await store.list_calls(limit=1000, **filters)
    assert [(c["pbx"], c["call_id"]) for c in got] == wanted
    assert await store.count_calls(**filters) == len(wanted)


async def test_bad_filters_and_cursors_raise(store: Store) -> None:
    await _fill(store)
    with pytest.raises(ValueError, match="unknown call filter"):
        await store.list_calls(colour="red")
    with pytest.raises(ValueError, match="direction"):
        await store.list_calls(direction="sideways")
    with pytest.raises(ValueError, match="limit"):
        await store.list_calls(limit=0)
    with pytest.raises(LookupError, match="pbx9/nope"):
        await store.list_calls(before=("pbx9", "nope"))
    assert await store.count_calls() == 120


async def test_a_dead_writer_is_loud_not_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with await Store.open(tmp_path / "calls.db", batch_interval=60.0) as store:
        store.submit(make_record(1))
        waiting = asyncio.ensure_future(store.flush())
        await asyncio.sleep(0)
        store._task.cancel()  # stands in for a crash: the only way to stop it from outside
        with (
            caplog.at_level(logging.ERROR, logger="cti.store.sqlite"),
            pytest.raises(StoreError, match="cancelled"),
        ):
            await asyncio.wait_for(waiting, timeout=10)
        assert "writer cancelled, 1 items unwritten" in caplog.text
        with pytest.raises(StoreError, match="stopped"):
            store.submit(make_record(2))


async def test_simultaneous_events_differing_only_in_detail_are_all_kept(store: Store) -> None:
    record = make_record()
    ringall = [
        CallRinging(
            record.pbx, record.call_id, T0 + 1, ext, "inbound", record.caller, record.callee
        )
        for ext in ("201", "202", "203")
    ]
    await store.add_events(ringall)
    await store.add_events(ringall)  # replayed
    events = await store.call_events(record.pbx, record.call_id)
    assert sorted(e["detail"]["extension"] for e in events) == ["201", "202", "203"]


async def test_service_transactions_share_the_writer_and_roll_back(tmp_path: Path) -> None:
    """Services write through Store.transaction between call batches; a failing one leaves
    nothing behind, and reads see committed rows."""
    from cti.store.sqlite import Store
    from cti.store.tx import Tx

    store = await Store.open(tmp_path / "svc.db")
    try:
        async def create(tx: Tx) -> int:
            await tx.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, t TEXT)")
            return await tx.execute("INSERT INTO notes (t) VALUES (?)", ("first",))

        assert await store.transaction(create) == 1

        async def broken(tx: Tx) -> None:
            await tx.execute("INSERT INTO notes (t) VALUES (?)", ("lost",))
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await store.transaction(broken)
        assert await store.query("SELECT t FROM notes ORDER BY id") == [{"t": "first"}]
        assert await store.query_one("SELECT count(*) AS n FROM notes") == {"n": 1}

        async def read_back(tx: Tx) -> list[dict[str, object]]:
            await tx.execute("UPDATE notes SET t = 'changed'")
            assert await tx.changes() == 1
            return await tx.fetch("SELECT t FROM notes")

        assert await store.transaction(read_back) == [{"t": "changed"}]
    finally:
        await store.close()
