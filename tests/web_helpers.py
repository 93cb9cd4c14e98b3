"""Shared by the web tests: a store with known users, the app served on real loopback HTTP
(aiohttp's TestServer listens on 127.0.0.1), and logging in the way a browser does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cti.config import Config, load_config
from cti.live import LiveCalls
from cti.store.sqlite import Store
from cti.users import User, UserService
from cti.webapp.app import create_app
from cti.webapp.keys import StatusFn
from cti.webapp.ratelimit import LoginLimiter

#: username → (password, role, extensions)
PEOPLE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "agent1": ("agent1-secret", "agent", ("1001",)),
    "agent2": ("agent2-secret", "agent", ("1002", "1003")),
    "boss": ("boss-secret!", "supervisor", ()),
    "root": ("root-secret!", "admin", ()),
}


def web_config(**values: Any) -> Config:
    return load_config(env={}, overrides=values)


async def seed_users(users: UserService) -> dict[str, User]:
    out = {}
    for name, (password, role, exts) in PEOPLE.items():
        out[name] = await users.create(name, password, role, exts, display_name=name.title())
    return out


@asynccontextmanager
async def serve_app(store: Store, *, users: UserService | None = None,
                    limiter: LoginLimiter | None = None, config: Config | None = None,
                    status: StatusFn | None = None,
                    setup: Callable[[web.Application], None] | None = None,
                    live: LiveCalls | None = None, **app_options: Any,
                    ) -> AsyncIterator[TestClient[Any, Any]]:
    """``app_options`` go to ``create_app`` as they are (``actions``, ``pbx_states``…)."""
    app = create_app(config or web_config(), store, users=users, limiter=limiter,
                     status=status, live=live, **app_options)
    if setup is not None:
        setup(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def app_of(client: TestClient[Any, Any]) -> web.Application:
    app = client.server.app
    assert app is not None
    return app


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name} in the page"
    return found.group(1)


def meta_csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert found, "no csrf meta tag in the page"
    return found.group(1)


async def login(client: TestClient[Any, Any], username: str, password: str | None = None,
                ) -> str:
    """Log in through the form (login-CSRF cookie included); returns the session's CSRF token."""
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    token = hidden(await page.text(), "csrf_token")
    resp = await client.post("/login", allow_redirects=False, data={
        "username": username, "password": password or PEOPLE[username][0],
        "csrf_token": token, "next": "/"})
    assert resp.status == 303, await resp.text()
    home = await client.get("/")
    assert home.status == 200
    return meta_csrf(await home.text())


async def open_store(path: Path) -> Store:
    return await Store.open(path / "cti.db")


async def browser_session(base_url: str, username: str, password: str | None = None,
                          ) -> tuple[aiohttp.ClientSession, str]:
    """A browser of its own (cookie jar) logged in as ``username`` on ``base_url``; returns it
    and the session's CSRF token. The caller closes it (``async with``)."""
    http = aiohttp.ClientSession(base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await http.get("/login")
    token = hidden(await page.text(), "csrf_token")
    resp = await http.post("/login", allow_redirects=False, data={
        "username": username, "password": password or PEOPLE[username][0],
        "csrf_token": token})
    assert resp.status == 303, await resp.text()
    return http, meta_csrf(await (await http.get("/")).text())
