"""French strings of speech analytics: the call page's transcript and quality result, the
search of what was said, and the per-agent quality averages."""

from __future__ import annotations

SPEECH_FR: dict[str, str] = {
    # the call page
    "Quality": "Qualité",
    "{score}/100": "{score}/100",
    "Play from here": "Écouter à partir d'ici",
    "passed": "réussi",
    "failed": "échoué",
    "skipped": "non évalué",
    "Transcript": "Transcription",
    "Speaker": "Interlocuteur",
    "Agent talk ratio": "Temps de parole de l'agent",
    "Longest silence": "Plus long silence",
    "Overtalk": "Paroles simultanées",
    "Words per minute": "Mots par minute",
    # what was said
    "Said in calls": "Dit pendant les appels",
    "Said in the call": "Dit pendant l'appel",
    "Words spoken": "Mots prononcés",
    "refund": "remboursement",
    "Search transcripts": "Chercher dans les transcriptions",
    "No transcript contains these words.": "Aucune transcription ne contient ces mots.",
    # quality averages
    "Call quality": "Qualité des appels",
    "Calls scored": "Appels évalués",
    "Average score": "Note moyenne",
    "Alerts": "Alertes",
    "unknown": "inconnu",
    "No call scored in this period.": "Aucun appel évalué sur cette période.",
    # /admin/speech
    "Transcriptions": "Transcriptions",
    "Waiting": "En attente",
    "Transcribing": "En cours",
    "Transcribed": "Transcrit",
    "Retry every failed transcription": "Relancer toutes les transcriptions en échec",
    "Waiting, running and failed": "En attente, en cours et en échec",
    "Recording file": "Enregistrement",
    "Attempts": "Tentatives",
    "Retry": "Relancer",
    "Nothing waiting: every recording is transcribed.":
        "Rien en attente : tous les enregistrements sont transcrits.",
}
