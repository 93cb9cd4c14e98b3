"""Click-to-dial end to end: ``POST /api/dial`` over real HTTP, the daemon's AMI client, the
simulator's AMI server on real TCP. A valid number becomes one ``Originate`` to the agent's own
phone with the number, the caller id and ``Async: true``, and its progress is followed from the
PBX's own reports; every refusal (injection, letters, blocked prefix, rate limit, no extension,
no CSRF token) sends nothing to the PBX — counted at the simulator — and every attempt is
audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cti.pbx.dialing import DialRefused, DialRules, blocked_by, caller_id, clean_number
from cti.users import UserService
from tests.pbx_helpers import Stack, pbx_stack, until
from tests.web_helpers import login, open_store, seed_users, serve_app

DEFAULT_BLOCKED = ("089", "+3389", "0900", "+3290", "+40900", "+40903", "+40906")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with pbx_stack(tmp_path, **{"dial.max_per_minute": 1000}) as s:
        yield s


async def dial(stack: Stack, csrf: str, number: Any, **extra: Any) -> Any:
    return await stack.client.post("/api/dial", json={"number": number, **extra},
                                   headers={"X-CSRF-Token": csrf})


async def audit(stack: Stack) -> list[dict[str, Any]]:
    assert stack.daemon.actions is not None
    await stack.daemon.actions.flush()
    return await stack.daemon.actions.audit.recent()


async def test_a_valid_number_rings_the_agents_phone_then_calls_it(stack: Stack) -> None:
    assert stack.daemon.clients is not None
    await stack.daemon.clients.create({"name": "Marie \"Mimi\" Dupont",
                                       "phones": ["+33612345678"]})
    csrf = await login(stack.client, "agent1")
    resp = await dial(stack, csrf, "06 12 34 56 78")
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    request_id = body["id"]
    assert resp.headers["Location"] == f"/api/dial/{request_id}"
    assert stack.server.actions["Originate"] == 1
    sent = stack.originate_headers()
    assert sent["Channel"] == "PJSIP/1001"
    assert sent["Exten"] == "0612345678"
    assert sent["Context"] == "from-internal"
    assert sent["CallerID"] == '"Marie Mimi Dupont" <0612345678>'  # the client's name shows
    assert sent["Async"] == "true"
    assert sent["Timeout"] == "30000"
    assert sent["Variable"] == f"CTI_REQUEST={request_id}"
    assert sent["ActionID"] == f"cti-dial-{request_id}"

    # progress, from what the PBX reports: the phone rings, the agent answers, the far end
    # answers, the call ends (the simulator answers every click-to-dial)
    state: dict[str, Any] = {}

    async def poll() -> None:
        state.update(await (await stack.client.get(f"/api/dial/{request_id}")).json())

    async with asyncio.timeout(30):
        while state.get("state") not in ("ended", "failed"):
            await poll()
            await asyncio.sleep(0.05)
    assert [h["state"] for h in state["history"]] == [
        "ringing", "dialling", "connected", "ended"]
    assert state["call_status"] == "answered" and state["call_id"]
    rows = await audit(stack)
    assert [(r["username"], r["action"], r["target"], r["extension"], r["result"],
             r["outcome"], r["request_id"]) for r in rows] == [
        ("agent1", "dial", "0612345678", "1001", "queued", "answered", request_id)]
    # the call is in agent1's call log, dialled from 1001
    assert stack.daemon.store is not None
    await stack.daemon.store.flush()
    calls = (await (await stack.client.get("/api/calls")).json())["calls"]
    assert [(c["call_id"], c["direction"], c["callee"]["number"]) for c in calls] == [
        (state["call_id"], "outbound", "0612345678")]
    # someone else may not follow another's request
    await login(stack.client, "agent2")
    assert (await stack.client.get(f"/api/dial/{request_id}")).status == 404


async def test_an_agent_may_pick_one_of_their_own_extensions_only(stack: Stack) -> None:
    csrf = await login(stack.client, "agent2")  # 1002 and 1003
    ok = await dial(stack, csrf, "+33 1 47 20 00 00", extension="1003")
    assert ok.status == 202
    assert stack.originate_headers()["Channel"] == "PJSIP/1003"
    assert stack.originate_headers()["Exten"] == "+33147200000"
    refused = await dial(stack, csrf, "0147200000", extension="1001")
    assert refused.status == 403 and (await refused.json())["error"] == "not_your_extension"
    assert stack.server.actions["Originate"] == 1


BAD_NUMBERS: list[Any] = [
    "0612345678\r\nAction: Originate", "0612\n345678", "06123abc", "1001&PJSIP/666",
    "0612,345678", "0612@trunk", "0612/9", "s", "hangup", "+", "1", "+33 6 12 34 56 78 x",
    "123456789012345678901", "", "   ", "06\x0012", "0612;34", "++33612345678", "06+12",
    612345678, None, ["0612345678"],
]


async def test_injection_and_non_numbers_are_refused_and_nothing_is_sent(
        stack: Stack) -> None:
    csrf = await login(stack.client, "agent1")
    for number in BAD_NUMBERS:
        resp = await dial(stack, csrf, number)
        assert resp.status == 400, number
        assert (await resp.json())["error"] == "invalid_number", number
    assert stack.server.actions["Originate"] == 0  # not one action reached the PBX
    rows = await audit(stack)
    assert len(rows) == len(BAD_NUMBERS)
    assert {r["result"] for r in rows} == {"invalid_number"}
    shown = {r["target"] for r in rows}
    assert "0612345678\\r\\nAction: Originate" in shown  # visible, never a line break
    # a body that is not JSON, and a POST without the CSRF token, send nothing either
    raw = await stack.client.post("/api/dial", data="number=0612345678",
                                  headers={"X-CSRF-Token": csrf})
    assert raw.status == 400
    no_token = await stack.client.post("/api/dial", json={"number": "0612345678"})
    assert no_token.status == 403 and (await no_token.json())["error"] == "csrf"
    assert stack.server.actions["Originate"] == 0


async def test_premium_numbers_are_blocked_in_every_spelling(stack: Stack) -> None:
    csrf = await login(stack.client, "agent1")
    for number in ("0899 12 34 56", "+33 8 99 12 34 56", "0033899123456", "0900123456",
                   "+32 903 12 345"):
        resp = await dial(stack, csrf, number)
        assert resp.status == 403, number
        assert (await resp.json())["error"] == "blocked", number
    assert stack.server.actions["Originate"] == 0
    assert {r["result"] for r in await audit(stack)} == {"blocked"}
    # supervisors read the audit log over the API; agents may not
    assert (await stack.client.get("/api/audit")).status == 403
    await login(stack.client, "boss")
    entries = (await (await stack.client.get("/api/audit", params={"user": "agent1"})).json()
               )["entries"]
    assert [(e["target"], e["result"]) for e in entries][-1] == ("0899 12 34 56", "blocked")
    assert len(entries) == 5 and {e["username"] for e in entries} == {"agent1"}


async def test_a_user_without_extension_gets_a_clear_409(stack: Stack) -> None:
    csrf = await login(stack.client, "boss")  # a supervisor with no phone
    resp = await dial(stack, csrf, "0612345678")
    assert resp.status == 409
    data = await resp.json()
    assert data["error"] == "no_extension" and "extension" in data["message"]
    assert stack.server.actions["Originate"] == 0
    assert [r["result"] for r in await audit(stack)] == ["no_extension"]


async def test_an_unknown_phone_fails_and_says_so(stack: Stack) -> None:
    await stack.users.create("ghost", "ghost-secret", "agent", ["1999"])
    csrf = await login(stack.client, "ghost", "ghost-secret")
    resp = await dial(stack, csrf, "0612345678")
    assert resp.status == 202  # Asterisk queues it, then reports the failure
    request_id = (await resp.json())["id"]
    assert stack.originate_headers()["Channel"] == "PJSIP/1999"
    assert stack.daemon.actions is not None
    found = stack.daemon.actions.get(request_id)
    assert found is not None
    await until(lambda: found.state == "failed")
    status = await (await stack.client.get(f"/api/dial/{request_id}")).json()
    assert (status["state"], status["reason"]) == ("failed", "failed")
    assert [(r["result"], r["outcome"]) for r in await audit(stack)] == [("queued", "failed")]


async def test_rate_limit_per_user(tmp_path: Path) -> None:
    async with pbx_stack(tmp_path, **{"dial.max_per_minute": 3}) as stack:
        csrf = await login(stack.client, "agent1")
        for _ in range(3):  # refused attempts count too: they are what a flood looks like
            assert (await dial(stack, csrf, "not a number")).status == 400
        limited = await dial(stack, csrf, "0612345678")
        assert limited.status == 429
        assert (await limited.json())["error"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert stack.server.actions["Originate"] == 0
        csrf = await login(stack.client, "agent2")  # another user has their own allowance
        assert (await dial(stack, csrf, "0612345678")).status == 202
        assert stack.server.actions["Originate"] == 1
        results = [r["result"] for r in await audit(stack)]
        assert results.count("rate_limited") == 1 and results.count("queued") == 1


async def test_without_a_pbx_link_dial_answers_503(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    users = UserService(store)
    await seed_users(users)
    try:
        async with serve_app(store, users=users) as client:
            csrf = await login(client, "agent1")
            resp = await client.post("/api/dial", json={"number": "0612345678"},
                                     headers={"X-CSRF-Token": csrf})
            assert resp.status == 503 and (await resp.json())["error"] == "pbx_unavailable"
    finally:
        await store.close()


# --------------------------------------------------------------------------- the rules alone
def test_number_rules() -> None:
    assert clean_number(" 06.12-34 (56) 78 ") == "0612345678"
    assert clean_number("+33612345678") == "+33612345678"
    assert clean_number("*97#") == "*97#"
    for bad in ("06\r12", "0612\t34", "+", "12a", "1", "1001&PJSIP/666"):
        with pytest.raises(DialRefused):
            clean_number(bad)
    rules = DialRules(blocked_prefixes=DEFAULT_BLOCKED)
    assert blocked_by("0899123456", rules) == "089"
    assert blocked_by("+33899123456", rules) in ("089", "+3389")
    assert blocked_by("0612345678", rules) is None
    assert blocked_by("+40906123456", rules) == "+40906"
    assert blocked_by("+40212345678", rules) is None  # Bucharest landline, not premium
    assert caller_id('Ann "<x>"\r\n', "0612") == '"Ann x" <0612>'
    assert caller_id(None, "0612") == '"0612" <0612>'
    with pytest.raises(ValueError):
        DialRules(blocked_prefixes=("08a",))
    with pytest.raises(ValueError):
        DialRules(context="from internal\r\n")
