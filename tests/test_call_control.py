"""Call control over real TCP and HTTP: the simulator plays a live inbound call answered at
1001; the agent (or a supervisor) acts on it through ``/api/calls/{pbx}/{call_id}/control``
and the simulator receives exactly the AMI action Asterisk needs, on the channel the PBX itself
named — then the call the tracker stores says what happened (the transfer, one call only).
Refusals (bad action, injection attempts in the target, no CSRF token, not logged in, not on
the call) reach the PBX with nothing, and every attempt is in the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.browser import Stack
from tests.call_control_helpers import (
    answered_leg,
    audit_rows,
    control_of,
    control_stack,
    play_inbound,
    record_actions,
    stored_call,
    until,
)
from tests.web_helpers import browser_session

URL = "/api/calls/default/{}/control"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with control_stack(tmp_path) as stack:
        yield stack


async def test_blind_transfer_then_a_supervisor_hangs_up(stack: Stack) -> None:
    sent = record_actions(stack)
    live = play_inbound(stack)
    leg = await answered_leg(stack, live)
    url = URL.format(live.linkedid)
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    boss, boss_csrf = await browser_session(stack.web.url, "boss", "boss-secret!")
    async with agent, boss:
        state = await (await agent.get(url)).json()
        assert state["live"] is True and state["groups"] == ["support"]
        resp = await agent.post(url, json={"action": "transfer", "target": "1002"},
                                headers={"X-CSRF-Token": csrf})
        assert resp.status == 200, await resp.text()
        assert [(s["Action"], s["Channel"], s["Exten"], s["Context"]) for s in sent] == [
            ("BlindTransfer", leg.name, "1002", "from-internal")]
        # 1002 picks up (the capture's tail); then the supervisor ends the call.
        await answered_leg(stack, live, "1002")
        resp = await boss.post(url, json={"action": "hangup"},
                               headers={"X-CSRF-Token": boss_csrf})
        assert resp.status == 200, await resp.text()
    hangup = sent[-1]
    assert hangup["Action"] == "Hangup" and hangup["Cause"] == "16"
    assert hangup["Channel"].startswith("PJSIP/trunk-")  # the caller's channel: the call ends
    call = await stored_call(stack, live.linkedid)
    assert [(t["kind"], t["from"], t["to"]) for t in call["transfers"]] == [
        ("blind", "1001", "1002")]
    assert (call["status"], call["extension"]) == ("answered", "1001")
    assert await audit_rows(stack) == [("agent1", "call_transfer", "sent"),
                                       ("boss", "call_hangup", "sent")]


async def test_refusals_reach_the_pbx_with_nothing(stack: Stack) -> None:
    sent = record_actions(stack)
    live = play_inbound(stack)
    await answered_leg(stack, live)
    url = URL.format(live.linkedid)
    async with aiohttp.ClientSession(base_url=stack.web.url) as anonymous:
        resp = await anonymous.post(url, json={"action": "hangup"})
        assert resp.status == 401
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    other, other_csrf = await browser_session(stack.web.url, "agent2", "agent2-secret")
    async with agent, other:
        no_csrf = await agent.post(url, json={"action": "hangup"})
        assert no_csrf.status == 403
        not_on_it = await other.post(url, json={"action": "hangup"},
                                     headers={"X-CSRF-Token": other_csrf})
        assert not_on_it.status == 403  # 1002 had no part in the call
        for target in ("10\r\n02", "1002\r\nAction: Originate", "1002&PJSIP/666", "abc",
                       "10,02", "", "1" * 16, "1002 ", "+1002", 1002, None, ["1002"]):
            resp = await agent.post(url, json={"action": "transfer", "target": target},
                                    headers={"X-CSRF-Token": csrf})
            body = await resp.json()
            assert (resp.status, body["error"]) == (400, "invalid_target"), target
            assert "chiffres uniquement" in body["message"]  # in the user's language (fr)
        resp = await agent.post(url, json={"action": "attended", "target": "support\n"},
                                headers={"X-CSRF-Token": csrf})
        assert resp.status == 400
        resp = await agent.post(url, json={"action": "explode"},
                                headers={"X-CSRF-Token": csrf})
        assert (resp.status, (await resp.json())["error"]) == (400, "bad_action")
        for action in ("complete", "cancel", "resume"):  # nothing to complete or resume
            resp = await agent.post(url, json={"action": action},
                                    headers={"X-CSRF-Token": csrf})
            assert resp.status == 409, action
        gone = await agent.post(URL.format("1234.5"), json={"action": "hangup"},
                                headers={"X-CSRF-Token": csrf})
        assert gone.status == 404
    assert sent == []  # the PBX received nothing at all
    rows = await audit_rows(stack)
    assert rows.count(("agent1", "call_transfer", "invalid_target")) == 12
    assert ("agent1", "call_explode", "bad_action") in rows
    assert ("agent1", "call_resume", "not_held") in rows


async def test_a_group_target_sends_its_extension(stack: Stack) -> None:
    sent = record_actions(stack)
    live = play_inbound(stack, talk=8)
    leg = await answered_leg(stack, live)
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    async with agent:
        resp = await agent.post(URL.format(live.linkedid),
                                json={"action": "transfer", "target": "support"},
                                headers={"X-CSRF-Token": csrf})
        # The simulator has no queue at 600: the PBX's refusal is shown as it said it.
        body = await resp.json()
        assert (resp.status, body["error"]) == (409, "refused"), body
        assert body["message"] == "Le standard a refusé : Transfer failed"
    assert [(s["Action"], s["Channel"], s["Exten"]) for s in sent] == [
        ("BlindTransfer", leg.name, "600")]
    assert await audit_rows(stack) == [("agent1", "call_transfer", "refused")]


async def test_hold_parks_the_caller_and_resume_fetches_them_back(stack: Stack) -> None:
    sent = record_actions(stack)
    live = play_inbound(stack)
    leg = await answered_leg(stack, live)
    control = control_of(stack)
    url = URL.format(live.linkedid)
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    async with agent:
        resp = await agent.post(url, json={"action": "hold"}, headers={"X-CSRF-Token": csrf})
        state = await resp.json()
        assert resp.status == 200, state
        assert (state["held"], state["space"], state["held_by"]) == (True, "701", "1001")
        park = sent[-1]
        assert (park["Action"], park["TimeoutChannel"], park["Parkinglot"]) == (
            "Park", leg.name, "default")
        assert park["Channel"].startswith("PJSIP/trunk-")  # the caller goes to the lot
        # The agent's leg is released; the caller waits (the call goes on).
        await until(lambda: control.legs.get("default", live.linkedid) is not None and
                    control.legs.get("default", live.linkedid).leg_of(["1001"]) is None)  # type: ignore[union-attr]
        again = await agent.post(url, json={"action": "hold"}, headers={"X-CSRF-Token": csrf})
        assert again.status == 409
        resp = await agent.post(url, json={"action": "resume"},
                                headers={"X-CSRF-Token": csrf})
        assert resp.status == 200, await resp.text()
        fetch = sent[-1]
        assert (fetch["Action"], fetch["Channel"], fetch["Context"], fetch["Exten"]) == (
            "Originate", "PJSIP/1001", "parkedcalls", "701")
        assert fetch["ChannelId"].startswith("ctictl-hold-")
        back = await answered_leg(stack, live)  # the agent's new leg, bridged with the caller
        assert back.name != leg.name
        state = await (await agent.get(url)).json()
        assert state["held"] is False
        resp = await agent.post(url, json={"action": "hangup"}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
        assert sent[-1]["Channel"] == back.name  # the agent hangs up their own (new) leg
    call = await stored_call(stack, live.linkedid)
    assert (call["status"], call["extension"], call["transfers"]) == ("answered", "1001", [])
    store = stack.daemon.store
    assert store is not None
    assert len(await store.query("SELECT call_id FROM calls")) == 1  # no call for the fetch leg
    assert await audit_rows(stack) == [("agent1", "call_hold", "sent"),
                                       ("agent1", "call_hold", "held"),
                                       ("agent1", "call_resume", "sent"),
                                       ("agent1", "call_hangup", "sent")]


async def test_attended_transfer_consults_then_completes(stack: Stack) -> None:
    sent = record_actions(stack)
    live = play_inbound(stack)
    leg = await answered_leg(stack, live)
    control = control_of(stack)
    url = URL.format(live.linkedid)
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    async with agent:
        resp = await agent.post(url, json={"action": "attended", "target": "1002"},
                                headers={"X-CSRF-Token": csrf})
        state = await resp.json()
        assert resp.status == 200, state
        assert state["consulting"]["target"] == "1002"
        assert (sent[-1]["Action"], sent[-1]["Channel"], sent[-1]["Exten"]) == (
            "Atxfer", leg.name, "1002")

        def answered() -> bool:
            entry = control.legs.get("default", live.linkedid)
            return bool(entry and entry.consult and entry.consult.answered)

        await until(answered)
        resp = await agent.post(url, json={"action": "complete"},
                                headers={"X-CSRF-Token": csrf})
        assert resp.status == 200, await resp.text()
        assert (sent[-1]["Action"], sent[-1]["Channel"]) == ("Hangup", leg.name)
    # 1002 now talks with the caller; a supervisor ends the call.
    await answered_leg(stack, live, "1002")
    boss, boss_csrf = await browser_session(stack.web.url, "boss", "boss-secret!")
    async with boss:
        resp = await boss.post(url, json={"action": "hangup"},
                               headers={"X-CSRF-Token": boss_csrf})
        assert resp.status == 200
    call = await stored_call(stack, live.linkedid)
    assert [(t["kind"], t["from"], t["to"]) for t in call["transfers"]] == [
        ("attended", "1001", "1002")]
    assert "1002" in call["extensions_rung"]


async def test_attended_transfer_cancelled_puts_the_agent_back(stack: Stack) -> None:
    sent = record_actions(stack)
    live = play_inbound(stack)
    leg = await answered_leg(stack, live)
    control = control_of(stack)
    url = URL.format(live.linkedid)
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    async with agent:
        resp = await agent.post(url, json={"action": "attended", "target": "1002"},
                                headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
        entry = control.legs.get("default", live.linkedid)
        assert entry is not None and entry.consult is not None
        local = entry.consult.name
        assert local.startswith("Local/1002@from-internal-") and local.endswith(";1")
        resp = await agent.post(url, json={"action": "cancel"},
                                headers={"X-CSRF-Token": csrf})
        assert resp.status == 200, await resp.text()
        assert (sent[-1]["Action"], sent[-1]["Channel"]) == ("Hangup", local)
        back = await answered_leg(stack, live)  # talking to the caller again
        assert back.name == leg.name
        assert (await (await agent.get(url)).json())["consulting"] is None
        await agent.post(url, json={"action": "hangup"}, headers={"X-CSRF-Token": csrf})
    call = await stored_call(stack, live.linkedid)
    assert call["transfers"] == []
    assert [a for _, a, _ in await audit_rows(stack)] == [
        "call_attended", "call_cancel", "call_hangup"]
