"""Supervision over real TCP and HTTP: a supervisor listens to, whispers to and barges into the
agent's live call through ``/api/calls/{pbx}/{call_id}/spy``. The simulator receives an
``Originate`` of the supervisor's own phone running ``ChanSpy`` on the agent's channel (as the
PBX named it) with the mode's options; it rings, answers, spies (``ChanSpyStart``) and ends with
the call. The spy legs are no calls of their own: the call log holds one call, and no pop or
board row ever showed them. Agents get 403, anonymous requests 401; every attempt is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cti.ami.messages import AmiMessage
from cti.live import Change
from tests.browser import Stack
from tests.call_control_helpers import (
    answered_leg,
    audit_rows,
    control_stack,
    play_inbound,
    record_actions,
    stored_call,
    until,
)
from tests.web_helpers import browser_session

URL = "/api/calls/default/{}/spy"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with control_stack(tmp_path) as stack:
        yield stack


async def test_a_supervisor_listens_whispers_and_barges(stack: Stack) -> None:
    sent = record_actions(stack)
    emitted: list[AmiMessage] = []
    real_emit = stack.ami.emit

    def watch(msg: AmiMessage | bytes, timestamp: float | None = None) -> int:
        if isinstance(msg, dict):
            emitted.append(msg)
        return real_emit(msg, timestamp)

    stack.ami.emit = watch  # type: ignore[method-assign]
    live_calls = stack.daemon.live
    assert live_calls is not None
    seen: set[str] = set()
    live_calls.subscribe(lambda change: seen.add(change.call.call_id)
                         if isinstance(change, Change) else None)
    live = play_inbound(stack)
    leg = await answered_leg(stack, live)
    url = URL.format(live.linkedid)
    async with aiohttp.ClientSession(base_url=stack.web.url) as anonymous:
        assert (await anonymous.post(url, json={"mode": "listen"})).status == 401
    agent, csrf = await browser_session(stack.web.url, "agent1", "agent1-secret")
    boss, boss_csrf = await browser_session(stack.web.url, "boss", "boss-secret!")
    root, root_csrf = await browser_session(stack.web.url, "root", "root-secret!")
    async with agent, boss, root:
        refused = await agent.post(url, json={"mode": "listen"},
                                   headers={"X-CSRF-Token": csrf})
        assert refused.status == 403  # agents never spy, even on their own call
        bad = await boss.post(url, json={"mode": "shout"},
                              headers={"X-CSRF-Token": boss_csrf})
        assert (bad.status, (await bad.json())["error"]) == (400, "bad_mode")
        no_phone = await root.post(url, json={"mode": "listen"},
                                   headers={"X-CSRF-Token": root_csrf})
        assert (no_phone.status, (await no_phone.json())["error"]) == (409, "no_extension")
        assert sent == []
        for mode in ("listen", "whisper", "barge"):
            resp = await boss.post(url, json={"mode": mode},
                                   headers={"X-CSRF-Token": boss_csrf})
            assert resp.status == 202, await resp.text()
            assert await resp.json() == {"mode": mode, "extension": "1003", "agent": "1001"}
    options = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}
    assert [(s["Action"], s["Channel"], s["Application"], s["Data"]) for s in sent] == [
        ("Originate", "PJSIP/1003", "ChanSpy", f"{leg.name},{options[m]}")
        for m in ("listen", "whisper", "barge")]
    assert all(s["ChannelId"].startswith("ctictl-spy-") for s in sent)
    assert [s["Variable"] for s in sent] == [
        "CTI_SUPERVISION=listen", "CTI_SUPERVISION=whisper", "CTI_SUPERVISION=barge"]
    # The supervisor's phone answers and spies on the agent's channel.
    await until(lambda: sum(m.get("Event") == "ChanSpyStart" for m in emitted) == 3)
    start = next(m for m in emitted if m.get("Event") == "ChanSpyStart")
    assert start["SpyeeChannel"] == leg.name and start["SpyerChannel"].startswith(
        "PJSIP/1003-")
    # The supervisor ends the call; the spy legs end with it (ChanSpy's E option).
    boss, boss_csrf = await browser_session(stack.web.url, "boss", "boss-secret!")
    async with boss:
        resp = await boss.post(f"/api/calls/default/{live.linkedid}/control",
                               json={"action": "hangup"}, headers={"X-CSRF-Token": boss_csrf})
        assert resp.status == 200
    await until(lambda: live.done.is_set())
    await until(lambda: sum(m.get("Event") == "ChanSpyStop" for m in emitted) == 3)
    assert not any(rec.fields["Channel"].startswith("PJSIP/1003-")
                   for rec in stack.ami.state.channels.values())
    call = await stored_call(stack, live.linkedid)
    assert call["extension"] == "1001"
    store = stack.daemon.store
    assert store is not None
    assert [r["call_id"] for r in await store.query("SELECT call_id FROM calls")] == [
        live.linkedid]
    assert seen == {live.linkedid}  # no pop, no board row for the spy legs
    assert await audit_rows(stack, "call_spy") == [
        ("agent1", "call_spy_listen", "forbidden"), ("boss", "call_spy", "bad_mode"),
        ("root", "call_spy_listen", "no_extension"),
        ("boss", "call_spy_listen", "sent"), ("boss", "call_spy_whisper", "sent"),
        ("boss", "call_spy_barge", "sent")]
