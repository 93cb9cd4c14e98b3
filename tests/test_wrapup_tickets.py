"""The wrap-up's one step over real HTTP and websockets: the pop lists the caller's open
tickets; the wrap-up files a new ticket (linked to the call and the client, owned by the agent)
or adds the call to an open one; bad specs are refused before anything is saved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.calls.model import CallRinging, ClientMatched
from cti.store.sqlite import Store
from cti.webapp.keys import CLIENTS, TICKETS
from tests.test_ws import events_of, log_in, next_json, served, until
from tests.web_helpers import app_of

MARIE = "+33612345678"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


async def test_the_wrapup_files_a_ticket_or_adds_the_call_to_an_open_one(store: Store) -> None:
    async with served(store) as (client, bus):
        app = app_of(client)
        marie = await app[CLIENTS].create({"name": "Marie Dupont", "phones": [MARIE]})
        tickets = app[TICKETS]
        open_one = await tickets.create("boss", {"subject": "Box en panne",
                                                 "client_id": marie.id, "priority": "high"})
        hidden = await tickets.create("boss", {"subject": "interne", "client_id": marie.id,
                                               "public": False})
        a1, csrf = await log_in(client, "agent1")
        async with a1:
            ws = await a1.ws_connect("/ws")
            await next_json(ws)
            events = events_of("inbound_answered")
            call_id = events[0].call_id
            for event in events:
                bus.publish(event)
                if isinstance(event, CallRinging):
                    bus.publish(ClientMatched("default", call_id, event.at, (marie.id,), False))
            pop = await until(ws, lambda m: m["type"] == "ended" and m["call"]["tickets"])
            assert [t["number"] for t in pop["call"]["tickets"]] == [open_one.number]
            assert pop["call"]["open_tickets"] == 1  # the private ticket is not on the pop
            assert hidden.number not in str(pop)
            url = f"/api/calls/default/{call_id}/wrapup"
            headers = {"X-CSRF-Token": csrf}
            form = {"subject": "Facture", "reason": "Montant", "response": "Avoir",
                    "result": "", "note": "Rappeler lundi"}

            for bad, field in (({"action": "open"}, "ticket.action"),
                               ({"action": "new", "priority": "asap"}, "ticket.priority"),
                               ({"action": "update", "id": "x"}, "ticket.id")):
                refused = await a1.post(url, json={**form, "ticket": bad}, headers=headers)
                assert refused.status == 422 and (await refused.json())["field"] == field
            missing = await a1.post(url, json={**form, "ticket": {"action": "update",
                                                                   "id": hidden.id}},
                                    headers=headers)
            assert missing.status == 404  # not visible to agent1: as if it did not exist
            assert await store.query("SELECT * FROM call_wrapups") == []  # nothing half-saved

            made = await a1.post(url, json={**form, "ticket": {"action": "new",
                                                               "priority": "urgent"}},
                                 headers=headers)
            assert made.status == 201, await made.text()
            filed = (await made.json())["ticket"]
            assert filed["created"] and filed["url"] == f"/tickets/{filed['id']}"
            ticket = await tickets.get(filed["id"])
            assert (ticket.subject, ticket.reason, ticket.response, ticket.priority) == (
                "Facture", "Montant", "Avoir", "urgent")
            assert ticket.client_id == marie.id and ticket.assignee == "agent1"
            assert await tickets.calls(ticket.id) == [("default", call_id)]
            timeline = await tickets.timeline(ticket.id)
            assert [e.kind for e in timeline] == ["created", "assigned", "call", "comment"]
            assert timeline[-1].data["text"] == "Rappeler lundi"

            added = await a1.post(url, json={**form, "result": "Résolu",
                                             "ticket": {"action": "update",
                                                        "id": open_one.id}}, headers=headers)
            assert added.status == 200
            assert not (await added.json())["ticket"]["created"]
            again = await tickets.get(open_one.id)
            assert again.result == "Résolu" and again.response == "Avoir"
            assert await tickets.calls(open_one.id) == [("default", call_id)]
            await tickets.set_status(open_one.id, "boss", "cancelled")
            closed = await a1.post(url, json={**form, "ticket": {"action": "update",
                                                                 "id": open_one.id}},
                                   headers=headers)
            assert closed.status == 409
            await ws.close()
