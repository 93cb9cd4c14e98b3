"""The simulator's call features for cti's call control: parking (hold), taking a parked call
back (resume), supervisors' ChanSpy legs and attended transfer (:mod:`cti.sim.atxfer`).

**None of this is from a capture** (the lab recorded none of these scenarios): the answers and
events follow Asterisk 22's documentation and source, and the real captures' field layouts.

* ``Park`` (res_parking's ``manager_park``): errors ``Channel not specified``, ``Invalid Timeout
  value.``, ``Channel does not exist: <name>``, ``Park action failed``; only the *bridged* form
  is simulated (``TimeoutChannel`` is the parkee's bridge peer, as when an agent parks the
  caller they talk to). Then, as the park DTMF feature does: the caller leaves the call's bridge
  for a ``parking``/``holding`` bridge, ``ParkedCall`` names the space (701–720 of lot
  ``default``), the caller hears music on hold (``MusicOnHoldStart``), and after the space is
  announced to the parker the parker's leg leaves and hangs up. The lot's timeout (call back
  the parker) is not simulated: a caller never taken back hangs up at the call's planned end
  (``ParkedCallGiveUp``).
* ``Originate`` to ``<space>@parkedcalls`` (res_parking registers each space in the lot's
  context, running ``ParkedCall``): the phone rings and answers, the caller leaves the parking
  bridge (``UnParkedCall`` with ``Parkee…``/``Retriever…`` snapshots, ``MusicOnHoldStop``) and
  both enter a new basic bridge; the retriever then carries the caller's Linkedid (Asterisk
  gives the channels of a bridge the oldest Linkedid). ``ChannelId`` sets the new channel's
  Uniqueid (and so its Linkedid), as Asterisk 12+ does.
* ``Originate`` with ``Application: ChanSpy`` and ``Data: <channel prefix>,<options>``: the
  supervisor's phone rings and answers (``OriginateResponse`` naming the application), then
  ``ChanSpyStart`` (``Spyer…``/``Spyee…``); with ``E`` the spy leg ends with the spied channel
  (``ChanSpyStop``, then its hangup). Other applications are still refused.
* ``Hangup`` of a channel in an attended transfer goes to :mod:`cti.sim.atxfer`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cti.ami.messages import AmiMessage
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import TRUE_WORDS, AmiRequest, AmiSession
from cti.sim.ami_state import ChannelRecord
from cti.sim.ari_model import parse_callerid
from cti.sim.atxfer import AttendedTransfers
from cti.sim.generator import CallGenerator, LiveCall
from cti.sim.originate import variables_of
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

PARKING_CONTEXT = "parkedcalls"
LOT = "default"
SPACES = tuple(str(n) for n in range(701, 721))
ANNOUNCE = 2.0  # seconds the parker hears the space announced before their leg goes


@dataclass
class ParkedSim:
    live: LiveCall
    parkee: str  # Uniqueid
    space: str
    lot: str
    parker_dial: str  # PJSIP/1001: whom the lot's timeout would call back
    at: float


class CallFeatures:
    """Registers Park, Atxfer and the Originate/Hangup wrappers on ``server``; the plain
    Originate and Hangup (``cti.sim.originate``, ``cti.sim.actions``) keep doing the rest."""

    def __init__(self, server: AmiServer, gen: CallGenerator, *,
                 parking_context: str = PARKING_CONTEXT) -> None:
        self.server = server
        self.gen = gen
        self.state = server.state
        self.parking_context = parking_context
        self.parked: dict[str, ParkedSim] = {}
        self.atxfer = AttendedTransfers(server, gen)
        originate, hangup = server.handler("Originate"), server.handler("Hangup")
        if originate is None or hangup is None:
            raise RuntimeError("install the plain Originate and Hangup first")
        self._originate, self._hangup = originate, hangup

    def install(self) -> None:
        for name, handler in (("Park", self.park), ("Originate", self.originate),
                              ("Hangup", self.hangup), ("Atxfer", self.atxfer.atxfer)):
            self.server.register_action(name, handler)

    def find(self, name: str) -> str | None:
        wanted = name.lower()
        return next((uid for uid, rec in self.state.channels.items()
                     if uid == name or rec.fields.get("Channel", "").lower() == wanted), None)

    # ------------------------------------------------------------------ Hangup
    def hangup(self, session: AmiSession, req: AmiRequest) -> None:
        uid = self.find(req.get("Channel")) if req.get("Channel") else None
        if uid is not None and self.atxfer.handles(uid):
            self.atxfer.hangup(session, req, uid)
            return
        self._hangup(session, req)

    # ------------------------------------------------------------------ Park
    def park(self, session: AmiSession, req: AmiRequest) -> None:
        name, timeout = req.get("Channel"), req.get("Timeout")
        parker_name = req.get("TimeoutChannel") or req.get("Channel2")
        if not name:
            session.reply(req, "Error", message="Channel not specified")
            return
        if timeout and not timeout.isdigit():
            session.reply(req, "Error", message="Invalid Timeout value.")
            return
        uid = self.find(name)
        if uid is None:
            session.reply(req, "Error", message=f"Channel does not exist: {name}")
            return
        rec = self.state.channels[uid]
        bridge = self.state.bridges.get(rec.bridge_id)
        peer = next((u for u in bridge.members if u != uid), None) if bridge else None
        parker = self.state.channels.get(peer or "")
        live = self.gen.call_of(uid)
        lot = req.get("Parkinglot") or LOT
        space = next((s for s in SPACES if s not in self.parked), None)
        if (peer is None or parker is None or parker.fields["Channel"] != parker_name
                or live is None or space is None or lot != LOT):
            session.reply(req, "Error", message="Park action failed")
            return
        session.reply(req, "Success", message="Park successful")
        gen, now = self.gen, self.gen.now()
        gen.cancel(live)  # the rest of the captured call does not happen any more
        tech, _, rest = parker.fields["Channel"].partition("/")
        dial = f"{tech}/{rest.rsplit('-', 1)[0]}"
        self.parked[space] = ParkedSim(live, uid, space, lot, dial, now)
        for msg in leave(self.state, uid):
            gen.emit(live, msg, now)
        pb = new_bridge(gen, "parking", "holding", "Parking", lot)
        for msg in (event("BridgeCreate", pb),
                    event("BridgeEnter", {**pb, "BridgeNumChannels": "1"}, snapshot(rec)),
                    event("ParkedCall", prefixed(snapshot(rec), "Parkee"),
                          ParkerDialString=dial, Parkinglot=lot, ParkingSpace=space,
                          ParkingTimeout="45", ParkingDuration="0"),
                    event("MusicOnHoldStart", snapshot(rec), Class="default")):
            gen.emit(live, msg, now)
        gen.call_at(now + ANNOUNCE, live, lambda: self._drop(live, peer, now + ANNOUNCE))
        busy = gen.traffic.busy_until
        busy[rest.rsplit("-", 1)[0]] = now
        end_call(gen, self.state, live, max(live.render.ends_at, now + 10.0),
                 before=lambda: self._give_up(live))

    def _drop(self, live: LiveCall, uid: str, at: float) -> None:
        for msg in teardown(self.state, [uid], 16):
            self.gen.emit(live, msg, at)

    def _give_up(self, live: LiveCall) -> list[AmiMessage]:
        for space, p in list(self.parked.items()):
            if p.live is live:
                del self.parked[space]
                rec = self.state.channels.get(p.parkee)
                if rec is not None:
                    return [event("ParkedCallGiveUp", prefixed(snapshot(rec), "Parkee"),
                                  ParkerDialString=p.parker_dial, Parkinglot=p.lot,
                                  ParkingSpace=p.space, ParkingTimeout="0",
                                  ParkingDuration=str(int(self.gen.now() - p.at)))]
        return []

    # ------------------------------------------------------------------ Originate
    def originate(self, session: AmiSession, req: AmiRequest) -> None:
        if req.get("Application").lower() == "chanspy":
            self._leg(session, req, spy=True)
        elif req.get("Context") == self.parking_context and req.get("Exten") in self.parked:
            self._leg(session, req, spy=False)
        else:
            self._originate(session, req)

    def _leg(self, session: AmiSession, req: AmiRequest, *, spy: bool) -> None:
        """Ring the agent's phone; once answered, spy or take the parked call back."""
        gen, now = self.gen, self.gen.now()
        is_async = req.get("Async").lower() in TRUE_WORDS
        tech, _, ext = req.get("Channel").partition("/")
        agent = gen.config.agent(ext) if tech.lower() == "pjsip" else None
        if agent is None or not (req.get("Data") or not spy):
            if is_async:
                session.reply(req, "Success", message="Originate successfully queued")
                gen.emit(None, self._response(req, False, "0", req.get("Channel"), "<null>"))
            else:
                session.reply(req, "Error", message="Originate failed")
            return
        if is_async:
            session.reply(req, "Success", message="Originate successfully queued")
        uid = req.get("ChannelId") or gen.pbx.uniqueid(now)
        name = f"PJSIP/{ext}-{gen.pbx.channel_suffix()}"
        ctx = "default" if spy else req.get("Context")
        cid_name, cid_num = parse_callerid(req.get("CallerID"))
        fields = channel(name, uid, uid, "Down", ctx, "s", (agent.extension, agent.name),
                         (cid_num or "<unknown>", cid_name or "<unknown>"))
        live = None if spy else self.parked[req.get("Exten")].live
        if live is not None:
            gen.adopt(live, uid)
        first = [event("Newchannel", fields),
                 *(event("VarSet", fields, Variable=k, Value=v) for k, v in variables_of(req)),
                 event("Newstate", {**fields, "ChannelState": "5", "ChannelStateDesc": "Ringing"}),
                 event("DeviceStateChange", Device=f"PJSIP/{ext}", State="RINGING")]
        for msg in first:
            gen.emit(live, msg, now)
        up = now + gen.config.originate_agent_ring
        busy = gen.traffic.busy_until
        busy[ext] = max(busy.get(ext, 0.0), up)

        def answered() -> None:
            rec = self.state.channels.get(uid)
            if rec is None:
                return
            gen.emit(live, event("Newstate", with_state(rec, "Up")), up)
            gen.emit(live, event("DeviceStateChange", Device=f"PJSIP/{ext}", State="INUSE"), up)
            if is_async:
                gen.emit(live, self._response(req, True, "4", name, uid), up)
            else:
                session.reply(req, "Success", message="Originate successfully queued")
            if spy:
                self._spy(rec, req.get("Data"), up)
            else:
                self._retrieve(req.get("Exten"), rec, up)

        gen.call_at(up, live, answered)

    def _response(self, req: AmiRequest, ok: bool, reason: str, name: str,
                  uid: str) -> AmiMessage:
        msg: AmiMessage = {"Event": "OriginateResponse", "Privilege": "call,all"}
        if req.action_id:
            msg["ActionID"] = req.action_id
        cid_name, cid_num = parse_callerid(req.get("CallerID"))
        msg.update({"Response": "Success" if ok else "Failure", "Channel": name,
                    "Context": req.get("Context"), "Exten": req.get("Exten"),
                    "Application": req.get("Application"), "Data": req.get("Data"),
                    "Reason": reason, "Uniqueid": uid, "CallerIDNum": cid_num or "<unknown>",
                    "CallerIDName": cid_name or "<unknown>"})
        return msg

    def _retrieve(self, space: str, rec: ChannelRecord, at: float) -> None:
        p = self.parked.pop(space, None)
        retriever = self.state.channels.get(rec.fields.get("Uniqueid", ""))
        parkee = self.state.channels.get(p.parkee) if p is not None else None
        if p is None or retriever is None or parkee is None:  # the caller gave up meanwhile
            if retriever is not None:
                for msg in teardown(self.state, [retriever.fields["Uniqueid"]], 16):
                    self.gen.emit(None, msg, at)
            return
        gen, live = self.gen, p.live
        gen.emit(live, event("Newexten", snapshot(retriever), Extension=space,
                             Application="ParkedCall", AppData=f"{p.lot},{space}"), at)
        for msg in leave(self.state, p.parkee):
            gen.emit(live, msg, at)
        parkee_snap = snapshot(parkee)
        gen.emit(live, event("UnParkedCall", prefixed(parkee_snap, "Parkee"),
                             prefixed(snapshot(retriever), "Retriever"),
                             ParkerDialString=p.parker_dial, Parkinglot=p.lot,
                             ParkingSpace=space, ParkingTimeout="0",
                             ParkingDuration=str(int(at - p.at))), at)
        gen.emit(live, event("MusicOnHoldStop", parkee_snap), at)
        nb = new_bridge(gen)
        gen.emit(live, event("BridgeCreate", nb), at)
        bid = nb["BridgeUniqueid"]
        for uid, count in ((retriever.fields["Uniqueid"], 1), (p.parkee, 2)):
            gen.emit(live, event("BridgeEnter", bridge_of(self.state, bid, count),
                                 snapshot(self.state.channels[uid])), at)
        linked = parkee.fields["Linkedid"]
        gen.emit(live, event("NewConnectedLine", snapshot(retriever), Linkedid=linked,
                             ConnectedLineNum=parkee.fields["CallerIDNum"],
                             ConnectedLineName=parkee.fields["CallerIDName"]), at)

    def _spy(self, rec: ChannelRecord, data: str, at: float) -> None:
        spyer = rec.fields
        prefix, _, _options = data.partition(",")
        spied = next((u for u, r in self.state.channels.items()
                      if r.fields["Channel"].startswith(prefix) and u != spyer["Uniqueid"]),
                     None)
        gen, spy_uid = self.gen, spyer["Uniqueid"]
        if spied is None:  # nothing to spy on: the leg is released
            for msg in teardown(self.state, [spy_uid], 16):
                gen.emit(None, msg, at)
            return
        spied_rec = self.state.channels[spied]
        start = event("ChanSpyStart", prefixed(snapshot(self.state.channels[spy_uid]), "Spyer"),
                      prefixed(snapshot(spied_rec), "Spyee"))
        gen.emit(None, start, at)
        live = gen.call_of(spied)
        if live is None:
            return

        def on_event(msg: AmiMessage, when: float) -> None:  # ChanSpy's E option
            if msg.get("Event") != "Hangup" or msg.get("Uniqueid") != spied:
                return
            spy_rec = self.state.channels.get(spy_uid)
            if spy_rec is None:
                return
            gen.emit(None, event("ChanSpyStop", prefixed(snapshot(spy_rec), "Spyer"),
                                 prefixed(snapshot(spied_rec), "Spyee")), when)
            for out in teardown(self.state, [spy_uid], 16):
                gen.emit(None, out, when)

        live.listeners.append(on_event)


def install(server: AmiServer, gen: CallGenerator) -> CallFeatures:
    """Add the call features over the plain actions (``cti.sim.actions.install`` first)."""
    features = CallFeatures(server, gen)
    features.install()
    return features
