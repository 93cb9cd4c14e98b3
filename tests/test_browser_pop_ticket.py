"""P5's acceptance in a real headless Chromium, against the whole product on loopback: from a
screen pop, the wrap-up files a ticket with a callback in one minute; the callback is listed in
the action center; its reminder fires (the scheduler's clock is moved on a minute rather than
the test waiting for it) and the reminder's call button makes the simulator receive an
Originate for the agent's phone with the client's number."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

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


def one(db: Path, sql: str) -> tuple[object, ...]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return tuple(row)


async def test_a_ticket_with_a_callback_from_the_pop_reminds_and_dials(stack: Stack) -> None:
    async with chromium_page(locale="fr-FR", viewport={"width": 1200, "height": 1000}) as (
            page, errors):
        await log_in(page, stack.web.url, "agent1", "agent1-secret")
        await page.locator('body[data-ws-state="open"]').wait_for(timeout=5000)
        stack.generator.play(CallSpec("inbound_answered", Agent("1001", "Alice Martin"),
                                      caller="0612345678", caller_name="", did="0155512345",
                                      ring=1.0, talk=2.0))
        pop = page.locator(".pop").filter(has_text="Marie Dupont")
        await pop.wait_for(timeout=3000)
        await page.locator('.pop[data-state="ended"]').wait_for(timeout=10_000)
        form = pop.locator(".pop-wrapup")
        await form.wait_for(state="visible", timeout=2000)
        await form.locator('[name="subject"]').fill("Devis à relancer")
        await form.locator('[name="reason"]').fill("Demande de prix")
        await form.locator('[name="ticket_action"]').select_option("new")
        await form.locator('[name="ticket_priority"]').select_option("high")
        await form.locator('[name="callback_kind"]').select_option("to_call_back")
        # "In one minute", as the agent would type it: local time of the browser.
        in_a_minute = await page.evaluate(
            "() => { const d = new Date(Date.now() + 60000); const p = n => String(n)"
            ".padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-"
            "${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; }")
        await form.locator('[name="callback_at"]').fill(in_a_minute)
        asked_at = time.time()
        await form.locator(".pop-save").click()
        status = pop.locator(".pop-wrapup-status")
        try:
            await status.filter(has_text="Ticket T-").wait_for(timeout=3000)
        except Exception:
            raise AssertionError(await status.inner_text()) from None
        assert "Rappel prévu" in await status.inner_text()
        # The pop reads the client's tickets again: the new one is listed, and offered.
        await pop.locator(".pop-ticket-list a", has_text="T-").wait_for(timeout=3000)
        assert await form.locator('[name="ticket_action"] option').count() == 3
        await pop.screenshot(path=str(ARTIFACTS / "pop-ticket.png"))

        number, subject, priority, assignee, client = one(
            stack.db, "SELECT number, subject, priority, assignee, client_id FROM tickets")
        assert (subject, priority, assignee) == ("Devis à relancer", "high", "agent1")
        assert client is not None and str(number).startswith("T-")
        cb_id, due, cb_number, cb_ticket = one(
            stack.db, "SELECT id, due_at, number, ticket_id FROM callbacks")
        assert cb_number == "+33612345678" and cb_ticket is not None
        assert isinstance(due, float) and -60 <= due - (asked_at + 60) <= 1  # minute precision

        # The action center lists it, not due yet.
        await page.goto(stack.web.url + "/actions")
        item = page.locator(f'li.callback[data-callback-id="{cb_id}"]')
        await item.wait_for(timeout=3000)
        assert "06 12 34 56 78" in await item.inner_text()
        await page.locator('body[data-ws-state="open"]').wait_for(timeout=3000)

        # A minute later (the scheduler's clock moved on): the reminder, then one click dials.
        reminders = stack.daemon.reminders
        assert reminders is not None
        reminders.clock = lambda: time.time() + 61
        reminders.wake()
        toast = page.locator(f'.toast.reminder[data-callback-id="{cb_id}"]')
        await toast.wait_for(timeout=5000)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "actions-reminder.png"), full_page=True)
        await toast.locator("button.toast-call").click()
        for _ in range(100):
            if stack.originates:
                break
            await asyncio.sleep(0.05)
        assert stack.originates, "no Originate reached the PBX"
        sent = stack.originates[-1]
        assert sent["Channel"] == "PJSIP/1001"
        assert re.sub(r"\D", "", sent["Exten"]).endswith("612345678"), sent
        assert errors == []
