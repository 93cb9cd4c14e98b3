"""``Atxfer`` on the simulator: an attended transfer, consultation then complete or cancel.

**Modelled from Asterisk 22's source and documentation, not from a capture** (the lab recorded
no attended transfer). manager.c's ``action_atxfer`` checks ``Channel`` (``No channel
specified``, ``Channel specified does not exist``) and ``Exten`` (``No extension specified``),
then starts the attended-transfer feature on the channel and answers ``Atxfer successfully
queued``. What follows is bridge_basic.c's state machine, as the PBX reports it:

* **calling the target** — the caller (transferee) hears music on hold (``MusicOnHoldStart``),
  the transferer leaves the call's bridge for a new one, and the target is dialled through a
  Local channel pair ``Local/<exten>@<context>-xxxxxxxx;1/;2`` (created on the transferer's
  behalf, so carrying the call's Linkedid): ``;2`` runs the dialplan, which dials the target's
  phone (``DialBegin``, ``Ringing``);
* **consulting** — the target answers: its phone and ``;2`` are bridged, ``;1`` joins the
  transferer's bridge;
* a **hangup of the transferer** completes the transfer (``TRANSFER_COMPLETE``; "blond" while
  the target still rings, ``atxferdropcall``): an ``AttendedTransfer`` event (``Result:
  Success``, ``DestType: Bridge``, ``OrigTransferer…``/``SecondTransferer…`` = the transferer,
  ``Transferee…``, ``TransferTarget…`` = ``;1``), the target side moves into the caller's bridge
  (modelled as ``;1`` leaving one bridge and entering the other; Asterisk merges the bridges and
  would then optimise the Local pair away, which is not simulated), music stops, the
  transferer hangs up;
* a **hangup of the consultation's ``;1``** cancels it (``TRANSFER_REBRIDGE``): the Local pair
  and the target's phone hang up, the transferer goes back into the caller's bridge and the
  music stops.

Only a bridged two-party call and an agent's extension as the target are simulated; anything
else is refused with an error saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import AmiRequest, AmiSession
from cti.sim.generator import CallGenerator, LiveCall
from cti.sim.scenarios import Agent
from cti.sim.synth import (
    bridge_of,
    channel,
    end_call,
    event,
    leave,
    new_bridge,
    prefixed,
    with_state,
)
from cti.sim.teardown import snapshot, teardown

RING = 2.5  # seconds the consulted phone rings before it answers


@dataclass
class Consultation:
    live: LiveCall
    transferer: str  # Uniqueids
    transferee: str
    bridge: str  # the call's bridge, where the caller waits
    bridge2: str  # the transferer's consultation bridge
    one: str  # Local ;1, ;2 and the target's phone
    two: str
    phone: str
    target: Agent
    answered: bool = False
    completed: bool = False
    cancelled: bool = False


class AttendedTransfers:
    def __init__(self, server: AmiServer, gen: CallGenerator) -> None:
        self.server = server
        self.state = server.state
        self.gen = gen
        self.consults: dict[str, Consultation] = {}  # by transferer and by ;1 Uniqueid

    def handles(self, uid: str) -> bool:
        return uid in self.consults and uid in self.state.channels

    # ------------------------------------------------------------------ Atxfer
    def atxfer(self, session: AmiSession, req: AmiRequest) -> None:
        name, exten, ctx = req.get("Channel"), req.get("Exten"), req.get("Context")
        if not name:
            session.reply(req, "Error", message="No channel specified")
            return
        if not exten:
            session.reply(req, "Error", message="No extension specified")
            return
        uid = next((u for u, r in self.state.channels.items()
                    if u == name or r.fields["Channel"].lower() == name.lower()), None)
        if uid is None:
            session.reply(req, "Error", message="Channel specified does not exist")
            return
        rec = self.state.channels[uid]
        bridge = self.state.bridges.get(rec.bridge_id)
        peers = [u for u in bridge.members if u != uid] if bridge else []
        live = self.gen.call_of(uid)
        target = self.gen.config.agent(exten)
        if len(peers) != 1 or live is None or uid in self.consults:
            session.reply(req, "Error", message="Atxfer is simulated for a channel in a "
                          "two-party call only")
            return
        if target is None:
            session.reply(req, "Error", message="Atxfer is simulated to an agent's "
                          "extension only")
            return
        session.reply(req, "Success", message="Atxfer successfully queued")
        self._start(live, uid, peers[0], rec.bridge_id, target, ctx or "from-internal")

    def _start(self, live: LiveCall, uid: str, caller: str, bridge: str, target: Agent,
               ctx: str) -> None:
        gen, state, now = self.gen, self.state, self.gen.now()
        gen.cancel(live)  # the captured call's future is replaced by the transfer's
        x = state.channels[uid]
        out = [event("MusicOnHoldStart", snapshot(state.channels[caller]), Class="default")]
        for msg in out + leave(state, uid):
            gen.emit(live, msg, now)
        b2 = new_bridge(gen)
        gen.emit(live, event("BridgeCreate", b2), now)
        gen.emit(live, event("BridgeEnter", {**b2, "BridgeNumChannels": "1"}, snapshot(x)), now)
        linked, exten = x.fields["Linkedid"], target.extension
        cid = (x.fields["CallerIDNum"], x.fields["CallerIDName"])
        one, two, phone = (gen.pbx.uniqueid(now) for _ in range(3))
        suffix = gen.pbx.channel_suffix()
        f1 = channel(f"Local/{exten}@{ctx}-{suffix};1", one, linked, "Down", ctx, exten, cid)
        f2 = channel(f"Local/{exten}@{ctx}-{suffix};2", two, linked, "Ring", ctx, exten, cid)
        fp = channel(f"PJSIP/{exten}-{gen.pbx.channel_suffix()}", phone, linked, "Down",
                     "from-internal", "", (exten, target.name), cid)
        ringing = {**fp, "ChannelState": "5", "ChannelStateDesc": "Ringing"}
        for uid_ in (one, two, phone):
            gen.adopt(live, uid_)
        for msg in (event("Newchannel", f1), event("Newchannel", f2),
                    event("LocalBridge", prefixed(f1, "LocalOne"), prefixed(f2, "LocalTwo"),
                          Context=ctx, Exten=exten, LocalOptimization="Yes"),
                    event("Newexten", f2, Extension=exten, Application="Dial",
                          AppData=f"PJSIP/{exten},20,tTU(cti-record)"),
                    event("Newchannel", fp),
                    event("DialBegin", f2, prefixed(fp, "Dest"), DialString=exten),
                    event("Newstate", ringing),
                    event("DialState", f2, prefixed(ringing, "Dest"), DialStatus="RINGING"),
                    event("Newstate", {**f1, "ChannelState": "5", "ChannelStateDesc": "Ringing"}),
                    event("DeviceStateChange", Device=f"PJSIP/{exten}", State="RINGING")):
            gen.emit(live, msg, now)
        c = Consultation(live, uid, caller, bridge, b2["BridgeUniqueid"], one, two, phone,
                         target)
        self.consults[uid] = self.consults[one] = c
        gen.call_at(now + RING, live, lambda: self._answer(c, now + RING))
        end = max(live.render.ends_at, now + RING + 20.0)
        busy = gen.traffic.busy_until
        busy[exten] = max(busy.get(exten, 0.0), end)
        end_call(gen, state, live, end)

    def _answer(self, c: Consultation, at: float) -> None:
        gen, state = self.gen, self.state
        recs = [state.channels.get(u) for u in (c.phone, c.two, c.one)]
        if c.cancelled or any(r is None for r in recs):
            return
        c.answered = True
        phone, two, one = (r for r in recs if r is not None)
        up_phone = with_state(phone, "Up")
        gen.emit(c.live, event("Newstate", up_phone), at)
        gen.emit(c.live, event("DialEnd", snapshot(two), prefixed(up_phone, "Dest"),
                               DialStatus="ANSWER"), at)
        for rec in (two, one):
            gen.emit(c.live, event("Newstate", with_state(rec, "Up")), at)
        b3 = new_bridge(gen)
        gen.emit(c.live, event("BridgeCreate", b3), at)
        bid = b3["BridgeUniqueid"]
        for uid, count in ((c.two, 1), (c.phone, 2)):
            gen.emit(c.live, event("BridgeEnter", bridge_of(state, bid, count),
                                   snapshot(state.channels[uid])), at)
        gen.emit(c.live, event("DeviceStateChange", Device=f"PJSIP/{c.target.extension}",
                               State="INUSE"), at)
        if c.completed:  # blond transfer: the caller was waiting for the target to answer
            self._join(c, c.one, c.bridge, at)
        else:  # consulting: the transferer and the target talk
            self._join(c, c.one, c.bridge2, at)

    def _join(self, c: Consultation, uid: str, bid: str, at: float) -> None:
        rec = self.state.channels[uid]
        count = len(self.state.bridges[bid].members) + 1 if bid in self.state.bridges else 1
        self.gen.emit(c.live, event("BridgeEnter", bridge_of(self.state, bid, count),
                                    snapshot(rec)), at)

    # ------------------------------------------------------------------ the end of it
    def hangup(self, session: AmiSession, req: AmiRequest, uid: str) -> None:
        c = self.consults[uid]
        for key in (c.transferer, c.one):
            self.consults.pop(key, None)
        session.reply(req, "Success", message="Channel Hungup")
        if uid == c.transferer:
            self._complete(c)
        else:
            self._cancel(c)

    def _complete(self, c: Consultation) -> None:
        gen, state, now = self.gen, self.state, self.gen.now()
        x, caller, one = (state.channels[u] for u in (c.transferer, c.transferee, c.one))
        c.completed = True
        gen.emit(c.live, event(
            "AttendedTransfer", {"Result": "Success"},
            prefixed(snapshot(x), "OrigTransferer"),
            prefixed(bridge_of(state, c.bridge, len(state.bridges[c.bridge].members)), "Orig"),
            prefixed(snapshot(x), "SecondTransferer"),
            prefixed(bridge_of(state, c.bridge2, len(state.bridges[c.bridge2].members)),
                     "Second"),
            {"DestType": "Bridge", "DestBridgeUniqueid": c.bridge},
            prefixed(snapshot(caller), "Transferee"), prefixed(snapshot(one), "TransferTarget"),
            IsExternal="No"), now)
        for msg in leave(state, c.transferer):
            gen.emit(c.live, msg, now)
        if c.answered:
            for msg in leave(state, c.one):
                gen.emit(c.live, msg, now)
            self._join(c, c.one, c.bridge, now)
        gen.emit(c.live, event("MusicOnHoldStop", snapshot(caller)), now)
        for msg in teardown(state, [c.transferer], 16):
            gen.emit(c.live, msg, now)
        gen.traffic.busy_until[x.fields["Channel"].partition("/")[2].rsplit("-", 1)[0]] = now

    def _cancel(self, c: Consultation) -> None:
        gen, state, now = self.gen, self.state, self.gen.now()
        c.cancelled = True
        phone, two = state.channels.get(c.phone), state.channels.get(c.two)
        if phone is not None and two is not None and not c.answered:
            gen.emit(c.live, event("DialEnd", snapshot(two), prefixed(snapshot(phone), "Dest"),
                                   DialStatus="CANCEL"), now)
        for msg in teardown(state, [c.one, c.two, c.phone], 16):
            gen.emit(c.live, msg, now)
        if c.transferer in state.channels and c.bridge in state.bridges:
            self._join(c, c.transferer, c.bridge, now)
        caller = state.channels.get(c.transferee)
        if caller is not None:
            gen.emit(c.live, event("MusicOnHoldStop", snapshot(caller)), now)
        gen.traffic.busy_until[c.target.extension] = now
