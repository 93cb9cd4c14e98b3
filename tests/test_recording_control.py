"""Live control of a recording, end to end over real TCP and HTTP: the simulator plays a real
answered call whose dialplan starts MixMonitor; the agent on the call pauses, resumes and stops
it through ``/api/calls/{pbx}/{call_id}/recording``; the PBX receives ``MixMonitorMute`` (State
1 then 0, Direction both) and ``StopMixMonitor`` for the recording channel; a colleague who was
not on the call, a request without CSRF token, or a call that no longer records are refused.
Also the simulator's answers to the raw actions, checked against Asterisk's wording."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.sim.ami_session import AmiRequest, AmiSession
from cti.sim.scenarios import Agent, CallSpec
from cti.users import UserService
from tests.browser import Stack, product
from tests.web_helpers import browser_session


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with product(tmp_path) as stack:
        assert stack.daemon.store is not None
        users = UserService(stack.daemon.store)
        await users.create("agent1", "agent1-secret", "agent", ["1001"])
        await users.create("agent2", "agent2-secret", "agent", ["1002"])
        yield stack


async def test_the_agent_pauses_resumes_and_stops_the_recording(stack: Stack) -> None:
    sent: list[dict[str, str]] = []
    for name in ("MixMonitorMute", "StopMixMonitor"):
        real = stack.ami.handler(name)
        assert real is not None

        def spy(session: AmiSession, req: AmiRequest, real: object = real) -> None:
            sent.append(dict(req.headers))
            real(session, req)  # type: ignore[operator]

        stack.ami.register_action(name, spy)
    control = stack.daemon.recording_control
    assert control is not None
    stack.generator.play(CallSpec("inbound_answered", Agent("1001", "Alice Martin"),
                                  caller="0612345678", did="0155512345", ring=0.5, talk=6.0))
    for _ in range(100):  # until the dialplan's MixMonitor has started
        if control.calls:
            break
        await asyncio.sleep(0.05)
    assert control.calls, "no recording seen"
    (pbx, call_id), entry = next(iter(control.calls.items()))
    recording_channel = next(iter(entry.channels.values()))
    url = f"/api/calls/{pbx}/{call_id}/recording"
    agent1, csrf1 = await browser_session(stack.web.url, "agent1", "agent1-secret")
    agent2, csrf2 = await browser_session(stack.web.url, "agent2", "agent2-secret")
    async with agent1, agent2:
        assert (await (await agent1.get(url)).json())["state"] == "recording"
        other = await agent2.post(url, json={"action": "pause"},
                                  headers={"X-CSRF-Token": csrf2})
        assert other.status == 403  # 1002 had no part in the call
        no_csrf = await agent1.post(url, json={"action": "pause"})
        assert no_csrf.status == 403
        bad = await agent1.post(url, json={"action": "delete"},
                                headers={"X-CSRF-Token": csrf1})
        assert bad.status == 422
        assert sent == []  # nothing reached the PBX so far

        for action, state in (("pause", "paused"), ("resume", "recording"),
                              ("stop", "stopped")):
            resp = await agent1.post(url, json={"action": action},
                                     headers={"X-CSRF-Token": csrf1})
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["state"] == state
        mutes = [(m["Action"], m["Channel"], m.get("Direction"), m.get("State")) for m in sent]
        assert mutes == [("MixMonitorMute", recording_channel, "both", "1"),
                         ("MixMonitorMute", recording_channel, "both", "0"),
                         ("StopMixMonitor", recording_channel, None, None)]
        again = await agent1.post(url, json={"action": "pause"},
                                  headers={"X-CSRF-Token": csrf1})
        assert again.status == 409 and (await again.json())["error"] == "not_recording"
    assert stack.daemon.store is not None
    audit = await stack.daemon.store.query(
        "SELECT username, action, result FROM audit_log WHERE action LIKE 'recording_%' "
        "ORDER BY id")
    assert [(r["action"], r["result"]) for r in audit] == [
        ("recording_pause", "sent"), ("recording_resume", "sent"), ("recording_stop", "sent"),
        ("recording_pause", "not_recording")]
