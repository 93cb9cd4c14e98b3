"""The ticket service on a real SQLite file: numbering, the workflow's allowed moves, the
timeline, assignment to people and groups, reopening, visibility, and hooks that run inside
the change's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.clients.directory import ClientDirectory
from cti.clients.settings import ClientSettings
from cti.config import load_config
from cti.errors import Conflict, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.groups import GroupService
from cti.tickets.queries import TicketQuery, count_by_status, list_tickets
from cti.tickets.service import TicketChange, TicketService, Viewer, visible_to
from cti.tickets.workflow import TRANSITIONS
from cti.users import UserService

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 25, 9, 0, tzinfo=PARIS).timestamp()

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    users = UserService(s)
    for name in ("alice", "bruno", "chloe"):
        await users.create(name, f"{name}-secret!", "agent", ["1001"])
    yield s
    await s.close()


@pytest.fixture
def tickets(store: Store) -> TicketService:
    return TicketService(store, prefix="T-", tz=PARIS, clock=Clock())


async def test_numbers_are_per_year_with_prefix_and_never_reused(store: Store) -> None:
    clock = Clock()
    service = TicketService(store, prefix="SAV-", tz=PARIS, clock=clock)
    first = await service.create("alice", {"subject": "Panne"})
    second = await service.create("alice", {"subject": "Devis"})
    assert (first.number, second.number) == ("SAV-2026-000001", "SAV-2026-000002")
    clock.now = dt.datetime(2027, 1, 1, 0, 30, tzinfo=PARIS).timestamp()  # Paris new year
    assert (await service.create("alice", {"subject": "x"})).number == "SAV-2027-000001"
    assert (await service.get_by_number("SAV-2026-000002")).id == second.id


async def test_creation_validates_fields_and_references(tickets: TicketService) -> None:
    with pytest.raises(ValidationError) as no_subject:
        await tickets.create("alice", {"subject": "  "})
    assert no_subject.value.field == "subject"
    for bad, name in (({"subject": "s", "kind": "spam"}, "kind"),
                      ({"subject": "s", "priority": "asap"}, "priority"),
                      ({"subject": "s", "due_at": "tomorrow-ish"}, "due_at"),
                      ({"subject": "s", "client_id": 999}, "client_id"),
                      ({"subject": "s", "contact_email": "bob@"}, "contact_email"),
                      ({"subject": "s\r\nBcc: x@y.z"}, "subject"),
                      ({"subject": "s", "status": "closed"}, "status"),
                      ({"subject": "x" * 201}, "subject")):
        with pytest.raises(ValidationError) as err:
            await tickets.create("alice", bad)
        assert err.value.field == name, bad
    with pytest.raises(ValidationError):
        await tickets.create("alice", {"subject": "s"}, assignee="nobody")
    t = await tickets.create("alice", {"subject": "Imprimante", "due_at": "2026-11-26T14:00",
                                       "priority": "high", "equipment": "SN-42"})
    assert t.status == "new" and t.priority == "high" and t.kind == "hotline"
    assert t.due_at == dt.datetime(2026, 11, 26, 14, 0, tzinfo=PARIS).timestamp()


async def test_workflow_moves_are_enforced_and_closed_needs_reopen(
        tickets: TicketService) -> None:
    t = await tickets.create("alice", {"subject": "Facture"})
    t = await tickets.set_status(t.id, "bruno", "in_progress")
    assert t.assignee == "bruno"  # taking an unassigned ticket makes it yours
    t = await tickets.set_status(t.id, "bruno", "waiting", note="attend le client")
    t = await tickets.set_status(t.id, "bruno", "resolved")
    t = await tickets.set_status(t.id, "bruno", "closed")
    assert t.closed_at is not None and not t.is_open
    with pytest.raises(Conflict) as refused:
        await tickets.set_status(t.id, "bruno", "in_progress")
    assert "reopened" in str(refused.value)
    with pytest.raises(Conflict):
        await tickets.assign(t.id, "bruno", assignee="alice", group_id=None)
    t = await tickets.reopen(t.id, "alice", note="le client rappelle")
    assert t.status == "assigned" and t.closed_at is None  # back to its assignee
    with pytest.raises(Conflict):
        await tickets.set_status(t.id, "alice", "closed")  # assigned → closed is not a move
    with pytest.raises(Conflict):
        await tickets.set_status(t.id, "alice", "assigned")  # already there
    kinds = [e.kind for e in await tickets.timeline(t.id)]
    assert kinds == ["created", "status", "assigned", "status", "status", "status",
                     "reopened"]
    # Every status is in the table and nothing leaves the final ones but reopen.
    assert set(TRANSITIONS) == {"new", "assigned", "in_progress", "waiting", "resolved",
                                "closed", "cancelled"}


async def test_edits_assignments_comments_and_calls_make_a_timeline(
        tickets: TicketService, store: Store) -> None:
    groups = GroupService(store)
    hotline = await groups.create("Hotline", ["Bruno", "chloe"])
    assert hotline.members == ("bruno", "chloe")
    t = await tickets.create("alice", {"subject": "Box en panne"},
                             calls=[("main", "1700000000.1")])
    t = await tickets.update(t.id, "alice", {"priority": "urgent", "subject": "Box en panne"})
    assert t.priority == "urgent"
    t = await tickets.assign(t.id, "alice", assignee=None, group_id=hotline.id,
                             note="pour la hotline")
    assert t.status == "assigned" and t.group_id == hotline.id
    await tickets.comment(t.id, "chloe", "Client rappelé", internal=False)
    assert await tickets.link_call(t.id, "chloe", "main", "1700000100.5")
    assert not await tickets.link_call(t.id, "chloe", "main", "1700000100.5")  # once
    timeline = await tickets.timeline(t.id)
    assert [e.kind for e in timeline] == ["created", "call", "field", "assigned", "comment",
                                          "call"]
    field = timeline[2]
    assert field.data == {"field": "priority", "old": "normal", "new": "urgent"}
    assert [e.kind for e in await tickets.timeline(t.id, internal=False)] == ["comment"]
    assert await tickets.calls(t.id) == [("main", "1700000000.1"), ("main", "1700000100.5")]
    assert [x.id for x in await tickets.for_call("main", "1700000100.5")] == [t.id]


async def test_visibility_and_lists(tickets: TicketService, store: Store) -> None:
    groups = GroupService(store)
    sales = await groups.create("Sales", ["bruno"])
    public = await tickets.create("alice", {"subject": "public"})
    private = await tickets.create("alice", {"subject": "private", "public": False},
                                   group_id=sales.id)
    mine = await tickets.create("alice", {"subject": "chloe's", "public": "0"},
                                assignee="chloe")
    chloe = Viewer("chloe", False, tuple(await groups.of_user("chloe")))
    bruno = Viewer("bruno", False, tuple(await groups.of_user("bruno")))
    boss = Viewer("boss", True)
    assert visible_to(chloe, public) and visible_to(chloe, mine)
    assert not visible_to(chloe, private) and visible_to(bruno, private)
    seen = {t.id for t in await list_tickets(store, TicketQuery(), chloe)}
    assert seen == {public.id, mine.id}
    assert {t.id for t in await list_tickets(store, TicketQuery(), boss)} == {
        public.id, private.id, mine.id}
    assert [t.id for t in await list_tickets(store, TicketQuery(mine=True), chloe)] == [mine.id]
    assert [t.id for t in await list_tickets(store, TicketQuery(groups=True), bruno)] == [
        private.id]
    assert [t.id for t in await list_tickets(store, TicketQuery(text="chloe"), boss)] == [
        mine.id]
    assert await count_by_status(store, TicketQuery(status="open"), boss) == {
        "new": 1, "assigned": 2}


async def test_a_deleted_users_tickets_stay_readable(tickets: TicketService,
                                                     store: Store) -> None:
    t = await tickets.create("chloe", {"subject": "Écran"}, assignee="chloe")
    await tickets.comment(t.id, "chloe", "vu")
    await store.transaction(lambda tx: tx.execute("DELETE FROM users WHERE username = ?",
                                                  ("chloe",)))
    again = await tickets.get(t.id)
    assert again.assignee == "chloe" and again.created_by == "chloe"
    assert [e.actor for e in await tickets.timeline(t.id)] == ["chloe", "chloe", "chloe"]


async def test_hooks_run_in_the_transaction_and_listeners_after_it(
        tickets: TicketService, store: Store) -> None:
    seen: list[str] = []

    async def hook(tx: Tx, change: TicketChange) -> None:
        if change.kind == "status" and change.data["new"] == "cancelled":
            raise RuntimeError("mail queue full")
        await tx.execute("INSERT INTO notifications (username, kind, text, created_at) "
                         "VALUES (?, ?, ?, 0)", ("alice", change.kind, change.ticket.number))

    tickets.hooks.append(hook)
    tickets.listeners.append(lambda change: seen.append(change.kind))
    tickets.listeners.append(lambda change: 1 / 0)  # a broken listener changes nothing
    t = await tickets.create("alice", {"subject": "Badge"})
    with pytest.raises(RuntimeError):
        await tickets.set_status(t.id, "alice", "cancelled")
    assert (await tickets.get(t.id)).status == "new"  # rolled back with its hook
    rows = await store.query("SELECT kind, text FROM notifications")
    assert rows == [{"kind": "created", "text": t.number}]
    assert seen == ["created"]


async def test_open_tickets_of_clients_for_the_pop(tickets: TicketService,
                                                   store: Store) -> None:
    directory = ClientDirectory(store, ClientSettings.from_config(load_config(env={})))
    client = await directory.create({"name": "Garage Martin", "phones": ["+33612345678"]})
    low = await tickets.create("alice", {"subject": "a", "client_id": client.id,
                                         "priority": "low"})
    urgent = await tickets.create("alice", {"subject": "b", "client_id": str(client.id),
                                            "priority": "urgent"})
    done = await tickets.create("alice", {"subject": "c", "client_id": client.id})
    await tickets.set_status(done.id, "alice", "resolved")
    assert [t.id for t in await tickets.open_for_clients([client.id])] == [urgent.id, low.id]
    assert await tickets.open_count([client.id]) == 2 and await tickets.open_count([]) == 0
