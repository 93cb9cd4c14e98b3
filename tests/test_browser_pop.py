"""The screen pop in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
the simulator rings 1001 from a known client's number and the agent logged in at 1001 sees the
client's name within a second; the timer runs once answered; after hangup the wrap-up form
saves; a click on the client's number in the pop makes the PBX receive an Originate for the
agent's phone. A screenshot of the pop is kept in ``tests/artifacts/``.

Everything runs for real on loopback: the simulator's AMI server, the daemon (AMI client →
tracker → bus → store, client linker, live calls), the web app, and the browser. Playwright
never downloads a browser here: it drives the system's ``/usr/bin/chromium`` (``make test`` and
``.ci/run`` install it, see ``scripts/system-deps.sh``).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cti.sim.scenarios import Agent, CallSpec
from tests.browser import (
    ARTIFACTS,
    Stack,
    chromium_page,
    log_in,
    product,
    require_browser,
    seed_alice_and_marie,
)

require_browser()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with product(tmp_path) as stack:
        await seed_alice_and_marie(stack)
        yield stack


def wrapups(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT username, subject, reason, response, result, note "
                            "FROM call_wrapups").fetchall()


async def test_screen_pop_timer_wrapup_and_click_to_dial_in_chromium(stack: Stack) -> None:
    async with chromium_page(locale="fr-FR", viewport={"width": 1100, "height": 900}) as (
            page, errors):
        await log_in(page, stack.web.url, "agent1", "agent1-secret")
        await page.locator('.ws-state[data-state="open"]').wait_for(timeout=5000)

        # The trunk presents the number nationally, without a caller-id name: the name on
        # the pop can only come from the client card.
        stack.generator.play(CallSpec("inbound_answered", Agent("1001", "Alice Martin"),
                                      caller="0612345678", caller_name="",
                                      did="0155512345", ring=3.0, talk=4.0))
        first_pop = page.locator(".pop").filter(has_text="Marie Dupont")
        await first_pop.wait_for(timeout=1000)
        # this call's pop, by its key: the click-to-dial below pops a second "Marie Dupont"
        pop = page.locator(f'.pop[data-key="{await first_pop.get_attribute("data-key")}"]')
        assert await pop.get_attribute("data-state") == "ringing"
        assert "06 12 34 56 78" in await pop.locator(".pop-number").inner_text()
        assert await pop.locator(".pop-state").inner_text() == "Sonne"

        # Answered: the timer counts the talk time, live.
        await page.locator('.pop[data-state="up"]').wait_for(timeout=10_000)
        # The call is recorded: the agent may pause the recording (a card number…).
        toggle = pop.locator(".pop-rec-toggle")
        await toggle.wait_for(state="visible", timeout=3000)
        await toggle.click()
        await pop.locator(".pop-dial-status", has_text="Enregistrement suspendu").wait_for(
            timeout=3000)
        assert await toggle.inner_text() == "Reprendre l'enregistrement"
        timer = pop.locator(".pop-timer")
        first = await timer.inner_text()
        await page.wait_for_function(
            "t => document.querySelector('.pop .pop-timer').textContent !== t", arg=first,
            timeout=3000)
        assert re.fullmatch(r"\d+:\d\d", await timer.inner_text())
        ARTIFACTS.mkdir(exist_ok=True)
        await pop.screenshot(path=str(ARTIFACTS / "pop.png"))
        await page.screenshot(path=str(ARTIFACTS / "home.png"))

        # Hung up: the wrap-up form opens and saves on the call.
        await page.locator('.pop[data-state="ended"]').wait_for(timeout=10_000)
        form = pop.locator(".pop-wrapup")
        await form.wait_for(state="visible", timeout=2000)
        await form.locator('[name="subject"]').fill("Facture")
        await form.locator('[name="reason"]').fill("Montant erroné")
        await form.locator('[name="response"]').fill("Avoir proposé")
        await form.locator('[name="result"]').fill("Résolu")
        await form.locator('[name="note"]').fill("Rappeler lundi")
        await form.locator(".pop-save").click()
        await pop.locator(".pop-wrapup-status", has_text="Enregistré").wait_for(
            timeout=3000)
        assert wrapups(stack.db) == [("agent1", "Facture", "Montant erroné",
                                      "Avoir proposé", "Résolu", "Rappeler lundi")]
        await pop.screenshot(path=str(ARTIFACTS / "pop-wrapup.png"))

        # Click-to-dial on the client's number shown in the pop.
        await pop.locator('.pop-client [data-dial="+33612345678"]').click()
        for _ in range(100):
            if stack.originates:
                break
            await asyncio.sleep(0.05)
        status = await pop.locator(".pop-dial-status").inner_text()
        assert stack.originates, f"no Originate reached the PBX; the pop says {status!r}"
        sent = stack.originates[0]
        assert sent["Channel"] == "PJSIP/1001"
        assert re.sub(r"\D", "", sent["Exten"]).endswith("612345678"), sent
        # The click-to-dial call pops on the agent's own ringing phone with the client it is
        # for, although Asterisk names the far end only once the agent has picked up.
        outgoing = page.locator('.pop[data-direction="outbound"]').filter(
            has_text="Marie Dupont")
        try:
            await outgoing.wait_for(timeout=5000)
        except Exception:
            texts = await page.locator(".pop").evaluate_all(
                "ps => ps.map(p => p.dataset.direction + ' ' + p.innerText.slice(0, 120))")
            raise AssertionError(texts) from None
        assert "06 12 34 56 78" in await outgoing.locator(".pop-number").inner_text()
        assert errors == []
