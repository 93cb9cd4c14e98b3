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
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cti.config import load_config
from cti.daemon import Daemon
from cti.sim.actions import attach
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import AmiRequest, AmiSession
from cti.sim.generator import CallGenerator
from cti.sim.scenarios import Agent, CallSpec
from cti.sim.traffic import SimConfig
from cti.users import UserService
from cti.webapp.server import WebServer, start_for_daemon

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - the dev extras install it
    async_playwright = None  # type: ignore[assignment]

if async_playwright is None or not CHROMIUM.exists():
    why = ("needs Playwright (pip install -e '.[dev]') and /usr/bin/chromium "
           "(scripts/system-deps.sh)")
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser test {why}")  # CI must run it, never skip it
    pytest.skip(why, allow_module_level=True)


@dataclass
class Stack:
    ami: AmiServer
    generator: CallGenerator
    daemon: Daemon
    web: WebServer
    db: Path
    originates: list[dict[str, str]]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """Simulator (no random traffic: only the calls the test plays) + daemon + web UI."""
    ami = AmiServer("127.0.0.1", 0, "cti", "cti-secret", timestamp_events=True,
                    auth_fail_delay=0.01)
    generator = attach(ami, SimConfig(calls_per_minute=0, recordings_dir=None, speech=False))
    originates: list[dict[str, str]] = []
    real = ami.handler("Originate")
    assert real is not None

    def spy(session: AmiSession, req: AmiRequest) -> None:
        originates.append({k: v for k, v in req.headers})
        real(session, req)

    ami.register_action("Originate", spy)
    await ami.start()
    await generator.start()
    db = tmp_path / "cti.db"
    config = load_config(env={}, overrides={
        "db.path": str(db), "web.port": 0, "pbx.ami_port": ami.port,
        "pbx.ami_backoff_min": 0.05, "pbx.ami_backoff_max": 0.2})
    daemon = Daemon(config)
    await daemon.start()
    assert daemon.store is not None and daemon.clients is not None
    await ami.wait_for_login(1)
    await UserService(daemon.store).create("agent1", "agent1-secret", "agent", ["1001"],
                                           display_name="Alice Martin")
    await daemon.clients.create({"name": "Marie Dupont", "type": "vip",
                                 "phones": ["+33612345678"], "tags": ["Fidèle"]})
    web = await start_for_daemon(daemon)
    try:
        yield Stack(ami, generator, daemon, web, db, originates)
    finally:
        await web.close()
        await daemon.close()
        await generator.close()
        await ami.close()


async def log_in(page: Page, base: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#username", "agent1")
    await page.fill("#password", "agent1-secret")
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    await page.locator('.ws-state[data-state="open"]').wait_for(timeout=5000)


def wrapups(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT username, subject, reason, response, result, note "
                            "FROM call_wrapups").fetchall()


async def test_screen_pop_timer_wrapup_and_click_to_dial_in_chromium(stack: Stack) -> None:
    assert async_playwright is not None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                           headless=True)
        try:
            page = await browser.new_page(locale="fr-FR", viewport={"width": 1100,
                                                                    "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text)
                    if msg.type == "error" else None)
            await log_in(page, stack.web.url)

            # The trunk presents the number nationally, without a caller-id name: the name on
            # the pop can only come from the client card.
            stack.generator.play(CallSpec("inbound_answered", Agent("1001", "Alice Martin"),
                                          caller="0612345678", caller_name="",
                                          did="0155512345", ring=3.0, talk=4.0))
            pop = page.locator(".pop").filter(has_text="Marie Dupont")
            await pop.wait_for(timeout=1000)
            assert await pop.get_attribute("data-state") == "ringing"
            assert "06 12 34 56 78" in await pop.locator(".pop-number").inner_text()
            assert await pop.locator(".pop-state").inner_text() == "Sonne"

            # Answered: the timer counts the talk time, live.
            await page.locator('.pop[data-state="up"]').wait_for(timeout=10_000)
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
            assert errors == []
        finally:
            await browser.close()
