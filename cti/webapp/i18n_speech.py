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
    # /admin/scorecard
    "Scorecard": "Grille qualité",
    "The quality rules every transcribed call is scored against (TOML: [global.<rule>] tables, "
    "[queues.<queue>.<rule>] to change a rule for one queue). A new version applies to the "
    "calls scored from now on.":
        "Les règles qualité appliquées à chaque appel transcrit (TOML : tables [global.<règle>], "
        "[queues.<file>.<règle>] pour changer une règle pour une file). Une nouvelle version "
        "s'applique aux appels notés à partir de maintenant.",
    "Saved: this version is now in force.": "Enregistrée : cette version est en vigueur.",
    "Not saved: {error}": "Non enregistrée : {error}",
    "Rules": "Règles",
    "What changed (optional)": "Ce qui change (facultatif)",
    "Check and save": "Vérifier et enregistrer",
    "Versions": "Versions",
    "The scorecard is empty or too long.": "La grille est vide ou trop longue.",
}
