"""The reminder scheduler with a clock and a sleep the test controls, on a real SQLite file:
it sleeps exactly until the next due callback, fires it then (notification, mail row, the
listeners told), wakes up for a callback created meanwhile, reminds a whole group, survives a
restart (what fell due while it was down fires at start, once, never twice, even with two
schedulers racing) and keeps going after a failing pass."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.store.sqlite import Store
from cti.tickets.callbacks import CallbackService
from cti.tickets.groups import GroupService
from cti.tickets.notifications import Notification, NotificationService
from cti.tickets.reminders import RETRY_AFTER, ReminderScheduler
from cti.users import UserService

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=PARIS).timestamp()


class FakeTime:
    """``clock()`` and ``sleep()`` for the scheduler: sleepers wake when ``advance`` passes
    their deadline."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.delays: list[float] = []
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + delay, fut)
        self.sleepers.append(entry)
        try:
            await fut
        finally:
            self.sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, fut in list(self.sleepers):
            if deadline <= self.now and not fut.done():
                fut.set_result(None)

    def napping(self) -> bool:
        return any(not fut.done() for _, fut in self.sleepers)


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    users = UserService(s)
    for name in ("alice", "bruno", "chloe"):
        await users.create(name, f"{name}-secret!", "agent", ["1001"])
    yield s
    await s.close()


class Rig:
    def __init__(self, store: Store, time: FakeTime) -> None:
        self.store = store
        self.time = time
        self.notes = NotificationService(store, clock=time.clock)
        self.callbacks = CallbackService(store, PARIS, time.clock)
        self.heard: list[Notification] = []
        self.notes.listeners.append(lambda who, n: self.heard.append(n) if n else None)
        self.mailed = 0

    def scheduler(self) -> ReminderScheduler:
        def on_mail() -> None:
            self.mailed += 1

        return ReminderScheduler(self.store, self.callbacks, self.notes, self.time.clock,
                                 self.time.sleep, on_mail=on_mail)

    async def due_notes(self) -> list[dict[str, Any]]:
        return await self.store.query(
            "SELECT username, kind, link, data FROM notifications WHERE kind = 'callback_due' "
            "ORDER BY id")


async def test_fires_at_the_due_time_and_wakes_for_new_callbacks(store: Store) -> None:
    time = FakeTime()
    rig = Rig(store, time)
    await store.transaction(lambda tx: tx.execute(
        "UPDATE users SET email = 'alice@example.com' WHERE username = 'alice'"))
    cb = await rig.callbacks.create("alice", kind="to_call_back", due_at=NOW + 120,
                                    number="0612345678", email=True, note="Relancer devis")
    scheduler = rig.scheduler()
    scheduler.start()
    try:
        await until(time.napping, "the first nap")
        assert time.delays[-1] == 120  # asleep exactly until the callback is due
        time.advance(119)
        await asyncio.sleep(0.05)
        assert await rig.due_notes() == [] and scheduler.fired == 0

        # Created while it sleeps: it wakes, reads again, and naps until the nearer one.
        nearer = await rig.callbacks.create("alice", kind="will_call_back", due_at=NOW + 119.5)
        await until(lambda: time.delays[-1] == 0.5, "a nap until the nearer callback")
        time.advance(0.5)
        await until(lambda: scheduler.fired == 1, "the nearer reminder")
        time.advance(0.5)
        await until(lambda: scheduler.fired == 2, "the first reminder")
        await until(time.napping, "the next nap")
        rows = await rig.due_notes()
        assert [(r["username"], r["link"]) for r in rows] == [("alice", "/actions")] * 2
        assert [n.data["callback"]["id"] for n in rig.heard] == [nearer.id, cb.id]
        assert rig.heard[1].data["callback"]["dial"] == "+33612345678"
        assert (await rig.callbacks.get(cb.id)).reminded_at == NOW + 120
        mail = await store.query("SELECT kind, recipient, subject, body, next_try_at "
                                 "FROM mail_outbox")
        assert len(mail) == 1 and mail[0]["recipient"] == "alice@example.com"
        assert mail[0]["kind"] == "callback_due" and mail[0]["next_try_at"] == NOW + 120
        assert "06 12 34 56 78" in mail[0]["subject"] and "Relancer devis" in mail[0]["body"]
        assert rig.mailed == 1  # the outbox was told (the second callback asked no mail)
        # Nothing else due: a long nap, and no second reminder however long we wait.
        assert time.delays[-1] == scheduler.max_wait
        time.advance(3 * 3600)
        await until(lambda: len(time.delays) >= 4 and time.napping(), "more naps")
        assert scheduler.fired == 2
    finally:
        await scheduler.close()


async def test_a_group_callback_reminds_every_active_member(store: Store) -> None:
    time = FakeTime()
    rig = Rig(store, time)
    group = await GroupService(store).create("Hotline", ["bruno", "chloe"])
    await rig.callbacks.create("alice", kind="will_call_back", due_at=NOW - 1,
                               group_id=group.id)
    assert await rig.scheduler().run_once() == 1
    assert sorted(r["username"] for r in await rig.due_notes()) == ["bruno", "chloe"]


async def test_survives_a_restart_and_never_fires_twice(store: Store) -> None:
    time = FakeTime()
    rig = Rig(store, time)
    first = rig.scheduler()
    first.start()
    cb = await rig.callbacks.create("bruno", kind="to_call_back", due_at=NOW + 60,
                                    number="+32 71 84 43 18")
    await until(lambda: time.delays and time.delays[-1] == 60 and time.napping(), "a nap")
    await first.close()  # the daemon stops before the callback is due…
    time.advance(3600)  # …and is down for an hour
    assert await rig.due_notes() == []

    second = rig.scheduler()
    second.start()  # at start: what fell due meanwhile fires at once
    try:
        await until(lambda: second.fired == 1, "the overdue reminder at start")
    finally:
        await second.close()
    rows = await rig.due_notes()
    assert [r["username"] for r in rows] == ["bruno"]
    assert (await rig.callbacks.get(cb.id)).reminded_at == NOW + 3600

    third = rig.scheduler()  # another restart: already reminded, nothing fires
    third.start()
    try:
        await until(time.napping, "a nap")
        assert third.fired == 0
    finally:
        await third.close()
    assert len(await rig.due_notes()) == 1

    # Two schedulers racing on the same due callback: one reminder.
    await rig.callbacks.create("chloe", kind="will_call_back", due_at=NOW)
    a, b = rig.scheduler(), rig.scheduler()
    assert sum(await asyncio.gather(a.run_once(), b.run_once())) == 1
    assert [r["username"] for r in await rig.due_notes()] == ["bruno", "chloe"]
    # A callback done before its time is never reminded.
    done = await rig.callbacks.create("alice", kind="will_call_back", due_at=NOW + 7200)
    await rig.callbacks.done(done.id, "alice", "Le client a rappelé")
    time.advance(7200)
    assert await a.run_once() == 0


async def test_a_failing_pass_is_logged_and_retried(store: Store) -> None:
    time = FakeTime()
    rig = Rig(store, time)
    await rig.callbacks.create("alice", kind="will_call_back", due_at=NOW + 10)
    scheduler = rig.scheduler()
    real = rig.callbacks.next_due
    calls = {"n": 0}

    async def flaky() -> float | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk I/O error")
        return await real()

    rig.callbacks.next_due = flaky  # type: ignore[method-assign]
    scheduler.start()
    try:
        await until(time.napping, "the retry nap")
        assert scheduler.errors == 1 and time.delays[-1] == RETRY_AFTER
        time.advance(RETRY_AFTER)
        await until(lambda: scheduler.fired == 1, "the reminder after the failure")
    finally:
        await scheduler.close()
    assert [r["username"] for r in await rig.due_notes()] == ["alice"]
