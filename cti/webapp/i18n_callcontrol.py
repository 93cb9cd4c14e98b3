"""French strings of call control: the pop's controls (``_callcontrol.html``,
``callcontrol.js``), the board's supervision buttons, and the messages of the refusals
(:mod:`cti.pbx.call_control`, :mod:`cti.pbx.supervision`), which the API translates."""

from __future__ import annotations

CALLCONTROL_FR: dict[str, str] = {
    # the pop
    "Hold": "Mettre en attente",
    "Resume": "Reprendre l'appel",
    "Hang up": "Raccrocher",
    "Transfer to": "Transférer vers",
    "Extension": "Poste",
    "or a group": "ou un groupe",
    "Transfer": "Transférer",
    "Consult first": "Consulter d'abord",
    "Complete transfer": "Terminer le transfert",
    "Back to the caller": "Revenir à l'appelant",
    "Sending…": "Envoi…",
    "Hung up.": "Raccroché.",
    "Transferred to {target}.": "Transféré vers {target}.",
    "Calling {target}… the caller is on hold.":
        "Appel de {target}… l'appelant est en attente.",
    "{target} answered: complete the transfer or go back to the caller.":
        "{target} a répondu : terminez le transfert ou revenez à l'appelant.",
    "Transfer completed.": "Transfert terminé.",
    "Back with the caller.": "De retour avec l'appelant.",
    "Your phone rings: pick up to talk to the caller again.":
        "Votre poste sonne : décrochez pour reprendre l'appelant.",
    "On hold (space {space}): the caller hears music.":
        "En attente (place {space}) : l'appelant entend la musique d'attente.",
    "Could not do it: {error}": "Impossible : {error}",
    # the board
    "Supervision": "Supervision",
    "Listen": "Écouter",
    "Whisper": "Souffler",
    "Barge": "Intervenir",
    "Your phone rings…": "Votre poste sonne…",
    "Your phone rings, then you hear the agent ({mode}).":
        "Votre poste sonne, puis vous entendez l'agent ({mode}).",
    # refusals (cti.pbx.call_control, cti.pbx.supervision)
    "Unknown call control action.": "Action inconnue sur l'appel.",
    "A transfer target is an extension (digits only) or one of the groups offered.":
        "La cible d'un transfert est un poste (chiffres uniquement) ou l'un des groupes "
        "proposés.",
    "This phone system is not connected.": "Ce standard n'est pas connecté.",
    "This call is not in progress.": "Cet appel n'est pas en cours.",
    "You are not on this call.": "Vous n'êtes pas sur cet appel.",
    "A consultation is already in progress.": "Une consultation est déjà en cours.",
    "No consultation is in progress.": "Aucune consultation en cours.",
    "The consultation call has not started yet; try again in a moment.":
        "L'appel de consultation n'a pas encore commencé ; réessayez dans un instant.",
    "The call is already on hold.": "L'appel est déjà en attente.",
    "Nobody is connected to this phone.": "Personne n'est en ligne sur ce poste.",
    "The call is not on hold.": "L'appel n'est pas en attente.",
    "You have no phone extension to take the call back on.":
        "Vous n'avez pas de poste sur lequel reprendre l'appel.",
    "Only who put the call on hold may take it back.":
        "Seul qui a mis l'appel en attente peut le reprendre.",
    "This phone is not connected to anyone yet.": "Ce poste n'est encore en ligne avec personne.",
    "Only who started the consultation may end it.":
        "Seul qui a lancé la consultation peut la terminer.",
    "The phone system refused: {reason}": "Le standard a refusé : {reason}",
    "The phone system cannot be reached.": "Le standard est injoignable.",
    "The phone system reported an unusable channel name.":
        "Le standard a signalé un nom de canal inutilisable.",
    "Only supervisors may listen to calls.": "Seuls les superviseurs peuvent écouter les appels.",
    "The mode must be listen, whisper or barge.":
        "Le mode doit être listen (écoute), whisper (souffle) ou barge (intervention).",
    "You have no phone extension to listen on; ask an administrator to bind one to your "
    "account.": "Vous n'avez pas de poste pour écouter ; demandez à un administrateur de vous "
                "en attribuer un.",
    "You are on this call yourself.": "Vous êtes vous-même sur cet appel.",
    "No agent is talking on this call yet.": "Aucun agent ne parle encore sur cet appel.",
}
