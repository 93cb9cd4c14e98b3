"""A call's transcript and quality result as the call page (and ``/api/calls/{pbx}/{id}``)
shows them.

Who may read them: exactly who may listen to the recordings
(:func:`~cti.webapp.recordings_web.talked_in_record`: supervisors, and the agents who talked on
the call). A transcript is the recording in another form, and the quality result quotes it,
so a colleague whose phone merely rang sees neither — not in the page, not in the JSON.

The transcript is shown as a conversation: the words of every track (the mixed file, or the
agent's and the caller's legs) merged on one time line and grouped in turns by speaker. Each
word keeps its recording and start time, so a click seeks the right player; words inside a
rule's evidence or an alert are marked so the reader finds them in the flow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cti.speech.explain import Text
from cti.speech.worker import jobs
from cti.users import User
from cti.webapp.i18n import translator
from cti.webapp.keys import LANG, SETTINGS, STORE
from cti.webapp.recordings_web import talked_in_record
from cti.webapp.templating import duration

SPEAKER_LABELS = {"agent": "Agent", "caller": "Caller", "mixed": "Speaker"}


def clock(seconds: Any) -> str:
    """Seconds into the recording as a player shows them: ``75.2`` → ``1:15``."""
    total = max(0, int(float(seconds or 0)))
    m, s = divmod(total, 60)
    return f"{m}:{s:02d}"


def may_read(call: dict[str, Any], user: User) -> bool:
    return user.at_least("supervisor") or bool(talked_in_record(call) & set(user.extensions))


def _recording_of(transcripts: list[dict[str, Any]]) -> dict[str, int]:
    """Speaker → the recording that carries their voice (the mixed file hears everybody)."""
    out: dict[str, int] = {}
    for t in transcripts:
        out.setdefault(str(t["speaker"]), int(t["recording_id"]))
    fallback = out.get("mixed") or (int(transcripts[0]["recording_id"]) if transcripts else 0)
    for speaker in ("agent", "caller", "mixed"):
        out.setdefault(speaker, fallback)
    return out


def _explained(stored: object, english: object, tr: Callable[[str], str]) -> str:
    """A rule's explanation in the reader's language: the stored template tree rendered
    through the catalog, else (a result scored before explanations were stored as trees)
    the English sentence as it was stored."""
    text = Text.from_json(stored)
    return text.render(tr) if text is not None else str(english or "")


def _moment(item: dict[str, Any], recs: dict[str, int],
            tr: Callable[[str], str] = str) -> dict[str, Any]:
    speaker = str(item.get("speaker") or "mixed")
    start = float(item.get("start") or 0.0)
    return {"quote": "", "keyword": "", "severity": "", **item,
            "note": _explained(item.get("note_t"), item.get("note"), tr),
            "start": start, "at": clock(start), "speaker": speaker,
            "speaker_label": SPEAKER_LABELS.get(speaker, "Speaker"),
            "rec": recs.get(speaker) or None}


def _facts(m: dict[str, Any]) -> list[dict[str, str]]:
    """The few metrics people read at a glance, formatted for humans (``speaker``: whose)."""
    out: list[dict[str, str]] = []
    if m.get("agent_ratio") is not None:
        ratio = round(float(m["agent_ratio"]) * 100)
        out.append({"label": "Agent talk ratio", "value": f"{ratio} %"})
    if m.get("longest_silence") is not None:
        out.append({"label": "Longest silence", "value": duration(m["longest_silence"])})
    if m.get("overtalk_seconds") is not None:
        out.append({"label": "Overtalk", "value": duration(m["overtalk_seconds"])})
    for speaker, wpm in sorted((m.get("words_per_minute") or {}).items()):
        if wpm:
            out.append({"label": "Words per minute", "value": f"{round(float(wpm))}",
                        "speaker": SPEAKER_LABELS.get(speaker, "Speaker")})
    return out


def present_quality(row: dict[str, Any], transcripts: list[dict[str, Any]],
                    tr: Callable[[str], str] = str) -> dict[str, Any]:
    recs = _recording_of(transcripts)
    result = json.loads(row["result"] or "{}")
    metrics = json.loads(row["metrics"] or "{}")
    rules = []
    for r in result.get("rules") or ():
        label = str(r.get("name", "")).replace("_", " ").capitalize()
        rules.append({"skipped": False, "passed": False, **r, "label": label,
                      "detail": _explained(r.get("explain"), r.get("detail"), tr),
                      "evidence": [_moment(e, recs, tr) for e in r.get("evidence") or ()]})
    return {"score": round(float(row["score"])), "scorecard": row["scorecard"],
            "agent": row["agent"], "rules": rules,
            "alerts": [_moment(a, recs) for a in result.get("alerts") or ()],
            "metrics": metrics, "facts": _facts(metrics)}


async def speech_of_call(request: web.Request, call: dict[str, Any],
                         user: User) -> dict[str, Any]:
    """``transcripts`` and ``quality`` of the call, empty for whoever may not listen."""
    if not may_read(call, user):
        return {"transcripts": [], "quality": None}
    store = request.app[STORE]
    transcripts = await jobs.transcripts_of_call(store, call["pbx"], call["call_id"])
    row = await store.query_one(
        "SELECT scorecard, score, result, metrics, agent FROM call_quality "
        "WHERE pbx = ? AND call_id = ?", (call["pbx"], call["call_id"]))
    tr = translator(request.get(LANG) or request.app[SETTINGS].language)
    quality = present_quality(row, transcripts, tr) if row is not None else None
    return {"transcripts": transcripts, "quality": quality}


def _spans(quality: dict[str, Any] | None) -> list[tuple[float, float, str, str]]:
    if quality is None:
        return []
    out = [(float(a["start"]), float(a.get("end") or a["start"]), a["speaker"], "alert")
           for a in quality["alerts"]]
    for rule in quality["rules"]:
        out += [(float(e["start"]), float(e.get("end") or e["start"]), e["speaker"], "evidence")
                for e in rule["evidence"]]
    return out


def transcript_turns(transcripts: list[dict[str, Any]],
                     quality: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """All tracks' words on one time line, grouped in turns by speaker. The per-party legs
    are preferred when present (a mixed file beside them would say everything twice)."""
    parties = [t for t in transcripts if t["speaker"] in ("agent", "caller")]
    words: list[dict[str, Any]] = []
    for t in parties or transcripts:
        speaker = str(t["speaker"]) if t["speaker"] in ("agent", "caller") else "mixed"
        for w in t["words"]:
            try:
                start, end = float(w["start"]), float(w.get("end") or w["start"])
            except (KeyError, TypeError, ValueError):
                continue
            words.append({"text": str(w.get("text", "")), "start": start, "end": end,
                          "speaker": speaker, "rec": int(t["recording_id"])})
    words.sort(key=lambda w: (w["start"], w["end"]))
    spans = _spans(quality)
    turns: list[dict[str, Any]] = []
    for w in words:
        marks = {kind for (s, e, who, kind) in spans
                 if s - 0.01 <= w["start"] <= e + 0.01 and who in (w["speaker"], "mixed", "")}
        w["mark"] = "alert" if "alert" in marks else ("evidence" if marks else "")
        if not turns or turns[-1]["speaker"] != w["speaker"]:
            turns.append({"speaker": w["speaker"], "label": SPEAKER_LABELS[w["speaker"]],
                          "start": w["start"], "at": clock(w["start"]), "words": []})
        turns[-1]["words"].append(w)
    return turns
