"""French strings of the ticket pages (list, ticket, form, attachments, canned phrases,
groups), merged into the catalog by :mod:`cti.webapp.i18n` (English is the message id), with
the maps the templates and views use to label values (statuses, kinds, priorities, fields,
workflow moves)."""

from __future__ import annotations

STATUS_LABELS = {"new": "New", "assigned": "Assigned", "in_progress": "In progress",
                 "waiting": "Waiting", "resolved": "Resolved", "closed": "Closed",
                 "cancelled": "Cancelled"}
#: The buttons that move a ticket to each status.
MOVE_LABELS = {"assigned": "Back to assigned", "in_progress": "Start working on it",
               "waiting": "Wait for the client", "resolved": "Mark resolved",
               "closed": "Close", "cancelled": "Cancel the ticket"}
KIND_LABELS = {"commercial": "Commercial", "technical": "Technical", "hotline": "Hotline",
               "internal": "Internal"}
PRIORITY_LABELS = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
#: Fields as messages and the timeline name them.
FIELD_LABELS = {"client_id": "Client", "client": "Client", "contact": "Contact",
                "contact_email": "Contact e-mail", "kind": "Kind", "subject": "Subject",
                "reason": "Reason", "response": "Response", "result": "Result",
                "priority": "Priority", "due_at": "Due", "equipment": "Equipment / serial number",
                "contract": "Contract", "public": "Visible to everyone",
                "notify_client": "Notify the client by e-mail", "assignee": "Assignee",
                "group_id": "Group", "status": "Status", "note": "Note", "text": "Comment",
                "call": "Call", "file": "File", "name": "Name", "email": "Shared e-mail address",
                "members": "Members", "field": "Field", "offset": "Page", "group": "Group"}
#: Timeline entries written by other services.
EVENT_LABELS = {"callback": "Callback", "notification": "Notification",
                "callback_done": "Callback done", "callback_cancelled": "Callback cancelled"}
#: Attachment refusals (``AttachmentRefused.code``) → message ids.
ATTACHMENT_MESSAGES = {
    "too_large": "The file is larger than the {mb} MB limit.",
    "type": "Files of type {type} are not accepted.",
    "mismatch": "The file's content does not match its type ({type}).",
    "executable": "Programs cannot be attached.",
    "empty": "The file is empty.",
    "no_file": "Choose a file to attach.",
}
TICKET_LABELS = {"status": STATUS_LABELS, "move": MOVE_LABELS, "kind": KIND_LABELS,
                 "priority": PRIORITY_LABELS, "field": FIELD_LABELS}

TICKETS_FR: dict[str, str] = {
    # list
    "Tickets": "Tickets",
    "All open": "Tous les ouverts",
    "All": "Tous",
    "{n} tickets": "{n} tickets",
    "Number, subject, contact or equipment": "Numéro, sujet, contact ou équipement",
    "Assignee": "Attribué à",
    "Remove this filter": "Retirer ce filtre",
    "No ticket matches these filters.": "Aucun ticket ne correspond à ces filtres.",
    "Previous page": "Page précédente",
    "Canned phrases": "Phrases types",
    "Groups": "Groupes",
    "private": "privé",
    "overdue": "en retard",
    # values
    "Resolved": "Résolu",
    "Closed": "Clos",
    "Commercial": "Commercial",
    "Technical": "Technique",
    "Hotline": "Hotline",
    "Back to assigned": "Remettre en attribué",
    "Start working on it": "Commencer le traitement",
    "Wait for the client": "En attente du client",
    "Mark resolved": "Marquer résolu",
    "Cancel the ticket": "Annuler le ticket",
    "Reopen": "Rouvrir",
    "yes": "oui",
    "no": "non",
    # fields
    "Contact": "Contact",
    "Contact e-mail": "E-mail du contact",
    "Due": "Échéance",
    "Equipment / serial number": "Équipement / n° de série",
    "Contract": "Contrat",
    "Visible to everyone": "Visible par tous",
    "otherwise only its creator, assignee, group and supervisors":
        "sinon seulement son créateur, la personne ou le groupe attribué et les superviseurs",
    "Notify the client by e-mail": "Prévenir le client par e-mail",
    "Name or number": "Nom ou numéro",
    "Insert a saved phrase": "Insérer une phrase type",
    "File": "Fichier",
    "Field": "Champ",
    "Text": "Texte",
    "Page": "Page",
    "Shared e-mail address": "Adresse e-mail partagée",
    # the form
    "Create the ticket": "Créer le ticket",
    "Call from {who}": "Appel de {who}",
    "Assign to a person": "Attribuer à une personne",
    "or a group": "ou à un groupe",
    "The call {call} will be linked to this ticket.": "L'appel {call} sera lié à ce ticket.",
    "This call cannot be found: {detail}": "Appel introuvable : {detail}",
    # one ticket
    "Request": "Demande",
    "Edit the ticket": "Modifier le ticket",
    "Note (optional)": "Note (facultative)",
    "Add a comment": "Ajouter un commentaire",
    "Visible to the client (otherwise an internal note)":
        "Visible par le client (sinon note interne)",
    "Add the comment": "Ajouter le commentaire",
    "All tickets of this client": "Tous les tickets de ce client",
    "Callback planned for {when}": "Rappel prévu le {when}",
    "Called back (attempt {n})": "Rappel effectué (tentative {n})",
    "Callback done": "Rappel terminé",
    "Callback cancelled": "Rappel annulé",
    "A private client card.": "Une fiche client privée.",
    "No client linked.": "Aucun client lié.",
    "Assign or transfer": "Attribuer ou transférer",
    "Note for them": "Note pour eux",
    "Assign": "Attribuer",
    "No call linked.": "Aucun appel lié.",
    "not in the call log yet": "pas encore dans le journal d'appels",
    "Link a call": "Lier un appel",
    "pbx/call id": "pbx/identifiant d'appel",
    "Link": "Lier",
    "Attachments": "Pièces jointes",
    "No file attached.": "Aucun fichier joint.",
    "Attach a file": "Joindre un fichier",
    "At most {mb} MB.": "{mb} Mo au plus.",
    "Upload": "Envoyer",
    # notices
    "The ticket has been created.": "Le ticket a été créé.",
    "Status changed.": "Statut modifié.",
    "The ticket has been reopened.": "Le ticket a été rouvert.",
    "The ticket has been assigned.": "Le ticket a été attribué.",
    "Comment added.": "Commentaire ajouté.",
    "Call linked.": "Appel lié.",
    "This call was linked already.": "Cet appel était déjà lié.",
    "File attached.": "Fichier joint.",
    # timeline
    "Ticket {number} created": "Ticket {number} créé",
    "Status: {old} → {new}": "Statut : {old} → {new}",
    "Reopened ({old} → {new})": "Rouvert ({old} → {new})",
    "Assigned to {person} ({group})": "Attribué à {person} ({group})",
    "Assigned to {person}": "Attribué à {person}",
    "Assigned to the group {group}": "Attribué au groupe {group}",
    "Unassigned": "Sans attribution",
    "“{field}” changed": "« {field} » modifié",
    "“{field}”: {old} → {new}": "« {field} » : {old} → {new}",
    "Internal note": "Note interne",
    "Comment visible to the client": "Commentaire visible par le client",
    "Call linked: {call}": "Appel lié : {call}",
    "File attached: {name} ({size})": "Fichier joint : {name} ({size})",
    "E-mail sent: {subject}": "E-mail envoyé : {subject}",
    "Notification": "Notification",
    # refusals
    "The ticket is already {old}.": "Le ticket est déjà « {old} ».",
    "A {old} ticket must be reopened before it can be {new}.":
        "Un ticket « {old} » doit être rouvert avant de pouvoir passer à « {new} ».",
    "A ticket cannot go from {old} to {new}.":
        "Un ticket ne peut pas passer de « {old} » à « {new} ».",
    "Unknown status {new}.": "Statut inconnu : {new}.",
    "The ticket is open already.": "Le ticket est déjà ouvert.",
    "Only a supervisor can cancel a ticket that is being worked on.":
        "Seul un superviseur peut annuler un ticket déjà en traitement.",
    "is required": "est obligatoire",
    "must be at most {n} characters": "doit faire au plus {n} caractères",
    "is not an e-mail address": "n'est pas une adresse e-mail",
    "must be a date and time": "doit être une date et une heure",
    "no client {value}": "pas de client {value}",
    "no active user {value}": "pas d'utilisateur actif {value}",
    "no group {value}": "pas de groupe {value}",
    "unknown user {value}": "utilisateur inconnu : {value}",
    "choose a person or a group": "choisissez une personne ou un groupe",
    "must be on one line": "doit tenir sur une ligne",
    "must be a number": "doit être un nombre",
    "is not a ticket field": "n'est pas un champ de ticket",
    "must be true or false": "doit être vrai ou faux",
    "no client matches this name": "aucun client ne porte ce nom",
    "several clients match: pick one from the list":
        "plusieurs clients correspondent : choisissez-en un dans la liste",
    "a call is given as <pbx>/<call id>": "un appel s'écrit <pbx>/<identifiant d'appel>",
    "no such call (or not one of yours)": "appel inconnu (ou qui n'est pas l'un des vôtres)",
    # attachments
    "The file is larger than the {mb} MB limit.": "Le fichier dépasse la limite de {mb} Mo.",
    "Files of type {type} are not accepted.": "Les fichiers de type {type} ne sont pas acceptés.",
    "The file's content does not match its type ({type}).":
        "Le contenu du fichier ne correspond pas à son type ({type}).",
    "Programs cannot be attached.": "Les programmes ne peuvent pas être joints.",
    "The file is empty.": "Le fichier est vide.",
    "Choose a file to attach.": "Choisissez un fichier à joindre.",
    "The file of this attachment is missing on the server.":
        "Le fichier de cette pièce jointe est absent du serveur.",
    # canned phrases
    "Saved problem and solution texts, suggested while typing a ticket's fields, most used "
    "first.": "Textes de problèmes et de solutions enregistrés, proposés pendant la saisie "
              "d'un ticket, les plus utilisés d'abord.",
    "Add the phrase": "Ajouter la phrase",
    "used {n} times": "utilisée {n} fois",
    "No phrase yet.": "Aucune phrase pour l'instant.",
    "Phrase added.": "Phrase ajoutée.",
    "Phrase saved.": "Phrase enregistrée.",
    "Phrase deleted.": "Phrase supprimée.",
    "This phrase exists already.": "Cette phrase existe déjà.",
    # groups
    "Tickets and callbacks can be given to a group: every member sees them until one takes "
    "them.": "Tickets et rappels peuvent être attribués à un groupe : chaque membre les voit "
             "jusqu'à ce que l'un d'eux les prenne.",
    "New group": "Nouveau groupe",
    "Create the group": "Créer le groupe",
    "{n} members": "{n} membres",
    "Open tickets of this group": "Tickets ouverts de ce groupe",
    "No group yet.": "Aucun groupe pour l'instant.",
    "Group created.": "Groupe créé.",
    "Group saved.": "Groupe enregistré.",
    "A group named {name} exists already.": "Un groupe nommé {name} existe déjà.",
}
