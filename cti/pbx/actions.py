"""Commands from people to the PBX: click-to-dial today (``Originate``), the one service that
sends AMI actions on someone's behalf (DESIGN.md: "Commands from people go the other way
through one service").

How a click-to-dial goes, and why it is built this way:

1. **Checks first, nothing sent on refusal**: per-user rate limit (429), the number
   (:func:`~cti.pbx.dialing.clean_number`, 400), the agent's extension (409 when they have
   none, 403 when they name one that is not theirs), blocked prefixes (403). Every attempt,
   refused or not, is written to the audit log.
2. **Originate to the agent's own phone** (``Channel: PJSIP/<ext>``), then the dialplan calls
   ``Exten: <number>`` in ``Context: pbx.dial_context``: the agent's phone rings first and the
   number is dialled only once they pick up, so nobody is called by a desk left empty.
   ``CallerID`` is ``"<client name or number>" <number>`` so that the ringing phone shows whom
   it is about to call. ``Async: true`` because a synchronous Originate holds the AMI answer
   until the agent answers (up to ``Timeout``), past the action timeout.
3. **Progress without polling the PBX.** The request's ``ActionID`` and the channel variable
   ``CTI_REQUEST=<id>`` tie what Asterisk reports back to the request: the ``VarSet`` of that
   variable names the new channel (its ``Linkedid`` is the call's id: the phone *rings*), the
   ``OriginateResponse`` with our ActionID says whether the agent answered (*dialling*) or not
   (*failed*: no answer, busy…), and the tracker's domain events for that call say when the
   far end answered (*connected*) and when it *ended*. The daemon hands raw AMI events to
   :meth:`PbxActions.on_ami_event` and domain events come from the bus.

The ``ActionID`` is registered *before* the action is written: Asterisk may send the
``OriginateResponse`` right behind the answer, in the same TCP read, before this coroutine
resumes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cti.ami.messages import AmiMessage
from cti.ami.types import ActionFields
from cti.bus import Bus
from cti.calls.model import CallAnswered, CallEnded, DomainEvent
from cti.clients.directory import ClientDirectory
from cti.config import Config
from cti.errors import AmiActionError, AmiError, AmiNotConnected
from cti.pbx.audit import AuditEntry, AuditLog
from cti.pbx.dialing import DialRefused, DialRules, RateLimit, blocked_by, caller_id, clean_number
from cti.store.sqlite import Store
from cti.users import User

log = logging.getLogger(__name__)

VARIABLE = "CTI_REQUEST"
ACTION_PREFIX = "cti-dial-"
#: OriginateResponse ``Reason`` (Asterisk's ``enum ast_control_frame_type`` subset) → outcome.
REASONS = {"0": "failed", "1": "hung_up", "3": "no_answer", "4": "answered", "5": "busy",
           "8": "congestion"}
KEEP_REQUESTS = 2000
FINAL = frozenset({"ended", "failed"})


class ActionSender(Protocol):
    """What :class:`PbxActions` needs of an AMI link (``AmiClient`` is one)."""

    async def send_action(self, action: ActionFields, timeout: float | None = None, *,
                          check: bool = True) -> AmiMessage: ...


#: Number → the client's name to show on the agent's phone (None: unknown).
NameLookup = Callable[[str], Awaitable[str | None]]


@dataclass
class DialRequest:
    """One click-to-dial and how far it got. ``state``: ``sending`` (the action is on its way),
    ``queued`` (the PBX accepted it),
    ``ringing`` (the agent's phone rings), ``dialling`` (the agent answered, the number is
    being called), ``connected`` (the far end answered), ``ended``, or ``failed``
    (``reason`` says why: no_answer, busy, pbx_error…)."""

    id: str
    user_id: int
    username: str
    pbx: str
    extension: str
    number: str
    caller_id: str
    created_at: float
    state: str = "sending"
    reason: str | None = None
    call_id: str | None = None
    call_status: str | None = None
    updated_at: float = 0.0
    history: list[tuple[str, float]] = field(default_factory=list)
    #: Set once the audit row exists: an outcome (which may come first) waits for it.
    audited: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "reason": self.reason, "pbx": self.pbx,
                "extension": self.extension, "number": self.number, "call_id": self.call_id,
                "call_status": self.call_status, "created_at": self.created_at,
                "updated_at": self.updated_at,
                "history": [{"state": s, "at": at} for s, at in self.history]}


class PbxActions:
    """Click-to-dial over the daemon's AMI links (``senders``: PBX name → link)."""

    def __init__(self, senders: Mapping[str, ActionSender], rules: Mapping[str, DialRules],
                 audit: AuditLog, *, bus: Bus | None = None, per_minute: int = 10,
                 lookup_name: NameLookup | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.senders = dict(senders)
        self.rules = dict(rules)
        self.audit = audit
        self.lookup_name = lookup_name
        self.clock = clock
        self.limit = RateLimit(per_minute)
        self.requests: OrderedDict[str, DialRequest] = OrderedDict()
        self._by_call: dict[tuple[str, str], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.refused = 0
        self._unsubscribe = bus.subscribe(self.on_domain_event) if bus is not None else None

    # ------------------------------------------------------------------ dialling
    async def dial(self, user: User, raw_number: object, *, extension: str | None = None,
                   pbx: str | None = None, ip: str = "") -> DialRequest:
        """Ask the PBX to ring ``user``'s phone, then call the number. Raises
        :class:`DialRefused` (nothing sent) or returns the queued request."""
        shown = _printable(raw_number)
        entry = AuditEntry(user.username, "dial", shown, "", user_id=user.id, ip=ip,
                           extension=extension, pbx=pbx)
        try:
            request = await self._dial(user, raw_number, extension, pbx, entry)
        except DialRefused as exc:
            self.refused += 1
            await self.audit.record(_with(entry, result=exc.code, detail={
                "message": exc.message}))
            raise
        try:
            await self.audit.record(_with(entry, target=request.number, result="queued",
                                          extension=request.extension, pbx=request.pbx,
                                          request_id=request.id,
                                          detail={"caller_id": request.caller_id}))
        finally:
            request.audited.set()
        return request

    async def _dial(self, user: User, raw_number: object, extension: str | None,
                    pbx: str | None, entry: AuditEntry) -> DialRequest:
        wait = self.limit.retry_after(user.username.casefold())
        if wait > 0:
            raise DialRefused(429, "rate_limited", "Too many calls in a minute; wait a little.",
                              retry_after=wait)
        number = clean_number(raw_number)
        ext = self._extension_of(user, extension)
        name = self._pbx_name(pbx)
        rules = self.rules[name]
        prefix = blocked_by(number, rules)
        if prefix is not None:
            raise DialRefused(403, "blocked", f"Numbers starting with {prefix} may not be "
                              "called from here.")
        label = await self._name_of(number)
        request = DialRequest(secrets.token_hex(8), user.id, user.username, name, ext, number,
                              caller_id(label, number), self.clock())
        action = {
            "Action": "Originate", "ActionID": ACTION_PREFIX + request.id,
            "Channel": f"PJSIP/{ext}", "Exten": number, "Context": rules.context,
            "Priority": "1", "CallerID": request.caller_id, "Timeout": str(rules.timeout_ms),
            "Async": "true", "Variable": f"{VARIABLE}={request.id}",
        }
        self._remember(request)  # before sending: the outcome may follow the answer at once
        try:
            await self.senders[name].send_action(action)
        except AmiNotConnected as exc:
            self._forget(request)
            raise DialRefused(503, "pbx_unavailable", "The phone system is not reachable "
                              "right now; try again shortly.") from exc
        except AmiActionError as exc:
            self._forget(request)
            raise DialRefused(502, "pbx_error", "The phone system refused the call: "
                              f"{exc.response.get('Message', exc)}") from exc
        except AmiError as exc:
            self._forget(request)
            raise DialRefused(503, "pbx_unavailable", f"The phone system did not answer: "
                              f"{exc}") from exc
        self.sent += 1
        if request.state == "sending":  # the PBX may have told more already (VarSet…)
            self._move(request, "queued")
        log.info("dial %s: %s from %s/%s", request.id, number, name, ext)
        return request

    def _extension_of(self, user: User, extension: str | None) -> str:
        if not user.extensions:
            raise DialRefused(409, "no_extension", "You have no phone extension to call from; "
                              "ask an administrator to bind one to your account.")
        if extension is None or extension == "":
            return user.extensions[0]
        if extension not in user.extensions:
            raise DialRefused(403, "not_your_extension",
                              "You can only call from one of your own extensions.")
        return extension

    def _pbx_name(self, pbx: str | None) -> str:
        if not self.senders:
            raise DialRefused(503, "pbx_unavailable", "No phone system is connected.")
        if pbx is None or pbx == "":
            return next(iter(self.senders))
        if pbx not in self.senders:
            raise DialRefused(400, "unknown_pbx", "Unknown phone system.")
        return pbx

    async def _name_of(self, number: str) -> str | None:
        if self.lookup_name is None:
            return None
        try:
            return await self.lookup_name(number)
        except Exception:  # the call matters more than the name on the display
            log.exception("dial: client lookup of %s failed", number)
            return None

    # ------------------------------------------------------------------ progress
    def get(self, request_id: str) -> DialRequest | None:
        return self.requests.get(request_id)

    def dialled_number(self, pbx: str, call_id: str) -> str | None:
        """The number a click-to-dial call is for. Asterisk names the far end only once the
        agent has picked up and the dialplan dials it; the pop needs it from the first ring."""
        request_id = self._by_call.get((pbx, call_id))
        request = self.requests.get(request_id) if request_id else None
        return request.number if request is not None else None

    def on_ami_event(self, pbx: str, msg: AmiMessage) -> None:
        """Raw AMI events of ``pbx`` (the daemon calls this before the tracker sees them)."""
        event = msg.get("Event")
        if event == "VarSet":
            if msg.get("Variable") != VARIABLE:
                return
            request = self.requests.get(msg.get("Value", ""))
            if request is None or request.pbx != pbx:
                return
            call_id = msg.get("Linkedid") or msg.get("Uniqueid")
            if call_id and request.call_id is None:
                request.call_id = call_id
                self._by_call[(pbx, call_id)] = request.id
            if request.state in ("sending", "queued"):
                self._move(request, "ringing")
        elif event == "OriginateResponse":
            action_id = msg.get("ActionID", "")
            if not action_id.startswith(ACTION_PREFIX):
                return
            request = self.requests.get(action_id[len(ACTION_PREFIX):])
            if request is None or request.pbx != pbx or request.state in FINAL:
                return
            outcome = REASONS.get(msg.get("Reason", ""), "failed")
            if msg.get("Response") == "Success":
                uid = msg.get("Uniqueid", "")
                if request.call_id is None and uid and uid != "<null>":
                    request.call_id = uid
                    self._by_call[(pbx, uid)] = request.id
                if request.state in ("sending", "queued", "ringing"):
                    self._move(request, "dialling")
            else:
                request.reason = "failed" if outcome == "answered" else outcome
                self._move(request, "failed")
                self._spawn(self._outcome(request, request.reason))

    def on_domain_event(self, event: DomainEvent) -> None:
        request_id = self._by_call.get((event.pbx, event.call_id))
        if request_id is None:
            return
        request = self.requests.get(request_id)
        if request is None or request.state in FINAL:
            return
        if isinstance(event, CallAnswered) and request.state == "dialling":
            self._move(request, "connected")
        elif isinstance(event, CallEnded):
            request.call_status = event.record.status
            self._move(request, "ended")
            del self._by_call[(event.pbx, event.call_id)]
            self._spawn(self._outcome(request, event.record.status))

    async def _outcome(self, request: DialRequest, outcome: str) -> None:
        """The PBX may report before the audit row of the request is written: wait for it
        (bounded: a request whose HTTP call was cancelled mid-way never gets one)."""
        try:
            await asyncio.wait_for(request.audited.wait(), 30.0)
        except TimeoutError:
            return
        await self.audit.set_outcome(request.id, outcome)

    def _move(self, request: DialRequest, state: str) -> None:
        request.state = state
        request.updated_at = self.clock()
        request.history.append((state, request.updated_at))

    def _remember(self, request: DialRequest) -> None:
        self.requests[request.id] = request
        while len(self.requests) > KEEP_REQUESTS:
            _, old = self.requests.popitem(last=False)
            if old.call_id is not None:
                self._by_call.pop((old.pbx, old.call_id), None)

    def _forget(self, request: DialRequest) -> None:
        self.requests.pop(request.id, None)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for the audit updates started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.flush()


def _printable(raw: object) -> str:
    """What was typed, control characters made visible (``\\r\\n``), for the audit log."""
    text = raw if isinstance(raw, str) else repr(raw)
    return text.encode("unicode_escape").decode("ascii")[:100]


def _with(entry: AuditEntry, **changes: Any) -> AuditEntry:
    return replace(entry, **changes)


def build_actions(config: Config, senders: Mapping[str, ActionSender], store: Store,
                  bus: Bus | None = None, directory: ClientDirectory | None = None,
                  ) -> PbxActions:
    """The service as the daemon runs it: rules per PBX from ``pbx.dial_context`` and
    ``pbx.blocked_prefixes`` (numbers read in ``clients.default_region``), the rate limit
    from ``dial.max_per_minute``, and the client directory naming whom the agent calls."""
    region = str(config.get("clients.default_region")).upper()
    rules = {p.name: DialRules(p.dial_context, tuple(p.blocked_prefixes), region,
                               p.extension_pattern) for p in config.pbxes}
    lookup: NameLookup | None = None
    if directory is not None:
        found_in = directory

        async def client_name(number: str) -> str | None:
            matches = await found_in.match(number, direction="outbound")
            return matches[0].client.name if matches else None

        lookup = client_name
    return PbxActions({k: v for k, v in senders.items() if k in rules}, rules,
                      AuditLog(store), bus=bus, lookup_name=lookup,
                      per_minute=int(config.get("dial.max_per_minute")))
