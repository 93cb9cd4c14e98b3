"""French strings of the action center (``actions.html``, the nav badges and the reminder toast
in ``base.html``), merged into the catalog by :mod:`cti.webapp.i18n`, with the maps the page
uses to label values (ticket and follow-up statuses, missed-call statuses)."""

from __future__ import annotations

TICKET_STATUS = {"new": "New", "assigned": "Assigned", "in_progress": "In progress",
                 "waiting": "Waiting"}
PRIORITY = {"high": "High", "urgent": "Urgent"}
FOLLOWUP_STATUS = {"open": "Open", "won": "Won", "lost": "Lost", "cancelled": "Cancelled"}
MISSED_STATUS = {"missed": "Missed", "abandoned": "Abandoned", "busy": "Busy",
                 "no_answer": "No answer"}
ACTION_LABELS = {"ticket": TICKET_STATUS, "priority": PRIORITY, "followup": FOLLOWUP_STATUS,
                 "missed": MISSED_STATUS}

ACTIONS_FR: dict[str, str] = {
    # navigation bar, reminder toast (base.html)
    "Actions": "Actions",
    "Callbacks due": "Rappels échus",
    "Missed calls not handled": "Appels manqués non traités",
    "Unread notifications": "Notifications non lues",
    "Callback due: {who}": "Rappel à faire : {who}",
    "Call now": "Appeler",
    "Dismiss": "Fermer",
    "Open the action center": "Ouvrir le centre d'actions",
    # the page
    "Action center": "Centre d'actions",
    "Notifications": "Notifications",
    "Mark all read": "Tout marquer comme lu",
    "Mark read": "Marquer comme lu",
    "Ticket {number} given to you by {by}: {subject}":
        "Ticket {number} qui vous est confié par {by} : {subject}",
    "My callbacks": "Mes rappels",
    "Overdue": "En retard",
    "Call the client back": "Rappeler le client",
    "The client will call back": "Le client va rappeler",
    "{n} attempt(s)": "{n} tentative(s)",
    "nobody": "personne",
    "Result (reached, left a message…)": "Résultat (joint, message laissé…)",
    "Done": "Fait",
    "No callback to make.": "Aucun rappel à faire.",
    "New callback": "Nouveau rappel",
    "For": "Pour",
    "me": "moi",
    "Group": "Groupe",
    "Also remind by e-mail": "Me le rappeler aussi par e-mail",
    "Add the callback": "Ajouter le rappel",
    "My tickets": "Mes tickets",
    "Mine": "Les miens",
    "My groups'": "Ceux de mes groupes",
    "No open ticket.": "Aucun ticket ouvert.",
    "due {when}": "échéance {when}",
    "New": "Nouveau",
    "Assigned": "Attribué",
    "In progress": "En cours",
    "Waiting": "En attente",
    "High": "Haute",
    "Urgent": "Urgente",
    "Missed calls to handle": "Appels manqués à traiter",
    "Mark all handled": "Tout marquer comme traité",
    "Handled": "Traité",
    "No missed call left to handle.": "Aucun appel manqué à traiter.",
    "Quote follow-ups": "Suivi des devis",
    "Chase on": "Relancer le",
    "Refusal reason": "Motif du refus",
    "Comment": "Commentaire",
    "No open follow-up.": "Aucun suivi en cours.",
    "New follow-up": "Nouveau suivi",
    "Quote, offer…": "Devis, offre…",
    "Add the follow-up": "Ajouter le suivi",
    "Open": "En cours",
    "Won": "Gagné",
    "Lost": "Perdu",
    "Cancelled": "Annulé",
    "My notes": "Mes notes",
    "New note": "Nouvelle note",
    "Add the note": "Ajouter la note",
    # messages (errors shown on the page, API refusals)
    "This callback is not yours.": "Ce rappel n'est pas le vôtre.",
    "This call did not ring your phone.": "Cet appel n'a pas sonné sur votre poste.",
    "is required": "est obligatoire",
    "is required to call the client back": "est obligatoire pour rappeler le client",
    "is required when the offer is lost": "est obligatoire quand l'offre est perdue",
    "must be a date and time (YYYY-MM-DD HH:MM)":
        "doit être une date et une heure (AAAA-MM-JJ HH:MM)",
    "is not a phone number": "n'est pas un numéro de téléphone",
    "The callback is already done.": "Le rappel est déjà fait.",
    "The callback is already cancelled.": "Le rappel est déjà annulé.",
}
