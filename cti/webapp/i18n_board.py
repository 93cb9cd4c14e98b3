"""French strings of the supervisors' live board (``board.html`` and ``board.js``).

As for the screen pop (:mod:`cti.webapp.i18n_pop`), the strings the script needs while calls
come and go are handed to it already translated in one JSON attribute, because the CSP allows
no inline script.
"""

from __future__ import annotations

from collections.abc import Callable

#: Strings ``board.js`` shows (keys of its ``t("…")`` calls).
SCRIPT_MSGIDS: tuple[str, ...] = (
    "Ringing", "In call", "Ended", "Incoming call", "Outgoing call", "Internal call",
    "Withheld number", "Unknown number",
    "Overlong call", "Recording", "Connected", "Reconnecting…",
    "Your session has ended: log in again.", "Idle", "No call in progress.",
    "No missed call today.", "Called back", "Call {number}", "Missed", "Abandoned", "Busy",
    "No answer", "Answered", "Failed", "Overlong call: {who}",
    "Could not load the board: {error}", "rang {exts}", "Pause recording", "Resume recording",
)

BOARD_FR: dict[str, str] = {
    # board.html (shared words such as "Queue" and "Agent" are in the call log's catalog)
    "Live board": "Tableau de bord",
    "Calls in progress": "Appels en cours",
    "Agents": "Agents",
    "Missed calls today": "Appels manqués aujourd'hui",
    "Caller": "Appelant",
    "Called": "Appelé",
    "State": "État",
    "Number": "Numéro",
    "Callback": "Rappel",
    "Ring time": "Sonnerie",
    # board.js
    "Idle": "Libre",
    "No call in progress.": "Aucun appel en cours.",
    "No missed call today.": "Aucun appel manqué aujourd'hui.",
    "Called back": "Rappelé",
    "Overlong call: {who}": "Appel trop long : {who}",
    "Could not load the board: {error}": "Impossible de charger le tableau : {error}",
    "rang {exts}": "a sonné sur {exts}",
}


def script_strings(translate: Callable[..., str]) -> dict[str, str]:
    """``{msgid: translation}`` of :data:`SCRIPT_MSGIDS` with the ``_`` of a request."""
    return {msgid: translate(msgid) for msgid in SCRIPT_MSGIDS}
