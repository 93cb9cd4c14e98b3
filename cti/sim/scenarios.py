"""Scenario kinds and the renderer that turns a call template into fresh Asterisk events.

A :class:`CallSpec` says *what* call to make (kind, agents, numbers, ring and talk times); the
template of its kind (a real Asterisk 22 capture with tokens, :mod:`cti.sim.templates`) says
*how Asterisk reports it*. :class:`CallRender` joins the two:

* **identities** are fresh: Uniqueids in Asterisk's ``<epoch>.<sequence>`` form (the epoch is the
  second the channel was created, the sequence is PBX-wide), channel names with the 8-hex-digit
  suffix chan_pjsip takes from its own counter (``PJSIP/1003-0000002a``), bridges and other ids
  as random UUIDs; all come from :class:`SimPbx` so a whole simulated PBX never repeats one;
* **time** is remapped piecewise-linearly between the template's marks (answer, transfer,
  end…): inside each phase the bursts of events Asterisk sends within a few milliseconds keep
  their spacing and only the silences stretch, so ring and talk time come out exactly as asked
  while the event order stays Asterisk's. Durations carried inside events (``ANSWEREDTIME``,
  ``Cdr`` ``Duration``/``BillableSeconds``, queue hold and talk times) and wall-clock stamps
  (``Cdr`` times, recording names) are computed from the same map, so they stay consistent;
* **ids are allocated lazily**, when the event that first names them is rendered, so calls that
  overlap in time still number their channels in creation order, as Asterisk does.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from cti.ami.messages import AmiMessage
from cti.sim.templates import Parts, Template, TemplateEvent, Token, load_template
from cti.sim.timemap import BURST as BURST  # re-exported for actions/originate
from cti.sim.timemap import TimeMap as TimeMap

#: kind → (template, the spec duration that ends at each of the template's marks)
KINDS: dict[str, tuple[str, dict[str, str]]] = {
    "inbound_answered": ("inbound_answered", {"answer": "ring", "end": "talk"}),
    "inbound_missed": ("inbound_missed", {"end": "ring"}),
    "inbound_busy": ("inbound_busy_or_rejected", {"end": "ring"}),
    "outbound_answered": ("outbound_answered", {"answer": "ring", "end": "talk"}),
    "outbound_no_answer": ("outbound_no_answer", {"end": "ring"}),
    "internal": ("internal", {"answer": "ring", "end": "talk"}),
    "queue_ringall": ("queue_ringall", {"answer": "ring", "end": "talk"}),
    "blind_transfer": ("blind_transfer", {"answer": "ring", "xfer": "transfer_after",
                                          "answer2": "target_ring", "end": "talk2"}),
    "long_call": ("long_call", {"answer": "ring", "end": "talk"}),
    "click_to_dial": ("click_to_dial", {"agent_up": "agent_ring", "answer": "remote_ring",
                                        "end": "talk"}),
}
ANSWERED_KINDS = frozenset({"inbound_answered", "outbound_answered", "internal", "queue_ringall",
                            "blind_transfer", "long_call", "click_to_dial"})


@dataclass(frozen=True, slots=True)
class Agent:
    extension: str
    name: str


@dataclass(frozen=True)
class CallSpec:
    """One call to render. ``agent`` is role 0 (who answers an inbound call, who dials an
    outbound or internal one, who is rung by a click-to-dial); ``others`` are roles 1…: the
    callee of an internal call, the target of a blind transfer, the other members a queue
    rings. Times in seconds; ``None`` keeps the real capture's value."""

    kind: str
    agent: Agent
    others: tuple[Agent, ...] = ()
    caller: str = ""  # outside party of an inbound call (E.164 as the trunk sends it)
    caller_name: str = ""
    did: str = ""  # number dialled by the caller; for outbound, the presented company number
    dialled: str = ""  # outbound / click-to-dial: the number the agent calls
    queue: str = ""
    ring: float | None = None  # start → answer (unanswered: start → end); c2d: agent ring incl.
    talk: float | None = None  # answer → end, transfers included
    transfer_after: float | None = None  # blind transfer: answer → transfer
    target_ring: float | None = None  # blind transfer: transfer → target answers
    agent_ring: float | None = None  # click-to-dial: originate → agent picks up
    cid_num: str = ""  # click-to-dial: the Originate's CallerID
    cid_name: str = ""
    action_id: str = ""
    variables: tuple[tuple[str, str], ...] = ()

    @property
    def template(self) -> Template:
        return load_template(KINDS[self.kind][0])

    @property
    def agents(self) -> tuple[Agent, ...]:
        return (self.agent, *self.others)


def phase_lengths(spec: CallSpec, tpl: Template) -> dict[str, float | None]:
    """Requested length of the phase ending at each mark (``None``: as in the capture)."""
    marks = tpl.marks
    names = KINDS[spec.kind][1]
    out: dict[str, float | None] = {}
    for mark, what in names.items():
        out[mark] = {"ring": spec.ring, "talk": spec.talk, "transfer_after": spec.transfer_after,
                     "target_ring": spec.target_ring, "agent_ring": spec.agent_ring}.get(what)
    if spec.kind == "blind_transfer" and spec.talk is not None:
        after = spec.transfer_after if spec.transfer_after is not None else (
            marks["xfer"] - marks["answer"])
        ring2 = spec.target_ring if spec.target_ring is not None else (
            marks["answer2"] - marks["xfer"])
        out["end"] = max(0.0, spec.talk - after - ring2)
    if spec.kind == "click_to_dial" and spec.ring is not None:
        agent = spec.agent_ring if spec.agent_ring is not None else marks["agent_up"]
        out["answer"] = max(0.0, spec.ring - agent)
    return out


@dataclass
class AgentStats:
    calls_taken: int = 0
    last_call: int = 0


class SimPbx:
    """PBX-wide identity counters and state shared by every rendered call."""

    def __init__(self, seed: int | None = 0, *, trunk: str = "trunk",
                 company: str = "ACME Support", recordings_dir: str = "/var/spool/asterisk/monitor",
                 queues: Mapping[str, Sequence[str]] | None = None,
                 first_uniqueid: int | None = None, login_time: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.trunk = trunk
        self.company = company
        self.recordings_dir = recordings_dir.rstrip("/") or "/"
        self.queues = {q: tuple(m) for q, m in (queues or {}).items()}
        self.next_uid = first_uniqueid if first_uniqueid is not None else self.rng.randrange(
            100, 5000)
        self.next_chan = self.next_uid - self.rng.randrange(1, 8)
        self.login_time = login_time if login_time is not None else int(time.time()) - 3600
        self.stats: dict[str, AgentStats] = {}

    def uniqueid(self, created: float) -> str:
        uid = f"{int(created)}.{self.next_uid}"
        self.next_uid += 1
        return uid

    def channel_suffix(self) -> str:
        suffix = f"{self.next_chan & 0xFFFFFFFF:08x}"
        self.next_chan += 1
        return suffix

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def queues_of(self, extension: str) -> list[str]:
        return [q for q, members in self.queues.items() if extension in members]

    def agent(self, extension: str) -> AgentStats:
        return self.stats.setdefault(extension, AgentStats(0, self.login_time))


@dataclass
class RenderEvent:
    at: float  # epoch seconds
    event: TemplateEvent
    remap: dict[Token, Token] = field(default_factory=dict)


class CallRender:
    """A call's events with their times; :meth:`render` fills one event's tokens."""

    def __init__(self, spec: CallSpec, pbx: SimPbx, start: float, *,
                 tpl: Template | None = None, tmap: TimeMap | None = None,
                 ids: Mapping[Token, str] | None = None, params: Mapping[str, str] | None = None,
                 first: int = 0, last: int | None = None,
                 patch: Callable[[RenderEvent, AmiMessage], None] | None = None) -> None:
        if spec.kind not in KINDS:
            raise ValueError(f"unknown call kind {spec.kind!r}; known: {', '.join(KINDS)}")
        self.spec = spec
        self.pbx = pbx
        self.tpl = tpl or spec.template
        needed = roles_needed(self.tpl)
        if len(spec.agents) < needed:
            raise ValueError(f"a {spec.kind} call needs {needed} agents, got {len(spec.agents)}")
        self.start = start
        self.tmap = tmap or TimeMap.for_lengths(self.tpl, phase_lengths(spec, self.tpl))
        self.ids: dict[Token, str] = dict(ids or {})
        self.params = self._params(params or {})
        self.patch = patch
        self.channels: list[Parts] = list(self.tpl.channels)
        self.events = self._expand(self.tpl.events[first:last])

    def _params(self, extra: Mapping[str, str]) -> dict[str, str]:
        s, pbx = self.spec, self.pbx
        out = {"CALLER": s.caller, "CALLER_NAME": s.caller_name,
               "CALLER_DIGITS": re.sub(r"\D", "", s.caller), "DID": s.did, "DIALLED": s.dialled,
               "DIALLED_DIGITS": re.sub(r"\D", "", s.dialled), "QUEUE": s.queue,
               "CID_NUM": s.cid_num, "CID_NAME": s.cid_name, "ACTIONID": s.action_id,
               "COMPANY_NAME": pbx.company, "TRUNK": pbx.trunk, "RECDIR": pbx.recordings_dir,
               "LOGIN": str(pbx.login_time)}
        out.update(extra)
        return out

    def _expand(self, events: Sequence[TemplateEvent]) -> list[RenderEvent]:
        """Times mapped; the queue's non-answering member repeated for each extra member
        (or removed when the queue rings nobody else)."""
        clone = self.tpl.clone
        copies: list[dict[Token, Token]] = [{}]
        own: set[Token] = set()
        if clone is not None:
            ch, role = clone
            own = {Token("C", (str(ch),)), Token("U", (str(ch),)), Token("EXT", (str(role),)),
                   Token("NAME", (str(role),))}
            copies = []
            for k in range(len(self.spec.others)):
                if k == 0:
                    copies.append({})
                    continue
                new_ch, new_role = str(len(self.channels)), str(role + k)
                self.channels.append(tuple(Token("EXT", (new_role,)) if p == Token(
                    "EXT", (str(role),)) else p for p in self.tpl.channels[ch]))
                copies.append({Token("C", (str(ch),)): Token("C", (new_ch,)),
                               Token("U", (str(ch),)): Token("U", (new_ch,)),
                               Token("EXT", (str(role),)): Token("EXT", (new_role,)),
                               Token("NAME", (str(role),)): Token("NAME", (new_role,))})
        out = []
        for ev in events:
            at = self.start + self.tmap(ev.t)
            mine = clone is not None and (ev.expand == f"qms:{clone[1]}" or any(
                _base(tok) in own for tok in ev.tokens()))
            for remap in copies if mine else [{}]:
                out.append(RenderEvent(at, ev, remap))
        return out

    # ------------------------------------------------------------------ rendering
    def render(self, rev: RenderEvent) -> list[AmiMessage]:
        ev = rev.event
        if ev.expand.startswith("qms:"):
            role = _remapped(Token("EXT", (ev.expand[4:],)), rev.remap)
            ext = self.resolve(role, rev)
            return [self._fill(rev, {"QMS_QUEUE": q}) for q in self.pbx.queues_of(ext)]
        if ev.expand == "vars":
            return [self._fill(rev, {"OVAR": k, "OVAL": v}) for k, v in self.spec.variables]
        return [self._fill(rev, {})]

    def messages(self) -> Iterator[tuple[float, AmiMessage]]:
        """Every event of the call, rendered in order (for tests and offline use)."""
        for rev in self.events:
            for msg in self.render(rev):
                yield rev.at, msg

    def _fill(self, rev: RenderEvent, local: Mapping[str, str]) -> AmiMessage:
        msg: AmiMessage = {}
        for key, parts in rev.event.fields:
            if len(parts) == 1 and isinstance(parts[0], str):
                msg[key] = parts[0]
                continue
            out = []
            for p in parts:
                if isinstance(p, str):
                    out.append(p)
                elif p.name in local:
                    out.append(local[p.name])
                else:
                    out.append(self.resolve(_remapped(p, rev.remap), rev))
            msg[key] = "".join(out)
        if self.patch is not None:
            self.patch(rev, msg)
        return msg

    def when(self, t: float) -> float:
        return self.start + self.tmap(float(t))

    def resolve(self, tok: Token, rev: RenderEvent) -> str:
        name, args = tok.name, tok.args
        if name in ("U", "C", "B", "X", "SIP", "L"):
            value = self.ids.get(tok)
            if value is None:
                value = self.ids[tok] = self._allocate(tok, rev)
            return value
        if name in ("EXT", "NAME"):
            agent = self.spec.agents[int(args[0])]
            return agent.extension if name == "EXT" else agent.name
        if name == "STAMP":
            return time.strftime("%Y%m%d-%H%M%S", time.gmtime(
                int(self.when(float(args[0]))) + int(args[1])))
        if name == "T":
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.when(float(args[0]))))
        if name in ("DUR", "MS"):
            span = max(0.0, self.tmap(float(args[1])) - self.tmap(float(args[0])))
            if name == "MS":
                return str(round(span * 1000))
            return str(max(0, int(span) + (int(args[2]) if len(args) > 2 else 0)))
        if name == "EPOCH":
            return str(int(self.when(float(args[0]))) + int(args[1]))
        if name in ("CALLS", "LASTCALL"):
            stats = self.pbx.agent(self.spec.agents[int(args[0])].extension)
            if name == "CALLS":
                return str(stats.calls_taken + int(args[1]))
            return str(stats.last_call)
        return self.params.get(name, "")

    def _allocate(self, tok: Token, rev: RenderEvent) -> str:
        if tok.name == "L":
            return self.resolve(Token("U", ("0",)), rev)
        if tok.name == "U":
            return self.pbx.uniqueid(rev.at)
        if tok.name == "C":
            endpoint = "".join(p if isinstance(p, str) else self.resolve(p, rev)
                               for p in self.channels[int(tok.args[0])])
            return f"{endpoint}-{self.pbx.channel_suffix()}"
        return self.pbx.uuid()

    # ------------------------------------------------------------------ facts for the player
    @property
    def ends_at(self) -> float:
        return self.events[-1].at if self.events else self.start

    def channel_of(self, rev: RenderEvent) -> Token | None:
        """The channel token of an event's own (unprefixed) snapshot."""
        for key, parts in rev.event.fields:
            if key == "Uniqueid" and len(parts) == 1 and isinstance(parts[0], Token):
                return _remapped(parts[0], rev.remap)
        return None


def roles_needed(tpl: Template) -> int:
    """How many agents the template names (a queue's repeated member is optional)."""
    roles = {int(tok.args[0]) for ev in tpl.events for tok in ev.tokens()
             if tok.name in ("EXT", "NAME", "CALLS", "LASTCALL")}
    roles |= {int(ev.expand[4:]) for ev in tpl.events if ev.expand.startswith("qms:")}
    if tpl.clone is not None:
        roles = {r for r in roles if r < tpl.clone[1]}
    return max(roles) + 1 if roles else 0


def _base(tok: Token) -> Token:
    """``{CALLS:1:0}`` counts as agent role 1's token, like ``{EXT:1}``."""
    if tok.name in ("CALLS", "LASTCALL"):
        return Token("EXT", tok.args[:1])
    return tok


def _remapped(tok: Token, remap: Mapping[Token, Token]) -> Token:
    if not remap:
        return tok
    if tok in remap:
        return remap[tok]
    if tok.name in ("CALLS", "LASTCALL"):
        new = remap.get(Token("EXT", tok.args[:1]))
        if new is not None:
            return Token(tok.name, (new.args[0], *tok.args[1:]))
    return tok


def render_call(spec: CallSpec, pbx: SimPbx, start: float) -> list[tuple[float, AmiMessage]]:
    """All events of one call, rendered now (ids allocated in the call's own order)."""
    return list(CallRender(spec, pbx, start).messages())
