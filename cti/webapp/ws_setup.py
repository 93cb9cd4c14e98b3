"""Wiring of the screen-pop hub into the app: ``/ws``, the pop's open tickets, start and stop.

Apart from :mod:`cti.webapp.ws` (the hub itself) so the hub does not depend on the ticket
service: the pop's ticket list is a function handed to its :class:`~cti.webapp.pop.PopBuilder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from cti.tickets.model import Ticket
from cti.webapp.keys import ACTIONS, CLIENTS, HUB, LIVE, STORE, TICKETS, USERS
from cti.webapp.pop import PopBuilder
from cti.webapp.ws import PopHub


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    return {"id": ticket.id, "number": ticket.number, "subject": ticket.subject,
            "status": ticket.status, "priority": ticket.priority,
            "url": f"/tickets/{ticket.id}"}


def setup(app: web.Application) -> PopHub:
    """The hub over ``app[LIVE]``, serving ``/ws``, started and stopped with the app."""
    users = app[USERS]
    tickets = app[TICKETS]

    async def open_tickets(client_ids: Sequence[int]) -> list[dict[str, Any]]:
        found = await tickets.open_for_clients(client_ids)
        return [ticket_summary(t) for t in found if t.public]

    hub = PopHub(app[LIVE], PopBuilder(app[CLIENTS], app[STORE], users,
                                       open_tickets=open_tickets,
                                       dialled=app[ACTIONS].dialled_number), users)
    app[HUB] = hub
    app.router.add_get("/ws", hub.handle, name="ws")

    async def on_startup(app: web.Application) -> None:
        hub.start(app.router)

    async def on_shutdown(app: web.Application) -> None:
        await hub.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return hub
