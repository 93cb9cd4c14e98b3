"""``tickets.auto_missed``: real captures through the pipeline, with the client linker and the
rule on the bus, into a real SQLite file — a missed inbound call opens one ticket for the agent
whose phone rang, linked to the call and the caller's client; an answered one opens nothing."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import parse_iso_utc
from cti.capture import load
from cti.clients.directory import ClientDirectory
from cti.clients.linker import ClientLinker
from cti.daemon import attach_store
from cti.pipeline import Pipeline
from cti.store.sqlite import Store
from cti.tickets.callbacks import CallbackService
from cti.tickets.missed_rule import MissedCallTickets
from cti.tickets.service import TicketService
from cti.users import UserService
from tests.captures import FIXTURES

MARIE = "+33612345678"


async def feed(scenario: str, store: Store, rule_bus: Bus) -> None:
    pipeline = Pipeline(TrackerConfig(), rule_bus)
    for msg, t in load(FIXTURES / scenario).events:
        pipeline.on_ami_event(msg, t)


async def test_a_missed_inbound_call_opens_one_ticket_for_the_agent_who_rang(
        tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "cti.db") as store:
        await UserService(store).create("alice", "alice-secret!", "agent", ["1001"])
        directory = ClientDirectory(store)
        marie = await directory.create({"name": "Marie Dupont", "phones": [MARIE]})
        tickets = TicketService(store)
        bus = Bus()
        attach_store(bus, store)
        linker = ClientLinker(bus, directory)
        callbacks = CallbackService(store, ZoneInfo("Europe/Paris"), tickets=tickets)
        rule = MissedCallTickets(bus, store, tickets, lambda: callbacks)
        for scenario in ("inbound_answered", "inbound_missed", "inbound_missed"):
            await feed(scenario, store, bus)
            await linker.flush()
            await rule.flush()
        await linker.close()
        rule.close()
        rows = await store.query("SELECT id FROM tickets")
        assert len(rows) == 1  # the answered call opened nothing; the replay no second one
        ticket = await tickets.get(rows[0]["id"])
        assert ticket.assignee == "alice" and ticket.status == "assigned"
        assert ticket.client_id == marie.id and ticket.created_by == "system"
        assert ticket.subject.startswith("Missed call from") and "missed" in ticket.reason
        calls = await tickets.calls(ticket.id)
        assert calls == [("default", "1795444288.134")]
        assert rule.created == 1 and rule.errors == 0
        # One click calls back: a "to call back" callback for the same person, due at once.
        mine = await callbacks.mine("alice")
        assert len(mine) == 1
        cb = mine[0]
        assert (cb.kind, cb.ticket_id, cb.number) == ("to_call_back", ticket.id, MARIE)
        await store.flush()
        record = await store.get_call("default", "1795444288.134")
        assert record is not None and cb.due_at == pytest.approx(
            parse_iso_utc(record["ended_at"]), abs=0.01)
