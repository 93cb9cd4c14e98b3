"""The action center's services on a real SQLite file: callbacks (validation, E.164, default
assignee, timeline entries, ordering, who may act), notifications (ticket assignment hook,
listeners after commit, mark read), follow-ups (a lost offer needs its reason), personal notes
(private to their owner), missed calls not handled (per agent, bulk) and the badge counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.calls.model import CallRecord, Party
from cti.errors import Conflict, NotFound, ValidationError
from cti.store.sqlite import Store
from cti.tickets.actioncenter import ActionCenter
from cti.tickets.callbacks import CallbackChange, CallbackService, can_act
from cti.tickets.groups import GroupService
from cti.tickets.notifications import Notification, NotificationService
from cti.tickets.service import TicketService, Viewer
from cti.users import UserService

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=PARIS).timestamp()


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    users = UserService(s)
    for name, exts in (("alice", ["1001"]), ("bruno", ["1002"]), ("chloe", ["1003"])):
        await users.create(name, f"{name}-secret!", "agent", exts)
    await users.create("boss", "boss-secret!", "supervisor", [])
    yield s
    await s.close()


class World:
    def __init__(self, store: Store) -> None:
        self.clock = Clock()
        self.tickets = TicketService(store, tz=PARIS, clock=self.clock)
        self.notes = NotificationService(store, clock=self.clock)
        self.notes.watch_tickets(self.tickets)
        self.callbacks = CallbackService(store, PARIS, self.clock, tickets=self.tickets)
        self.center = ActionCenter(store, self.callbacks, self.notes, PARIS, self.clock)
        self.groups = GroupService(store)


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


# --------------------------------------------------------------------------- callbacks
async def test_callback_fields_are_validated_naming_the_field(world: World) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "someday", "due_at": NOW}, "kind"),
        ({"kind": "to_call_back", "due_at": "", "number": "0612345678"}, "due_at"),
        ({"kind": "to_call_back", "due_at": "next tuesday", "number": "0612345678"}, "due_at"),
        ({"kind": "to_call_back", "due_at": NOW}, "number"),  # nothing to dial
        ({"kind": "to_call_back", "due_at": NOW, "number": "anonymous"}, "number"),
        ({"kind": "will_call_back", "due_at": NOW, "assignee": "nobody"}, "assignee"),
        ({"kind": "will_call_back", "due_at": NOW, "group_id": 99}, "group_id"),
        ({"kind": "will_call_back", "due_at": NOW, "ticket_id": 99}, "ticket_id"),
        ({"kind": "will_call_back", "due_at": NOW, "client_id": 99}, "client_id"),
        ({"kind": "will_call_back", "due_at": NOW, "note": "x" * 2001}, "note"),
    ]
    for values, field in cases:
        with pytest.raises(ValidationError) as err:
            await world.callbacks.create("alice", **values)
        assert err.value.field == field, values
    assert await world.callbacks.mine("alice") == []


async def test_callback_number_in_e164_default_assignee_and_ticket_timeline(
        world: World) -> None:
    seen: list[CallbackChange] = []
    world.callbacks.listeners.append(seen.append)
    ticket = await world.tickets.create("alice", {"subject": "Panne box"})
    cb = await world.callbacks.create("alice", kind="to_call_back", due_at="2026-11-25T14:30",
                                      number="06 12 34 56 78", ticket_id=ticket.id,
                                      note="Demander le n° de série")
    assert (cb.number, cb.display, cb.assignee, cb.status) == (
        "+33612345678", "06 12 34 56 78", "alice", "pending")
    # A local time without a zone is the business's (Paris): 14:30 there is 13:30 UTC.
    assert cb.due_at == dt.datetime(2026, 11, 25, 14, 30, tzinfo=PARIS).timestamp()
    assert cb.to_json(NOW)["dial"] == "+33612345678"
    assert cb.to_json(NOW)["overdue"] is False
    assert cb.ticket_number == ticket.number
    kinds = [e.kind for e in await world.tickets.timeline(ticket.id)]
    assert kinds[-1] == "callback"
    assert [c.kind for c in seen] == ["created"]

    # For a group: nobody personally, every member's.
    group = await world.groups.create("Hotline", ["bruno", "chloe"])
    shared = await world.callbacks.create("alice", kind="will_call_back", due_at=NOW,
                                          group_id=group.id)
    assert shared.assignee is None
    assert [c.id for c in await world.callbacks.mine("chloe", [group.id])] == [shared.id]
    assert await world.callbacks.mine("alice") == [cb]  # alice is not in the group

    # Attempts, then done with a result: both on the ticket's timeline.
    tried = await world.callbacks.attempt(cb.id, "alice")
    assert tried.attempts == 1
    done = await world.callbacks.done(cb.id, "alice", "Joint, RDV pris")
    assert (done.status, done.result, done.done_by) == ("done", "Joint, RDV pris", "alice")
    events = await world.tickets.timeline(ticket.id)
    assert [e.kind for e in events][-2:] == ["callback_attempt", "callback_done"]
    assert events[-1].data["result"] == "Joint, RDV pris"
    with pytest.raises(Conflict):
        await world.callbacks.done(cb.id, "alice", "again")
    with pytest.raises(Conflict):
        await world.callbacks.attempt(cb.id, "alice")
    assert await world.callbacks.mine("alice") == []
    assert [c.kind for c in seen] == ["created", "created", "attempt", "done"]


async def test_mine_lists_overdue_first_then_by_due_time(world: World) -> None:
    later = await world.callbacks.create("alice", kind="will_call_back", due_at=NOW + 7200)
    late = await world.callbacks.create("alice", kind="to_call_back", due_at=NOW - 600,
                                        number="0612345678")
    soon = await world.callbacks.create("alice", kind="to_call_back", due_at=NOW + 60,
                                        number="0698765432")
    very_late = await world.callbacks.create("alice", kind="will_call_back",
                                             due_at=NOW - 86400)
    other = await world.callbacks.create("bruno", kind="will_call_back", due_at=NOW - 999)
    cancelled = await world.callbacks.create("alice", kind="will_call_back", due_at=NOW - 5)
    await world.callbacks.cancel(cancelled.id, "alice")
    mine = await world.callbacks.mine("alice")
    assert [c.id for c in mine] == [very_late.id, late.id, soon.id, later.id]
    assert [c.overdue(NOW) for c in mine] == [True, True, False, False]
    assert other.id not in [c.id for c in mine]


async def test_only_the_assignee_their_group_or_a_supervisor_may_act(world: World) -> None:
    group = await world.groups.create("Ventes", ["chloe"])
    mine = await world.callbacks.create("bruno", kind="will_call_back", due_at=NOW)
    shared = await world.callbacks.create("bruno", kind="will_call_back", due_at=NOW,
                                          group_id=group.id)
    alice, chloe = Viewer("alice", False, ()), Viewer("chloe", False, (group.id,))
    assert not can_act(alice, mine) and not can_act(alice, shared)
    assert can_act(chloe, shared) and not can_act(chloe, mine)
    assert can_act(Viewer("bruno", False, ()), mine)
    assert can_act(Viewer("boss", True, ()), mine)


async def test_a_rule_s_callback_is_nobody_s_until_a_supervisor_sees_it(world: World) -> None:
    cb = await world.callbacks.create("system", kind="to_call_back", due_at=NOW,
                                      number="+33612345678")
    assert cb.assignee is None
    assert await world.callbacks.mine("alice") == []
    assert [c.id for c in await world.callbacks.mine("boss", unassigned=True)] == [cb.id]


# --------------------------------------------------------------------------- notifications
async def test_assignment_notifies_the_new_assignee_not_the_actor(world: World) -> None:
    heard: list[tuple[str, Notification | None]] = []
    world.notes.listeners.append(lambda who, n: heard.append((who, n)))
    own = await world.tickets.create("alice", {"subject": "Moi-même"}, assignee="alice")
    assert await world.notes.unread("alice") == []  # nobody is told of their own action
    ticket = await world.tickets.create("alice", {"subject": "Devis fibre"}, assignee="bruno")
    unread = await world.notes.unread("bruno")
    assert [(n.kind, n.link) for n in unread] == [("ticket_assigned", f"/tickets/{ticket.id}")]
    assert unread[0].data["number"] == ticket.number and unread[0].data["by"] == "alice"
    assert [w for w, _ in heard] == ["bruno"]

    # A transfer to a group: its members, but not the one who moved it.
    group = await world.groups.create("Hotline", ["alice", "chloe"])
    await world.tickets.assign(own.id, "alice", assignee=None, group_id=group.id)
    assert [n.kind for n in await world.notes.unread("chloe")] == ["ticket_assigned"]
    assert await world.notes.unread("alice") == []
    assert [w for w, _ in heard] == ["bruno", "chloe"]

    # Read one, then all; someone else's is not found.
    assert await world.notes.mark_read("bruno", unread[0].id) == 1
    assert await world.notes.unread_count("bruno") == 0
    with pytest.raises(NotFound):
        await world.notes.mark_read("alice", unread[0].id)
    await world.notes.add("chloe", "info", "Deux", "/x")
    assert await world.notes.mark_read("chloe") == 2
    assert heard[-1] == ("chloe", None)


async def test_a_rolled_back_ticket_change_announces_nothing(world: World,
                                                             store: Store) -> None:
    heard: list[str] = []
    world.notes.listeners.append(lambda who, n: heard.append(who))

    async def boom(tx: Any, change: Any) -> None:
        raise RuntimeError("later hook fails")

    world.tickets.hooks.append(boom)
    with pytest.raises(RuntimeError):
        await world.tickets.create("alice", {"subject": "x"}, assignee="bruno")
    world.tickets.hooks.remove(boom)
    assert await world.notes.unread("bruno") == []
    await world.tickets.create("alice", {"subject": "y"}, assignee="chloe")
    assert heard == ["chloe"]
    assert (await store.query("SELECT COUNT(*) AS n FROM notifications"))[0]["n"] == 1


# --------------------------------------------------------------------------- follow-ups, notes
async def test_a_lost_follow_up_needs_its_refusal_reason(world: World) -> None:
    with pytest.raises(ValidationError) as no_subject:
        await world.center.add_followup("alice", {"subject": " "})
    assert no_subject.value.field == "subject"
    f = await world.center.add_followup("alice", {"subject": "Devis standard 12 postes",
                                                  "due_at": "2026-12-01T09:00"})
    assert (f.status, f.owner) == ("open", "alice")
    with pytest.raises(ValidationError) as lost:
        await world.center.update_followup(f.id, "alice", {"status": "lost"})
    assert lost.value.field == "lost_reason"
    with pytest.raises(ValidationError):
        await world.center.update_followup(f.id, "alice", {"status": "lost",
                                                           "lost_reason": "  "})
    assert (await world.center.followup(f.id, "alice")).status == "open"
    done = await world.center.update_followup(f.id, "alice", {
        "status": "lost", "lost_reason": "Trop cher", "comment": "Concurrent -20 %"})
    assert (done.status, done.lost_reason, done.comment) == ("lost", "Trop cher",
                                                             "Concurrent -20 %")
    assert await world.center.followups("alice") == []  # open ones only
    assert [x.id for x in await world.center.followups("alice", status=None)] == [f.id]
    with pytest.raises(NotFound):
        await world.center.update_followup(f.id, "bruno", {"status": "won"})
    with pytest.raises(ValidationError) as bad:
        await world.center.update_followup(f.id, "alice", {"status": "maybe"})
    assert bad.value.field == "status"


async def test_personal_notes_are_their_owner_s_only(world: World) -> None:
    note = await world.center.add_note("alice", "Code portail : 1234")
    with pytest.raises(ValidationError):
        await world.center.add_note("alice", "   ")
    assert [n.text for n in await world.center.notes("alice")] == ["Code portail : 1234"]
    assert await world.center.notes("bruno") == []
    for attempt in (world.center.note(note.id, "bruno"),
                    world.center.update_note(note.id, "bruno", "pwned"),
                    world.center.delete_note(note.id, "bruno")):
        with pytest.raises(NotFound):
            await attempt
    changed = await world.center.update_note(note.id, "alice", "Code portail : 4321")
    assert changed.text == "Code portail : 4321"
    await world.center.delete_note(note.id, "alice")
    assert await world.center.notes("alice") == []


# --------------------------------------------------------------------------- missed calls
def record(call_id: str, started: float, status: str, *, rung: tuple[str, ...] = ("1001",),
           direction: str = "inbound", caller: str = "+33698765432") -> CallRecord:
    answered = started + 5 if status == "answered" else None
    return CallRecord(pbx="pbx1", call_id=call_id, direction=direction,  # type: ignore[arg-type]
                      status=status, answered=answered is not None,  # type: ignore[arg-type]
                      caller=Party(caller, ""), callee=Party("0155512345", ""),
                      extension=rung[0] if answered else None, extensions_rung=rung,
                      queue=None, started_at=started, answered_at=answered,
                      ended_at=started + 20, hangup_cause="16")


async def test_missed_calls_not_handled_per_agent_and_in_bulk(world: World,
                                                              store: Store) -> None:
    await store.save_call(record("m1", NOW - 600, "missed"))
    await store.save_call(record("m2", NOW - 3 * 86400, "abandoned"))
    await store.save_call(record("m3", NOW - 300, "no_answer", rung=("1002",)))
    await store.save_call(record("old", NOW - 10 * 86400, "missed"))  # out of the window
    await store.save_call(record("a1", NOW - 200, "answered"))
    await store.save_call(record("o1", NOW - 100, "busy", direction="outbound"))
    alice = await world.center.missed(("1001",))
    assert [(m["call_id"], m["today"]) for m in alice] == [("m1", True), ("m2", False)]
    assert [m["call_id"] for m in await world.center.missed(None)] == ["m3", "m1", "m2"]
    assert await world.center.missed_count(("1002",)) == 1

    with pytest.raises(ValidationError) as answered:
        await world.center.mark_handled([("pbx1", "a1")], "alice")
    assert answered.value.field == "keys"
    assert await world.center.mark_handled([("pbx1", "m1")], "alice", "rappelé") == 1
    assert await world.center.mark_handled([("pbx1", "m1")], "alice") == 0  # once
    assert [m["call_id"] for m in await world.center.missed(("1001",))] == ["m2"]
    row = await store.query_one("SELECT handled_by, how FROM missed_handled WHERE call_id='m1'")
    assert row == {"handled_by": "alice", "how": "rappelé"}

    # "Mark all handled" takes what the agent sees, not the colleague's calls.
    assert await world.center.mark_all_handled(("1001",), "alice") == 1
    assert await world.center.missed(("1001",)) == []
    assert [m["call_id"] for m in await world.center.missed(None)] == ["m3"]


async def test_counts_add_up_the_viewer_s_work(world: World, store: Store) -> None:
    group = await world.groups.create("Hotline", ["alice"])
    await world.callbacks.create("alice", kind="will_call_back", due_at=NOW - 60)
    await world.callbacks.create("alice", kind="will_call_back", due_at=NOW + 600)
    await world.callbacks.create("bruno", kind="will_call_back", due_at=NOW - 60,
                                 group_id=group.id)
    await world.tickets.create("bruno", {"subject": "A"}, assignee="alice")
    await world.tickets.create("bruno", {"subject": "B"}, group_id=group.id)
    await world.tickets.create("bruno", {"subject": "C"}, assignee="chloe")
    await store.save_call(record("m1", NOW - 600, "missed"))
    viewer = Viewer("alice", False, (group.id,))
    counts = await world.center.counts(viewer, ("1001",))
    assert counts == {"callbacks_due": 2, "callbacks": 3, "tickets_mine_open": 1,
                      "tickets_groups_open": 1, "missed_unhandled": 1,
                      "notifications_unread": 2}  # ticket A, and the group's ticket B
    assert (await world.center.counts(Viewer("chloe", False, ()), ("1003",)))[
        "missed_unhandled"] == 0
