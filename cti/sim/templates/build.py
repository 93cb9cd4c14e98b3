"""Build the call templates from the real captures: ``python -m cti.sim.templates.build FIXTURES``.

What is kept: every event Asterisk sent about the call, in its order and with its fields, except
what belongs to the recording session (banner, login answer, ``FullyBooted``, ``Goodbye`` — left
out by :func:`cti.sim.capture.load_capture` — and the ``SuccessfulAuth`` security event), ``CEL``
events (they double the size and repeat what the channel events say) and ``RTCPSent``/
``RTCPReceived`` (periodic media reports whose count depends on the talk time; a stretched call
would show them at the wrong rhythm). ``QueueMemberStatus`` repeats for the other queues of the
same member are folded into one expandable event, and queue device states (``Queue:…``) are
dropped from calls that do not go through a queue: they describe the lab's queue membership,
not the call.

What becomes a token: see :mod:`cti.sim.templates`. Literals are replaced left to right with the
longest match first and never inside a longer word, so ``1001`` inside ``PJSIP/1001-00000081``
is part of the channel-name token and ``trunk`` in ``from-trunk`` (a context) stays.
:func:`leftovers` then checks that no identity of the capture survived as a literal.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cti.ami.messages import AmiMessage
from cti.calls.model import CallEnded
from cti.calls.tracker import Tracker
from cti.sim.templates import Part, Parts, Template, TemplateEvent, Token, dumps
from cti.sim.templates.lab import (
    LAB_AGENTS,
    LAB_COMPANY,
    LAB_RECDIR,
    LAB_TRUNK,
    capture_events,
    read_roles,
)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SIP_CALLID = re.compile(r"^\d+-\d+@[0-9.]+$")
_STAMP = re.compile(r"(?<!\d)\d{8}-\d{6}(?!\d)")
_CDR_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_TIME_VAR = re.compile(r"^[A-Z]*TIME(_MS)?$")


class TemplateBuilder:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.events, self.epoch = capture_events(folder)
        self.roles = read_roles(folder, self.events)
        self.queue_call = bool(self.roles.queue)
        self.uids: dict[str, int] = {}
        self.names: dict[str, str] = {}
        for _, msg in self.events:
            for key, value in msg.items():
                if (key.endswith("Uniqueid") and not key.endswith("BridgeUniqueid") and value
                        and value not in self.uids):
                    self.uids[value] = len(self.uids)
                    self.names[value] = msg.get(key[:-len("Uniqueid")] + "Channel", "")
        self.linkedid = next(iter(self.uids))
        self.bridges: dict[str, int] = {}
        self.uuids: dict[str, int] = {}
        self.sips: dict[str, int] = {}
        self.member_base: dict[tuple[str, str], str] = {}
        self.stamps: dict[str, float] = {}  # a stamp is evaluated where it first appears
        self.literals = self._literal_table()
        pattern = "|".join(re.escape(k) for k in sorted(self.literals, key=len, reverse=True))
        self.literal_re = re.compile(rf"(?<![0-9A-Za-z])(?:{pattern})(?![0-9A-Za-z])")
        self.join_t = next((t for t, m in self.events if m.get("Event") == "QueueCallerJoin"), 0.0)
        self.connect_t = next((t for t, m in self.events if m.get("Event") == "AgentConnect"),
                              0.0)

    # ------------------------------------------------------------------ literal table
    def role_of(self, ext: str) -> int:
        if ext not in self.roles.agents:
            self.roles.agents.append(ext)
        return self.roles.agents.index(ext)

    def _literal_table(self) -> dict[str, Token]:
        r = self.roles
        table: dict[str, Token] = {}
        for uid, i in self.uids.items():
            table[uid] = Token("U", (str(i),))
            table[self.names[uid]] = Token("C", (str(i),))
        for ext, name in LAB_AGENTS.items():
            if ext in r.agents:
                role = str(r.agents.index(ext))
                table[ext] = Token("EXT", (role,))
                table[name] = Token("NAME", (role,))
        pairs = [(r.caller, "CALLER"), (r.caller.lstrip("+"), "CALLER_DIGITS"),
                 (r.caller_name, "CALLER_NAME"), (r.did, "DID"), (r.dialled, "DIALLED"),
                 (re.sub(r"\D", "", r.dialled), "DIALLED_DIGITS"), (r.cid_name, "CID_NAME"),
                 (LAB_COMPANY[0], "COMPANY_NAME"), (LAB_RECDIR, "RECDIR"),
                 (r.action_id, "ACTIONID"), (r.queue, "QUEUE")]
        for literal, token in pairs:
            if literal and literal not in table:
                table[literal] = Token(token)
        return table

    # ------------------------------------------------------------------ value tokenising
    def _regex_pass(self, parts: list[Part], regex: re.Pattern[str],
                    make: Callable[[re.Match[str]], Token]) -> list[Part]:
        out: list[Part] = []
        for part in parts:
            if isinstance(part, Token):
                out.append(part)
                continue
            pos = 0
            for m in regex.finditer(part):
                if m.start() > pos:
                    out.append(part[pos:m.start()])
                out.append(make(m))
                pos = m.end()
            if pos < len(part):
                out.append(part[pos:])
        return out

    def _uuid(self, m: re.Match[str]) -> Token:
        value = m.group(0)
        if value in self.bridges:
            return Token("B", (str(self.bridges[value]),))
        return Token("X", (str(self.uuids.setdefault(value, len(self.uuids))),))

    def _stamp(self, m: re.Match[str], t: float) -> Token:
        t = self.stamps.setdefault(m.group(0), t)
        wall = datetime.strptime(m.group(0), "%Y%m%d-%H%M%S").replace(tzinfo=UTC).timestamp()
        adj = int(wall - int(self.epoch + t))
        return Token("STAMP", (_f(t), str(adj)))

    def tokenise(self, key: str, value: str, t: float, msg: AmiMessage) -> Parts:
        special = self._special(key, value, t, msg)
        if special is not None:
            return special
        variable = msg.get("Variable", "")
        if key == "Value" and (variable == "SIPDOMAIN" or variable.startswith("RTPAUDIOQOS")):
            return (value,) if value else ()
        if key == "Value" and msg.get("Variable") == "BRIDGEPVTCALLID" and _SIP_CALLID.match(
                value):
            return (Token("SIP", (str(self.sips.setdefault(value, len(self.sips))),)),)
        parts: list[Part] = [value] if value else []
        if self.roles.cid_num and (key.endswith(("CallerIDNum", "ConnectedLineNum"))
                                   or key in ("Source", "CallerID")):
            cid = re.compile(rf"(?<![0-9A-Za-z]){re.escape(self.roles.cid_num)}(?![0-9])")
            parts = self._regex_pass(parts, cid, lambda m: Token("CID_NUM"))
        if self.roles.cid_num:
            out_name = re.compile(rf"(?<=out-\d{{8}}-\d{{6}}-){re.escape(self.roles.cid_num)}")
            parts = self._regex_pass(parts, out_name, lambda m: Token("CID_NUM"))
        parts = self._regex_pass(parts, _UUID, self._uuid)
        parts = self._regex_pass(parts, _STAMP, lambda m: self._stamp(m, t))
        parts = self._regex_pass(parts, self.literal_re, lambda m: self.literals[m.group(0)])
        trunk = re.compile(rf"(?<=[/@]){LAB_TRUNK}(?![0-9A-Za-z])")
        return tuple(self._regex_pass(parts, trunk, lambda m: Token("TRUNK")))

    def _special(self, key: str, value: str, t: float, msg: AmiMessage) -> Parts | None:
        event = msg.get("Event", "")
        if key.endswith("Linkedid") and value == self.linkedid:
            return (Token("L"),)
        if key == "BridgeUniqueid" and value:
            return (Token("B", (str(self.bridges.setdefault(value, len(self.bridges))),)),)
        if event == "OriginateResponse" and key == "ActionID":
            return (Token("ACTIONID"),)
        if event == "Cdr":
            return self._cdr(key, value, t, msg)
        if event == "VarSet" and key == "Value" and value.isdigit():
            var = msg.get("Variable", "")
            if _TIME_VAR.match(var):
                return self._time_var(var, int(value), t, msg)
            if var in ("QEHOLDTIME", "QUEUEHOLDTIME"):
                return (Token("DUR", (_f(self.join_t), _f(t))),)
            if var == "MEMBERCALLS":
                return self._member_counter(msg, "CallsTaken", value, t)
            if var == "MEMBERLASTCALL":
                return self._member_counter(msg, "LastCall", value, t)
        if event in ("AgentConnect", "AgentComplete") and key in ("HoldTime", "RingTime",
                                                                  "TalkTime"):
            start = {"HoldTime": self.join_t, "TalkTime": self.connect_t}.get(key)
            if start is None:  # RingTime: since this member's AgentCalled
                start = next(tt for tt, m in self.events if m.get("Event") == "AgentCalled"
                             and m.get("Interface") == msg.get("Interface"))
            end = t if event == "AgentConnect" or key == "TalkTime" else self.connect_t
            return (Token("DUR", (_f(start), _f(end))),)
        if event == "QueueMemberStatus":
            return self._qms_field(key, value, t, msg)
        return None

    def _time_var(self, var: str, value: int, t: float, msg: AmiMessage) -> Parts:
        """``ANSWEREDTIME``/``DIALEDTIME``/``RINGTIME`` and their ``_MS`` twins: durations that
        end now. The seconds variant is located through its ``_MS`` twin, set right after."""
        if var.endswith("_MS"):
            return (Token("MS", (_f(t - value / 1000), _f(t))),)
        uid = msg.get("Uniqueid")
        start = next(i for i, (_, m) in enumerate(self.events) if m is msg)
        for _, m in self.events[start:start + 4]:
            if m.get("Variable") == var + "_MS" and m.get("Uniqueid") == uid and m[
                    "Value"].isdigit():
                return (Token("DUR", (_f(t - int(m["Value"]) / 1000), _f(t))),)
        return (str(value),)

    def _cdr(self, key: str, value: str, t: float, msg: AmiMessage) -> Parts | None:
        if key in ("StartTime", "AnswerTime", "EndTime") and _CDR_TIME.match(value):
            return (Token("T", (_f(self._cdr_time(key, value, t)),)),)
        if key in ("Duration", "BillableSeconds") and value.isdigit():
            begin = msg.get("StartTime" if key == "Duration" else "AnswerTime", "")
            if not _CDR_TIME.match(begin):
                return (value,)
            a = self._cdr_time("StartTime" if key == "Duration" else "AnswerTime", begin, t)
            b = self._cdr_time("EndTime", msg["EndTime"], t)
            return (Token("DUR", (_f(a), _f(b), str(int(value) - int(b - a)))),)
        return None

    def _cdr_time(self, key: str, value: str, t: float) -> float:
        """CDR times have one-second precision: take the first event of that second (start,
        answer) or the last one up to the Cdr event (end), in the capture's clock."""
        wall = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        inside = [tt for tt, _ in self.events if int(self.epoch + tt) == int(wall) and tt <= t]
        if not inside:
            return wall - self.epoch
        return inside[-1] if key == "EndTime" else inside[0]

    def _member(self, msg: AmiMessage) -> tuple[int, str]:
        iface = msg.get("Interface") or msg.get("Value", "")
        ext = iface.split("/", 1)[-1]
        return self.role_of(ext), iface

    def _member_counter(self, msg: AmiMessage, field_name: str, value: str, t: float) -> Parts:
        uid = msg.get("Uniqueid")
        iface = next((m["Value"] for _, m in reversed(self.events) if m.get("Uniqueid") == uid
                      and m.get("Variable") == "MEMBERINTERFACE"), "")
        role = self.role_of(iface.split("/", 1)[-1])
        return self._counter(role, field_name, value, t)

    def _counter(self, role: int, field_name: str, value: str, t: float) -> Parts:
        base = self.member_base.setdefault((str(role), field_name), value)
        if field_name == "CallsTaken":
            return (Token("CALLS", (str(role), str(int(value) - int(base)))),)
        if value == base:
            return (Token("LASTCALL", (str(role),)),)
        return (Token("EPOCH", (_f(t), str(int(value) - int(self.epoch + t)))),)

    def _qms_field(self, key: str, value: str, t: float, msg: AmiMessage) -> Parts | None:
        role, _ = self._member(msg)
        if key == "Queue":
            return (Token("QMS_QUEUE"),)
        if key in ("CallsTaken", "LastCall"):
            return self._counter(role, key, value, t)
        if key == "LoginTime":
            return (Token("LOGIN"),)
        return None

    # ------------------------------------------------------------------ events
    def keep(self, i: int, msg: AmiMessage) -> str | None:
        """``None`` to drop the event, else its expansion marker ("" for none)."""
        name = msg.get("Event")
        if name == "DeviceStateChange" and msg.get("Device", "").startswith("Queue:"):
            return "" if self.queue_call else None
        if name == "QueueMemberStatus":
            for _, prev in self.events[max(0, i - 6):i]:
                if prev.get("Event") == name and all(prev.get(k) == msg.get(k) for k in (
                        "Interface", "Status", "InCall", "Paused")) and prev.get(
                        "Queue") != msg.get("Queue"):
                    return None
            return f"qms:{self._member(msg)[0]}"
        if name == "VarSet" and (msg.get("Variable"), msg.get("Value")) in self.roles.variables:
            return "vars"
        return ""

    def build(self, source: str) -> Template:
        out: list[TemplateEvent] = []
        for i, (t, msg) in enumerate(self.events):
            expand = self.keep(i, msg)
            if expand is None:
                continue
            fields: list[tuple[str, Parts]] = []
            for key, value in msg.items():
                if expand == "vars" and key in ("Variable", "Value"):
                    parts: Parts = (Token("OVAR" if key == "Variable" else "OVAL"),)
                else:
                    parts = self.tokenise(key, value, t, msg)
                fields.append((key, parts))
            out.append(TemplateEvent(round(t, 6), tuple(fields), expand))
        channels = tuple(self._endpoint(self.names[uid]) for uid in self.uids)
        clone = None
        if self.queue_call and len(self.roles.agents) > 1:
            loser = next(i for uid, i in self.uids.items()
                         if self.names[uid].startswith(f"PJSIP/{self.roles.agents[1]}-"))
            clone = (loser, 1)
        return Template(self.name, source, self.marks(), channels, tuple(out), clone)

    def _endpoint(self, name: str) -> Parts:
        tech, _, rest = name.partition("/")
        endpoint = rest.rsplit("-", 1)[0]
        if endpoint == LAB_TRUNK:
            return (tech + "/", Token("TRUNK"))
        return (tech + "/", Token("EXT", (str(self.role_of(endpoint)),)))

    def marks(self) -> dict[str, float]:
        """The instants the renderer stretches between, found by the real tracker."""
        tracker = Tracker()
        records = [e.record for e in tracker.feed_all((m, self.epoch + t) for t, m in self.events)
                   if isinstance(e, CallEnded)]
        (rec,) = records
        marks: dict[str, float] = {}
        if rec.answered_at is not None:
            marks["answer"] = rec.answered_at - self.epoch
        if rec.transfers:
            xfer = marks["xfer"] = rec.transfers[0].at - self.epoch
            created_after = {m["Uniqueid"] for t, m in self.events
                             if m.get("Event") == "Newchannel" and t >= xfer - 1e-6}
            marks["answer2"] = next(t for t, m in self.events if m.get("Event") == "Newstate"
                                    and m.get("ChannelStateDesc") == "Up"
                                    and m.get("Uniqueid") in created_after)
        if self.roles.action_id:
            marks["agent_up"] = next(t for t, m in self.events if m.get("Event") == "Newstate"
                                     and m.get("Uniqueid") == self.linkedid
                                     and m.get("ChannelStateDesc") == "Up")
        marks["end"] = rec.ended_at - self.epoch
        return {k: round(v, 6) for k, v in sorted(marks.items(), key=lambda kv: kv[1])}


def _f(t: float) -> str:
    return f"{t:.6f}".rstrip("0").rstrip(".") or "0"


def build_template(folder: Path, name: str | None = None) -> Template:
    folder = Path(folder)
    builder = TemplateBuilder(name or folder.name, folder)
    tpl = builder.build(source_of(folder))
    left = leftovers(tpl, builder)
    if left:
        raise ValueError(f"{folder.name}: identities left as literals: {left[:5]}")
    return tpl


def source_of(folder: Path) -> str:
    return f"tests/fixtures/{folder.name} (real Asterisk 22.10.1 capture)"


def leftovers(tpl: Template, builder: TemplateBuilder) -> list[str]:
    """Literal parts that still contain an identity of the capture (a builder bug)."""
    bad = []
    pattern = builder.literal_re
    epoch_prefix = builder.linkedid.split(".")[0][:6]
    for ev in tpl.events:
        for key, parts in ev.fields:
            if key == "Value" and any(isinstance(p, str) and "rxcount=" in p for p in parts):
                continue
            for p in parts:
                if isinstance(p, str) and (pattern.search(p) or epoch_prefix in p):
                    bad.append(f"{key}: {p}")
    return bad


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fixtures = Path(args[0] if args else "tests/fixtures")
    target = Path(__file__).parent
    from cti.sim.templates import TEMPLATE_NAMES

    for name in TEMPLATE_NAMES:
        tpl = build_template(fixtures / name)
        (target / f"{name}.json").write_text(dumps(tpl), encoding="utf-8")
        print(f"{name}: {len(tpl.events)} events, marks {tpl.marks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
