"""The simulated PBX's channels and playbacks, serialised exactly as Asterisk 22's ARI does.

Split from :mod:`cti.sim.ari_server` (HTTP, WebSocket, behaviour): this module only knows
shapes. What it reproduces, from the ``ari_stasis`` capture and ``res/ari/*.c``:

* a channel is ``{"id", "name", "state", "protocol_id", "caller", "connected", "accountcode",
  "dialplan", "creationtime", "language"}`` in that order (``ast_channel_snapshot_to_json``);
  ``state`` is ``Down``/``Ring``/``Ringing``/``Up`` (an inbound channel entering the dialplan is
  ``Ring``, an outgoing one ``Down`` then ``Ringing``), ``id`` is Asterisk's ``Uniqueid``
  (``<epoch at creation>.<global sequence>``) and ``name`` ``<tech>/<peer>-<8 hex digits>``;
* timestamps are ``2026-11-23T14:35:50.359+0000`` (``ast_json_timeval``: milliseconds, numeric
  zone; the simulator writes UTC);
* blob fields come first when Asterisk builds the event from a blob (``ChannelVarset``,
  ``ChannelHangupRequest``: ``{"variable", "value", "type", …}``), after ``timestamp`` otherwise
  (``ChannelDestroyed``: ``cause``, ``cause_txt``; ``ChannelDtmfReceived``: ``digit``,
  ``duration_ms``), and the hub appends ``asterisk_id`` and ``application`` last;
* a playback is ``{"id", "media_uri", "target_uri", "language", "state"}`` with ``next_media_uri``
  after ``media_uri`` while a list of media has more to play; its state goes ``queued`` (the
  answer to ``POST …/play``), ``playing`` (``PlaybackStarted``), ``done`` or ``failed``
  (``PlaybackFinished``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from cti.ami.messages import AmiMessage

JsonObject = dict[str, Any]

#: ``ast_state2str`` names and the numbers AMI's ``ChannelState`` uses for them.
STATE_NUMBERS = {"Down": 0, "Rsrvd": 1, "OffHook": 2, "Dialing": 3, "Ring": 4, "Ringing": 5,
                 "Up": 6, "Busy": 7}
#: ``ast_cause2str`` for the causes a simulated call can end with (others read "Unknown").
CAUSE_TEXT = {
    0: "Unknown", 1: "Unallocated (unassigned) number", 16: "Normal Clearing",
    17: "User busy", 18: "No user responding", 19: "User alerting, no answer",
    21: "Call Rejected", 26: "Answered elsewhere", 28: "Invalid number format (addr incomplete)",
    31: "Normal, unspecified", 34: "Circuit/channel congestion", 38: "Network out of order",
    58: "Bearer capability not available", 127: "Interworking, unspecified",
}
#: ``DELETE /channels/{id}?reason=`` words (``convert_reason_to_hangup_code``).
HANGUP_REASONS = {
    "normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "timeout": 18,
    "rejected": 21, "unallocated": 1, "normal_unspecified": 31, "number_incomplete": 28,
    "codec_mismatch": 58, "interworking": 127, "failure": 38, "answered_elsewhere": 26,
}
#: Media URI schemes ``res_stasis_playback`` knows; any other one fails the playback.
MEDIA_SCHEMES = ("sound:", "recording:", "number:", "digits:", "characters:", "tone:")
DTMF_DIGITS = frozenset("0123456789*#ABCD")
SOFTHANGUP_EXPLICIT = 32  # what ARI's DELETE passes to ast_softhangup: the event's "cause"


def ari_timestamp(t: float) -> str:
    """``ast_json_timeval`` in UTC: ``2026-11-23T14:35:50.359+0000``."""
    whole = int(t)
    millis = round((t - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}+0000"


_CALLERID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<num>[^>]*)>\s*$')
_NUMBERISH = re.compile(r"^[0-9+*#()\-. ]+$")


def parse_callerid(text: str) -> tuple[str, str]:
    """``ast_callerid_parse``, simplified: ``"Name" <num>``, ``Name <num>``, a bare number (its
    punctuation shrunk away, as ``ast_shrink_phone_number`` does) or a bare name."""
    match = _CALLERID.match(text)
    if match:
        return match["name"].strip(), match["num"].strip()
    text = text.strip()
    if _NUMBERISH.match(text):
        return "", re.sub(r"[()\-. ]", "", text)
    return text, ""


@dataclass(slots=True)
class SimChannel:
    """One live channel of the simulated PBX (what ``ast_channel_snapshot`` holds)."""

    id: str
    name: str
    state: str
    created: float
    caller: tuple[str, str] = ("", "")  # (name, number)
    connected: tuple[str, str] = ("", "")
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    protocol_id: str = ""
    accountcode: str = ""
    language: str = "en"
    linkedid: str = ""
    stasis_app: str | None = None  # the app controlling it (between StasisStart and StasisEnd)
    subscribers: set[str] = field(default_factory=set)  # apps receiving its events
    variables: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        return {
            "id": self.id, "name": self.name, "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": {"name": self.caller[0], "number": self.caller[1]},
            "connected": {"name": self.connected[0], "number": self.connected[1]},
            "accountcode": self.accountcode,
            "dialplan": {"context": self.context, "exten": self.exten,
                         "priority": self.priority, "app_name": self.app_name,
                         "app_data": self.app_data},
            "creationtime": ari_timestamp(self.created), "language": self.language,
        }

    def ami_fields(self) -> AmiMessage:
        """The channel snapshot as every AMI channel event carries it (``<unknown>`` for an
        empty caller or connected line, as ``ast_manager_build_channel_state_string`` does)."""
        return {
            "Channel": self.name, "ChannelState": str(STATE_NUMBERS.get(self.state, 0)),
            "ChannelStateDesc": self.state,
            "CallerIDNum": self.caller[1] or "<unknown>",
            "CallerIDName": self.caller[0] or "<unknown>",
            "ConnectedLineNum": self.connected[1] or "<unknown>",
            "ConnectedLineName": self.connected[0] or "<unknown>",
            "Language": self.language, "AccountCode": self.accountcode,
            "Context": self.context, "Exten": self.exten, "Priority": str(self.priority),
            "Uniqueid": self.id, "Linkedid": self.linkedid or self.id,
        }


@dataclass(slots=True)
class SimPlayback:
    """One ``POST /channels/{id}/play``: a list of media played in turn on one channel."""

    id: str
    media: list[str]
    channel_id: str
    language: str
    state: str = "queued"
    index: int = 0  # which media is playing

    def to_json(self) -> JsonObject:
        out: JsonObject = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            out["next_media_uri"] = self.media[self.index + 1]
        out.update(target_uri=f"channel:{self.channel_id}", language=self.language,
                   state=self.state)
        return out


def channel_event(kind: str, t: float, channel: SimChannel, *, before: JsonObject | None = None,
                  after: JsonObject | None = None) -> JsonObject:
    """An event about a channel: ``before`` holds blob fields Asterisk puts ahead of ``type``,
    ``after`` the fields it puts between ``timestamp`` and ``channel``."""
    event: JsonObject = dict(before or {})
    event["type"] = kind
    event["timestamp"] = ari_timestamp(t)
    event.update(after or {})
    event["channel"] = channel.to_json()
    return event


def playback_event(kind: str, t: float, playback: SimPlayback) -> JsonObject:
    return {"type": kind, "timestamp": ari_timestamp(t), "playback": playback.to_json()}


def asterisk_info(version: str, entity_id: str, started: float, only: set[str]) -> JsonObject:
    """``GET /asterisk/info`` (``ast_ari_asterisk_get_info``): unknown ``only`` sections are
    ignored, so ``only=bogus`` answers ``{}``, as Asterisk does. The ``build`` values are
    placeholders (nothing was compiled); ``system`` carries the version clients check."""
    sections: JsonObject = {
        "build": {"os": "Linux", "kernel": "6.1.0", "machine": "x86_64",
                  "options": "BUILD_NATIVE, OPTIONAL_API", "date": "2026-11-01 00:00:00 UTC",
                  "user": "cti-sim"},
        "system": {"version": version, "entity_id": entity_id},
        "config": {"name": "", "default_language": "en",
                   "setid": {"user": "", "group": ""}},
        "status": {"startup_time": ari_timestamp(started),
                   "last_reload_time": ari_timestamp(started)},
    }
    return {k: v for k, v in sections.items() if not only or k in only}
