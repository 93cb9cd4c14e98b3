"""The simulator's call-control actions: Hangup, Redirect, BlindTransfer, Atxfer (and Originate,
see :mod:`cti.sim.originate`), answered as Asterisk 22's ``manager.c`` answers them.

``install(server, generator)`` registers them on an :class:`~cti.sim.ami_server.AmiServer`; the
server stays generic. Channels are looked up in the server's live channel cache (what
``CoreShowChannels`` lists) by name or Uniqueid, like ``ast_channel_get_by_name``; the call a
channel belongs to is the generator's live call, whose remaining planned events an action
cancels before it plays what Asterisk would report instead:

* ``Hangup`` (``Channel`` or ``/regex/``, optional ``Cause`` 0–127): the channel gets a
  ``SoftHangupRequest``; as the lab dialplan ends the call when ``Dial``/``Queue`` returns, every
  channel of the call then leaves its bridge (``BridgeLeave``…, ``BridgeDestroy``), legs still
  ringing are cancelled (``DialEnd CANCEL``) and all hang up, then their devices go
  ``NOT_INUSE``. A regex answers like Asterisk: a list of ``ChannelHungup`` events;
* ``BlindTransfer`` (``Channel`` = the transferer, ``Exten``, ``Context``): the rest of the call is
  the real ``blind_transfer`` capture's tail — ``BlindTransfer`` event, the transferer hangs up,
  the transferee runs the dialplan and dials the target, who rings, answers and talks;
* ``Redirect`` (``Channel``, ``Exten``, ``Context``, ``Priority``): the same tail *without* the
  ``BlindTransfer`` event, the hold/``BLINDTRANSFER`` chatter: Asterisk's Redirect is an async
  goto, not a bridge transfer, so a real PBX announces no transfer (a CTI sees the target ring
  and answer inside the same call, but no transfer entry);
* ``Atxfer``: validated like Asterisk; :mod:`cti.sim.call_features` then replaces it with the
  modelled attended transfer (:mod:`cti.sim.atxfer`), and adds ``Park``, the parked-call
  retrieval and ChanSpy legs on top of ``Originate`` and ``Hangup``.

Bad requests get ``Response: Error`` with Asterisk's message and never stop the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cti.ami.messages import AmiMessage
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import AmiRequest, AmiSession, format_message
from cti.sim.ami_state import ChannelRecord
from cti.sim.call_features import CallFeatures
from cti.sim.generator import CallGenerator, LiveCall
from cti.sim.originate import Originator
from cti.sim.scenarios import BURST, Agent, CallRender, CallSpec, RenderEvent, TimeMap
from cti.sim.teardown import teardown
from cti.sim.templates import Token, load_template
from cti.sim.traffic import SimConfig


def attach(server: AmiServer, config: SimConfig | None = None, seed: int = 0) -> CallGenerator:
    """A call generator driving ``server``, with the call-control actions installed: what
    ``cti sim`` / ``cti demo`` need before ``await server.start()`` and ``generator.run()``."""
    generator = CallGenerator(server, config, seed)
    install(server, generator)
    return generator


def install(server: AmiServer, generator: CallGenerator) -> SimActions:
    """Register Originate, Hangup, Redirect, BlindTransfer and Atxfer on ``server``."""
    actions = SimActions(server, generator)
    originator = Originator(server, generator)
    for name, handler in (("Originate", originator.originate), ("Hangup", actions.hangup),
                          ("Redirect", actions.redirect),
                          ("BlindTransfer", actions.blind_transfer), ("Atxfer", actions.atxfer)):
        server.register_action(name, handler)
    CallFeatures(server, generator).install()  # Park, resume, ChanSpy, attended transfer
    return actions


def endpoint_of(channel: str) -> str:
    """``PJSIP/1001-0000002a`` → ``1001``."""
    return channel.partition("/")[2].rsplit("-", 1)[0]


class SimActions:
    def __init__(self, server: AmiServer, generator: CallGenerator) -> None:
        self.server = server
        self.gen = generator

    # ------------------------------------------------------------------ lookups
    def find(self, name: str) -> tuple[str, ChannelRecord] | None:
        """By channel name (case-insensitive) or Uniqueid, as ``ast_channel_get_by_name``."""
        wanted = name.lower()
        for uid, rec in self.server.state.channels.items():
            if uid == name or rec.fields.get("Channel", "").lower() == wanted:
                return uid, rec
        return None

    def call_uids(self, uid: str) -> list[str]:
        """The live channels of the call ``uid`` belongs to, ``uid`` first."""
        live = self.gen.call_of(uid)
        channels = self.server.state.channels
        others = [u for u in channels if u != uid and live is not None and u in
                  live.uniqueids()]
        return [uid, *others]

    # ------------------------------------------------------------------ Hangup
    def hangup(self, session: AmiSession, req: AmiRequest) -> None:
        name = req.get("Channel")
        if not name:
            session.reply(req, "Error", message="No channel specified")
            return
        cause = _cause(req.get("Cause"))
        if len(name) > 1 and name.startswith("/") and name.endswith("/"):
            try:
                regex = re.compile(name[1:-1])
            except re.error:
                session.reply(req, "Error", message=f"Regex compile failed on: {name}")
                return
            matched = [(uid, rec) for uid, rec in self.server.state.channels.items()
                       if regex.search(rec.fields.get("Channel", ""))]
            session.reply(req, "Success", listflag="start",
                          message="Channels hung up will follow")
            id_pair = [("ActionID", req.action_id)] if req.action_id else []
            for _, rec in matched:
                session.send(format_message([("Event", "ChannelHungup"),
                                             ("Channel", rec.fields.get("Channel", "")),
                                             *id_pair]))
            session.send(format_message([("Event", "ChannelsHungupListComplete"),
                                         ("EventList", "Complete"),
                                         ("ListItems", str(len(matched))), *id_pair]))
            done: set[str] = set()
            for uid, _ in matched:
                if uid not in done:
                    done.update(self.hang_up(uid, cause))
            return
        found = self.find(name)
        if found is None:
            session.reply(req, "Error", message="No such channel")
            return
        self.hang_up(found[0], cause)
        session.reply(req, "Success", message="Channel Hungup")

    def hang_up(self, uid: str, cause: int) -> list[str]:
        """End the call of channel ``uid`` now; returns the Uniqueids hung up."""
        uids = self.call_uids(uid)
        live = self.gen.call_of(uid)
        if live is not None:
            self.gen.cancel(live)
        self.gen.schedule_messages(live, self.teardown(uids, cause or 16))
        return uids

    def teardown(self, uids: list[str], cause: int) -> list[AmiMessage]:
        return teardown(self.server.state, uids, cause)

    # ------------------------------------------------------------------ transfers
    def blind_transfer(self, session: AmiSession, req: AmiRequest) -> None:
        name, exten = req.get("Channel"), req.get("Exten")
        if not name:
            session.reply(req, "Error", message="No channel specified")
            return
        if not exten:
            session.reply(req, "Error", message="No extension specified")
            return
        found = self.find(name)
        if found is None:
            session.reply(req, "Error", message="Channel specified does not exist")
            return
        uid, rec = found
        peer = self._bridge_peer(uid, rec)
        target = self.gen.config.agent(exten)
        live = self.gen.call_of(uid)
        if peer is None or live is None:
            session.reply(req, "Error", message="Transfer invalid")
            return
        if target is None:
            session.reply(req, "Error", message="Transfer failed")
            return
        replied = False

        def reply_on_event(msg: AmiMessage, at: float) -> None:
            nonlocal replied
            if not replied and msg.get("Event") == "BlindTransfer":
                replied = True
                session.reply(req, "Success", message="Transfer succeeded")

        self.start_tail(live, uid, peer, rec.bridge_id, target, redirect=False)
        live.listeners.append(reply_on_event)

    def redirect(self, session: AmiSession, req: AmiRequest) -> None:
        name = req.get("Channel")
        for field, message in (("Channel", "Channel not specified"),
                               ("Context", "Context not specified"),
                               ("Exten", "Exten not specified"),
                               ("Priority", "Priority not specified")):
            if not req.get(field):
                session.reply(req, "Error", message=message)
                return
        if not req.get("Priority").isdigit() or int(req.get("Priority")) < 1:
            session.reply(req, "Error", message="Priority is invalid")
            return
        found = self.find(name)
        if found is None:
            session.reply(req, "Error", message=f"Channel does not exist: {name}")
            return
        uid, rec = found
        peer = self._bridge_peer(uid, rec)
        target = self.gen.config.agent(req.get("Exten"))
        live = self.gen.call_of(uid)
        if peer is None or live is None or target is None:
            session.reply(req, "Error", message="Redirect failed: only a bridged call to an "
                          "agent's extension is simulated")
            return
        self.start_tail(live, peer, uid, rec.bridge_id, target, redirect=True)
        session.reply(req, "Success", message="Redirect successful")

    def atxfer(self, session: AmiSession, req: AmiRequest) -> None:
        if not req.get("Channel"):
            session.reply(req, "Error", message="No channel specified")
        elif not req.get("Exten"):
            session.reply(req, "Error", message="No extension specified")
        elif self.find(req.get("Channel")) is None:
            session.reply(req, "Error", message="Channel specified does not exist")
        else:
            session.reply(req, "Error", message="Attended transfer is not supported by the "
                          "simulator")

    def _bridge_peer(self, uid: str, rec: ChannelRecord) -> str | None:
        bridge = self.server.state.bridges.get(rec.bridge_id)
        if bridge is None:
            return None
        return next((u for u in bridge.members if u != uid), None)

    def start_tail(self, live: LiveCall, transferer: str, transferee: str, bridge_id: str,
                   target: Agent, *, redirect: bool) -> CallRender:
        """Continue ``live`` like the blind_transfer capture does after its transfer."""
        gen, state = self.gen, self.server.state
        tpl = load_template("blind_transfer")
        names = [dict(e.fields)["Event"] for e in tpl.events]
        first = names.index(("BlindTransfer",)) if ("BlindTransfer",) in names else 0
        while first > 0 and tpl.events[first].t - tpl.events[first - 1].t < BURST:
            first -= 1
        start, now = live.render.start, gen.now()
        marks = tpl.marks
        now_rel = max(now - start, 0.002)
        answer = live.render.tpl.marks.get("answer")
        ans_rel = live.render.tmap(answer) if answer is not None else now_rel / 2
        ans_rel = min(max(ans_rel, 0.001), now_rel - 0.001)
        ring2 = round(gen.traffic.rng.uniform(2.0, 6.0), 3)
        left = live.render.ends_at - now - ring2
        talk2 = left if left >= 5 else gen.traffic.talk()
        tmap = TimeMap([e.t for e in tpl.events], [
            (0.0, 0.0), (marks["answer"], ans_rel), (marks["xfer"], now_rel),
            (marks["answer2"], now_rel + ring2), (marks["end"], now_rel + ring2 + talk2)])
        ee, er = state.channels[transferee].fields, state.channels[transferer].fields
        ext = endpoint_of(er.get("Channel", ""))
        agent = gen.config.agent(ext) or Agent(ext, er.get("CallerIDName", ""))
        spec = CallSpec("blind_transfer", agent, (target,), caller=ee.get("CallerIDNum", ""),
                        caller_name=ee.get("CallerIDName", ""), did=ee.get("Exten", ""))
        ids = {Token("U", ("0",)): transferee, Token("C", ("0",)): ee.get("Channel", ""),
               Token("U", ("1",)): transferer, Token("C", ("1",)): er.get("Channel", ""),
               Token("B", ("0",)): bridge_id, Token("L"): live.linkedid}
        tail = CallRender(spec, gen.pbx, start, tpl=tpl, tmap=tmap, ids=ids, first=first)
        skip: Callable[[RenderEvent], bool] | None = None
        if redirect:
            def skip(rev: RenderEvent) -> bool:
                fields = dict(rev.event.fields)
                return fields["Event"] in (("Unhold",), ("BlindTransfer",)) or fields.get(
                    "Variable") == ("BLINDTRANSFER",)
        gen.cancel(live)
        gen.schedule_render(live, tail, skip)
        busy = gen.traffic.busy_until
        busy[target.extension] = max(busy.get(target.extension, 0.0), tail.ends_at)
        busy[agent.extension] = min(busy.get(agent.extension, now), now)
        return tail


def _cause(text: str) -> int:
    """``Cause`` as manager.c reads it: 0–127, anything else ignored (0)."""
    try:
        value = int(text)
    except ValueError:
        return 0
    return value if 0 <= value <= 127 else 0
