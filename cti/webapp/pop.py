"""What a screen pop shows: a live call plus what we know about the other party.

:class:`PopBuilder` does the I/O (client cards, the last calls, open tickets, the colleague
behind an extension) once per call, into an :class:`Enrichment`; :func:`call_payload` joins a
:class:`~cti.live.LiveCall` with it into the JSON the browser gets. Kept apart from the websocket
hub so the supervisors' live board can build the same cards.

Why it is built this way:

* **The pop never waits for the lookup.** The hub sends the pop as soon as the phone rings, with
  what the PBX said (number, caller-id name); the cards follow in an update. The lookup here
  runs its own ``match`` on the first ring (so "no client" is known for sure, even when
  auto-create is off and no ``ClientMatched`` will ever come) and again from the linked ids when
  ``ClientMatched`` arrives (it may have created the card).
* **Private cards stay private.** The enrichment holds every candidate; :func:`call_payload`
  keeps the ones the viewer may see (owner and supervisors), as the client API does.
* **Open tickets first.** A client with open requests is most likely calling about one of
  them: the pop lists them (``open_tickets``, the app passes the ticket service's; only public
  tickets, since one pop text goes to everybody watching the call) above the last calls, and
  the wrap-up form offers to add the call to one of them.
* The "open client" and "new ticket" buttons point at routes named ``client_page`` and
  ``ticket_new`` when the app has them, and are shown disabled otherwise.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

from aiohttp import web

from cti.calls.model import iso_utc
from cti.clients.directory import ClientDirectory
from cti.clients.model import Client
from cti.errors import NotFound
from cti.live import LiveCall
from cti.phone import format_international, format_national
from cti.store.rows import call_json
from cti.store.sqlite import Store
from cti.users import User, UserService
from cti.webapp.api_clients import can_see

HISTORY_SIZE = 5

#: The open tickets of these clients, as summaries (``id``, ``number``, ``subject``,
#: ``status``, ``priority``, ``url``), most urgent first.
OpenTickets = Callable[[Sequence[int]], Awaitable[list[dict[str, Any]]]]


async def no_tickets(client_ids: Sequence[int]) -> list[dict[str, Any]]:
    return []


#: ``(pbx, call_id)`` → the number a click-to-dial call is for (None: not one of ours).
Dialled = Callable[[str, str], "str | None"]


def no_number(pbx: str, call_id: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What the I/O found for one call. ``lookup``: ``pending`` until the first lookup ends."""

    lookup: str = "pending"
    clients: tuple[Client, ...] = ()
    companies: dict[int, str] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] = ()
    tickets: tuple[dict[str, Any], ...] = ()  # open tickets of the clients
    colleague: str | None = None  # internal call: who sits at the other extension
    wrapped_up_by: tuple[str, ...] = ()
    number: str = ""  # the outside number the cards were looked up for

    def stale_for(self, number: str) -> bool:
        """Looked up for another number than the call's now (a click-to-dial call's number
        becomes known after its first ring)."""
        return self.lookup == "done" and bool(number) and number != self.number


@dataclass(frozen=True, slots=True)
class Targets:
    """URL patterns of the pop's buttons (``{id}`` for a client), None when not available."""

    client: str | None = None
    new_ticket: str | None = None

    @classmethod
    def from_router(cls, router: web.UrlDispatcher) -> Targets:
        named = router.named_resources()

        def pattern(name: str) -> str | None:
            resource = named.get(name)
            if resource is None:
                return None
            info = resource.get_info()
            return str(info.get("formatter") or info.get("path") or "") or None

        return cls(client=pattern("client_page"), new_ticket=pattern("ticket_new"))


def _history_item(row: dict[str, Any]) -> dict[str, Any]:
    call = call_json(cast(sqlite3.Row, row))  # a dict reads like a row
    return {"pbx": call["pbx"], "call_id": call["call_id"], "direction": call["direction"],
            "status": call["status"], "answered": call["answered"],
            "started_at": call["started_at"], "ring_seconds": call["ring_seconds"],
            "talk_seconds": call["talk_seconds"], "extension": call["extension"]}


class PopBuilder:
    def __init__(self, directory: ClientDirectory, store: Store, users: UserService, *,
                 open_tickets: OpenTickets = no_tickets,
                 dialled: Dialled = no_number) -> None:
        self.directory = directory
        self.store = store
        self.users = users
        self.open_tickets = open_tickets
        self.dialled = dialled

    def click_to_dial(self, call: LiveCall) -> str | None:
        """The number a click-to-dial call is for, while the PBX does not say it yet: Asterisk
        rings the agent's phone first (the call looks internal then) and dials the number only
        once they pick up. None for any other call."""
        if call.direction == "inbound" or (call.direction == "outbound" and call.callee.number):
            return None
        return self.dialled(call.pbx, call.call_id)

    def human(self, number: str) -> dict[str, Any]:
        """A number for people: ``06 12 34 56 78`` at home, ``+32 71 84 43 18`` abroad, the
        extension as is; ``withheld`` for an anonymous caller id; ``dial`` is what the
        click-to-dial button sends (E.164 when known, else the number as the PBX gave it)."""
        parsed = self.directory.normalize(number)
        if parsed.status == "anonymous":
            return {"number": number, "display": "", "dial": None, "withheld": True}
        if parsed.e164:
            same = parsed.region == self.directory.settings.default_region.upper()
            shown = format_national(parsed.e164) if same else format_international(parsed.e164)
            return {"number": number, "display": shown, "dial": parsed.e164, "withheld": False}
        return {"number": number, "display": number.strip(), "dial": number.strip() or None,
                "withheld": False}

    def lookup_number(self, call: LiveCall) -> str:
        """The number the cards are looked up for ("" for a colleague's internal call)."""
        dialled = self.click_to_dial(call)
        if dialled is None and call.direction == "internal":
            return ""
        return dialled or call.outside.number

    async def enrich(self, call: LiveCall, previous: Enrichment | None = None) -> Enrichment:
        """Cards, last calls and tickets for ``call`` (its linked clients when the linker has
        answered, else a match of the outside number)."""
        wrapped = previous.wrapped_up_by if previous else ()
        number = self.lookup_number(call)
        if not number and call.direction == "internal":
            return Enrichment("done", colleague=await self._colleague(call),
                              wrapped_up_by=wrapped)
        if call.client_ids:
            clients = await self._clients(call.client_ids)
        elif self.directory.normalize(number).matchable:
            direction = "outbound" if self.click_to_dial(call) else call.direction
            matches = await self.directory.match(number, direction=direction)
            clients = [m.client for m in matches]
        else:
            clients = []
        companies = await self._companies(clients)
        history = await self._history(call, [c.id for c in clients], number)
        tickets = await self.open_tickets([c.id for c in clients]) if clients else []
        return Enrichment("done", tuple(clients), companies, tuple(history), tuple(tickets),
                          wrapped_up_by=wrapped, number=number)

    async def _clients(self, ids: Sequence[int]) -> list[Client]:
        out = []
        for cid in ids:
            try:
                out.append(await self.directory.get(cid))
            except NotFound:  # deleted or merged meanwhile
                continue
        return out

    async def _companies(self, clients: Sequence[Client]) -> dict[int, str]:
        out: dict[int, str] = {}
        for cid in {c.company_id for c in clients if c.company_id is not None}:
            try:
                out[cid] = (await self.directory.get(cid)).name
            except NotFound:
                continue
        return out

    async def _history(self, call: LiveCall, client_ids: Sequence[int],
                       number: str) -> list[dict[str, Any]]:
        """The last calls of these clients (else of this number), this one excluded."""
        if client_ids:
            marks = ", ".join("?" for _ in client_ids)
            rows = await self.store.query(
                "SELECT DISTINCT calls.* FROM call_clients cc JOIN calls ON calls.pbx = cc.pbx "
                f"AND calls.call_id = cc.call_id WHERE cc.client_id IN ({marks}) "
                "AND NOT (calls.pbx = ? AND calls.call_id = ?) "
                "ORDER BY calls.started_at DESC LIMIT ?",
                (*client_ids, call.pbx, call.call_id, HISTORY_SIZE))
        elif number.strip():
            rows = await self.store.query(
                "SELECT * FROM calls WHERE (caller_number = ? OR callee_number = ?) "
                "AND NOT (pbx = ? AND call_id = ?) ORDER BY started_at DESC LIMIT ?",
                (number, number, call.pbx, call.call_id, HISTORY_SIZE))
        else:
            rows = []
        return [_history_item(r) for r in rows]

    async def _colleague(self, call: LiveCall) -> str | None:
        """Who sits at the caller's extension (the rung colleague's view of an internal call)."""
        if not call.caller.number:
            return None
        people = await self.users.for_extension(call.caller.number)
        return people[0].label if people else None


def client_card(client: Client, companies: dict[int, str], targets: Targets) -> dict[str, Any]:
    company = companies.get(client.company_id) if client.company_id is not None else None
    return {
        "id": client.id, "name": client.name, "kind": client.kind, "type": client.type,
        "tags": list(client.tags), "company": company, "auto_created": client.auto_created,
        "phones": [{"label": p.label, "display": p.display, "dial": p.e164 or p.raw}
                   for p in client.phones],
        "open_url": targets.client.replace("{id}", str(client.id)) if targets.client else None,
    }


def wrapup_url(pbx: str, call_id: str) -> str:
    return f"/api/calls/{quote(pbx, safe='')}/{quote(call_id, safe='')}/wrapup"


def call_payload(call: LiveCall, enr: Enrichment, builder: PopBuilder, targets: Targets,
                 viewer: User | None) -> dict[str, Any]:
    """The ``call`` object of a websocket message, as ``viewer`` may see it (None: everything,
    for a supervisor's view)."""
    visible = [c for c in enr.clients if viewer is None or can_see(viewer, c)]
    dialled = builder.click_to_dial(call)
    party = builder.human(dialled or call.outside.number)
    party["name"] = "" if dialled else call.outside.name
    out = call.to_json()
    out["caller"].update(builder.human(call.caller.number))
    out["callee"].update(builder.human(call.callee.number))
    if dialled:  # shown as what it is: an outbound call to that number
        out["direction"] = "outbound"
        out["callee"].update(builder.human(dialled))
    best = visible[0].id if visible else None
    new_ticket = targets.new_ticket
    out.update({
        "key": f"{call.pbx}/{call.call_id}",
        "party": party,
        "lookup": enr.lookup,
        "clients": [client_card(c, enr.companies, targets) for c in visible],
        "colleague": enr.colleague,
        "open_tickets": len(enr.tickets),
        "tickets": list(enr.tickets),
        "history": list(enr.history),
        "wrapped_up_by": list(enr.wrapped_up_by),
        "actions": {
            "open_client": (targets.client.replace("{id}", str(best))
                            if targets.client and best is not None else None),
            "new_ticket": (f"{new_ticket}?call={quote(out['pbx'] + '/' + out['call_id'])}"
                           if new_ticket else None),
            "call_back": party["dial"],
            "wrapup": wrapup_url(call.pbx, call.call_id),
        },
        "now": iso_utc(time.time()),
    })
    return out
