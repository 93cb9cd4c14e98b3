"""Queue and recording actions of the simulator's AMI: QueueStatus, QueueSummary, MixMonitor,
StopMixMonitor, MixMonitorMute, answered as Asterisk 22 does (``apps/app_queue.c``,
``apps/app_mixmonitor.c``).

Plugged into an :class:`~cti.sim.ami_server.AmiServer` with :func:`install`, through its
``register_action`` API. What a client can tell apart:

* ``QueueStatus`` answers ``Response: Success`` / ``EventList: start`` / ``Message: Queue status
  will follow``, then per queue (``Queue:`` filter, case-insensitive) one ``QueueParams``, its
  ``QueueMember`` events (``Member:`` filter on interface or name) and a ``QueueEntry`` per
  waiting caller, then ``QueueStatusComplete`` counting them all in ``ListItems``. The items are
  written by ``astman_append``: no ``Privilege`` line, and ``ActionID`` comes *last*;
* ``QueueSummary`` does the same with one ``QueueSummary`` per queue: ``LoggedIn`` counts the
  members not unavailable, ``Available`` those idle (device ``NOT_INUSE``) and not paused;
* ``MixMonitor`` needs ``Channel`` (``No channel specified``) naming a live channel by name or
  ``Uniqueid`` (``No such channel``), and a ``File`` (or ``r()``/``t()`` options), else ``Could
  not start monitoring channel``. A relative file lands in ``/var/spool/asterisk/monitor``. The
  answer is ``Response: Success`` with no ``Message`` (plus ``MixMonitorID`` with the
  ``i(var)`` option), then events with the channel's snapshot: ``VarSet`` of the ``i()``
  variable, ``VarSet MIXMONITOR_FILENAME``, ``MixMonitorStart``, in the order of the
  ``queue_ringall`` capture. ``StopMixMonitor`` (optionally by ``MixMonitorID``) answers
  ``Could not stop monitoring channel`` when nothing records, else Success and
  ``MixMonitorStop``. ``MixMonitorMute`` (``Direction`` read/write/both, ``State`` 1/0) answers
  ``Cannot set mute flag`` when nothing records, else the ``MixMonitorMute`` event and Success.
  A recording the dialplan of a played call started (its ``VarSet MIXMONITOR_FILENAME``) counts
  as running, as on a real PBX.

The simulator has no queue engine: members and strategies are configuration, device states come
from the channels the PBX state knows (``PJSIP/1001-…`` makes member ``PJSIP/1001`` in use or
ringing, as ``ast_devstate_aggregate`` would), and a waiting caller is a channel running
``Queue(<name>,…)`` that is not bridged yet. Counters (calls taken, hold and talk times) read 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import TRUE_WORDS, AmiRequest, AmiSession, format_message
from cti.sim.ami_state import ChannelRecord

MONITOR_DIR = "/var/spool/asterisk/monitor"  # ast_config_AST_MONITOR_DIR
# Device states (enum ast_device_state), as QueueMember's Status prints them.
NOT_INUSE, INUSE, BUSY, RINGING, RINGINUSE = 1, 2, 3, 6, 7
#: ``ast_state_chan2dev``: channel state (AMI number) -> device state. Others are INUSE.
_CHAN2DEV = {0: NOT_INUSE, 5: RINGING, 7: BUSY, 10: RINGING}
_OPTION = re.compile(r"([A-Za-z])(?:\(([^)]*)\))?")


@dataclass(frozen=True, slots=True)
class Recording:
    """One running MixMonitor: its id (``MixMonitorID``) and absolute file name."""

    id: str
    filename: str


def _member_state(records: list[ChannelRecord]) -> int:
    devices = {_CHAN2DEV.get(int(r.fields["ChannelState"] or 0), INUSE) for r in records}
    if INUSE in devices:
        return RINGINUSE if RINGING in devices else INUSE
    if RINGING in devices:
        return RINGING
    return BUSY if BUSY in devices else NOT_INUSE


def _cid(value: str) -> str:
    """``S_COR(valid, str, "unknown")``: AMI's ``<unknown>`` means the id was not valid."""
    return "unknown" if value in ("", "<unknown>") else value


class QueueActions:
    """The four actions and their state (configured queues, running MixMonitors)."""

    def __init__(self, server: AmiServer, queues: Mapping[str, list[tuple[str, str]]],
                 strategies: Mapping[str, str] | None = None,
                 monitor_dir: str = MONITOR_DIR) -> None:
        self.server = server
        self.queues = {name: list(members) for name, members in queues.items()}
        self.strategies = dict(strategies or {})
        self.monitor_dir = monitor_dir.rstrip("/")
        self.login_time = int(server.clock())  # static members log in when app_queue loads
        self.recordings: dict[str, list[Recording]] = {}  # Uniqueid -> running MixMonitors
        self._ids = 0

    # -- queue state, derived from the PBX state
    def _member_channels(self, interface: str) -> list[ChannelRecord]:
        prefix = interface.lower() + "-"
        return [r for r in self.server.state.channels.values()
                if r.fields["Channel"].lower().startswith(prefix)]

    def _entries(self, queue: str) -> list[ChannelRecord]:
        return sorted((r for r in self.server.state.channels.values()
                       if r.application.lower() == "queue" and not r.bridge_id
                       and r.application_data.split(",")[0].strip().lower() == queue.lower()),
                      key=lambda r: r.created_at)

    def _selected(self, req: AmiRequest) -> list[str]:
        wanted = req.get("Queue").lower()
        return [q for q in self.queues if not wanted or q.lower() == wanted]

    def _send_list(self, session: AmiSession, req: AmiRequest, message: str, complete: str,
                   items: list[list[tuple[str, str]]]) -> None:
        session.reply(req, "Success", listflag="start", message=message)
        id_pair = [("ActionID", req.action_id)] if req.action_id else []
        out = [format_message([*item, *id_pair]) for item in items]
        out.append(format_message([("Event", complete), *id_pair, ("EventList", "Complete"),
                                   ("ListItems", str(len(items)))]))
        session.send(b"".join(out))

    # -- QueueStatus / QueueSummary
    def queue_status(self, session: AmiSession, req: AmiRequest) -> None:
        member_filter = req.get("Member")
        now = self.server.clock()
        items: list[list[tuple[str, str]]] = []
        for queue in self._selected(req):
            entries = self._entries(queue)
            items.append([
                ("Event", "QueueParams"), ("Queue", queue), ("Max", "0"),
                ("Strategy", self.strategies.get(queue, "ringall")),
                ("Calls", str(len(entries))), ("Holdtime", "0"), ("TalkTime", "0"),
                ("Completed", "0"), ("Abandoned", "0"), ("ServiceLevel", "0"),
                ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"), ("Weight", "0")])
            for interface, name in self.queues[queue]:
                if member_filter and member_filter not in (interface, name):
                    continue
                channels = self._member_channels(interface)
                in_call = any(r.bridge_id and r.fields["ChannelState"] == "6" for r in channels)
                items.append([
                    ("Event", "QueueMember"), ("Queue", queue), ("Name", name or interface),
                    ("Location", interface), ("StateInterface", interface),
                    ("Membership", "static"), ("Penalty", "0"), ("CallsTaken", "0"),
                    ("LastCall", "0"), ("LastPause", "0"), ("LoginTime", str(self.login_time)),
                    ("InCall", "1" if in_call else "0"),
                    ("Status", str(_member_state(channels))), ("Paused", "0"),
                    ("PausedReason", ""), ("Wrapuptime", "0")])
            for position, rec in enumerate(entries, 1):
                f = rec.fields
                items.append([
                    ("Event", "QueueEntry"), ("Queue", queue), ("Position", str(position)),
                    ("Channel", f["Channel"]), ("Uniqueid", f["Uniqueid"]),
                    ("CallerIDNum", _cid(f["CallerIDNum"])),
                    ("CallerIDName", _cid(f["CallerIDName"])),
                    ("ConnectedLineNum", _cid(f["ConnectedLineNum"])),
                    ("ConnectedLineName", _cid(f["ConnectedLineName"])),
                    ("Wait", str(max(0, int(now - rec.created_at)))), ("Priority", "0")])
        self._send_list(session, req, "Queue status will follow", "QueueStatusComplete", items)

    def queue_summary(self, session: AmiSession, req: AmiRequest) -> None:
        now = self.server.clock()
        items: list[list[tuple[str, str]]] = []
        for queue in self._selected(req):
            states = [_member_state(self._member_channels(i)) for i, _ in self.queues[queue]]
            waits = [max(0, int(now - r.created_at)) for r in self._entries(queue)]
            items.append([
                ("Event", "QueueSummary"), ("Queue", queue), ("LoggedIn", str(len(states))),
                ("Available", str(sum(s == NOT_INUSE for s in states))),
                ("Callers", str(len(waits))), ("HoldTime", "0"), ("TalkTime", "0"),
                ("LongestHoldTime", str(max(waits, default=0)))])
        self._send_list(session, req, "Queue summary will follow", "QueueSummaryComplete",
                        items)

    # -- MixMonitor / StopMixMonitor
    def _channel(self, session: AmiSession, req: AmiRequest) -> ChannelRecord | None:
        """``ast_channel_get_by_name``: a name (any case) or a Uniqueid; answers the errors."""
        channels = self.server.state.channels
        for uid in [u for u in self.recordings if u not in channels]:
            del self.recordings[uid]  # hung up: its recordings ended with it
        name = req.get("Channel")
        if not name:
            session.reply(req, "Error", message="No channel specified")
            return None
        rec = channels.get(name) or next(
            (r for r in channels.values() if r.fields["Channel"].lower() == name.lower()), None)
        if rec is None:
            session.reply(req, "Error", message="No such channel")
        return rec

    def _emit(self, event: str, privilege: str, rec: ChannelRecord,
              *extra: tuple[str, str]) -> None:
        self.server.emit({"Event": event, "Privilege": privilege, **rec.fields, **dict(extra)})

    def mixmonitor(self, session: AmiSession, req: AmiRequest) -> None:
        rec = self._channel(session, req)
        if rec is None:
            return
        options = {m[1]: m[2] or "" for m in _OPTION.finditer(req.get("Options"))}
        file = req.get("File")
        if not file and "r" not in options and "t" not in options:
            session.reply(req, "Error", message="Could not start monitoring channel")
            return
        filename = file if not file or file.startswith("/") else f"{self.monitor_dir}/{file}"
        self._ids += 1
        recording = Recording(f"0x{0x7f2500000000 + self._ids * 0x100:x}", filename)
        self.recordings.setdefault(rec.fields["Uniqueid"], []).append(recording)
        id_var = options.get("i", "")
        session.reply(req, "Success", *([("MixMonitorID", recording.id)] if id_var else []))
        if id_var:
            self._emit("VarSet", "dialplan,all", rec, ("Variable", id_var),
                       ("Value", recording.id))
        if filename:
            self._emit("VarSet", "dialplan,all", rec, ("Variable", "MIXMONITOR_FILENAME"),
                       ("Value", filename))
        self._emit("MixMonitorStart", "call,all", rec)

    def stop_mixmonitor(self, session: AmiSession, req: AmiRequest) -> None:
        rec = self._channel(session, req)
        if rec is None:
            return
        wanted = req.get("MixMonitorID")
        running = self.recordings.get(rec.fields["Uniqueid"], [])
        target = next((r for r in running if not wanted or r.id == wanted), None)
        if target is None and not (rec.recording and not wanted):
            session.reply(req, "Error", message="Could not stop monitoring channel")
            return
        if target is not None:
            running.remove(target)
        if not running:
            rec.recording = ""  # (a played call's dialplan MixMonitor stops the same way)
        session.reply(req, "Success")
        self._emit("MixMonitorStop", "call,all", rec)

    def mute_mixmonitor(self, session: AmiSession, req: AmiRequest) -> None:
        """``MixMonitorMute``: the checks in ``manager_mute_mixmonitor``'s order, then Success
        and the ``MixMonitorMute`` event (Asterisk 16.17+/18.3+)."""
        if not req.get("Channel"):
            session.reply(req, "Error", message="No channel specified")
            return
        state = req.get("State")
        if not state:
            session.reply(req, "Error", message="No state specified")
            return
        direction = (req.get("Direction") or "").lower()
        if direction not in ("read", "write", "both"):
            session.reply(req, "Error",
                          message="Invalid direction specified. Must be read, write or both")
            return
        rec = self._channel(session, req)
        if rec is None:
            return
        if not (rec.recording or self.recordings.get(rec.fields["Uniqueid"])):
            session.reply(req, "Error", message="Cannot set mute flag")
            return
        muted = "1" if state.strip().lower() in TRUE_WORDS else "0"
        session.reply(req, "Success")  # the event goes through stasis: it comes after
        self._emit("MixMonitorMute", "call,all", rec, ("Direction", direction),
                   ("State", muted))


def install(server: AmiServer, queues: Mapping[str, list[tuple[str, str]]], *,
            strategies: Mapping[str, str] | None = None,
            monitor_dir: str = MONITOR_DIR) -> QueueActions:
    """Register QueueStatus, QueueSummary, MixMonitor and StopMixMonitor on ``server``.

    ``queues`` maps a queue name to its static members as ``(interface, member name)``, in
    ``queues.conf`` order (``member => PJSIP/1001,0,Alice Martin``); ``strategies`` gives each
    queue's ``strategy`` (default ``ringall``). Returns the actions' state (``recordings``).
    """
    actions = QueueActions(server, queues, strategies, monitor_dir)
    server.register_action("QueueStatus", actions.queue_status)
    server.register_action("QueueSummary", actions.queue_summary)
    server.register_action("MixMonitor", actions.mixmonitor)
    server.register_action("StopMixMonitor", actions.stop_mixmonitor)
    server.register_action("MixMonitorMute", actions.mute_mixmonitor)
    return actions
