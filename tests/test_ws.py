"""The screen-pop websocket over real loopback HTTP: login required, each agent sees only their
own extensions' calls, the pop then its cards, coalescing and the slow-client policy, sessions
that end, and the wrap-up API (who may write, CSRF, validation, the row it saves)."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cti.bus import Bus
from cti.calls.model import CallEnded, CallRinging, DomainEvent
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.live import LiveCalls
from cti.store.sqlite import Store
from cti.users import UserService
from cti.webapp.keys import CLIENTS, HUB
from tests.captures import FIXTURES
from tests.web_helpers import (
    app_of,
    browser_session,
    seed_users,
    serve_app,
)

Session = tuple[aiohttp.ClientSession, str]


def events_of(scenario: str, **changes: Any) -> list[DomainEvent]:
    events = Tracker().feed_all(load(FIXTURES / scenario).events)
    return [dataclasses.replace(e, **changes) for e in events] if changes else events


def ringing(call_id: str, extension: str, number: str = "+33699999999") -> CallRinging:
    ring = next(e for e in events_of("inbound_missed") if isinstance(e, CallRinging))
    return dataclasses.replace(ring, call_id=call_id, extension=extension,
                               caller=dataclasses.replace(ring.caller, number=number))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


@asynccontextmanager
async def served(store: Store) -> AsyncIterator[tuple[TestClient[Any, Any], Bus]]:
    users = UserService(store)
    await seed_users(users)
    bus = Bus()
    async with serve_app(store, users=users, live=LiveCalls(bus)) as client:
        yield client, bus


async def log_in(client: TestClient[Any, Any], username: str) -> Session:
    """A browser of its own (cookie jar) logged in as ``username``; returns it and its CSRF."""
    return await browser_session(str(client.make_url("/")), username)


async def next_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = msg.json()
    return data


async def until(ws: aiohttp.ClientWebSocketResponse, pred: Any) -> dict[str, Any]:
    while True:
        msg = await next_json(ws)
        if pred(msg):
            return msg


async def until_closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The first close-type message, skipping data frames sent before it."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), 5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return msg


async def test_the_websocket_needs_a_login_and_this_site_as_origin(store: Store) -> None:
    async with served(store) as (client, _):
        with pytest.raises(aiohttp.WSServerHandshakeError) as anon:
            await client.ws_connect("/ws")
        assert anon.value.status == 401
        http, _ = await log_in(client, "agent1")
        async with http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as evil:
                await http.ws_connect("/ws", origin="http://evil.example")
            assert evil.value.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as scope:
                await http.ws_connect("/ws?scope=all")
            assert scope.value.status == 403  # watching every call is for supervisors
            own = str(client.make_url("/")).rstrip("/")
            ws = await http.ws_connect("/ws", origin=own)
            hello = await next_json(ws)
            assert hello["type"] == "hello" and hello["extensions"] == ["1001"]
            assert hello["scope"] == "own" and hello["user"]["username"] == "agent1"
            await ws.close()


async def test_an_agent_gets_the_pop_then_the_card_and_never_another_agents_call(
        store: Store) -> None:
    async with served(store) as (client, bus):
        app = app_of(client)
        marie = await app[CLIENTS].create({"name": "Marie Dupont", "type": "vip",
                                           "phones": ["06 12 34 56 78"], "tags": ["Fidèle"]})
        earlier = next(e for e in events_of("inbound_missed") if isinstance(e, CallEnded))
        await store.save_call(earlier.record)
        await app[CLIENTS].link_call("default", earlier.call_id, {marie.id: "e164"},
                                     number="+33612345678", at=earlier.at)
        a1, _ = await log_in(client, "agent1")
        a2, _ = await log_in(client, "agent2")
        async with a1, a2:
            ws1 = await a1.ws_connect("/ws")
            ws2 = await a2.ws_connect("/ws")
            assert (await next_json(ws1))["type"] == (await next_json(ws2))["type"] == "hello"
            assert app[HUB].connected == 2
            events = events_of("inbound_answered")
            call_id = events[0].call_id
            bus.publish(events[0])  # CallStarted: nobody rings yet, nothing to show
            bus.publish(events[1])  # CallRinging 1001
            pop = await next_json(ws1)
            assert pop["type"] == "pop"
            call = pop["call"]
            assert call["key"] == f"default/{call_id}" and call["state"] == "ringing"
            assert call["party"] == {"number": "+33612345678", "display": "06 12 34 56 78",
                                     "dial": "+33612345678", "withheld": False,
                                     "name": "Marie Dupont"}
            assert call["ringing"] == ["1001"] and call["started_at"].endswith("Z")
            assert call["actions"]["call_back"] == "+33612345678"
            assert call["actions"]["wrapup"] == f"/api/calls/default/{call_id}/wrapup"
            card = await until(ws1, lambda m: m["call"]["lookup"] == "done")
            assert card["type"] == "update"
            [shown] = card["call"]["clients"]
            assert (shown["id"], shown["name"], shown["type"], shown["tags"]) == (
                marie.id, "Marie Dupont", "vip", ["Fidèle"])
            assert shown["phones"][0]["dial"] == "+33612345678"
            assert card["call"]["open_tickets"] == 0
            assert [(h["call_id"], h["status"]) for h in card["call"]["history"]] == [
                (earlier.call_id, "missed")]
            for event in events[2:]:
                bus.publish(event)
            end = await until(ws1, lambda m: m["type"] == "ended")
            assert end["call"]["status"] == "answered" and end["call"]["talked"] == ["1001"]
            # agent2's first message is its own call's pop: 1001's call never reached it
            bus.publish(ringing("other", "1002"))
            theirs = await next_json(ws2)
            assert theirs["type"] == "pop" and theirs["call"]["call_id"] == "other"
            await ws1.close()
            await ws2.close()
        for _ in range(100):
            if app[HUB].connected == 0:
                break
            await asyncio.sleep(0.02)
        assert app[HUB].connected == 0 and app[HUB].connections_total == 2


async def test_private_cards_stay_private_and_buttons_follow_the_routes_the_app_has(
        store: Store) -> None:
    users = UserService(store)
    await seed_users(users)
    bus = Bus()
    # the app has the client pages and the ticket form: both buttons get their links
    async with serve_app(store, users=users, live=LiveCalls(bus)) as client:
        directory = app_of(client)[CLIENTS]
        shared = {"phones": ["+33612345678"]}
        public = await directory.create({"name": "Standard Dupont", **shared})
        await directory.create({"name": "Marie (perso)", "visibility": "private",
                                "owner": "agent2", **shared})
        a1, _ = await log_in(client, "agent1")
        boss, _ = await log_in(client, "boss")
        async with a1, boss:
            ws1 = await a1.ws_connect("/ws")
            wsb = await boss.ws_connect("/ws?scope=all")
            await next_json(ws1)
            await next_json(wsb)
            bus.publish(ringing("p", "1001", number="0612345678"))
            mine = await until(ws1, lambda m: m["call"]["lookup"] == "done")
            sup = await until(wsb, lambda m: m["call"]["lookup"] == "done")
            assert [c["name"] for c in mine["call"]["clients"]] == ["Standard Dupont"]
            assert sorted(c["name"] for c in sup["call"]["clients"]) == [
                "Marie (perso)", "Standard Dupont"]
            card = mine["call"]["clients"][0]
            assert card["open_url"] == f"/clients/{public.id}"
            assert mine["call"]["actions"]["open_client"] == f"/clients/{public.id}"
            assert mine["call"]["actions"]["new_ticket"] == "/tickets/new?call=default/p"
            await ws1.close()
            await wsb.close()


async def test_a_supervisor_may_watch_every_call_and_gets_calls_in_progress_on_connect(
        store: Store) -> None:
    async with served(store) as (client, bus):
        bus.publish(ringing("a", "1001"))
        bus.publish(ringing("b", "1002", number="anonymous"))
        boss, _ = await log_in(client, "boss")
        a2, _ = await log_in(client, "agent2")
        async with boss, a2:
            ws = await boss.ws_connect("/ws?scope=all")
            assert (await next_json(ws))["scope"] == "all"
            got = {(m["type"], m["call"]["call_id"]) for m in
                   [await next_json(ws), await next_json(ws)]}
            assert got == {("pop", "a"), ("pop", "b")}
            mine = await a2.ws_connect("/ws")
            await next_json(mine)
            snap = await next_json(mine)
            assert snap["call"]["call_id"] == "b" and snap["call"]["party"]["withheld"]
            assert snap["call"]["actions"]["call_back"] is None
            await ws.close()
            await mine.close()


async def test_updates_of_one_call_are_coalesced_and_a_slow_socket_is_closed_alone(
        store: Store) -> None:
    async with served(store) as (client, bus):
        hub = app_of(client)[HUB]
        hub.max_pending = 3
        boss, _ = await log_in(client, "boss")
        a1, _ = await log_in(client, "agent1")
        async with boss, a1:
            watcher = await boss.ws_connect("/ws?scope=all")
            agent = await a1.ws_connect("/ws")
            await next_json(watcher)
            await next_json(agent)
            # A burst on one call, all queued before the sender runs: one frame, newest state.
            bus.publish(ringing("c", "1001"))
            for i in range(20):
                bus.publish(ringing("c", f"2{i:03d}"))
            latest = await next_json(agent)
            assert latest["type"] == "pop" and len(latest["call"]["ringing"]) == 21
            assert hub.coalesced >= 20
            # Five other calls at once: more than the watcher may have waiting → closed with
            # 1013; the agent, whose queue holds only its own call, gets it as usual.
            for i in range(5):
                bus.publish(ringing(f"x{i}", f"30{i}"))
            bus.publish(ringing("mine", "1001"))
            assert (await next_json(agent))["call"]["call_id"] == "mine"
            msg = await until_closed(watcher)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1013)
            assert hub.slow_closed == 1
            await agent.close()


async def test_a_socket_closes_when_its_session_ends(store: Store) -> None:
    async with served(store) as (client, _):
        hub = app_of(client)[HUB]
        http, csrf = await log_in(client, "agent1")
        async with http:
            ws = await http.ws_connect("/ws")
            await next_json(ws)
            await hub.revalidate_now()
            assert hub.connected == 1  # still logged in: nothing happens
            out = await http.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
            assert out.status in (302, 303)
            await hub.revalidate_now()
            msg = await until_closed(ws)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4401)
            assert hub.sessions_ended == 1


async def test_wrapup_is_saved_by_who_took_part_with_csrf(store: Store, tmp_path: Path) -> None:
    async with served(store) as (client, bus):
        a1, csrf1 = await log_in(client, "agent1")
        a2, csrf2 = await log_in(client, "agent2")
        boss, csrf_boss = await log_in(client, "boss")
        async with a1, a2, boss:
            ws = await a1.ws_connect("/ws")
            await next_json(ws)
            events = events_of("inbound_answered")
            bus.publish_all(events)
            await until(ws, lambda m: m["type"] == "ended")
            url = f"/api/calls/default/{events[0].call_id}/wrapup"
            form = {"subject": "Invoice", "reason": "Wrong amount", "response": "Explained",
                    "result": "Solved", "note": "Send a credit note"}
            no_csrf = await a1.post(url, json=form)
            assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf"
            other = await a2.post(url, json=form, headers={"X-CSRF-Token": csrf2})
            assert other.status == 403  # agent2 (1002, 1003) had no part in 1001's call
            empty = await a1.post(url, json={"subject": " "}, headers={"X-CSRF-Token": csrf1})
            assert empty.status == 422
            long = await a1.post(url, json={"subject": "x" * 201},
                                 headers={"X-CSRF-Token": csrf1})
            assert (await long.json())["field"] == "subject"
            ok = await a1.post(url, json=form, headers={"X-CSRF-Token": csrf1})
            assert ok.status == 201 and (await ok.json())["result"] == "Solved"
            again = await a1.post(url, json={**form, "result": "Credit note sent"},
                                  headers={"X-CSRF-Token": csrf1})
            assert again.status == 200
            noted = await until(ws, lambda m: m["call"]["wrapped_up_by"])
            assert noted["call"]["wrapped_up_by"] == ["agent1"]
            sup = await boss.post(url, json={"note": "Checked"},
                                  headers={"X-CSRF-Token": csrf_boss})
            assert sup.status == 201
            listed = await (await a1.get(url)).json()
            assert [w["username"] for w in listed["wrapups"]] == ["agent1", "boss"]
            missing = await a1.post("/api/calls/default/nope/wrapup", json=form,
                                    headers={"X-CSRF-Token": csrf1})
            assert missing.status == 404
            await ws.close()
    await store.flush()
    with sqlite3.connect(tmp_path / "cti.db") as db:
        rows = db.execute("SELECT username, subject, result, note FROM call_wrapups "
                          "ORDER BY username").fetchall()
    assert rows == [("agent1", "Invoice", "Credit note sent", "Send a credit note"),
                    ("boss", "", "", "Checked")]


async def test_a_finished_call_in_the_log_can_be_wrapped_up_by_its_agent(store: Store) -> None:
    async with served(store) as (client, _):
        record = next(e for e in events_of("blind_transfer")
                      if isinstance(e, CallEnded)).record
        await store.save_call(record)  # not live any more: only the call log knows it
        a2, csrf = await log_in(client, "agent2")  # 1002 was the transfer's target
        async with a2:
            url = f"/api/calls/default/{record.call_id}/wrapup"
            resp = await a2.post(url, json={"note": "Took it over"},
                                 headers={"X-CSRF-Token": csrf})
            assert resp.status == 201, await resp.text()


async def test_home_page_has_the_pop_panel_in_the_users_language(store: Store) -> None:
    async with served(store) as (client, _):
        http, _ = await log_in(client, "agent1")
        async with http:
            fr = await (await http.get("/", headers={"Accept-Language": "fr"})).text()
            en = await (await http.get("/?lang=en")).text()
    assert 'src="/static/pop.js"' in fr and "<script>" not in fr  # CSP: no inline script
    strings = json.loads(html.unescape(re.search(r'data-strings="([^"]*)"', fr).group(1)))
    assert strings["Ringing"] == "Sonne" and strings["Withheld number"] == "Numéro masqué"
    assert "Compte rendu" in fr and "Wrap-up" in en


def test_every_string_the_pop_script_shows_is_handed_to_it_and_translated() -> None:
    from cti.webapp.i18n import FR
    from cti.webapp.i18n_pop import SCRIPT_MSGIDS

    script = (Path(__file__).parent.parent / "web" / "static" / "pop.js").read_text()
    used = set(re.findall(r'\bt\("([^"]+)"', script))
    for table in ("STATUS", "DIRECTION"):  # t(STATUS[call.status]) and the like
        body = re.search(rf"var {table} = \{{(.*?)\}};", script, re.S)
        assert body, table
        used |= set(re.findall(r':\s*"([^"]+)"', body.group(1)))
    assert len(used) > 30
    assert sorted(used - set(SCRIPT_MSGIDS)) == []
    assert sorted(set(SCRIPT_MSGIDS) - set(FR)) == []
    assert "innerHTML" not in script  # text from the network is never parsed as HTML
