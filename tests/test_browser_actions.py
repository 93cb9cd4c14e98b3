"""The action center in a real headless Chromium, against the whole product on loopback
(simulator → daemon with its reminder scheduler → web app): a callback due in 2 s is listed on
/actions, its reminder pops up as a toast on time (the row turns overdue, the nav badge counts
it), and the toast's call button makes the PBX receive an Originate for the agent's own phone,
counted as an attempt on the callback. A screenshot is kept in ``tests/artifacts/``."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.users import UserService
from tests.browser import ARTIFACTS, Stack, chromium_page, log_in, product, require_browser

require_browser()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with product(tmp_path) as stack:
        assert stack.daemon.store is not None
        await UserService(stack.daemon.store).create("agent1", "agent1-secret", "agent",
                                                     ["1001"], display_name="Alice Martin")
        yield stack


def attempts(db: Path, callback_id: int) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT attempts FROM callbacks WHERE id = ?",
                                (callback_id,)).fetchone()[0])


async def test_a_due_callback_pops_a_reminder_whose_button_calls_the_client(
        stack: Stack) -> None:
    assert stack.daemon.callbacks is not None
    async with chromium_page(locale="fr-FR", viewport={"width": 1200, "height": 900}) as (
            page, errors):
        await log_in(page, stack.web.url, "agent1", "agent1-secret")
        cb = await stack.daemon.callbacks.create(
            "agent1", kind="to_call_back", due_at=time.time() + 2, number="06 12 34 56 78",
            note="Rappeler pour le devis")
        await page.goto(stack.web.url + "/actions")
        item = page.locator(f'li.callback[data-callback-id="{cb.id}"]')
        await item.wait_for(timeout=2000)
        assert "06 12 34 56 78" in await item.inner_text()
        assert "overdue" not in (await item.get_attribute("class") or "")
        await page.locator('body[data-ws-state="open"]').wait_for(timeout=3000)

        # On time, the reminder: a toast with a call button, the row overdue, the badge.
        toast = page.locator(f'.toast.reminder[data-callback-id="{cb.id}"]')
        await toast.wait_for(timeout=5000)
        assert "Rappel à faire" in await toast.inner_text()
        assert "06 12 34 56 78" in await toast.inner_text()
        await page.locator(f'li.callback.overdue[data-callback-id="{cb.id}"]').wait_for(
            timeout=2000)
        badge = page.locator('.nav-badge[data-count="callbacks_due"]')
        await page.wait_for_function(
            "() => document.querySelector('.nav-badge[data-count=\"callbacks_due\"]')"
            ".textContent === '1'", timeout=3000)
        assert await badge.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "actions.png"), full_page=True)

        await toast.locator("button.toast-call").click()
        for _ in range(100):
            if stack.originates:
                break
            await asyncio.sleep(0.05)
        assert stack.originates, "no Originate reached the PBX"
        sent = stack.originates[0]
        assert sent["Channel"] == "PJSIP/1001"
        assert re.sub(r"\D", "", sent["Exten"]).endswith("612345678"), sent
        for _ in range(60):
            if attempts(stack.db, cb.id) == 1:
                break
            await asyncio.sleep(0.05)
        assert attempts(stack.db, cb.id) == 1
        assert errors == []
