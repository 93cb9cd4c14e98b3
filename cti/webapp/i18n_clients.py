"""French strings of the client pages (list, card, form), merged into the catalog by
:mod:`cti.webapp.i18n` (English is the message id), with the maps the templates use to label
values (kinds, visibilities, phone labels, the default client types, form fields).

The directory's validation messages are English sentences, some carrying a value
(``'abc' is not a phone number``). :func:`message_id` turns such a sentence back into a
message id with placeholders, so the form can show it in the viewer's language; a message it
does not know is shown as it is, which is still better than nothing.
"""

from __future__ import annotations

import re

KIND_LABELS = {"person": "Person", "company": "Company"}
VISIBILITY_LABELS = {"public": "Public", "private": "Private"}
#: Lower-case ids: "Home" is already the home page's link.
PHONE_LABELS = {"mobile": "mobile", "work": "work", "home": "home", "fax": "fax",
                "other": "other"}
#: The form's fields, as the messages name them.
FIELD_LABELS = {"kind": "Person or company", "name": "Name", "type": "Type", "tags": "Tags",
                "phones": "Phone numbers", "emails": "E-mail addresses",
                "address": "Address", "notes": "Notes", "visibility": "Visibility",
                "owner": "Owner", "company_id": "Company"}

#: Validation messages with a value in them → their message id (``{value}`` etc.).
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<value>.+) is not a phone number$"), "{value} is not a phone number"),
    (re.compile(r"^(?P<value>.+) is not an e-mail address$"),
     "{value} is not an e-mail address"),
    (re.compile(r"^must be one of (?P<choices>.+)$"), "must be one of {choices}"),
    (re.compile(r"^at most (?P<n>\d+) characters$"), "at most {n} characters"),
    (re.compile(r"^at most (?P<n>\d+) (items|numbers)$"), "at most {n} entries"),
)


def message_id(message: str) -> tuple[str, dict[str, str]]:
    """``"'x' is not a phone number"`` → ``("{value} is not a phone number", {"value": "'x'"})``;
    a message without a value is its own id."""
    for pattern, msgid in _PATTERNS:
        found = pattern.match(message)
        if found:
            return msgid, {k: v for k, v in found.groupdict().items() if v is not None}
    return message, {}


CLIENTS_FR: dict[str, str] = {
    # list
    "Search": "Rechercher",
    "Name, number, e-mail or note": "Nom, numéro, e-mail ou note",
    "Tag": "Étiquette",
    "New client": "Nouveau client",
    "{n} clients": "{n} clients",
    "No client matches this search.": "Aucun client ne correspond à cette recherche.",
    "More clients": "Plus de clients",
    "Numbers": "Numéros",
    "Last contact": "Dernier contact",
    "to complete": "à compléter",
    "The client has been deleted.": "Le client a été supprimé.",
    # card
    "Edit": "Modifier",
    "Company": "Entreprise",
    "Members": "Membres",
    "Phone numbers": "Numéros de téléphone",
    "No phone number.": "Aucun numéro de téléphone.",
    "not a valid number": "numéro non valide",
    "E-mail addresses": "Adresses e-mail",
    "Address": "Adresse",
    "Notes": "Notes",
    "Visibility": "Visibilité",
    "Owner": "Propriétaire",
    "Updated": "Modifié",
    "Created automatically from a call: please complete this card.":
        "Créé automatiquement à partir d'un appel : merci de compléter cette fiche.",
    "Calls": "Appels",
    "No call with this client that you may see.":
        "Aucun appel avec ce client parmi ceux que vous pouvez voir.",
    "All calls with this client in the call log ({n})":
        "Tous les appels avec ce client dans le journal d'appels ({n})",
    "Delete this client": "Supprimer ce client",
    "Its calls stay in the call log.": "Ses appels restent dans le journal d'appels.",
    "Delete": "Supprimer",
    "This client cannot be deleted: {reason}": "Ce client ne peut pas être supprimé : {reason}",
    "vCard": "vCard",
    # form
    "Edit {name}": "Modifier {name}",
    "Person or company": "Personne ou entreprise",
    "Name": "Nom",
    "Type": "Type",
    "Tags": "Étiquettes",
    "separated by commas": "séparées par des virgules",
    "one per line": "un par ligne",
    "Only me and supervisors": "Moi et les superviseurs seulement",
    "Everyone": "Tout le monde",
    "Cancel": "Annuler",
    "Check “{field}”: {message}": "Vérifiez « {field} » : {message}",
    # values
    "Person": "Personne",
    "Public": "Publique",
    "Private": "Privée",
    "mobile": "portable",
    "work": "bureau",
    "home": "domicile",
    "fax": "fax",
    "other": "autre",
    "prospect": "prospect",
    "client": "client",
    "vip": "VIP",
    "problem": "à problème",
    "supplier": "fournisseur",
    # the directory's validation messages
    "a name is required": "un nom est obligatoire",
    "a private client needs an owner": "un client privé doit avoir un propriétaire",
    "only a person can belong to a company":
        "seule une personne peut appartenir à une entreprise",
    "this company still has members": "cette entreprise a encore des membres",
    "a client cannot belong to itself": "un client ne peut pas appartenir à lui-même",
    "must be text": "doit être du texte",
    "{value} is not a phone number": "{value} n'est pas un numéro de téléphone",
    "{value} is not an e-mail address": "{value} n'est pas une adresse e-mail",
    "must be one of {choices}": "doit être l'une de ces valeurs : {choices}",
    "at most {n} characters": "{n} caractères au plus",
    "at most {n} entries": "{n} entrées au plus",
}
