"""The ticket status workflow: which moves are allowed, and the reopen rule.

``new → assigned → in_progress → waiting → resolved → closed``, plus ``cancelled``. The moves
follow how a call-center request lives: it can be taken straight away (``new → in_progress``),
put on hold waiting for the client and picked up again, solved, then closed once the client
agrees (or after a while). ``resolved → in_progress`` is allowed ("not solved after all").
A **closed** or **cancelled** ticket is final: it can only be *reopened*, an explicit action
with its own timeline entry, so nobody revives a finished request by a stray status change.
The rules are checked on the server; the pages only offer the allowed moves.
"""

from __future__ import annotations

from cti.errors import Conflict

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "in_progress", "waiting", "resolved", "cancelled"}),
    "assigned": frozenset({"in_progress", "waiting", "resolved", "cancelled"}),
    "in_progress": frozenset({"assigned", "waiting", "resolved", "cancelled"}),
    "waiting": frozenset({"assigned", "in_progress", "resolved", "cancelled"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
}

#: Statuses of a finished request (not counted as "open").
FINISHED: frozenset[str] = frozenset({"resolved", "closed", "cancelled"})
#: Statuses only ``reopen`` leaves.
FINAL: frozenset[str] = frozenset({"closed", "cancelled"})
OPEN: tuple[str, ...] = ("new", "assigned", "in_progress", "waiting")


def allowed(status: str) -> frozenset[str]:
    return TRANSITIONS.get(status, frozenset())


def check_transition(old: str, new: str) -> None:
    """Raise :class:`Conflict` with a message people understand when ``old → new`` is not a
    move of the workflow."""
    if new == old:
        raise Conflict(f"The ticket is already {old}.")
    if old in FINAL:
        raise Conflict(f"A {old} ticket must be reopened before it can be {new}.")
    if new not in TRANSITIONS:
        raise Conflict(f"Unknown status {new!r}.")
    if new not in allowed(old):
        raise Conflict(f"A ticket cannot go from {old} to {new}.")


def reopened_status(has_assignee: bool) -> str:
    """Where a reopened ticket goes: back to its assignee, or to the unassigned pile."""
    return "assigned" if has_assignee else "new"
