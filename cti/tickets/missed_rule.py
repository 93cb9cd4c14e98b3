"""Optional rule (``tickets.auto_missed``): every unanswered inbound call opens a ticket with a
"to call back" callback, so a missed client is somebody's task instead of a line in a log.

Zammad and Freshdesk users ask for exactly this worklist. The ticket is given to the person
sitting at the first extension that rang (they had the chance to answer; a queue's first
member), else left unassigned for whoever takes it; the callback is due at once, for the same
person, with the caller's number so one click calls back. Withheld numbers still get a ticket
(someone may recognise the time) but no callback: there is nothing to dial.

It runs off the bus like the other services: the bus calls subscribers synchronously, so the
work (reading the linked clients, writing the ticket) is a task; :meth:`flush` waits for it.
A failure is logged and counted, never raised into the bus. The client lookup runs in parallel
(:mod:`cti.clients.linker`) and may answer after the hangup on a short call: a later
``ClientMatched`` fills in the client of a rule's ticket that has none. The tasks run one at a
time, in event order (a FIFO lock), so that answer never overtakes the ticket it completes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from cti.bus import Bus
from cti.calls.model import CallEnded, CallRecord, ClientMatched, DomainEvent
from cti.store.sqlite import Store
from cti.tickets.service import TicketService

log = logging.getLogger(__name__)

UNANSWERED: frozenset[str] = frozenset({"missed", "abandoned", "busy", "no_answer"})
WITHHELD: frozenset[str] = frozenset({"", "anonymous", "unknown", "restricted", "<unknown>"})


class Callbacks(Protocol):
    async def create(self, actor: str, *, kind: str, due_at: float | str,
                     ticket_id: int | None = None, client_id: int | None = None,
                     number: str = "", assignee: str | None = None,
                     group_id: int | None = None, note: str = "",
                     email: bool = False) -> Any: ...


class MissedCallTickets:
    """Subscribes to ``bus`` at construction; ``close()`` unsubscribes."""

    def __init__(self, bus: Bus, store: Store, tickets: TicketService,
                 callbacks: Callable[[], Callbacks | None] = lambda: None) -> None:
        self.store = store
        self.tickets = tickets
        self.callbacks = callbacks  # looked up when needed: built after this rule
        self.created = 0
        self.errors = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self.on_event)

    def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            record = event.record
            if record.direction == "inbound" and record.status in UNANSWERED:
                self._spawn(self.open_ticket(record), event)
        elif isinstance(event, ClientMatched) and event.client_ids:
            self._spawn(self._late_client(event), event)

    def _spawn(self, work: Coroutine[Any, Any, Any], event: DomainEvent) -> None:
        async def run() -> None:
            async with self._lock:
                try:
                    await work
                except Exception:
                    self.errors += 1
                    log.exception("missed call %s/%s: could not file its ticket", event.pbx,
                                  event.call_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _late_client(self, event: ClientMatched) -> None:
        for ticket in await self.tickets.for_call(event.pbx, event.call_id):
            if ticket.created_by == "system" and ticket.client_id is None:
                await self.tickets.update(ticket.id, "system",
                                          {"client_id": event.client_ids[0]})

    async def open_ticket(self, record: CallRecord) -> int | None:
        key = (record.pbx, record.call_id)
        if await self.tickets.for_call(*key):
            return None  # replayed or already filed by someone
        number = record.caller.number.strip()
        withheld = number.lower() in WITHHELD
        clients = await self.store.query(
            "SELECT client_id FROM call_clients WHERE pbx = ? AND call_id = ? ORDER BY at",
            key)
        assignee = await self._first_agent(record.extensions_rung)
        who = record.caller.name or ("?" if withheld else number)
        ticket = await self.tickets.create("system", {
            "subject": f"Missed call from {who}"[:200],
            "reason": f"{record.status} call" + (f" (queue {record.queue})"
                                                 if record.queue else ""),
            "kind": "hotline", "contact": record.caller.name[:200],
            "client_id": clients[0]["client_id"] if clients else None,
        }, assignee=assignee, calls=[key])
        self.created += 1
        callbacks = self.callbacks()
        if callbacks is not None and not withheld:
            await callbacks.create("system", kind="to_call_back", due_at=record.ended_at,
                                   ticket_id=ticket.id,
                                   client_id=clients[0]["client_id"] if clients else None,
                                   number=number, assignee=assignee)
        return ticket.id

    async def _first_agent(self, extensions: tuple[str, ...]) -> str | None:
        for ext in extensions:
            row = await self.store.query_one(
                "SELECT u.username FROM user_extensions ue JOIN users u ON u.id = ue.user_id "
                "WHERE ue.extension = ? AND u.active = 1 ORDER BY u.id LIMIT 1", (ext,))
            if row is not None:
                return str(row["username"])
        return None

    async def flush(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
