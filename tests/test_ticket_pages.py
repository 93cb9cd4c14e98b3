"""The ticket pages and their JSON twins over real loopback HTTP and a real SQLite file:
creating by form and by API, the list's filters and counts, visibility (an agent never sees
another group's private ticket, not even in a list), workflow moves refused with a clear
message (409), reopen, transfer to a group with a note, internal vs client-visible comments,
linking calls (from the pop's ``?call=`` and by key), CSRF, login and escaping."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.webapp.keys import CALLBACKS, CLIENTS
from tests.ticket_helpers import EN, World, text_of, ticket_id_of, world
from tests.web_helpers import app_of, login

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(tmp_path) as w:
        yield w


async def post_form(w: World, path: str, csrf: str, data: dict[str, Any],
                    **kwargs: Any) -> Any:
    return await w.client.post(path, data={"csrf_token": csrf, **data},
                               allow_redirects=False, headers=kwargs.pop("headers", EN),
                               **kwargs)


async def api(w: World, method: str, path: str, csrf: str, body: Any = None) -> Any:
    return await w.client.request(method, path, json=body, headers={"X-CSRF-Token": csrf})


# --------------------------------------------------------------------------- creating
async def test_create_by_form_then_the_page_shows_every_field(w: World) -> None:
    csrf = await login(w.client, "agent1")
    form = await text_of(w.client, "/tickets/new")
    assert 'name="subject"' in form and 'name="assignee"' in form and "Hotline" in form
    resp = await post_form(w, "/tickets/new", csrf, {
        "subject": "Box down since this morning", "client": "Marie Dupont",
        "contact": "Marie", "contact_email": "marie@example.fr", "kind": "technical",
        "priority": "urgent", "reason": "No internet", "response": "Rebooted the box",
        "result": "Back online", "equipment": "SN-4242", "contract": "C-77",
        "due_at": "2026-12-01T09:30", "public": "1", "notify_client": "1",
        "group_id": str(w.hotline.id)}, cookies={"cti_tz": "America/New_York"})
    assert resp.status == 303, await resp.text()
    tid = ticket_id_of(resp.headers["Location"])
    ticket = await w.tickets.get(tid)
    assert (ticket.client_id, ticket.kind, ticket.priority, ticket.group_id, ticket.status) == (
        w.marie.id, "technical", "urgent", w.hotline.id, "assigned")
    # the due date was typed in the viewer's zone (New York), not the server's
    assert ticket.due_at == dt.datetime(2026, 12, 1, 9, 30, tzinfo=NEW_YORK).timestamp()
    assert ticket.notify_client and ticket.public and ticket.created_by == "agent1"
    page = await text_of(w.client, resp.headers["Location"], cookies={"cti_tz": "Europe/Paris"})
    for shown in (ticket.number, "Box down since this morning", "Marie Dupont", "SN-4242",
                  "C-77", "Rebooted the box", "Back online", "prio-urgent", "Hotline",
                  "01/12/2026 15:30", "The ticket has been created."):
        assert shown in page, shown
    # the client card's numbers can be dialled; the timeline says who created it
    assert 'data-dial="+33612345678"' in page
    assert f"Ticket {ticket.number} created" in page and "Agent1" in page


async def test_a_refused_form_comes_back_with_what_was_typed(w: World) -> None:
    csrf = await login(w.client, "agent1")
    resp = await post_form(w, "/tickets/new", csrf, {
        "subject": "", "contact": "Jeanne Typed", "reason": "kept reason", "priority": "high"})
    body = await resp.text()
    assert resp.status == 400
    assert "Check “Subject”: is required" in body
    assert 'value="Jeanne Typed"' in body and 'value="kept reason"' in body
    assert '<option value="high" selected>' in body
    resp = await post_form(w, "/tickets/new", csrf, {"subject": "x", "client": "Nobody Atall"})
    assert resp.status == 400 and "no client matches this name" in await resp.text()
    assert await w.store.query("SELECT id FROM tickets") == []


async def test_create_and_read_by_api(w: World) -> None:
    csrf = await login(w.client, "agent2")
    resp = await api(w, "POST", "/api/tickets", csrf, {
        "subject": "Quote for 3 phones", "kind": "commercial", "client_id": w.paul.id,
        "assignee": "agent2", "calls": ["main/c1"], "public": False})
    # agent2 did not take call c1 (extension 1001): it cannot be linked by them
    assert resp.status == 422 and (await resp.json())["field"] == "calls"
    resp = await api(w, "POST", "/api/tickets", csrf, {
        "subject": "Quote for 3 phones", "kind": "commercial", "client_id": w.paul.id,
        "assignee": "agent2", "public": False})
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["status"] == "assigned" and made["assignee_name"] == "Agent2"
    assert resp.headers["Location"] == f"/api/tickets/{made['id']}"
    full = await (await w.client.get(resp.headers["Location"])).json()
    assert full["ticket"]["subject"] == "Quote for 3 phones"
    assert [e["kind"] for e in full["timeline"]] == ["created", "assigned"]
    assert full["moves"] == ["in_progress", "waiting", "resolved"]  # no cancel for agents
    bad = await api(w, "POST", "/api/tickets", csrf, {"subject": "x", "priority": "asap"})
    assert bad.status == 422 and (await bad.json())["field"] == "priority"
    patched = await api(w, "PATCH", f"/api/tickets/{made['id']}", csrf,
                        {"priority": "high", "equipment": "SN-1"})
    assert (await patched.json())["priority"] == "high"
    refused = await api(w, "PATCH", f"/api/tickets/{made['id']}", csrf, {"status": "closed"})
    assert refused.status == 422 and (await refused.json())["field"] == "status"


# --------------------------------------------------------------------------- list
async def test_list_filters_counts_and_shortcuts(w: World) -> None:
    t = w.tickets
    a = await t.create("agent1", {"subject": "Alpha printer jam", "kind": "technical",
                                  "priority": "urgent"}, assignee="agent1")
    b = await t.create("agent2", {"subject": "Bravo invoice", "kind": "commercial"},
                       group_id=w.hotline.id)
    c = await t.create("boss", {"subject": "Charlie done", "client_id": w.marie.id})
    await t.set_status(c.id, "boss", "resolved")
    csrf = await login(w.client, "agent1")
    del csrf
    page = await text_of(w.client, "/tickets")
    assert "Alpha printer jam" in page and "Bravo invoice" in page
    assert "Charlie done" not in page  # resolved: not open
    assert "2 tickets" in page
    tabs = dict(re.findall(r'class="tab ts-(\w+)">\s*[^<]*<span class="count">(\d+)', page))
    assert tabs["open"] == "2" and tabs["resolved"] == "1" and tabs["any"] == "3"
    assert "prio-urgent" in page
    page = await text_of(w.client, "/tickets?status=resolved")
    assert "Charlie done" in page and "Alpha" not in page
    page = await text_of(w.client, "/tickets?status=any&kind=commercial")
    assert "Bravo invoice" in page and "Alpha" not in page and "Charlie" not in page
    page = await text_of(w.client, "/tickets?status=any&q=printer")
    assert "Alpha printer jam" in page and "Bravo" not in page
    page = await text_of(w.client, f"/tickets?status=any&client={w.marie.id}")
    assert "Charlie done" in page and "Alpha" not in page and "Client: Marie Dupont" in page
    page = await text_of(w.client, "/tickets?mine=1")
    assert "Alpha printer jam" in page and "Bravo" not in page
    page = await text_of(w.client, "/tickets?groups=1")
    assert "Bravo invoice" in page and "Alpha" not in page
    page = await text_of(w.client, "/tickets?assignee=agent1&priority=urgent")
    assert "Alpha printer jam" in page and "Bravo" not in page
    data = await (await w.client.get("/api/tickets?kind=technical")).json()
    assert [x["id"] for x in data["tickets"]] == [a.id] and data["total"] == 1
    data = await (await w.client.get("/api/tickets")).json()  # the API's default: any
    assert {x["id"] for x in data["tickets"]} == {a.id, b.id, c.id}
    assert data["counts"] == {"assigned": 2, "resolved": 1}
    bad = await w.client.get("/api/tickets?status=lost")
    assert bad.status == 422 and (await bad.json())["field"] == "status"


async def test_paging_the_list(w: World) -> None:
    for i in range(55):
        await w.tickets.create("boss", {"subject": f"Bulk {i:02d}"})
    await login(w.client, "boss")
    first = await text_of(w.client, "/tickets")
    assert first.count('class="ticket prio-row-normal"') == 50 and "55 tickets" in first
    found = re.search(r'href="/tickets\?([^"]*offset=50[^"]*)" rel="next"', first)
    assert found
    second = await text_of(w.client, "/tickets?" + html.unescape(found.group(1)))
    assert second.count('class="ticket prio-row-normal"') == 5 and 'rel="prev"' in second


# --------------------------------------------------------------------------- visibility
async def test_a_private_ticket_of_another_group_is_invisible_to_an_agent(w: World) -> None:
    secret = await w.tickets.create("boss", {"subject": "Salary dispute", "public": False},
                                    group_id=w.sales.id)
    shared = await w.tickets.create("boss", {"subject": "Everyone may see"})
    csrf = await login(w.client, "agent1")
    assert (await w.client.get(f"/tickets/{secret.id}", headers=EN)).status == 404
    assert (await w.client.get(f"/api/tickets/{secret.id}")).status == 404
    listing = await text_of(w.client, "/tickets?status=any")
    assert "Salary dispute" not in listing and "Everyone may see" in listing
    data = await (await w.client.get("/api/tickets")).json()
    assert [t["id"] for t in data["tickets"]] == [shared.id] and data["total"] == 1
    # nor can they act on it
    resp = await post_form(w, f"/tickets/{secret.id}/comment", csrf, {"text": "peek"})
    assert resp.status == 404
    resp = await api(w, "POST", f"/api/tickets/{secret.id}/status", csrf, {"status": "waiting"})
    assert resp.status == 404
    # a member of the group sees it; so does a supervisor
    await login(w.client, "agent2")
    assert "Salary dispute" in await text_of(w.client, f"/tickets/{secret.id}")
    await login(w.client, "boss")
    assert "Salary dispute" in await text_of(w.client, "/tickets?status=any")


# --------------------------------------------------------------------------- workflow
async def test_a_refused_move_says_why_and_reopen_works(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Fixed already"}, assignee="agent1")
    await w.tickets.set_status(t.id, "agent1", "resolved")
    await w.tickets.set_status(t.id, "agent1", "closed")
    csrf = await login(w.client, "agent1")
    resp = await api(w, "POST", f"/api/tickets/{t.id}/status", csrf, {"status": "in_progress"})
    assert resp.status == 409
    body = await resp.json()
    assert body["error"] == "conflict"
    assert body["message"] == "A closed ticket must be reopened before it can be in_progress."
    resp = await post_form(w, f"/tickets/{t.id}/status", csrf, {"status": "in_progress",
                                                                "note": "typed note"})
    page = await resp.text()
    assert resp.status == 409
    assert "A Closed ticket must be reopened before it can be In progress." in page
    assert 'value="typed note"' in page  # the note is kept
    fr = await post_form(w, f"/tickets/{t.id}/status", csrf, {"status": "in_progress"},
                         headers={"Accept-Language": "fr"})
    assert "doit être rouvert" in await fr.text()
    # a closed ticket offers Reopen and no other move
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "/reopen" in page and 'name="status" value=' not in page
    resp = await post_form(w, f"/tickets/{t.id}/reopen", csrf, {"note": "client called back"})
    assert resp.status == 303 and resp.headers["Location"].endswith("done=reopened")
    again = await w.tickets.get(t.id)
    assert again.status == "assigned" and again.closed_at is None
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "Reopened (Closed → Assigned)" in page and "client called back" in page
    resp = await api(w, "POST", f"/api/tickets/{t.id}/reopen", csrf, {})
    assert resp.status == 409 and "open already" in (await resp.json())["message"]
    ok = await api(w, "POST", f"/api/tickets/{t.id}/status", csrf, {"status": "in_progress"})
    assert ok.status == 200 and (await ok.json())["status"] == "in_progress"


async def test_cancelling_needs_a_supervisor_unless_the_ticket_is_ones_own_new(
        w: World) -> None:
    theirs = await w.tickets.create("agent2", {"subject": "Theirs"}, assignee="agent2")
    mine = await w.tickets.create("agent1", {"subject": "Opened by mistake"})
    csrf = await login(w.client, "agent1")
    page = await text_of(w.client, f"/tickets/{theirs.id}")
    assert 'value="cancelled"' not in page and 'value="resolved"' in page
    resp = await post_form(w, f"/tickets/{theirs.id}/status", csrf, {"status": "cancelled"})
    assert resp.status == 403 and "Only a supervisor" in await resp.text()
    assert (await w.tickets.get(theirs.id)).status == "assigned"
    assert 'value="cancelled"' in await text_of(w.client, f"/tickets/{mine.id}")
    resp = await post_form(w, f"/tickets/{mine.id}/status", csrf, {"status": "cancelled"})
    assert resp.status == 303 and (await w.tickets.get(mine.id)).status == "cancelled"
    csrf = await login(w.client, "boss")
    resp = await api(w, "POST", f"/api/tickets/{theirs.id}/status", csrf,
                     {"status": "cancelled", "note": "duplicate of another"})
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"


async def test_transfer_to_a_group_with_a_note_is_in_the_timeline(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Needs sales"}, assignee="agent1")
    csrf = await login(w.client, "agent1")
    resp = await post_form(w, f"/tickets/{t.id}/assign", csrf, {
        "assignee": "", "group_id": str(w.sales.id), "note": "Client wants a quote"})
    assert resp.status == 303
    after = await w.tickets.get(t.id)
    assert (after.assignee, after.group_id) == (None, w.sales.id)
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "Assigned to the group Sales" in page and "Client wants a quote" in page
    resp = await post_form(w, f"/tickets/{t.id}/assign", csrf, {"note": "nobody?"})
    assert resp.status == 400 and "choose a person or a group" in await resp.text()
    resp = await api(w, "POST", f"/api/tickets/{t.id}/assign", csrf,
                     {"assignee": "agent2", "group_id": w.sales.id, "note": "yours"})
    assert (await resp.json())["assignee"] == "agent2"
    timeline = (await (await w.client.get(f"/api/tickets/{t.id}")).json())["timeline"]
    notes = [e["data"].get("note") for e in timeline if e["kind"] == "assigned"]
    assert notes[-2:] == ["Client wants a quote", "yours"]


async def test_comments_are_internal_unless_marked_for_the_client(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Talkative"})
    csrf = await login(w.client, "agent1")
    assert (await post_form(w, f"/tickets/{t.id}/comment", csrf,
                            {"text": "between us"})).status == 303
    assert (await post_form(w, f"/tickets/{t.id}/comment", csrf,
                            {"text": "We replaced the part", "public": "1"})).status == 303
    resp = await api(w, "POST", f"/api/tickets/{t.id}/comments", csrf,
                     {"text": "by script", "internal": False})
    assert resp.status == 201 and (await resp.json())["internal"] is False
    events = await w.tickets.timeline(t.id, internal=False)
    assert [e.data["text"] for e in events if e.kind == "comment"] == [
        "We replaced the part", "by script"]
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "Internal note" in page and "Comment visible to the client" in page
    assert page.count("ev-public") == 2
    empty = await post_form(w, f"/tickets/{t.id}/comment", csrf, {"text": "  "})
    assert empty.status == 400 and "Check “Comment”: is required" in await empty.text()


async def test_edit_form_changes_fields_with_a_timeline_line_each(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Old subject", "priority": "low"})
    csrf = await login(w.client, "agent1")
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert 'value="Old subject"' in page
    data = {"subject": "New subject", "priority": "high", "kind": "hotline",
            "client": f"#{w.paul.id}", "public": "1"}
    resp = await post_form(w, f"/tickets/{t.id}/edit", csrf, data)
    assert resp.status == 303
    after = await w.tickets.get(t.id)
    assert (after.subject, after.priority, after.client_id) == ("New subject", "high",
                                                                 w.paul.id)
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "“Subject”: Old subject → New subject" in page and "“Priority”: Low → High" in page
    bad = await post_form(w, f"/tickets/{t.id}/edit", csrf, {**data, "contact_email": "nope"})
    body = await bad.text()
    assert bad.status == 400 and "is not an e-mail address" in body and 'value="nope"' in body
    # a client card the editor may not open stays linked when the client is left as shown
    hidden = await app_of(w.client)[CLIENTS].create({"name": "Secret Person",
                                                     "visibility": "private",
                                                     "owner": "agent2"})
    await w.tickets.update(t.id, "boss", {"client_id": hidden.id})
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "Secret Person" not in page and f'name="client" value="#{hidden.id}"' in page
    resp = await post_form(w, f"/tickets/{t.id}/edit", csrf,
                           {**data, "client": f"#{hidden.id}", "subject": "Kept client"})
    assert resp.status == 303
    assert (await w.tickets.get(t.id)).client_id == hidden.id


# --------------------------------------------------------------------------- calls
async def test_a_ticket_from_a_call_links_it_and_takes_its_client(w: World) -> None:
    csrf = await login(w.client, "agent1")
    form = await text_of(w.client, "/tickets/new?call=main/c1")
    assert f'value="Marie Dupont #{w.marie.id}"' in form
    assert 'name="call" value="main/c1"' in form and 'value="Marie Dupont"' in form
    assert 'placeholder="Call from Marie Dupont (06 12 34 56 78)"' in form  # a subject hint
    resp = await post_form(w, "/tickets/new", csrf, {
        "subject": "From the pop", "client": f"Marie Dupont #{w.marie.id}", "call": "main/c1",
        "public": "1"})
    assert resp.status == 303
    tid = ticket_id_of(resp.headers["Location"])
    assert await w.tickets.calls(tid) == [("main", "c1")]
    assert (await w.tickets.get(tid)).client_id == w.marie.id
    page = await text_of(w.client, f"/tickets/{tid}")
    assert 'href="/calls/main/c1"' in page and "Answered" in page and "1 min 15 s" in page
    # agent2 was not on that call: no prefill from it, no linking it
    await login(w.client, "agent2")
    assert (await w.client.get("/tickets/new?call=main/c1", headers=EN)).status == 404


async def test_link_a_call_by_key(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Linked later"})
    csrf = await login(w.client, "agent1")
    resp = await post_form(w, f"/tickets/{t.id}/calls", csrf, {"call": "main/c1"})
    assert resp.status == 303 and "done=call" in resp.headers["Location"]
    resp = await post_form(w, f"/tickets/{t.id}/calls", csrf, {"call": "main/c1"})
    assert "done=call_known" in resp.headers["Location"]
    for bad in ("nonsense", "main/unknown"):
        resp = await post_form(w, f"/tickets/{t.id}/calls", csrf, {"call": bad})
        assert resp.status == 400, bad
        assert f'value="{bad}"' in await resp.text()
    resp = await api(w, "POST", f"/api/tickets/{t.id}/calls", csrf, {"call": "main/c1"})
    assert resp.status == 200 and (await resp.json())["linked"] is False
    assert await w.tickets.calls(t.id) == [("main", "c1")]


# --------------------------------------------------------------------------- safety
async def test_csrf_login_and_escaping(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "<script>alert('x')</script>",
                                          "reason": "<b>bold</b> & co"})
    resp = await w.client.get("/tickets", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    assert (await w.client.get("/api/tickets")).status == 401
    await login(w.client, "agent1")
    resp = await w.client.post("/tickets/new", data={"subject": "no token"},
                               allow_redirects=False)
    assert resp.status == 403
    resp = await w.client.post(f"/api/tickets/{t.id}/comments", json={"text": "no token"})
    assert resp.status == 403
    assert await w.store.query("SELECT id FROM tickets WHERE subject = 'no token'") == []
    page = await text_of(w.client, f"/tickets/{t.id}")
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    listing = await text_of(w.client, "/tickets")
    assert "<script>alert" not in listing and "&lt;script&gt;" in listing


async def test_pages_in_french(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Panne"})
    await login(w.client, "agent1")
    fr = {"Accept-Language": "fr"}
    listing = await text_of(w.client, "/tickets", headers=fr)
    assert "Nouveau ticket" in listing and "Tous les ouverts" in listing
    page = await text_of(w.client, f"/tickets/{t.id}", headers=fr)
    assert "Chronologie" in page and "Commencer" in page and "Pièces jointes" in page
    assert 'href="/tickets" aria-current="page"' in page  # the nav's Tickets link


async def test_callbacks_on_the_timeline(w: World) -> None:
    ticket = await w.tickets.create("agent1", {"subject": "Devis", "client_id": w.marie.id},
                                    assignee="agent1")
    callbacks = app_of(w.client)[CALLBACKS]
    cb = await callbacks.create("agent1", kind="to_call_back", due_at="2026-12-01T09:30:00Z",
                                ticket_id=ticket.id, number="0612345678", note="le devis")
    await callbacks.attempt(cb.id, "agent1")
    await callbacks.done(cb.id, "agent1", "Devis accepté")
    await login(w.client, "agent1")
    page = await text_of(w.client, f"/tickets/{ticket.id}")
    assert "Callback planned for 01/12/2026" in page and "le devis" in page
    assert "Called back (attempt 1)" in page
    assert "Callback done" in page and "Devis accepté" in page
