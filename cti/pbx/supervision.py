"""Supervisors listen to, whisper to or barge into an agent's call, from the live board.

How Asterisk does it: ``ChanSpy`` (app_chanspy) attaches an audiohook to the spied channel;
the spying channel hears both directions of that channel's call. Options (Asterisk 22 docs):

* ``q`` — quiet: no beep, the spied channel's name is not spoken (the caller must not notice);
* ``E`` — exit when the spied-on channel hangs up, so the supervisor's phone is released with
  the call instead of ChanSpy looking for another channel to spy on;
* ``w`` — whisper: the supervisor talks to the spied channel (the agent) only;
* ``B`` — barge: the supervisor talks to both parties of the call.

The supervisor's own phone is rung with an AMI ``Originate`` (``Channel: PJSIP/<their first
extension>``, as click-to-dial does) whose ``Application: ChanSpy`` runs once they pick up, with
``Data: <agent's channel>,qE[w|B]``. ChanSpy's first argument is a channel-name *prefix*; the
full name from the PBX's events (``PJSIP/1001-0000002a``) selects exactly the agent's channel.
The spy leg is cti's, not a call: its ``ChannelId`` starts with
:data:`~cti.calls.core.CONTROL_UID_PREFIX` (the tracker ignores it: no pop, no call-log row) and
``CTI_SUPERVISION=<mode>`` names what it is in the PBX's own logs and CDRs.

Supervisors and admins only: an agent's attempt is refused (403) here, so that it is audited
too, like every attempt, with its answer.
"""

from __future__ import annotations

import secrets

from cti.calls.core import CONTROL_UID_PREFIX
from cti.pbx.audit import AuditEntry, AuditLog
from cti.pbx.call_control import CallControl, _checked, agent_leg
from cti.pbx.control_rules import ControlRefused
from cti.users import User

MODES: dict[str, str] = {"listen": "", "whisper": "w", "barge": "B"}
VARIABLE = "CTI_SUPERVISION"


class Supervision:
    def __init__(self, control: CallControl, audit: AuditLog | None = None, *,
                 timeout_ms: int = 30000) -> None:
        self.control = control
        self.audit = audit or control.audit
        self.timeout_ms = timeout_ms

    async def spy(self, user: User, pbx: str, call_id: str, mode: object, *,
                  holder: str | None = None, ip: str = "") -> dict[str, str]:
        """Ring ``user``'s phone and, once answered, spy on the call's agent in ``mode``.
        Returns ``{"mode", "extension", "agent"}``."""
        action = f"call_spy_{mode}" if isinstance(mode, str) and mode in MODES else "call_spy"
        entry = AuditEntry(user.username, action, f"{pbx}/{call_id}", "", user_id=user.id,
                           pbx=pbx, ip=ip)
        try:
            ext, agent, channel = await self._spy(user, pbx, call_id, mode, holder)
        except ControlRefused as exc:
            await self.audit.record(AuditEntry(
                entry.username, entry.action, entry.target, exc.code, user_id=user.id, pbx=pbx,
                ip=ip, detail={"message": exc.message}))
            raise
        await self.audit.record(AuditEntry(
            entry.username, entry.action, entry.target, "sent", user_id=user.id,
            extension=ext, pbx=pbx, ip=ip, detail={"agent": agent, "channel": channel}))
        return {"mode": str(mode), "extension": ext, "agent": agent}

    async def _spy(self, user: User, pbx: str, call_id: str, mode: object,
                   holder: str | None) -> tuple[str, str, str]:
        if not user.at_least("supervisor"):
            raise ControlRefused(403, "forbidden", "Only supervisors may listen to calls.")
        if not isinstance(mode, str) or mode not in MODES:
            raise ControlRefused(400, "bad_mode", "The mode must be listen, whisper or barge.")
        if not user.extensions:
            raise ControlRefused(409, "no_extension", "You have no phone extension to listen "
                                 "on; ask an administrator to bind one to your account.")
        sender = self.control.senders.get(pbx)
        if sender is None:
            raise ControlRefused(503, "pbx_unavailable", "This phone system is not connected.")
        call = self.control.legs.get(pbx, call_id)
        if call is None:
            raise ControlRefused(409, "not_live", "This call is not in progress.")
        if call.leg_of(user.extensions) is not None:
            raise ControlRefused(409, "own_call", "You are on this call yourself.")
        agent = agent_leg(call, self.control.rules[pbx], holder)
        if agent is None:
            raise ControlRefused(409, "not_answered", "No agent is talking on this call yet.")
        ext = user.extensions[0]
        data = f"{_checked(agent.name)},qE{MODES[mode]}"
        await self.control._send(sender, {
            "Action": "Originate", "Channel": f"PJSIP/{ext}", "Application": "ChanSpy",
            "Data": data, "CallerID": f'"{mode} {agent.endpoint}" <{agent.endpoint}>',
            "Timeout": str(self.timeout_ms), "Async": "true",
            "ChannelId": f"{CONTROL_UID_PREFIX}spy-{secrets.token_hex(8)}",
            "Variable": f"{VARIABLE}={mode}"})
        return ext, agent.endpoint, agent.name
