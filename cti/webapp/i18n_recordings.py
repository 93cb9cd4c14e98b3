"""French strings of the recordings' player and its errors."""

from __future__ import annotations

RECORDINGS_FR: dict[str, str] = {
    "Recording…": "Enregistrement en cours…",
    "Available": "Disponible",
    "File missing": "Fichier manquant",
    "File damaged": "Fichier endommagé",
    "Deleted (retention)": "Supprimé (durée de conservation)",
    "Not kept (unanswered)": "Non conservé (appel sans réponse)",
    "The file is not where the PBX wrote it: check the recordings folder.":
        "Le fichier n'est pas là où le standard l'a écrit : vérifiez le dossier des "
        "enregistrements.",
    "The file is damaged or truncated and cannot be played.":
        "Le fichier est endommagé ou tronqué et ne peut pas être lu.",
    "Deleted by the retention rule.": "Supprimé par la règle de conservation.",
    "A partial recording of an unanswered call, not kept.":
        "Enregistrement partiel d'un appel sans réponse, non conservé.",
    "Listened by {name} on {when}": "Écouté par {name} le {when}",
    "Speed": "Vitesse",
    "Download": "Télécharger",
    "No such recording.": "Enregistrement introuvable.",
    "Only the agents who were on the call may listen to it.":
        "Seuls les agents présents sur l'appel peuvent l'écouter.",
    "The recording file is missing.": "Le fichier de l'enregistrement est manquant.",
    "The recording file is damaged and cannot be played.":
        "Le fichier de l'enregistrement est endommagé et ne peut pas être lu.",
    "n must be a number.": "n doit être un nombre.",
    "Play the recording": "Écouter l'enregistrement",
    "Recordings on disk: one file, {size}": "Enregistrements sur disque : un fichier, {size}",
    "Recordings on disk: {files} files, {size}":
        "Enregistrements sur disque : {files} fichiers, {size}",
}
