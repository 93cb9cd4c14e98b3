"""French strings of the satisfaction surveys: the call page's answers and the per-agent
scores of ``/quality``."""

from __future__ import annotations

SURVEY_FR: dict[str, str] = {
    "Satisfaction survey": "Enquête de satisfaction",
    "Satisfaction surveys": "Enquêtes de satisfaction",
    "Question": "Question",
    "Score": "Note",
    "Tries": "Essais",
    "Average": "Moyenne",
    "Surveys": "Enquêtes",
    "Responses": "Réponses",
    "Response rate": "Taux de réponse",
    "Average satisfaction": "Satisfaction moyenne",
    "No survey in this period.": "Aucune enquête sur cette période.",
    "No question was asked: the caller hung up during the introduction.":
        "Aucune question posée : l'appelant a raccroché pendant l'introduction.",
    # questions of the shipped prompts
    "Answer received": "Réponse obtenue",
    "Courtesy": "Amabilité",
    "Would recommend": "Recommandation",
    # survey statuses and answer results ("Answered", "No answer", "In progress", "Result":
    # the call log's own entries)
    "Completed": "Complète",
    "Partly answered": "Réponses partielles",
    "Caller hung up": "Appelant a raccroché",
    "Wrong key": "Touche invalide",
}
