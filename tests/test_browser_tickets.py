"""The ticket pages in a real headless Chromium against the whole product: an agent files a
ticket through the form (the client picked from the suggestions, a canned phrase suggested in
the reason), works it with the workflow buttons (only allowed moves are offered), transfers it
to a group with a note, comments, and finds every step on the timeline. A screenshot is kept in
``tests/artifacts/ticket-page.png``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.users import UserService
from tests.browser import ARTIFACTS, Stack, chromium_page, log_in, product, require_browser

require_browser()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with product(tmp_path) as stack:
        daemon = stack.daemon
        assert daemon.store is not None and daemon.clients is not None
        assert daemon.groups is not None
        await UserService(daemon.store).create("agent1", "agent1-secret", "agent", ["1001"],
                                               display_name="Alice Martin")
        await daemon.clients.create({"name": "Garage Martin", "phones": ["+33147200000"]})
        await daemon.groups.create("Atelier", ["agent1"])
        await daemon.store.transaction(lambda tx: tx.execute(
            "INSERT INTO canned_phrases (field, text, uses, created_by, created_at) "
            "VALUES ('reason', 'Panne de connexion internet', 3, 'boss', 0)"))
        yield stack


async def test_file_work_transfer_and_comment_a_ticket_in_chromium(stack: Stack) -> None:
    base = stack.web.url
    async with chromium_page(locale="fr-FR", viewport={"width": 1200, "height": 1000}) as (
            page, errors):
        await log_in(page, base, "agent1", "agent1-secret")
        await page.goto(base + "/tickets/new")
        await page.fill('[name="subject"]', "Plus de connexion")
        client = page.locator('[name="client"]')
        await client.fill("Garage")
        await page.wait_for_function(
            "() => document.querySelectorAll('#client-choices option').length > 0",
            timeout=3000)
        choice = await page.locator("#client-choices option").first.get_attribute("value")
        assert choice is not None and choice.startswith("Garage Martin #")
        await client.fill(choice)
        await page.fill('[name="reason"]', "Panne")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#phrases-reason option')]"
            ".some(o => o.value === 'Panne de connexion internet')", timeout=3000)
        await page.fill('[name="reason"]', "Panne de connexion internet")
        await page.select_option('[name="priority"]', "high")
        await page.click('form button.primary[type="submit"]')
        await page.wait_for_url(lambda url: "/tickets/" in url and "/new" not in url,
                                timeout=5000)
        assert "Plus de connexion" in await page.locator("h1").inner_text()
        assert "Garage Martin" in await page.content()

        # Only the moves the workflow allows are offered; take it.
        moves = await page.locator("form.moves button[name='status']").evaluate_all(
            "bs => bs.map(b => b.value)")
        assert "closed" not in moves and "in_progress" in moves
        await page.click("form.moves button[value='in_progress']")
        await page.locator("form.moves button[value='waiting']").wait_for(timeout=3000)

        # Transfer to a group with a note, then an internal comment.
        await page.select_option('form[action$="/assign"] [name="group_id"]', label="Atelier")
        await page.fill('form[action$="/assign"] [name="note"]', "Pour l'atelier")
        await page.click('form[action$="/assign"] button[type="submit"]')
        await page.locator("#comment textarea").wait_for(timeout=3000)
        await page.fill("#comment textarea", "Client prévenu du délai")
        await page.click("#comment button[type='submit']")
        timeline = page.locator(".timeline")
        await timeline.filter(has_text="Client prévenu du délai").wait_for(timeout=3000)
        text = await timeline.inner_text()
        assert "Pour l'atelier" in text and "Atelier" in text
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "ticket-page.png"), full_page=True)
        assert errors == []
    assert stack.daemon.store is not None
    row = await stack.daemon.store.query_one(
        "SELECT status, priority, assignee, group_id FROM tickets")
    assert row is not None
    assert (row["status"], row["priority"], row["assignee"]) == ("in_progress", "high", "agent1")
    assert row["group_id"] is not None
