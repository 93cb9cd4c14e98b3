"""UI strings in French and English, gettext-style, and the choice of language and time zone.

The English text is the message id (as with gettext's ``_("…")``): templates stay readable, an
untranslated string still shows something sensible, and a test checks that every ``_("…")`` in
the templates and every message the app raises has its French entry. A dict is all the
catalog needs at this size; moving to .po files later changes only :func:`translate`.

Language: the user's saved preference, else an explicit choice (``?lang=`` on the login page,
remembered in the ``cti_lang`` cookie), else the browser's ``Accept-Language``, else
``web.language``. Time zone: the user's, else the browser's (``cti_tz`` cookie, set by
``cti.js`` from ``Intl``), else ``web.timezone``. Times are stored in UTC and converted only
when shown.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cti.webapp.i18n_actions import ACTIONS_FR
from cti.webapp.i18n_admin import ADMIN_FR
from cti.webapp.i18n_board import BOARD_FR
from cti.webapp.i18n_callcontrol import CALLCONTROL_FR
from cti.webapp.i18n_calllog import CALLLOG_FR
from cti.webapp.i18n_clients import CLIENTS_FR
from cti.webapp.i18n_pop import POP_FR
from cti.webapp.i18n_recordings import RECORDINGS_FR
from cti.webapp.i18n_speech import SPEECH_FR
from cti.webapp.i18n_survey import SURVEY_FR
from cti.webapp.i18n_tickets import TICKETS_FR

LANGUAGES: tuple[str, ...] = ("fr", "en")

FR: dict[str, str] = {
    # layout
    "Skip to content": "Aller au contenu",
    "Home": "Accueil",
    "Log out": "Se déconnecter",
    "Language": "Langue",
    "Signed in as {name}": "Connecté en tant que {name}",
    "Times are shown in {tz}.": "Heures affichées dans le fuseau {tz}.",
    # roles
    "agent": "agent",
    "supervisor": "superviseur",
    "admin": "administrateur",
    # login page
    "Log in": "Connexion",
    "Log in to cti": "Connexion à cti",
    "Username": "Identifiant",
    "Password": "Mot de passe",
    "Wrong username or password.": "Identifiant ou mot de passe incorrect.",
    "Too many failed attempts. Try again in {minutes} min.":
        "Trop d'échecs de connexion. Réessayez dans {minutes} min.",
    "Your session has expired, please log in again.":
        "Votre session a expiré, veuillez vous reconnecter.",
    "The login form expired, please try again.":
        "Le formulaire de connexion a expiré, veuillez réessayer.",
    "You have been logged out.": "Vous êtes déconnecté.",
    # home page
    "Welcome, {name}": "Bienvenue, {name}",
    "Role": "Rôle",
    "Your extensions": "Vos postes",
    "none": "aucun",
    "Your phone's calls will pop up here while it rings.":
        "Les appels de votre poste s'afficheront ici pendant qu'il sonne.",
    "Server time": "Heure du serveur",
    # errors
    "Error": "Erreur",
    "Back to the home page": "Retour à l'accueil",
    "Bad request.": "Requête invalide.",
    "Log in first.": "Connectez-vous d'abord.",
    "Missing or wrong CSRF token.": "Jeton CSRF absent ou incorrect.",
    "You are not allowed to do this.": "Vous n'avez pas le droit de faire cela.",
    "Not found.": "Introuvable.",
    "Method not allowed.": "Méthode non autorisée.",
    "Conflict.": "Conflit.",
    "Invalid value.": "Valeur invalide.",
    "Too many requests.": "Trop de requêtes.",
    "Request too large.": "Requête trop volumineuse.",
    "Internal error; it has been logged.": "Erreur interne ; elle a été journalisée.",
    "The request body is not valid JSON.": "Le corps de la requête n'est pas du JSON valide.",
    "The request body must be a JSON object.":
        "Le corps de la requête doit être un objet JSON.",
}

FR.update(POP_FR)  # the screen pop's own strings
FR.update(CALLLOG_FR)  # the call log, the call page and click-to-dial
FR.update(CLIENTS_FR)  # the client list, card and forms
FR.update(BOARD_FR)  # the supervisors' live board
FR.update(CALLCONTROL_FR)  # hold, transfer, hang up; listen, whisper, barge
FR.update(RECORDINGS_FR)  # the recordings' player
FR.update(ADMIN_FR)  # the admin pages for users
FR.update(ACTIONS_FR)  # the action center, its nav badges and reminder toasts
FR.update(TICKETS_FR)  # the ticket pages, attachments, canned phrases and groups
FR.update(SPEECH_FR)  # transcripts, quality results, what was said, QA averages
FR.update(SURVEY_FR)  # satisfaction surveys: a call's answers, per-agent scores

CATALOGS: dict[str, dict[str, str]] = {"en": {}, "fr": FR}

Translator = Callable[..., str]


def translate(lang: str, msgid: str, **values: object) -> str:
    """``msgid`` in ``lang`` (itself when missing), with ``{name}`` placeholders filled."""
    text = CATALOGS.get(lang, {}).get(msgid, msgid)
    return text.format(**values) if values else text


def translator(lang: str) -> Translator:
    """The ``_`` function of templates and views for one language."""

    def _(msgid: str, **values: object) -> str:
        return translate(lang, msgid, **values)

    return _


def negotiate(accept_language: str, default: str) -> str:
    """Best supported language in an ``Accept-Language`` header (q-values honoured)."""
    best, best_q = default, 0.0
    for order, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = tag.strip().lower().split("-")[0]
        # Earlier entries win ties: browsers list the preferred one first.
        score = q - order * 1e-6
        if lang in LANGUAGES and q > 0 and score > best_q:
            best, best_q = lang, score
    return best


def pick_language(user_pref: str | None, explicit: str | None, accept_language: str,
                  default: str) -> str:
    for choice in (user_pref, explicit):
        if choice in LANGUAGES:
            return str(choice)
    return negotiate(accept_language, default if default in LANGUAGES else LANGUAGES[0])


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name``, or None if empty or unknown (cookies are user input)."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def pick_timezone(user_pref: str | None, browser: str | None, default: str) -> ZoneInfo:
    return zone(user_pref) or zone(browser) or zone(default) or ZoneInfo("UTC")
