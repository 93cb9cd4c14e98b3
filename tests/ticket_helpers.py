"""Shared by the ticket web tests: a real SQLite file with the usual people, two groups, two
clients and one recorded call; the app served on loopback with attachments in a temporary
folder and a small size limit (50 KB) so "too big" is cheap to send."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from cti.calls.model import CallRecord, Party
from cti.clients.model import Client
from cti.store.sqlite import Store
from cti.tickets.groups import Group
from cti.tickets.service import TicketService
from cti.users import UserService
from cti.webapp.keys import CLIENTS, GROUPS, TICKETS
from tests.web_helpers import app_of, open_store, seed_users, serve_app, web_config

PARIS = ZoneInfo("Europe/Paris")
#: Monday 23 November 2026, 10:00 in Paris.
T = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS).timestamp()
EN = {"Accept-Language": "en"}
LIMIT_MB = 0.05  # 52 428 bytes


@dataclass
class World:
    client: TestClient[Any, Any]
    store: Store
    attachments: Path
    marie: Client
    paul: Client
    hotline: Group  # agent1
    sales: Group  # agent2

    @property
    def tickets(self) -> TicketService:
        return app_of(self.client)[TICKETS]


def answered_call(call_id: str, *, extension: str = "1001") -> CallRecord:
    return CallRecord(
        pbx="main", call_id=call_id, direction="inbound", status="answered", answered=True,
        caller=Party("+33612345678", "Marie Dupont"), callee=Party("0155512345"),
        extension=extension, extensions_rung=(extension,), queue=None, started_at=T,
        answered_at=T + 5, ended_at=T + 80, hangup_cause="16")


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await open_store(tmp_path)
    users = UserService(store)
    await seed_users(users)
    folder = tmp_path / "attachments"
    config = web_config(**{"tickets.attachments_dir": str(folder),
                           "tickets.max_attachment_mb": LIMIT_MB})
    try:
        async with serve_app(store, users=users, config=config) as client:
            app = app_of(client)
            marie = await app[CLIENTS].create({"name": "Marie Dupont", "type": "client",
                                               "phones": ["06 12 34 56 78"],
                                               "emails": ["marie@example.fr"]})
            paul = await app[CLIENTS].create({"name": "Paul Martin", "type": "supplier",
                                              "phones": ["01 40 00 00 00"]})
            hotline = await app[GROUPS].create("Hotline", ["agent1"])
            sales = await app[GROUPS].create("Sales", ["agent2"], "sales@example.fr")
            await store.save_call(answered_call("c1"))
            await app[CLIENTS].link_call("main", "c1", {marie.id: "e164"},
                                         number="+33612345678", at=T)
            yield World(client, store, folder, marie, paul, hotline, sales)
    finally:
        await store.close()


async def text_of(client: TestClient[Any, Any], path: str, status: int = 200,
                  **kwargs: Any) -> str:
    resp = await client.get(path, headers=kwargs.pop("headers", EN), **kwargs)
    body = await resp.text()
    assert resp.status == status, (path, resp.status, body[:2000])
    return body


def ticket_id_of(location: str) -> int:
    found = re.match(r"^/tickets/(\d+)", location)
    assert found, location
    return int(found.group(1))
