"""French strings of the admin pages for users (list, create, edit, password reset), merged
into the catalog by :mod:`cti.webapp.i18n` (English is the message id). The message ids the
views use for refusals (by key) and for the notice after a change are here too."""

from __future__ import annotations

NOTICES = {"created": "User created.", "saved": "Changes saved.",
           "password": "Password changed; the user's sessions have ended."}
#: Message ids (English, translated by the catalog) of every refusal, by key.
MESSAGES = {
    "username": "1 to 64 letters, digits or . _ @ -, starting with a letter or digit.",
    "taken": "This username is already taken.",
    "password": "The password must have between {min} and {max} characters.",
    "confirm": "The two passwords differ.",
    "role": "Choose agent, supervisor or admin.",
    "extension": "“{value}” is not an extension: letters, digits and . _ - only.",
    "agent_extension": "An agent needs at least one extension.",
    "language": "Choose French, English or the browser's language.",
    "timezone": "“{value}” is not a time zone (for example Europe/Paris).",
    "display_name": "At most {max} characters.",
    "email": "Not an e-mail address (for example name@example.com).",
    "self_role": "You cannot remove your own admin role.",
    "self_active": "You cannot deactivate your own account.",
    "last_admin": "This is the last active admin: make another user admin first.",
    "invalid": "Invalid value.",
}

ADMIN_FR: dict[str, str] = {
    # list
    "Users": "Utilisateurs",
    "New user": "Nouvel utilisateur",
    "{n} users": "{n} utilisateurs",
    "Display name": "Nom affiché",
    "Extensions": "Postes",
    "Time zone": "Fuseau horaire",
    "Sessions": "Sessions",
    "Active": "Actif",
    "Inactive": "Désactivé",
    "browser's": "du navigateur",
    # form
    "User {name}": "Utilisateur {name}",
    "Please correct the fields below.": "Veuillez corriger les champs ci-dessous.",
    "Open sessions": "Sessions ouvertes",
    "At least {n} characters.": "Au moins {n} caractères.",
    "Confirm the password": "Confirmez le mot de passe",
    "Separated by commas or spaces, for example 1001, 1002. An agent needs at least one.":
        "Séparés par des virgules ou des espaces, par exemple 1001, 1002. Un agent en a "
        "besoin d'au moins un.",
    "The browser's language": "La langue du navigateur",
    "Empty: the browser's time zone.": "Vide : le fuseau horaire du navigateur.",
    "Active (can log in)": "Actif (peut se connecter)",
    "E-mail address": "Adresse e-mail",
    "For ticket notifications. Empty: no e-mail.":
        "Pour les notifications de tickets. Vide : pas d'e-mail.",
    "Deactivating ends the user's open sessions at once.":
        "La désactivation ferme aussitôt les sessions ouvertes de l'utilisateur.",
    "Create the user": "Créer l'utilisateur",
    "Cancel": "Annuler",
    "Reset the password": "Réinitialiser le mot de passe",
    "The user's open sessions end at once.":
        "Les sessions ouvertes de l'utilisateur sont aussitôt fermées.",
    "Change the password": "Changer le mot de passe",
    # notices
    "User created.": "Utilisateur créé.",
    "Changes saved.": "Modifications enregistrées.",
    "Password changed; the user's sessions have ended.":
        "Mot de passe changé ; les sessions de l'utilisateur sont fermées.",
    # refusals
    "1 to 64 letters, digits or . _ @ -, starting with a letter or digit.":
        "1 à 64 lettres, chiffres ou . _ @ -, commençant par une lettre ou un chiffre.",
    "This username is already taken.": "Cet identifiant est déjà pris.",
    "The password must have between {min} and {max} characters.":
        "Le mot de passe doit compter entre {min} et {max} caractères.",
    "The two passwords differ.": "Les deux mots de passe diffèrent.",
    "Choose agent, supervisor or admin.": "Choisissez agent, superviseur ou administrateur.",
    "“{value}” is not an extension: letters, digits and . _ - only.":
        "« {value} » n'est pas un poste : lettres, chiffres et . _ - seulement.",
    "An agent needs at least one extension.": "Un agent a besoin d'au moins un poste.",
    "Choose French, English or the browser's language.":
        "Choisissez le français, l'anglais ou la langue du navigateur.",
    "“{value}” is not a time zone (for example Europe/Paris).":
        "« {value} » n'est pas un fuseau horaire (par exemple Europe/Paris).",
    "At most {max} characters.": "Au plus {max} caractères.",
    "Not an e-mail address (for example name@example.com).":
        "Ce n'est pas une adresse e-mail (par exemple nom@exemple.fr).",
    "You cannot remove your own admin role.":
        "Vous ne pouvez pas retirer votre propre rôle d'administrateur.",
    "You cannot deactivate your own account.":
        "Vous ne pouvez pas désactiver votre propre compte.",
    "This is the last active admin: make another user admin first.":
        "C'est le dernier administrateur actif : nommez d'abord un autre administrateur.",
}
