"""Live badges and reminders: the action center's part of the websocket.

Each person's navigation bar shows their counts (callbacks due, missed calls not handled,
unread notifications); they change when something of theirs changes, and the page learns it
over the one socket the tab already holds (``/ws``, :meth:`PopHub.send_to_user`):

* ``{"type": "counts", …}`` (:meth:`ActionCenter.counts`) after a callback of theirs is
  created, tried, done or cancelled; a ticket is given to them, taken from them or moves
  (their groups' too); a notification arrives or is read; an inbound call that rang one of
  their extensions ends unanswered (supervisors: any such call);
* ``{"type": "reminder", "callback": {…}, "notification": {…}}`` when a callback of theirs
  falls due (the scheduler's ``callback_due`` notification): the page shows a toast with a
  call button.

Why it is built this way: services tell their listeners synchronously, right after their
commit; the counts take a few queries, so they are worked out in a task. Pokes for one person
arriving together are **coalesced** (one count per person per burst), and nobody's counts are
computed when they have no socket open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from cti.live import Change
from cti.tickets.actioncenter import MISSED_STATUSES
from cti.tickets.callbacks import CallbackChange
from cti.tickets.notifications import Notification
from cti.tickets.service import TicketChange, Viewer
from cti.webapp.keys import (
    ACTION_CENTER,
    CALLBACKS,
    GROUPS,
    HUB,
    LIVE,
    NOTIFICATIONS,
    STORE,
    TICKETS,
    USERS,
)

log = logging.getLogger(__name__)

DEBOUNCE = 0.05  # seconds: a burst of changes (a ticket and its callback) is counted once


class CountsPusher:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.pushed = 0
        self.errors = 0
        self._dirty: set[str] = set()
        self._groups: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ wiring
    def start(self) -> None:
        app = self.app
        pairs: list[tuple[list[Any], Any]] = [
            (app[CALLBACKS].listeners, self.on_callback),
            (app[NOTIFICATIONS].listeners, self.on_notification),
            (app[TICKETS].listeners, self.on_ticket),
        ]
        for listeners, fn in pairs:
            listeners.append(fn)
            self._unsubscribe.append(_remover(listeners, fn))
        self._unsubscribe.append(app[LIVE].subscribe(self.on_call))

    async def close(self) -> None:
        for undo in self._unsubscribe:
            undo()
        self._unsubscribe.clear()
        if self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------------ what changed
    def on_callback(self, change: CallbackChange) -> None:
        for cb in (change.callback, change.before):
            if cb is not None:
                self.poke(cb.assignee, group=cb.group_id)
        cb = change.callback
        if cb.assignee is None and cb.group_id is None:  # nobody's: the supervisors'
            for conn in list(self.app[HUB].connections):
                if conn.user.at_least("supervisor"):
                    self.poke(conn.user.username)

    def on_notification(self, username: str, note: Notification | None) -> None:
        if note is not None and note.kind == "callback_due":
            self.app[HUB].send_to_user(username, {
                "type": "reminder", "callback": note.data.get("callback") or {},
                "notification": note.to_json()}, key=f"reminder:{note.id}")
        elif note is not None and note.kind == "speech_alert":
            # A keyword heard in a call ("refund", "lawyer"…): a toast for the supervisor.
            self.app[HUB].send_to_user(username, {
                "type": "notice", "kind": note.kind, "text": note.text, "link": note.link},
                key=f"notice:{note.id}")
        self.poke(username)

    def on_ticket(self, change: TicketChange) -> None:
        for ticket in (change.ticket, change.before):
            if ticket is not None:
                self.poke(ticket.assignee, group=ticket.group_id)

    def on_call(self, change: Change) -> None:
        """An inbound call ended unanswered: a new missed call for whoever's phone rang."""
        call = change.call
        if (change.kind != "ended" or call.direction != "inbound"
                or call.status not in MISSED_STATUSES):
            return
        self.poke_missed(call.extensions)

    def poke_missed(self, extensions: frozenset[str]) -> None:
        """Missed calls of these extensions changed: their people's counts, and the
        supervisors' (who see every missed call)."""
        for conn in list(self.app[HUB].connections):
            if conn.user.at_least("supervisor") or conn.extensions & extensions:
                self.poke(conn.user.username)

    # ------------------------------------------------------------------ pushing
    def poke(self, username: str | None, *, group: int | None = None) -> None:
        if username:
            self._dirty.add(username)
        if group is not None:
            self._groups.add(group)
        if (self._dirty or self._groups) and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(DEBOUNCE)
            # The call that just ended reaches the store a moment after the hangup.
            await self.app[STORE].flush()
            await self._drain()
        except Exception:
            self.errors += 1
            log.exception("cannot push the action counts")

    async def _drain(self) -> None:
        while self._dirty or self._groups:
            groups, self._groups = self._groups, set()
            for gid in groups:
                try:
                    self._dirty.update((await self.app[GROUPS].get(gid)).members)
                except LookupError:
                    continue
            people, self._dirty = self._dirty, set()
            await self.push(people)

    async def push(self, usernames: Iterable[str]) -> None:
        hub = self.app[HUB]
        for username in usernames:
            if not hub.online(username):
                continue
            try:
                counts = await self.counts_for(username)
            except Exception:
                self.errors += 1
                log.exception("cannot count the actions of %s", username)
                continue
            if counts is not None:
                hub.send_to_user(username, {"type": "counts", **counts})
                self.pushed += 1

    async def counts_for(self, username: str) -> dict[str, int] | None:
        user = await self.app[USERS].get_by_username(username)
        if user is None:
            return None
        groups = tuple(await self.app[GROUPS].of_user(username))
        viewer = Viewer(username, user.at_least("supervisor"), groups)
        return await self.app[ACTION_CENTER].counts(viewer, user.extensions)


def _remover(listeners: list[Any], fn: Any) -> Callable[[], None]:
    def remove() -> None:
        if fn in listeners:
            listeners.remove(fn)

    return remove


def setup(app: web.Application) -> CountsPusher:
    pusher = CountsPusher(app)

    async def on_startup(app: web.Application) -> None:
        pusher.start()

    async def on_cleanup(app: web.Application) -> None:
        await pusher.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return pusher
