"""Live control of a call's recording: pause, resume and stop, from the pop or the board.

Why: compliance. While a client reads out a card number, or says something they asked not to
be kept, the agent pauses the recording and resumes it after (PCI DSS practice), or a
supervisor stops it.

How Asterisk does it: MixMonitor runs as an audiohook *on one channel* — the one whose dialplan
started it, which sets ``MIXMONITOR_FILENAME`` on that channel. So this service watches the raw
AMI ``VarSet`` of the recording variables (the daemon hands every AMI event to
:meth:`RecordingControl.on_ami_event`, as for click-to-dial) and remembers, per call
(``Linkedid``), which channels record. Then:

* **pause / resume** → ``MixMonitorMute`` (``Direction: both``, ``State: 1`` / ``0``): the file
  keeps its timeline, with silence while muted, so durations and word timings stay true;
* **stop** → ``StopMixMonitor``: the recording ends for the rest of the call.

Channel names come from the PBX, never from the person asking: nothing typed reaches an action.
Every attempt (and its answer) goes to the audit log; who may ask is the web layer's call
(agents who took part, supervisors).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from cti.ami.messages import AmiMessage
from cti.errors import AmiActionError, AmiError
from cti.pbx.actions import ActionSender
from cti.pbx.audit import AuditEntry, AuditLog
from cti.users import User

log = logging.getLogger(__name__)

RECORDING_VARIABLES = frozenset({"MIXMONITOR_FILENAME", "CTI_RECORDING"})
ACTIONS = ("pause", "resume", "stop")
MAX_CALLS = 10_000


class RecordingRefused(Exception):
    """A request that cannot be carried out: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class CallRecordings:
    """The channels recording one call, and whether the recording is paused."""

    channels: dict[str, str] = field(default_factory=dict)  # Uniqueid → channel name
    paused: bool = False
    stopped: bool = False


class RecordingControl:
    def __init__(self, senders: Mapping[str, ActionSender], audit: AuditLog) -> None:
        self.senders = dict(senders)
        self.audit = audit
        self.calls: dict[tuple[str, str], CallRecordings] = {}

    # ------------------------------------------------------------------ what records
    def on_ami_event(self, pbx: str, msg: AmiMessage) -> None:
        event = msg.get("Event")
        if event == "VarSet" and msg.get("Variable", "").lstrip("_") in RECORDING_VARIABLES:
            linkedid, uid, name = msg.get("Linkedid"), msg.get("Uniqueid"), msg.get("Channel")
            if linkedid and uid and name and msg.get("Value"):
                if len(self.calls) >= MAX_CALLS:  # a Hangup never seen must not grow memory
                    del self.calls[next(iter(self.calls))]
                entry = self.calls.setdefault((pbx, linkedid), CallRecordings())
                entry.channels[uid] = name
                entry.stopped = False
        elif event == "Hangup":
            key = (pbx, msg.get("Linkedid", ""))
            ended = self.calls.get(key)
            if ended is not None:
                ended.channels.pop(msg.get("Uniqueid", ""), None)
                if not ended.channels:
                    del self.calls[key]

    def state(self, pbx: str, call_id: str) -> str:
        """``recording``, ``paused``, ``stopped`` or ``none``."""
        entry = self.calls.get((pbx, call_id))
        if entry is None or not entry.channels:
            return "none"
        if entry.stopped:
            return "stopped"
        return "paused" if entry.paused else "recording"

    # ------------------------------------------------------------------ commands
    async def control(self, user: User, pbx: str, call_id: str, action: str, *,
                      ip: str = "") -> str:
        """Carry out ``action`` on every channel recording the call; returns the new state."""
        entry_log = AuditEntry(user.username, f"recording_{action}", f"{pbx}/{call_id}", "",
                               user_id=user.id, pbx=pbx, ip=ip)
        try:
            state = await self._control(pbx, call_id, action)
        except RecordingRefused as exc:
            await self.audit.record(_with(entry_log, exc.code))
            raise
        await self.audit.record(_with(entry_log, "sent"))
        return state

    async def _control(self, pbx: str, call_id: str, action: str) -> str:
        if action not in ACTIONS:
            raise RecordingRefused(400, "bad_action", "The action must be pause, resume or stop.")
        sender = self.senders.get(pbx)
        entry = self.calls.get((pbx, call_id))
        if sender is None or entry is None or not entry.channels or entry.stopped:
            raise RecordingRefused(409, "not_recording", "This call is not being recorded.")
        for name in list(entry.channels.values()):
            if action == "stop":
                fields = {"Action": "StopMixMonitor", "Channel": name}
            else:
                fields = {"Action": "MixMonitorMute", "Channel": name, "Direction": "both",
                          "State": "1" if action == "pause" else "0"}
            try:
                await sender.send_action(fields)
            except AmiActionError as exc:
                log.warning("recording %s on %s refused by the PBX: %s", action, name, exc)
                raise RecordingRefused(409, "refused", "The phone system refused: "
                                       f"{exc}") from None
            except AmiError as exc:
                raise RecordingRefused(503, "pbx_unavailable",
                                       "The phone system cannot be reached.") from exc
        if action == "stop":
            entry.stopped = True
        else:
            entry.paused = action == "pause"
        return self.state(pbx, call_id)


def _with(entry: AuditEntry, result: str) -> AuditEntry:
    return AuditEntry(entry.username, entry.action, entry.target, result, user_id=entry.user_id,
                      pbx=entry.pbx, ip=entry.ip)
