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
    # rule explanations (cti.speech.explain.TEMPLATES): the words around what was said
    "{a}; {b}": "{a} ; {b}",
    "anyone": "personne",
    "the agent": "l'agent",
    "the caller": "l'appelant",
    "caller": "appelant",
    "in the last {seconds:g} s (from {start})": "dans les {seconds:g} dernières s (à partir de "
                                                 "{start})",
    "anywhere in the call": "à n'importe quel moment de l'appel",
    "in the first {seconds:g} s": "dans les {seconds:g} premières s",
    "between {start} and {end}": "entre {start} et {end}",
    "{shown} and {more} more": "{shown} et {more} autres",
    "not applicable: no value for {names}": "non applicable : pas de valeur pour {names}",
    '{speaker} said "{quote}" at {at} {where}': "{speaker} a dit « {quote} » à {at} {where}",
    "not found: {who} said none of {phrases} {where} (similarity ≥ {threshold:.2f})":
        "introuvable : {who} n'a dit aucune de ces phrases : {phrases} {where} (similarité ≥ "
        "{threshold:.2f})",
    "{who} said nothing there": "{who} n'a rien dit à ce moment-là",
    'closest was "{quote}" at {at}': "le plus proche : « {quote} » à {at}",
    '≈ "{phrase}" (similarity {similarity:.2f})': "≈ « {phrase} » (similarité {similarity:.2f})",
    'closest: ≈ "{phrase}" (similarity {similarity:.2f} < {threshold:.2f})':
        "le plus proche : ≈ « {phrase} » (similarité {similarity:.2f} < {threshold:.2f})",
    "{who} said none of the {count} forbidden words":
        "{who} n'a dit aucun des {count} mots interdits",
    "forbidden words said: {said}": "mots interdits prononcés : {said}",
    '"{quote}" at {at}': "« {quote} » à {at}",
    "no silence at all": "aucun silence",
    "{seconds:.1f} s of silence after these words": "{seconds:.1f} s de silence après ces mots",
    "{seconds:.1f} s of silence from the start": "{seconds:.1f} s de silence dès le début",
    "longest silence {seconds:.1f} s from {start} to {end} (within the {limit:g} s limit)":
        "plus long silence : {seconds:.1f} s de {start} à {end} (dans la limite de {limit:g} s)",
    "longest silence {seconds:.1f} s from {start} to {end} (over the {limit:g} s limit)":
        "plus long silence : {seconds:.1f} s de {start} à {end} (au-delà de la limite de "
        "{limit:g} s)",
    "not applicable: needs the agent's and the caller's legs recorded apart (or some talk)":
        "non applicable : il faut les voix de l'agent et de l'appelant enregistrées à part (et "
        "qu'ils aient parlé)",
    "the agent talked {ratio:.0%} of the talk time ({agent:.1f} s of {total:.1f} s); "
    "expected {low:.0%}–{high:.0%}":
        "l'agent a parlé {ratio:.0%} du temps de conversation ({agent:.1f} s sur {total:.1f} s) ; "
        "attendu {low:.0%}–{high:.0%}",
}
