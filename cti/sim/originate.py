"""``Originate`` on the simulator, answered the way Asterisk 22's ``action_originate`` does.

Validation and answers are manager.c's: ``Channel not specified``, ``Invalid priority``,
``Invalid timeout``, ``Invalid channel`` (no ``/``), and for a synchronous request without
Exten/Context/Priority ``Originate with 'Exten' requires 'Context' and 'Priority'``. With
``Async: true`` the answer is immediate (``Originate successfully queued``) and the outcome comes
later as an ``OriginateResponse`` event carrying the request's ``ActionID``: ``Response:
Success``/``Reason: 4`` when the phone answered, else ``Failure`` with Reason 0 (the channel
could not be created: unknown endpoint or technology), 3 (rang until ``Timeout``), 5 (busy).
Without Async the answer itself waits for the outcome (``Originate failed`` on failure) and no
``OriginateResponse`` is sent.

What is played: the real click-to-dial capture (agent's phone rings, answers, the dialplan dials
the number through the trunk) for an outside number; for an agent's extension its head up to
the agent's answer followed by the real internal call capture; for ``Local/<ext>@<ctx>`` the two
Local halves (``;1`` runs the target extension, ``;2`` dials the agent's phone) around the same
pieces, torn down together at the end, as Asterisk does for a Local channel that is not
optimised away (``/n``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cti.ami.messages import AmiMessage
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import TRUE_WORDS, AmiRequest, AmiSession
from cti.sim.ami_state import PbxState
from cti.sim.ari_model import parse_callerid
from cti.sim.generator import CallGenerator, LiveCall
from cti.sim.recording import Dialogue, make_dialogue
from cti.sim.scenarios import BURST, Agent, CallRender, CallSpec, RenderEvent, TimeMap
from cti.sim.teardown import CAUSE_TEXT, snapshot, teardown
from cti.sim.templates import Template, TemplateEvent, Token, load_template

if TYPE_CHECKING:
    from collections.abc import Callable

def variables_of(req: AmiRequest) -> tuple[tuple[str, str], ...]:
    """Every ``Variable:`` header, each a comma-separated list of ``NAME=value``."""
    out = []
    for key, value in req.headers:
        if key.lower() == "variable":
            for pair in value.split(","):
                name, sep, val = pair.partition("=")
                if sep and name.strip():
                    out.append((name.strip(), val))
    return tuple(out)


class Originator:
    def __init__(self, server: AmiServer, generator: CallGenerator) -> None:
        self.server = server
        self.gen = generator

    def originate(self, session: AmiSession, req: AmiRequest) -> None:
        channel, priority, timeout = req.get("Channel"), req.get("Priority"), req.get("Timeout")
        error = None
        if not channel:
            error = "Channel not specified"
        elif priority and not priority.isdigit():
            error = "Invalid priority"
        elif timeout and not timeout.lstrip("-").isdigit():
            error = "Invalid timeout"
        elif "/" not in channel:
            error = "Invalid channel"
        elif req.get("Application"):
            error = "Originate of an Application is not simulated (use Exten and Context)"
        is_async = req.get("Async").lower() in TRUE_WORDS
        exten, context = req.get("Exten"), req.get("Context")
        if error is None and not (exten and context and (priority or is_async)):
            error = "Originate with 'Exten' requires 'Context' and 'Priority'"
        if error is not None:
            session.reply(req, "Error", message=error)
            return
        Originate(self, session, req, is_async).start()


class Originate:
    """One Originate request, from validation to its outcome."""

    def __init__(self, owner: Originator, session: AmiSession, req: AmiRequest,
                 is_async: bool) -> None:
        self.gen = owner.gen
        self.server = owner.server
        self.session = session
        self.req = req
        self.is_async = is_async
        self.channel = req.get("Channel")
        self.exten = req.get("Exten")
        self.context = req.get("Context")
        self.cid_name, self.cid_num = parse_callerid(req.get("CallerID"))
        self.variables = variables_of(req)
        timeout = int(req.get("Timeout") or 30000)
        self.timeout = timeout / 1000 if timeout > 0 else 30.0
        tech, _, data = self.channel.partition("/")
        self.local = tech.lower() == "local"
        ext, _, ctx = data.partition("@")
        self.local_context = ctx.split("/")[0] if self.local else ""
        known = tech.lower() in ("pjsip", "local") and (ctx or not self.local)
        self.agent = self.gen.config.agent(ext) if known else None

    # ------------------------------------------------------------------ answers
    def reply(self, ok: bool) -> None:
        if ok:
            self.session.reply(self.req, "Success", message="Originate successfully queued")
        else:
            self.session.reply(self.req, "Error", message="Originate failed")

    def response_event(self, ok: bool, reason: int, channel: str, uid: str) -> AmiMessage:
        msg: AmiMessage = {"Event": "OriginateResponse", "Privilege": "call,all"}
        if self.req.action_id:
            msg["ActionID"] = self.req.action_id
        msg.update({"Response": "Success" if ok else "Failure", "Channel": channel,
                    "Context": self.context, "Exten": self.exten, "Reason": str(reason),
                    "Uniqueid": uid, "CallerIDNum": self.cid_num or "<unknown>",
                    "CallerIDName": self.cid_name or "<unknown>"})
        return msg

    def outcome(self, live: LiveCall | None, ok: bool, reason: int, channel: str,
                uid: str, at: float | None = None) -> None:
        if self.is_async:
            self.gen.emit(live, self.response_event(ok, reason, channel, uid), at)
        else:
            self.reply(ok)

    # ------------------------------------------------------------------ flow
    def start(self) -> None:
        gen, c = self.gen, self.gen.config
        if self.is_async:
            self.reply(True)
        agent = self.agent
        if agent is None:  # chan_pjsip: endpoint not found; or no such channel technology
            gen.call_at(gen.now(), None, lambda: self.outcome(None, False, 0, self.channel,
                                                               "<null>"))
            return
        busy = gen.traffic.busy_until.get(agent.extension, 0.0) > gen.now()
        rng = gen.traffic.rng
        answers = rng.random() < c.originate_answer_probability
        ring = c.originate_agent_ring if answers and not busy else (
            0.4 if busy else self.timeout)
        if busy or not answers or ring > self.timeout:
            self.unanswered(agent, min(ring, self.timeout), 5 if busy else 3)
            return
        callee = c.agent(self.exten)
        talk = gen.traffic.talk()
        remote = c.originate_remote_ring
        dialogue = make_dialogue(rng, c.company, agent.name, rng.choice(c.languages or ("en",)))
        spec = CallSpec("click_to_dial", agent, dialled=self.exten,
                        did=(c.dids or ("",))[0], cid_num=self.cid_num or agent.extension,
                        cid_name=self.cid_name or agent.name, action_id=self.req.action_id,
                        variables=self.variables, agent_ring=ring, ring=ring + remote,
                        talk=talk)
        if self.local or callee is not None:
            OriginateChain(self, spec, callee, dialogue).start()
            return
        live = gen.play(spec, dialogue=dialogue, skip=self.skip_response)
        live.listeners.append(self.watch_answer(live))

    def skip_response(self, rev: RenderEvent) -> bool:
        return not self.is_async and _event(rev) == "OriginateResponse"

    def watch_answer(self, live: LiveCall) -> Callable[[AmiMessage, float], None]:
        """Sync: answer when the agent's phone is Up (where the event would have been)."""
        done = False

        def listener(msg: AmiMessage, at: float) -> None:
            nonlocal done
            if done or self.is_async:
                return
            if msg.get("Event") == "Newstate" and msg.get("Uniqueid") == live.linkedid and msg.get(
                    "ChannelStateDesc") == "Up":
                done = True
                self.reply(True)

        return listener

    def unanswered(self, agent: Agent, ring: float, reason: int) -> None:
        """The agent's phone rings (or rejects at once, busy) and never answers."""
        gen = self.gen
        tpl = load_template("click_to_dial")
        last = _names(tpl).index("OriginateResponse") - 1  # the agent's Newstate Up: not played
        spec = CallSpec("click_to_dial", agent, cid_num=self.cid_num or agent.extension,
                        cid_name=self.cid_name or agent.name, variables=self.variables,
                        agent_ring=ring)
        head = CallRender(spec, gen.pbx, gen.now(), tpl=tpl, last=last)
        live = gen.play(spec, render=head)
        end = head.when(tpl.marks["agent_up"])
        status, cause = ("BUSY", 17) if reason == 5 else ("NOANSWER", 19)

        def fail() -> None:
            uid = live.linkedid
            rec = self.server.state.channels.get(uid)
            if rec is not None:
                for name, body in (
                        ("DialEnd", {**snapshot(rec, "Dest"), "DialStatus": status}),
                        ("Hangup", {**snapshot(rec), "Cause": str(cause),
                                    "Cause-txt": CAUSE_TEXT[cause]}),
                        ("DeviceStateChange", {"Device": f"PJSIP/{agent.extension}",
                                               "State": "NOT_INUSE"})):
                    gen.emit(live, {"Event": name, "Privilege": "call,all", **body}, end)
            self.outcome(live, False, reason, self.channel, "<null>", end)

        gen.call_at(end, live, fail)


class OriginateChain:
    """Originate to an agent's extension and/or through a Local channel: pieces of several
    real captures played one after the other on the same channels."""

    def __init__(self, owner: Originate, spec: CallSpec, callee: Agent | None,
                 dialogue: Dialogue) -> None:
        self.o = owner
        self.gen = owner.gen
        self.spec = spec
        self.callee = callee
        self.dialogue = dialogue
        self.local: dict[str, str] = {}  # ";1"/";2" → Uniqueid, "n1"/"n2" → channel name

    def start(self) -> None:
        if self.o.local:
            self.start_local()
            return
        o, gen = self.o, self.gen
        c2d = load_template("click_to_dial")
        names = _names(c2d)
        head_end = names.index("DialEnd", names.index("OriginateResponse")) + 1
        head = CallRender(self.spec, gen.pbx, gen.now(), tpl=c2d, last=head_end,
                          patch=self.patch_response)
        live = gen.play(self.spec, render=head, skip=o.skip_response, dialogue=self.dialogue)
        live.listeners.append(o.watch_answer(live))
        zero = Token("U", ("0",))
        gen.call_at(head.ends_at, live, lambda: self.second_leg(
            live, head.ends_at, head.ids[zero], head.ids[Token("C", ("0",))]))

    def patch_response(self, rev: RenderEvent, msg: AmiMessage) -> None:
        if msg.get("Event") == "OriginateResponse":
            msg["Context"], msg["Exten"] = self.o.context, self.o.exten

    def second_leg(self, live: LiveCall, at: float, uid: str, name: str) -> None:
        """After the agent answered: the dialplan at Exten@Context, run by channel ``uid``
        (the agent's phone, or the Local ``;1``), dials the callee or the outside number."""
        gen, o = self.gen, self.o
        if self.callee is None:  # an outside number: the click-to-dial capture's tail
            tpl = load_template("click_to_dial")
            names = _names(tpl)
            first = names.index("DialEnd", names.index("OriginateResponse")) + 1
            spec = self.spec
        else:
            tpl = load_template("internal")
            first = _names(tpl).index("Newexten")
            spec = CallSpec("internal", self.spec.agent, (self.callee,))
        rel = at - live.render.start
        ring, talk = self.gen.config.originate_remote_ring, self.spec.talk or 10.0
        marks = tpl.marks
        tmap = TimeMap([e.t for e in tpl.events], [
            (tpl.events[first].t, rel + 0.001), (marks["answer"], rel + ring),
            (marks["end"], rel + ring + talk)])
        zero = Token("U", ("0",))
        ids = {zero: uid, Token("C", ("0",)): name, Token("L"): live.linkedid}
        cid = (o.cid_num or self.spec.agent.extension, o.cid_name or self.spec.agent.name)

        def patch(rev: RenderEvent, msg: AmiMessage) -> None:
            if msg.get("Uniqueid") == uid:  # already up, showing the Originate's CallerID
                msg["ChannelState"], msg["ChannelStateDesc"] = "6", "Up"
                if self.callee is not None:
                    msg["CallerIDNum"], msg["CallerIDName"] = cid

        def skip(rev: RenderEvent) -> bool:
            return tail.channel_of(rev) == zero and _event(rev) == "Newstate"

        tail = CallRender(spec, gen.pbx, live.render.start, tpl=tpl, tmap=tmap, ids=ids,
                          first=first, patch=patch)
        gen.schedule_render(live, tail, skip)
        busy = gen.traffic.busy_until
        for agent in (self.spec.agent, *([self.callee] if self.callee else [])):
            busy[agent.extension] = max(busy.get(agent.extension, 0.0), tail.ends_at)
        if self.local:
            gen.call_at(tail.ends_at, live, lambda: gen.schedule_messages(live, teardown(
                self.server_state(), [self.local[";2"], *self.agent_uids(live)], 16),
                at=tail.ends_at))

    # ------------------------------------------------------------------ Local channels
    def server_state(self) -> PbxState:
        return self.o.server.state

    def agent_uids(self, live: LiveCall) -> list[str]:
        prefix = f"PJSIP/{self.spec.agent.extension}-"
        return [u for u in live.uniqueids() if u in self.server_state().channels
                and self.server_state().channels[u].fields["Channel"].startswith(prefix)]

    def start_local(self) -> None:
        """``Local/<ext>@<ctx>``: ``;1`` waits for the answer then runs Exten@Context, ``;2``
        runs ``<ext>@<ctx>``, whose dialplan (``_100X``) dials the agent's phone."""
        o, gen, agent = self.o, self.gen, self.spec.agent
        now = gen.now()
        ctx, ext = o.local_context, agent.extension
        suffix = gen.pbx.channel_suffix()
        a, b = gen.pbx.uniqueid(now), gen.pbx.uniqueid(now)
        n1, n2 = f"Local/{ext}@{ctx}-{suffix};1", f"Local/{ext}@{ctx}-{suffix};2"
        self.local = {";1": a, ";2": b, "n1": n1, "n2": n2}
        cid = (o.cid_num or "<unknown>", o.cid_name or "<unknown>")

        def snap(name: str, uid: str, state: tuple[str, str], prefix: str = "") -> AmiMessage:
            fields = {"Channel": name, "ChannelState": state[0], "ChannelStateDesc": state[1],
                      "CallerIDNum": cid[0], "CallerIDName": cid[1],
                      "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>",
                      "Language": "en", "AccountCode": "", "Context": ctx, "Exten": ext,
                      "Priority": "1", "Uniqueid": uid, "Linkedid": a}
            return {prefix + k: v for k, v in fields.items()}

        down, ring = ("0", "Down"), ("4", "Ring")
        first: list[AmiMessage] = [
            {"Event": "Newchannel", "Privilege": "call,all", **snap(n1, a, down)},
            {"Event": "Newchannel", "Privilege": "call,all", **snap(n2, b, ring)},
            *({"Event": "VarSet", "Privilege": "dialplan,all", **snap(n1, a, down),
               "Variable": k, "Value": v} for k, v in o.variables),
            {"Event": "LocalBridge", "Privilege": "call,all", **snap(n1, a, down, "LocalOne"),
             **snap(n2, b, ring, "LocalTwo"), "Context": ctx, "Exten": ext,
             "LocalOptimization": "No"},
            {"Event": "DialBegin", "Privilege": "call,all", **snap(n1, a, down, "Dest"),
             "DialString": f"{ext}@{ctx}"},
        ]
        tpl = load_template("internal")
        names = _names(tpl)
        begin = names.index("Newexten")
        answer_idx = next(i for i, e in enumerate(tpl.events) if e.t >= tpl.marks["answer"])
        last = _after_burst([e.t for e in tpl.events], answer_idx)
        ring_s = self.spec.agent_ring or gen.config.originate_agent_ring
        tmap = TimeMap([e.t for e in tpl.events], [(tpl.events[begin].t, 0.002),
                                                  (tpl.marks["answer"], ring_s)])
        spec = CallSpec("internal", Agent(cid[0], cid[1]), (agent,))
        ids = {Token("U", ("0",)): b, Token("C", ("0",)): n2, Token("L"): a}
        leg = CallRender(spec, gen.pbx, now, tpl=tpl, tmap=tmap, ids=ids, first=begin,
                         last=last)

        def caller_device(rev: RenderEvent) -> bool:  # ;2 has no device of its own
            return rev.event.expand == "qms:0" or (
                _event(rev) == "DeviceStateChange" and Token("EXT", ("0",)) in rev.event.tokens())

        live = gen.play(self.spec, render=leg, skip=caller_device, dialogue=self.dialogue)
        gen.schedule_messages(live, first, at=now)
        ringing = next(r for r in leg.events if _event(r) == "Newstate")
        gen.call_at(ringing.at, live, lambda: self.local_state(live, "Ringing", ringing.at))
        up_at = leg.when(tpl.marks["answer"])
        gen.call_at(leg.ends_at, live, lambda: self.local_answered(live, leg.ends_at))
        busy = gen.traffic.busy_until
        busy[ext] = max(busy.get(ext, 0.0), up_at)

    def local_state(self, live: LiveCall, state: str, at: float) -> None:
        """``;1`` follows what ``;2`` hears: Ringing, then Up (and the Originate's dial)."""
        rec = self.server_state().channels.get(self.local[";1"])
        if rec is None:
            return
        code = {"Ringing": "5", "Up": "6"}[state]
        snap = {**snapshot(rec), "ChannelState": code, "ChannelStateDesc": state}
        self.gen.emit(live, {"Event": "Newstate", "Privilege": "call,all", **snap}, at)
        dest = {"Dest" + k: v for k, v in snap.items()}
        status = "RINGING" if state == "Ringing" else "ANSWER"
        self.gen.emit(live, {"Event": "DialState" if state == "Ringing" else "DialEnd",
                             "Privilege": "call,all", **dest, "DialStatus": status}, at)

    def local_answered(self, live: LiveCall, at: float) -> None:
        self.local_state(live, "Up", at)
        o = self.o
        if o.is_async:
            self.gen.emit(live, o.response_event(True, 4, self.local["n1"], self.local[";1"]),
                          at)
        else:
            o.reply(True)
        self.second_leg(live, at, self.local[";1"], self.local["n1"])


def _names(tpl: Template) -> list[str]:
    return [_event_of(e) for e in tpl.events]


def _event_of(ev: TemplateEvent) -> str:
    value = dict(ev.fields).get("Event", ("",))[0]
    return value if isinstance(value, str) else ""


def _event(rev: RenderEvent) -> str:
    return _event_of(rev.event)


def _after_burst(times: list[float], index: int) -> int:
    while index + 1 < len(times) and times[index + 1] - times[index] < BURST:
        index += 1
    return index + 1
