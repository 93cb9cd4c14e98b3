"""Shared by the browser tests: the whole product on loopback (the simulator's AMI server, the
daemon, the web app) and a system Chromium driven by Playwright.

Playwright never downloads a browser here: it drives the system's ``/usr/bin/chromium``
(``make test`` and ``.ci/run`` install it, see ``scripts/system-deps.sh``). Under CI a missing
browser is an error, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cti.config import load_config
from cti.daemon import Daemon
from cti.sim.actions import attach
from cti.sim.ami_queue import install as install_recording_actions
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import AmiRequest, AmiSession
from cti.sim.generator import CallGenerator
from cti.sim.traffic import SimConfig
from cti.users import UserService
from cti.webapp.server import WebServer, start_for_daemon

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--autoplay-policy=no-user-gesture-required",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - the dev extras install it
    async_playwright = None  # type: ignore[assignment]


def require_browser() -> None:
    """Skip the calling module when there is no browser, except under CI where it fails."""
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


@asynccontextmanager
async def product(tmp_path: Path, **settings: Any) -> AsyncIterator[Stack]:
    """Simulator (no random traffic: only the calls the test plays) + daemon + web UI, with
    every Originate the PBX receives kept in ``originates``. ``settings`` override the
    daemon's configuration (dotted names)."""
    ami = AmiServer("127.0.0.1", 0, "cti", "cti-secret", timestamp_events=True,
                    auth_fail_delay=0.01)
    generator = attach(ami, SimConfig(calls_per_minute=0, recordings_dir=None, speech=False))
    install_recording_actions(ami, {})  # MixMonitor, StopMixMonitor, MixMonitorMute…
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
        "pbx.ami_backoff_min": 0.05, "pbx.ami_backoff_max": 0.2, **settings})
    daemon = Daemon(config)
    await daemon.start()
    await ami.wait_for_login(1)
    web = await start_for_daemon(daemon)
    try:
        yield Stack(ami, generator, daemon, web, db, originates)
    finally:
        await web.close()
        await daemon.close()
        await generator.close()
        await ami.close()


async def seed_alice_and_marie(stack: Stack) -> None:
    """The usual cast: agent1 (Alice Martin, password agent1-secret) at 1001, and the client
    Marie Dupont at +33 6 12 34 56 78."""
    daemon = stack.daemon
    assert daemon.store is not None and daemon.clients is not None
    await UserService(daemon.store).create("agent1", "agent1-secret", "agent", ["1001"],
                                           display_name="Alice Martin")
    await daemon.clients.create({"name": "Marie Dupont", "type": "vip",
                                 "phones": ["+33612345678"], "tags": ["Fidèle"]})


async def log_in(page: Page, base: str, username: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")


@asynccontextmanager
async def chromium_page(**options: Any) -> AsyncIterator[tuple[Page, list[str]]]:
    """A fresh page and the list its script errors and console errors are collected in."""
    assert async_playwright is not None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                           headless=True)
        try:
            page = await browser.new_page(**options)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text)
                    if msg.type == "error" else None)
            yield page, errors
        finally:
            await browser.close()
