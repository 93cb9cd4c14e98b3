"""Call control from the UI: hang up, blind and attended transfer, hold and resume.

Every command names a call (PBX + Linkedid) and an action; the channels acted on come from
the PBX's own events (:mod:`cti.pbx.call_legs`), never from the person asking. What each
action sends, and why:

* ``hangup`` → AMI ``Hangup`` (``Cause: 16``, normal clearing) of the agent's own channel: the
  agent leaves, the lab dialplan then ends the call (``Dial`` returns, ``Hangup()``). A
  supervisor hangs up the *caller's* channel (the call's first channel), which ends the call
  for everyone.
* ``transfer`` → ``BlindTransfer`` (``Channel`` = the agent's channel, i.e. the transferer;
  ``Exten`` + ``Context`` = ``pbx.transfer_context``): Asterisk sends the agent's bridge peer
  (the caller) to ``Exten@Context`` and hangs the agent up; the ``BlindTransfer`` event it
  emits is what the tracker records as the call's transfer.
* ``attended`` → ``Atxfer`` (same fields): Asterisk 12+ runs its attended-transfer state machine
  (``main/bridge_basic.c``): the caller is put on hold, the agent is moved to a new bridge and
  the target is dialled through ``Local/<exten>@<context>``. Then, from that state machine:

  - ``complete`` → hang up the transferer's (agent's) channel: in the *consulting* state a
    transferer hangup is ``TRANSFER_COMPLETE`` (the target's bridge is merged with the
    caller's, an ``AttendedTransfer`` event is published); while the target still rings it is
    a "blond" transfer (``atxferdropcall``: the caller hears the target ring);
  - ``cancel`` → hang up the consultation's Local channel: a *transfer target hangup* in the
    consulting state is ``TRANSFER_REBRIDGE`` — the agent is put back with the caller, who is
    taken off hold.
* ``hold`` → ``Park`` (``Channel`` = the agent's bridge peer, ``TimeoutChannel`` = the agent's
  channel, ``Parkinglot`` = ``pbx.parking_lot``). AMI has no generic "hold": a phone's hold
  button is SIP re-INVITE the PBX only relays. Parking is the server-side hold every phone
  supports: the caller hears music on hold in a parking space, announced by a ``ParkedCall``
  event; with ``TimeoutChannel`` in a two-party bridge with the caller, Asterisk treats the
  agent as the parker (as with the park DTMF feature) — the agent's leg is released, and if
  nobody resumes within the lot's ``parkingtime`` the call comes back to them.
* ``resume`` → ``Originate`` of the agent's phone to the space in ``pbx.parking_context``
  (res_parking puts each space of the lot, e.g. ``701``, in its context, running
  ``ParkedCall``): once the agent picks up they talk to the caller again. The leg carries a
  ``ChannelId`` with :data:`~cti.calls.core.CONTROL_UID_PREFIX`, so the tracker does not take
  this control leg for a new call (it would pop as one, then be folded in when the bridge gives
  it the caller's Linkedid).

Checks first, nothing sent on refusal: the action from a fixed list, the target an extension of
digits only or a configured group name (whose extension is what is sent). Every attempt, with
its answer, goes to the audit log. Who may ask is the web layer's call (agents on the call,
supervisors); this service only acts on channels that exist.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cti.ami.messages import AmiMessage
from cti.ami.types import ActionFields
from cti.calls.core import CONTROL_UID_PREFIX
from cti.config import PbxConfig
from cti.errors import AmiActionError, AmiError
from cti.pbx.actions import ActionSender, _printable
from cti.pbx.audit import AuditEntry, AuditLog
from cti.pbx.call_legs import CHANNEL_NAME, CallLegs, CallLegsModel, Consult, Leg
from cti.pbx.control_rules import (
    TARGET,
    ControlRefused,
    ControlRules,
    clean_target,
    control_rules,
)
from cti.users import User

ACTIONS = ("hangup", "transfer", "attended", "complete", "cancel", "hold", "resume")
NEEDS_TARGET = frozenset({"transfer", "attended"})
Fields = dict[str, str]  # one AMI action
#: How long a command waits for the PBX to report what it did (the parking space, the
#: consultation channel) before answering with what is known so far.
SETTLE_SECONDS = 3.0


class CallControl:
    """Call control over the daemon's AMI links (``senders``: PBX name → link)."""

    def __init__(self, senders: Mapping[str, ActionSender], rules: Mapping[str, ControlRules],
                 audit: AuditLog, *, legs: CallLegsModel | None = None,
                 settle: float = SETTLE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.senders = dict(senders)
        self.rules = dict(rules)
        self.audit = audit
        self.legs = legs or CallLegsModel()
        self.settle = settle
        self.clock = clock
        self._changed: asyncio.Event | None = None

    def on_ami_event(self, pbx: str, msg: AmiMessage) -> None:
        """Raw AMI events of ``pbx`` (the daemon's hook, before the tracker)."""
        self.legs.on_ami_event(pbx, msg)
        if self._changed is not None:
            self._changed.set()

    def groups(self, pbx: str) -> list[str]:
        rules = self.rules.get(pbx)
        return sorted(rules.groups) if rules is not None else []

    def state(self, pbx: str, call_id: str) -> dict[str, Any]:
        """What the UI shows: whether cti can act on the call (``live``), the hold (parking
        space) and an attended transfer in progress."""
        entry = self.legs.get(pbx, call_id)
        parked = entry.parked if entry is not None else None
        consult = entry.consult if entry is not None else None
        return {"live": entry is not None,
                "held": parked is not None, "space": parked.space if parked else None,
                "held_by": parked.by if parked else None,
                "consulting": None if consult is None else {
                    "target": consult.target, "by": consult.by, "answered": consult.answered},
                "groups": self.groups(pbx)}

    # ------------------------------------------------------------------ commands
    async def control(self, user: User, pbx: str, call_id: str, action: str,
                      target: object = None, *, holder: str | None = None,
                      ip: str = "") -> dict[str, Any]:
        """Carry out ``action``; returns :meth:`state` after it. ``holder``: the extension
        that has the call now (the live model's), the leg a supervisor acts through."""
        detail: dict[str, Any] = {}
        if target is not None:
            detail["target"] = _printable(target)
        entry = AuditEntry(user.username, f"call_{action}"[:40], f"{pbx}/{call_id}", "",
                           user_id=user.id, pbx=pbx, ip=ip, detail=detail)
        try:
            ext, channel = await self._control(user, pbx, call_id, action, target, holder,
                                               detail)
        except ControlRefused as exc:
            detail["message"] = exc.message
            await self.audit.record(_with(entry, exc.code))
            raise
        await self.audit.record(AuditEntry(
            entry.username, entry.action, entry.target, "sent", user_id=user.id,
            extension=ext, pbx=pbx, ip=ip, detail={**detail, "channel": channel}))
        return self.state(pbx, call_id)

    async def _control(self, user: User, pbx: str, call_id: str, action: str, raw: object,
                       holder: str | None, detail: dict[str, Any]) -> tuple[str, str]:
        if action not in ACTIONS:
            raise ControlRefused(400, "bad_action", "Unknown call control action.")
        rules = self.rules.get(pbx)
        sender = self.senders.get(pbx)
        exten = clean_target(raw, rules.groups if rules else {}) if action in NEEDS_TARGET \
            else ""
        if rules is None or sender is None:
            raise ControlRefused(503, "pbx_unavailable", "This phone system is not connected.")
        call = self.legs.get(pbx, call_id)
        if call is None:
            raise ControlRefused(409, "not_live", "This call is not in progress.")
        if exten:
            detail["extension"] = exten
        handler = getattr(self, "_" + action)
        ext, fields = handler(user, pbx, call_id, call, rules, exten, holder)
        await self._send(sender, fields)
        channel = fields.get("Channel", "")
        await self._settle(pbx, call_id, action)
        return ext, channel

    # Each handler returns (the extension acting, the AMI action to send).
    def _hangup(self, user: User, pbx: str, call_id: str, call: CallLegs, rules: ControlRules,
                exten: str, holder: str | None) -> tuple[str, Fields]:
        mine = call.leg_of(user.extensions)
        if mine is not None and not user.at_least("supervisor"):
            return mine.endpoint, _hangup_action(mine.name)
        if mine is None and not user.at_least("supervisor"):
            parked = call.parked
            if parked is None or parked.by not in user.extensions:
                raise ControlRefused(409, "not_on_call", "You are not on this call.")
        caller = _caller_leg(call, call_id, rules)
        if caller is None:
            raise ControlRefused(409, "not_live", "This call is not in progress.")
        return (mine.endpoint if mine else ""), _hangup_action(caller.name)

    def _transfer(self, user: User, pbx: str, call_id: str, call: CallLegs,
                  rules: ControlRules, exten: str, holder: str | None,
                  ) -> tuple[str, Fields]:
        leg = self._acting_leg(user, call, rules, holder)
        return leg.endpoint, {"Action": "BlindTransfer", "Channel": _checked(leg.name),
                              "Exten": exten, "Context": rules.transfer_context}

    def _attended(self, user: User, pbx: str, call_id: str, call: CallLegs,
                  rules: ControlRules, exten: str, holder: str | None,
                  ) -> tuple[str, Fields]:
        if call.consult is not None:
            raise ControlRefused(409, "consulting", "A consultation is already in progress.")
        leg = self._acting_leg(user, call, rules, holder)
        self.legs.start_consult(pbx, call_id, Consult(exten, leg.uid, leg.endpoint))
        return leg.endpoint, {"Action": "Atxfer", "Channel": _checked(leg.name),
                              "Exten": exten, "Context": rules.transfer_context}

    def _complete(self, user: User, pbx: str, call_id: str, call: CallLegs,
                  rules: ControlRules, exten: str, holder: str | None,
                  ) -> tuple[str, Fields]:
        consult = self._consult(user, call)
        transferer = call.legs.get(consult.transferer_uid)
        if transferer is None:
            raise ControlRefused(409, "no_consultation", "No consultation is in progress.")
        return consult.by, _hangup_action(transferer.name)

    def _cancel(self, user: User, pbx: str, call_id: str, call: CallLegs, rules: ControlRules,
                exten: str, holder: str | None) -> tuple[str, Fields]:
        consult = self._consult(user, call)
        if not consult.name:
            raise ControlRefused(409, "not_started", "The consultation call has not started "
                                 "yet; try again in a moment.")
        return consult.by, _hangup_action(consult.name)

    def _hold(self, user: User, pbx: str, call_id: str, call: CallLegs, rules: ControlRules,
              exten: str, holder: str | None) -> tuple[str, Fields]:
        if call.parked is not None:
            raise ControlRefused(409, "held", "The call is already on hold.")
        leg = self._acting_leg(user, call, rules, holder)
        peer = call.peer_of(leg)
        if peer is None:
            raise ControlRefused(409, "not_bridged", "Nobody is connected to this phone.")
        fields: Fields = {"Action": "Park", "Channel": _checked(peer.name),
                                "TimeoutChannel": _checked(leg.name)}
        if rules.parking_lot:
            fields["Parkinglot"] = rules.parking_lot
        return leg.endpoint, fields

    def _resume(self, user: User, pbx: str, call_id: str, call: CallLegs, rules: ControlRules,
                exten: str, holder: str | None) -> tuple[str, Fields]:
        parked = call.parked
        if parked is None:
            raise ControlRefused(409, "not_held", "The call is not on hold.")
        if parked.by in user.extensions:
            ext = parked.by
        elif user.at_least("supervisor") and user.extensions:
            ext = user.extensions[0]
        elif not user.extensions:
            raise ControlRefused(409, "no_extension", "You have no phone extension to take "
                                 "the call back on.")
        else:
            raise ControlRefused(403, "not_yours", "Only who put the call on hold may take "
                                 "it back.")
        if not TARGET.fullmatch(ext) or not TARGET.fullmatch(parked.space):
            raise ControlRefused(409, "not_held", "The call is not on hold.")
        number = parked.number if TARGET.fullmatch(parked.number.lstrip("+")) else parked.space
        tech = parked.tech if parked.tech.isalnum() else "PJSIP"
        return ext, {"Action": "Originate", "Channel": f"{tech}/{ext}",
                     "Context": rules.parking_context, "Exten": parked.space,
                     "Priority": "1", "CallerID": f'"{number}" <{number}>',
                     "Timeout": str(rules.timeout_ms), "Async": "true",
                     "ChannelId": f"{CONTROL_UID_PREFIX}hold-{secrets.token_hex(8)}"}

    # ------------------------------------------------------------------ helpers
    def _acting_leg(self, user: User, call: CallLegs, rules: ControlRules,
                    holder: str | None) -> Leg:
        """The user's own channel on the call, talking; for a supervisor who is not on it,
        the channel of the extension holding it (the transferer / parker they act for)."""
        leg = call.leg_of(user.extensions)
        if leg is None and user.at_least("supervisor"):
            leg = agent_leg(call, rules, holder)
        if leg is None:
            raise ControlRefused(409, "not_on_call", "You are not on this call.")
        if not (leg.up and leg.bridge):
            raise ControlRefused(409, "not_bridged", "This phone is not connected to anyone "
                                 "yet.")
        return leg

    def _consult(self, user: User, call: CallLegs) -> Consult:
        consult = call.consult
        if consult is None:
            raise ControlRefused(409, "no_consultation", "No consultation is in progress.")
        if consult.by not in user.extensions and not user.at_least("supervisor"):
            raise ControlRefused(403, "not_yours", "Only who started the consultation may "
                                 "end it.")
        return consult

    async def _send(self, sender: ActionSender, fields: ActionFields) -> None:
        try:
            await sender.send_action(fields)
        except AmiActionError as exc:
            said = exc.response.get("Message") or str(exc)
            raise ControlRefused(409, "refused", "The phone system refused: {reason}",
                                 reason=said) from None
        except AmiError as exc:
            raise ControlRefused(503, "pbx_unavailable",
                                 "The phone system cannot be reached.") from exc

    async def _settle(self, pbx: str, call_id: str, action: str) -> None:
        """Wait (bounded) for what the PBX reports after the answer, so the reply can say it:
        the parking space of a hold, the Local channel of a consultation."""
        def done() -> bool:
            entry = self.legs.get(pbx, call_id)
            if entry is None:
                return True
            if action == "hold":
                return entry.parked is not None
            if action == "attended":
                return entry.consult is None or bool(entry.consult.uid)
            return True

        if self._changed is None:
            self._changed = asyncio.Event()
        deadline = time.monotonic() + self.settle
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return


def _hangup_action(name: str) -> Fields:
    return {"Action": "Hangup", "Channel": _checked(name), "Cause": "16"}


def _checked(name: str) -> str:
    """A channel name from the PBX, checked once more before it goes into an action."""
    if not CHANNEL_NAME.fullmatch(name):
        raise ControlRefused(409, "bad_channel", "The phone system reported an unusable "
                             "channel name.")
    return name


def agent_leg(call: CallLegs, rules: ControlRules, holder: str | None) -> Leg | None:
    """The phone talking on the call: the holder's (the live model's extension), else the
    first phone answered and bridged."""
    phones = [g for g in call.legs.values() if rules.is_phone(g) and g.up and g.bridge]
    return next((g for g in phones if g.endpoint == holder), None) or (
        phones[0] if phones else None)


def _caller_leg(call: CallLegs, call_id: str, rules: ControlRules) -> Leg | None:
    """The caller's channel: the call's first one (its Uniqueid is the Linkedid) while it
    lives, else an outside line, else the parked caller, else any channel."""
    legs = call.legs
    if call_id in legs:
        return legs[call_id]
    outside = [g for g in legs.values() if g.tech.lower() != "local" and not rules.is_phone(g)]
    if outside:
        return outside[0]
    if call.parked is not None and call.parked.parkee_uid in legs:
        return legs[call.parked.parkee_uid]
    return next(iter(legs.values()), None)


def _with(entry: AuditEntry, result: str) -> AuditEntry:
    return AuditEntry(entry.username, entry.action, entry.target, result, user_id=entry.user_id,
                      extension=entry.extension, pbx=entry.pbx, ip=entry.ip, detail=entry.detail)


def build_call_control(pbxes: Iterable[PbxConfig], senders: Mapping[str, ActionSender],
                       audit: AuditLog) -> CallControl:
    """The service as the daemon runs it: one set of rules per ``[[pbx]]``."""
    rules = {p.name: control_rules(p) for p in pbxes}
    return CallControl({k: v for k, v in senders.items() if k in rules}, rules, audit)
