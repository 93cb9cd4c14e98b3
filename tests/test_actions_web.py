"""The action center over real loopback HTTP: the page (overdue callbacks first with their call
button, tickets, missed calls, follow-ups, notes), the JSON API and the page's forms with their
CSRF token, the server-side rules (an agent cannot complete another agent's callback, read
their notes or mark a call that never rang their phone), and the live counts and reminders
pushed over the websocket."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cti.bus import Bus
from cti.calls.model import CallRecord, Party
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.live import LiveCalls
from cti.store.sqlite import Store
from cti.tickets.reminders import ReminderScheduler
from cti.users import UserService
from cti.webapp.keys import CALLBACKS, GROUPS, NOTIFICATIONS, TICKETS
from tests.captures import FIXTURES
from tests.web_helpers import (
    app_of,
    browser_session,
    seed_users,
    serve_app,
)

Session = tuple[aiohttp.ClientSession, str]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    await seed_users(UserService(s))
    yield s
    await s.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[TestClient[Any, Any]]:
    async with serve_app(store) as c:
        yield c


async def log_in(client: TestClient[Any, Any], username: str) -> Session:
    """A browser of its own (cookie jar) logged in as ``username``; returns it and its CSRF."""
    return await browser_session(str(client.make_url("/")), username)


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data: dict[str, Any] = msg.json()
        if data.get("type") == kind:
            return data


def missed_call(call_id: str, started: float, rung: str, pbx: str = "pbx1") -> CallRecord:
    return CallRecord(pbx=pbx, call_id=call_id, direction="inbound", status="missed",
                      answered=False, caller=Party("+33698765432", ""),
                      callee=Party("0155512345", ""), extension=None, extensions_rung=(rung,),
                      queue=None, started_at=started, answered_at=None, ended_at=started + 20,
                      hangup_cause="16")


async def test_agent_cannot_complete_another_agent_s_callback(
        client: TestClient[Any, Any]) -> None:
    a1, csrf1 = await log_in(client, "agent1")
    a2, csrf2 = await log_in(client, "agent2")
    boss, csrf_b = await log_in(client, "boss")
    async with a1, a2, boss:
        made = await a2.post("/api/callbacks", headers={"X-CSRF-Token": csrf2}, json={
            "kind": "to_call_back", "due_at": time.time() + 600, "number": "06 98 76 54 32"})
        assert made.status == 201, await made.text()
        cb = await made.json()
        assert (cb["assignee"], cb["dial"], cb["status"]) == ("agent2", "+33698765432",
                                                              "pending")
        for action in ("done", "attempt", "cancel"):
            denied = await a1.post(f"/api/callbacks/{cb['id']}/{action}",
                                   headers={"X-CSRF-Token": csrf1}, json={"result": "x"})
            assert denied.status == 403, action
            assert (await denied.json())["error"] == "forbidden"
        # The page's form too, and without its CSRF token nothing happens at all.
        page = await a1.post(f"/actions/callbacks/{cb['id']}/done", data={
            "csrf_token": csrf1, "result": "x"}, allow_redirects=False)
        assert page.status == 403
        no_csrf = await a2.post(f"/actions/callbacks/{cb['id']}/done", data={"result": "x"},
                                allow_redirects=False)
        assert no_csrf.status == 403
        assert [c["id"] for c in (await (await a1.get("/api/callbacks")).json())[
            "callbacks"]] == []
        mine = (await (await a2.get("/api/callbacks")).json())["callbacks"]
        assert [(c["id"], c["status"], c["attempts"]) for c in mine] == [
            (cb["id"], "pending", 0)]
        # Its owner closes it with the form (303 back to the page); a supervisor may act too.
        done = await a2.post(f"/actions/callbacks/{cb['id']}/done", data={
            "csrf_token": csrf2, "result": "Joint"}, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/actions#callbacks"
        assert (await (await a2.get("/api/callbacks")).json())["callbacks"] == []
        other = await (await a2.post("/api/callbacks", headers={"X-CSRF-Token": csrf2}, json={
            "kind": "will_call_back", "due_at": "2030-01-01T10:00"})).json()
        ok = await boss.post(f"/api/callbacks/{other['id']}/cancel",
                             headers={"X-CSRF-Token": csrf_b})
        assert ok.status == 200 and (await ok.json())["status"] == "cancelled"
        bad = await a1.post("/api/callbacks", headers={"X-CSRF-Token": csrf1},
                            json={"kind": "to_call_back", "due_at": "soon", "number": "1"})
        assert bad.status == 422 and (await bad.json())["field"] == "due_at"


async def test_notes_are_private_and_follow_ups_need_a_refusal_reason(
        client: TestClient[Any, Any]) -> None:
    a1, csrf1 = await log_in(client, "agent1")
    a2, csrf2 = await log_in(client, "agent2")
    async with a1, a2:
        note = await (await a1.post("/api/notes", headers={"X-CSRF-Token": csrf1},
                                    json={"text": "Code alarme : 4711"})).json()
        assert (await a2.get(f"/api/notes/{note['id']}")).status == 404
        assert (await (await a2.get("/api/notes")).json())["notes"] == []
        assert "4711" not in await (await a2.get("/actions")).text()
        assert "4711" in await (await a1.get("/actions")).text()
        changed = await a2.post(f"/api/notes/{note['id']}", headers={"X-CSRF-Token": csrf2},
                                json={"text": "pwned"})
        assert changed.status == 404
        gone = await a2.delete(f"/api/notes/{note['id']}", headers={"X-CSRF-Token": csrf2})
        assert gone.status == 404
        assert [n["text"] for n in (await (await a1.get("/api/notes")).json())["notes"]] == [
            "Code alarme : 4711"]

        made = await a1.post("/actions/followups", allow_redirects=False, data={
            "csrf_token": csrf1, "subject": "Devis 12 postes", "due_at": "2030-01-15T09:00",
            "comment": ""})
        assert made.status == 303
        [f] = (await (await a1.get("/api/followups")).json())["followups"]
        lost = await a1.post(f"/api/followups/{f['id']}", headers={"X-CSRF-Token": csrf1},
                             json={"status": "lost"})
        assert lost.status == 422 and (await lost.json())["field"] == "lost_reason"
        form = await a1.post(f"/actions/followups/{f['id']}", allow_redirects=False, data={
            "csrf_token": csrf1, "subject": "Devis 12 postes", "status": "lost",
            "lost_reason": "", "comment": "", "due_at": ""})
        assert form.status == 303 and "field=lost_reason" in form.headers["Location"]
        page = await (await a1.get(form.headers["Location"])).text()
        assert "obligatoire quand l&#39;offre est perdue" in page  # shown, in French
        ok = await a1.post(f"/api/followups/{f['id']}", headers={"X-CSRF-Token": csrf1},
                           json={"status": "lost", "lost_reason": "Trop cher"})
        assert (await ok.json())["lost_reason"] == "Trop cher"
        assert (await a2.post(f"/api/followups/{f['id']}", headers={"X-CSRF-Token": csrf2},
                              json={"status": "won"})).status == 404


async def test_missed_calls_are_marked_handled_one_by_one_or_all(
        client: TestClient[Any, Any], store: Store) -> None:
    now = time.time()
    await store.save_call(missed_call("m1", now - 120, "1001"))
    await store.save_call(missed_call("m2", now - 60, "1001"))
    await store.save_call(missed_call("x1", now - 30, "1002"))
    a1, csrf1 = await log_in(client, "agent1")
    async with a1:
        keys = [m["key"] for m in (await (await a1.get("/api/missed")).json())["missed"]]
        assert keys == ["pbx1/m2", "pbx1/m1"]
        page = await (await a1.get("/actions")).text()
        assert 'data-key="pbx1/m2"' in page and 'data-dial="+33698765432"' in page
        assert 'data-key="pbx1/x1"' not in page
        denied = await a1.post("/api/missed/handled", headers={"X-CSRF-Token": csrf1},
                               json={"keys": ["pbx1/x1"]})
        assert denied.status == 403  # it rang agent2's phone
        one = await a1.post("/actions/missed/handled", allow_redirects=False,
                            data={"csrf_token": csrf1, "key": "pbx1/m2"})
        assert one.status == 303
        counts = await (await a1.get("/api/actions/counts")).json()
        assert counts["missed_unhandled"] == 1
        every = await a1.post("/api/missed/handled", headers={"X-CSRF-Token": csrf1},
                              json={"all": True, "how": "rappelés"})
        assert (await every.json()) == {"marked": 1}
        assert (await (await a1.get("/api/missed")).json())["missed"] == []
    rows = await store.query("SELECT call_id, handled_by FROM missed_handled ORDER BY call_id")
    assert rows == [{"call_id": "m1", "handled_by": "agent1"},
                    {"call_id": "m2", "handled_by": "agent1"}]


async def test_the_page_shows_overdue_callbacks_first_tickets_and_the_nav_badges(
        client: TestClient[Any, Any]) -> None:
    app = app_of(client)
    callbacks = app[CALLBACKS]
    later = await callbacks.create("agent1", kind="to_call_back", due_at=time.time() + 3600,
                                   number="0612345678")
    late = await callbacks.create("agent1", kind="to_call_back", due_at=time.time() - 3600,
                                  number="0698765432", note="Rappel urgent")
    group = await app[GROUPS].create("Hotline", ["agent1"])
    mine = await app[TICKETS].create("boss", {"subject": "Panne fibre"}, assignee="agent1")
    shared = await app[TICKETS].create("boss", {"subject": "Devis"}, group_id=group.id)
    a1, _ = await log_in(client, "agent1")
    async with a1:
        html = await (await a1.get("/actions")).text()
    items = re.findall(r'<li class="callback( overdue)?" data-callback-id="(\d+)"', html)
    assert items == [(" overdue", str(late.id)), ("", str(later.id))]
    assert (f'data-dial="+33698765432" data-shown="06 98 76 54 32" '
            f'data-callback="{late.id}"') in html
    assert f'action="/actions/callbacks/{late.id}/done"' in html
    assert f'href="/tickets/{mine.id}"' in html and f'href="/tickets/{shared.id}"' in html
    assert "Centre d&#39;actions" in html and 'data-count="callbacks_due"' in html
    assert html.count('name="csrf_token"') >= 6  # every form carries it
    assert f"Ticket {mine.number} qui vous est confié par boss : Panne fibre" in html


async def test_counts_and_reminders_are_pushed_over_the_websocket(
        client: TestClient[Any, Any]) -> None:
    app = app_of(client)
    a1, _ = await log_in(client, "agent1")
    a2, _ = await log_in(client, "agent2")
    boss, csrf_b = await log_in(client, "boss")
    async with a1, a2, boss:
        ws = await a1.ws_connect("/ws")
        assert (await next_of(ws, "hello"))["user"]["username"] == "agent1"
        other = await a2.ws_connect("/ws")
        assert (await next_of(other, "hello"))["user"]["username"] == "agent2"
        # Someone else sets a callback for agent1: agent1's badges change, live.
        made = await boss.post("/api/callbacks", headers={"X-CSRF-Token": csrf_b}, json={
            "kind": "to_call_back", "due_at": time.time() - 1, "number": "0612345678",
            "assignee": "agent1"})
        assert made.status == 201
        counts = await next_of(ws, "counts")
        assert counts["callbacks"] == 1 and counts["callbacks_due"] == 1
        assert counts["notifications_unread"] == 0

        # A ticket given to agent1: a notification, and the counts say so.
        await app[TICKETS].create("boss", {"subject": "Panne"}, assignee="agent1")
        counts = await next_of(ws, "counts")
        assert counts["tickets_mine_open"] == 1 and counts["notifications_unread"] == 1

        # The reminder fires: the toast's message, with what to dial.
        scheduler = ReminderScheduler(app[CALLBACKS].store, app[CALLBACKS],
                                      app[NOTIFICATIONS])
        assert await scheduler.run_once() == 1
        reminder = await next_of(ws, "reminder")
        assert reminder["callback"]["dial"] == "+33612345678"
        assert reminder["callback"]["id"] == (await made.json())["id"]
        assert (await next_of(ws, "counts"))["notifications_unread"] == 2
        with pytest.raises(TimeoutError):  # agent2 heard nothing of agent1's business
            await asyncio.wait_for(other.receive(), 0.3)
        await ws.close()
        await other.close()



async def test_a_call_missed_on_the_agent_s_phone_updates_their_badges_live(
        store: Store) -> None:
    bus = Bus()
    async with serve_app(store, live=LiveCalls(bus)) as client:
        a1, _ = await log_in(client, "agent1")
        a2, _ = await log_in(client, "agent2")
        async with a1, a2:
            ws1, ws2 = await a1.ws_connect("/ws"), await a2.ws_connect("/ws")
            await next_of(ws1, "hello")
            await next_of(ws2, "hello")
            events = Tracker().feed_all(load(FIXTURES / "inbound_missed").events)  # rings 1001
            ended = events[-1]
            await store.save_call(missed_call(ended.call_id, time.time() - 30, "1001",
                                              pbx=ended.pbx))
            for event in events:
                bus.publish(event)
            counts = await next_of(ws1, "counts")
            assert counts["missed_unhandled"] == 1
            with pytest.raises(TimeoutError):  # it never rang agent2's phone
                await asyncio.wait_for(next_of(ws2, "counts"), 0.5)
            await ws1.close()
            await ws2.close()
