"""The supervisors' live board in a real headless Chromium, against the whole product on
loopback (simulator → daemon → web app): a ringing call shows with the agent's line turning
"ringing", an answered call with the client's name and the line "in call", an overlong call is
highlighted live with an alert, a missed call lands in today's list and its callback button
makes the PBX receive an Originate for the supervisor's own phone. A screenshot is kept in
``tests/artifacts/board.png``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.sim.scenarios import Agent, CallSpec
from cti.users import UserService
from tests.browser import ARTIFACTS, Stack, chromium_page, log_in, product, require_browser

require_browser()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with product(tmp_path, **{"overlong.seconds": 1.5}) as stack:
        assert stack.daemon.store is not None and stack.daemon.clients is not None
        users = UserService(stack.daemon.store)
        await users.create("agent1", "agent1-secret", "agent", ["1001"],
                           display_name="Alice Martin")
        await users.create("boss", "boss-secret!", "supervisor", ["1002"],
                           display_name="Sophie Chef")
        await stack.daemon.clients.create({"name": "Marie Dupont", "type": "vip",
                                           "phones": ["+33612345678"]})
        yield stack


async def test_live_board_follows_calls_lines_overlong_and_missed_callbacks(
        stack: Stack) -> None:
    async with chromium_page(locale="fr-FR", viewport={"width": 1280, "height": 900}) as (
            page, errors):
        await log_in(page, stack.web.url, "boss", "boss-secret!")
        await page.goto(stack.web.url + "/board")
        await page.locator('.ws-state[data-state="open"]').wait_for(timeout=5000)
        line = page.locator('.line[data-extension="1001"]')
        await line.wait_for(timeout=3000)
        assert await line.get_attribute("data-state") == "idle"
        assert "Aucun appel en cours." in await page.locator(".board-calls-empty").inner_text()

        # A call nobody answers: on the board while it rings, then in today's missed calls.
        stack.generator.play(CallSpec("inbound_missed", Agent("1001", "Alice Martin"),
                                      caller="0698765432", caller_name="", did="0155512345",
                                      ring=2.0))
        row = page.locator(".board-calls-body tr")
        await row.first.wait_for(timeout=2000)
        assert await row.first.get_attribute("data-state") == "ringing"
        await page.locator('.line[data-extension="1001"][data-state="ringing"]').wait_for(
            timeout=2000)
        missed = page.locator(".board-missed-body tr")
        await missed.first.wait_for(timeout=8000)
        assert "06 98 76 54 32" in await missed.first.inner_text()
        await page.locator('.line[data-extension="1001"][data-state="idle"]').wait_for(
            timeout=2000)

        # An answered call from a client that goes on too long.
        stack.generator.play(CallSpec("inbound_answered", Agent("1001", "Alice Martin"),
                                      caller="0612345678", caller_name="", did="0155512345",
                                      ring=1.0, talk=5.0))
        talking = page.locator(".board-calls-body tr").filter(has_text="Marie Dupont")
        await talking.wait_for(timeout=3000)
        await page.locator('.board-calls-body tr[data-state="up"]').wait_for(timeout=5000)
        await page.locator('.line[data-extension="1001"][data-state="in_call"]').wait_for(
            timeout=2000)
        timer = talking.locator(".timer")
        first = await timer.inner_text()
        await page.wait_for_function(
            "t => document.querySelector('.board-calls-body .timer').textContent !== t",
            arg=first, timeout=3000)
        assert re.fullmatch(r"\d+:\d\d", await timer.inner_text())
        # The supervisor pauses the recording of the running call (compliance).
        toggle = talking.locator("button.rec-toggle")
        await toggle.wait_for(timeout=3000)
        await toggle.click()
        await talking.locator("button.rec-toggle", has_text="Reprendre").wait_for(timeout=3000)
        control = stack.daemon.recording_control
        assert control is not None
        assert [control.state(*key) for key in control.calls] == ["paused"]
        await page.locator(".board-calls-body tr.overlong").wait_for(timeout=5000)
        alert = page.locator(".board-alerts .overlong-alert")
        await alert.wait_for(timeout=2000)
        assert "Appel trop long" in await alert.inner_text()
        assert "1001" in await alert.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)

        # One click calls the missed caller back from the supervisor's own phone.
        await missed.first.locator("button.callback").click()
        for _ in range(100):
            if stack.originates:
                break
            await asyncio.sleep(0.05)
        assert stack.originates, "no Originate reached the PBX"
        sent = stack.originates[0]
        assert sent["Channel"] == "PJSIP/1002"
        assert re.sub(r"\D", "", sent["Exten"]).endswith("698765432"), sent
        assert errors == []
