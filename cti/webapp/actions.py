"""``/actions``: each person's action center ("Centre d'Actions").

One page with what is theirs to do: callbacks (overdue first, highlighted; one click calls and
counts an attempt; a form closes it with its result), their tickets and their groups' by
status, missed calls nobody handled yet (mark one, or all, handled; call back), quote
follow-ups (won, lost with the reason, cancelled) and personal notes. The page works with
plain forms (``/actions/…``, see :mod:`cti.webapp.api_actions`); ``actions.js`` adds what
needs a script (record the call attempt, show the lost-reason field only when lost).

:func:`setup` wires the services: the daemon's callback and notification services when it
hands them in (its reminder scheduler listens to the former), else bare ones over the store;
the action center over them; the live counts (:mod:`cti.webapp.actions_live`); the routes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from cti.tickets.actioncenter import FOLLOWUP_STATUSES, ActionCenter
from cti.tickets.callbacks import KINDS, CallbackService
from cti.tickets.model import Ticket
from cti.tickets.notifications import Notification, NotificationService
from cti.tickets.queries import TicketQuery, list_tickets
from cti.tickets.workflow import OPEN
from cti.webapp import actions_live, api_actions
from cti.webapp.api_actions import scope_of, viewer_of
from cti.webapp.calllog import viewer_tz
from cti.webapp.i18n import translator, zone
from cti.webapp.i18n_actions import ACTION_LABELS
from cti.webapp.keys import (
    ACTION_CENTER,
    CALLBACKS,
    CLIENTS,
    COUNTS,
    GROUPS,
    HUB,
    LANG,
    NOTIFICATIONS,
    SETTINGS,
    STORE,
    TICKETS,
    USERS,
)
from cti.webapp.templating import render

#: Query parameters that prefill the new-callback form (a link from a ticket or a client card:
#: ``/actions?number=…&client_id=…&ticket_id=…#new-callback``).
PREFILL = ("number", "client_id", "ticket_id", "note")


def by_status(tickets: Sequence[Ticket]) -> list[tuple[str, list[Ticket]]]:
    """Open tickets grouped in workflow order (new, assigned, in progress, waiting)."""
    return [(s, [t for t in tickets if t.status == s]) for s in OPEN
            if any(t.status == s for t in tickets)]


def describe(note: Notification, _: Any) -> str:
    """A notification in the reader's language when its kind is known; its text otherwise."""
    data = note.data
    if note.kind == "callback_due":
        cb = data.get("callback") or {}
        who = " · ".join(str(x) for x in (cb.get("client_name"), cb.get("ticket_number"),
                                           cb.get("display") or cb.get("number")) if x)
        return str(_("Callback due: {who}", who=who or "#" + str(cb.get("id", ""))))
    if note.kind == "ticket_assigned":
        return str(_("Ticket {number} given to you by {by}: {subject}",
                     number=data.get("number", ""), by=data.get("by", ""),
                     subject=data.get("subject", "")))
    return note.text


async def action_page(request: web.Request) -> web.StreamResponse:
    user, viewer = await viewer_of(request)
    app = request.app
    callbacks = app[CALLBACKS]
    center = app[ACTION_CENTER]
    mine_q, groups_q = TicketQuery(status="open", mine=True), TicketQuery(status="open",
                                                                          groups=True)
    my_tickets = await list_tickets(app[STORE], mine_q, viewer, limit=200)
    group_tickets = (await list_tickets(app[STORE], groups_q, viewer, limit=200)
                     if viewer.groups else [])
    held = {t.id for t in my_tickets}
    lang = request.get(LANG) or app[SETTINGS].language
    _ = translator(lang)
    notes = await app[NOTIFICATIONS].unread(user.username)
    tz = viewer_tz(request, user)
    prefill = {k: request.query.get(k, "") for k in PREFILL}
    missed = await center.missed(scope_of(user))
    for m in missed:  # "06 12 34 56 78" and what the call button dials
        m["human"] = app[HUB].builder.human(m["number"] or "")
    soon = dt.datetime.now(tz).replace(second=0, microsecond=0) + dt.timedelta(hours=1)
    return render(request, "actions.html", {
        "callbacks": await callbacks.mine(user.username, viewer.groups,
                                          unassigned=viewer.supervisor),
        "now_ts": callbacks.clock(),
        "my_tickets": by_status(my_tickets),
        "group_tickets": by_status([t for t in group_tickets if t.id not in held]),
        "missed": missed,
        "followups": await center.followups(user.username),
        "followup_statuses": FOLLOWUP_STATUSES,
        "notes": await center.notes(user.username),
        "notifications": [(n, describe(n, _)) for n in notes],
        "people": [u for u in await app[USERS].list_all() if u.active],
        "groups": await app[GROUPS].list_all(),
        "my_groups": viewer.groups,
        "kinds": KINDS,
        "prefill": prefill,
        "default_due": soon.strftime("%Y-%m-%dT%H:%M"),
        "error": request.query.get("error", ""),
        "error_field": request.query.get("field", ""),
        "is_supervisor": viewer.supervisor,
        "labels": ACTION_LABELS,
    })


def setup(app: web.Application, *, callbacks: CallbackService | None = None,
          notifications: NotificationService | None = None, watch_tickets: bool = True
          ) -> None:
    """Services, live counts and routes. ``watch_tickets``: the bare notification service
    made here notifies ticket assignments (the daemon's does that on its own)."""
    store = app[STORE]
    tz = zone(app[SETTINGS].timezone) or dt.UTC
    if notifications is None:
        notifications = NotificationService(store)
        if watch_tickets:
            notifications.watch_tickets(app[TICKETS])
    if callbacks is None:
        callbacks = CallbackService(store, tz, tickets=app[TICKETS],
                                    region=app[CLIENTS].settings.default_region)
    app[CALLBACKS] = callbacks
    app[NOTIFICATIONS] = notifications
    app[ACTION_CENTER] = ActionCenter(store, callbacks, notifications, tz, callbacks.clock)
    app[COUNTS] = actions_live.setup(app)
    app.router.add_get("/actions", action_page, name="actions")
    api_actions.add_routes(app)
