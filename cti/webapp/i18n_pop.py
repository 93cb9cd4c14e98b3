"""French strings of the screen pop, merged into the catalog by :mod:`cti.webapp.i18n`.

Two kinds: the ones the templates translate (``_("Wrap-up")`` in ``pop.html``), and the ones the
browser script needs while calls come and go (:data:`SCRIPT_MSGIDS`). The page hands the latter
to ``pop.js`` already translated, as one JSON attribute (``data-strings``), because the CSP
allows no inline script and the script must not carry a catalog of its own.
``{name}``-style placeholders are filled by the script.
"""

from __future__ import annotations

from collections.abc import Callable

#: Strings ``pop.js`` shows (keys of its ``t("…")`` calls).
SCRIPT_MSGIDS: tuple[str, ...] = (
    "Ringing", "In call", "Ended", "Incoming call", "Outgoing call", "Internal call",
    "Withheld number", "Looking up the client…", "Unknown number", "{n} possible clients",
    "Queue {queue}", "Transferred to {to}", "Answered by {ext}",
    "Answered", "Missed", "Abandoned", "Busy", "No answer", "Failed",
    "talk {duration}", "ring {duration}", "No previous call", "{n} open tickets",
    "No open ticket", "Saving…", "Saved", "Could not save: {error}",
    "Calling {number}: your phone rings first…", "Could not call: {error}",
    "Connected", "Reconnecting…", "Your session has ended: log in again.", "Overlong call",
    "Recording", "Call from {name}", "Colleague: {name}", "Your wrap-up is saved.",
    "Not available yet", "Call {number}", "Add to {number}: {subject}",
    "Ticket {number} created", "Call added to ticket {number}", "Callback set for {when}",
    "Pause recording", "Resume recording", "Recording paused",
)

POP_FR: dict[str, str] = {
    # pop.html
    "Your calls": "Vos appels",
    "Enable notifications": "Activer les notifications",
    "Open client": "Ouvrir le client",
    "New ticket": "Nouveau ticket",
    "Add note": "Ajouter une note",
    "Call back": "Rappeler",
    "Wrap-up": "Compte rendu",
    "Subject": "Sujet",
    "Reason": "Motif",
    "Response": "Réponse",
    "Result": "Résultat",
    "Note": "Note",
    "Save": "Enregistrer",
    "Close": "Fermer",
    "Last calls": "Derniers appels",
    "Open tickets": "Tickets ouverts",
    "Client": "Client",
    "Follow-up": "Suite à donner",
    "Ticket": "Ticket",
    "No ticket": "Pas de ticket",
    "Priority": "Priorité",
    "Low": "Basse",
    "Normal": "Normale",
    "High": "Haute",
    "Urgent": "Urgente",
    "Callback": "Rappel",
    "No callback": "Pas de rappel",
    "To call back": "À rappeler",
    "The client will call back": "Le client va rappeler",
    "When": "Quand",
    "Pause recording": "Suspendre l'enregistrement",
    "Resume recording": "Reprendre l'enregistrement",
    "Recording paused": "Enregistrement suspendu",
    # pop.js
    "Add to {number}: {subject}": "Ajouter au {number} : {subject}",
    "Ticket {number} created": "Ticket {number} créé",
    "Call added to ticket {number}": "Appel ajouté au ticket {number}",
    "Callback set for {when}": "Rappel prévu le {when}",
    "Ringing": "Sonne",
    "In call": "En ligne",
    "Ended": "Terminé",
    "Incoming call": "Appel entrant",
    "Outgoing call": "Appel sortant",
    "Internal call": "Appel interne",
    "Withheld number": "Numéro masqué",
    "Looking up the client…": "Recherche du client…",
    "Unknown number": "Numéro inconnu",
    "{n} possible clients": "{n} clients possibles",
    "Queue {queue}": "File {queue}",
    "Transferred to {to}": "Transféré à {to}",
    "Answered by {ext}": "Répondu par {ext}",
    "Answered": "Répondu",
    "Missed": "Manqué",
    "Abandoned": "Abandonné",
    "Busy": "Occupé",
    "No answer": "Sans réponse",
    "Failed": "Échec",
    "talk {duration}": "conversation {duration}",
    "ring {duration}": "sonnerie {duration}",
    "No previous call": "Aucun appel précédent",
    "{n} open tickets": "{n} tickets ouverts",
    "No open ticket": "Aucun ticket ouvert",
    "Saving…": "Enregistrement…",
    "Saved": "Enregistré",
    "Could not save: {error}": "Échec de l'enregistrement : {error}",
    "Calling {number}: your phone rings first…":
        "Appel de {number} : votre poste sonne d'abord…",
    "Could not call: {error}": "Appel impossible : {error}",
    "Connected": "Connecté",
    "Reconnecting…": "Reconnexion…",
    "Your session has ended: log in again.": "Votre session est terminée : reconnectez-vous.",
    "Overlong call": "Appel trop long",
    "Recording": "Appel enregistré",
    "Call from {name}": "Appel de {name}",
    "Colleague: {name}": "Collègue : {name}",
    "Your wrap-up is saved.": "Votre compte rendu est enregistré.",
    "Not available yet": "Pas encore disponible",
    "Call {number}": "Appeler le {number}",
    # errors the wrap-up and websocket endpoints raise
    "No such call.": "Appel introuvable.",
    "Only the agents who took part in the call may do this.":
        "Seuls les agents ayant pris part à l'appel peuvent faire cela.",
    "Only supervisors may watch every call.":
        "Seuls les superviseurs peuvent suivre tous les appels.",
    "Cross-site websocket refused.": "Websocket d'un autre site refusé.",
    "Callbacks are not available.": "Les rappels ne sont pas disponibles.",
    "This call is not being recorded.": "Cet appel n'est pas enregistré.",
    "The action must be pause, resume or stop.": "L'action doit être pause, resume ou stop.",
    "The phone system cannot be reached.": "Le standard téléphonique est injoignable.",
    "No such ticket.": "Ticket introuvable.",
    "This ticket is closed: reopen it first.": "Ce ticket est fermé : rouvrez-le d'abord.",
}


def script_strings(translate: Callable[..., str]) -> dict[str, str]:
    """``{msgid: translation}`` of :data:`SCRIPT_MSGIDS` with the ``_`` of a request."""
    return {msgid: translate(msgid) for msgid in SCRIPT_MSGIDS}
