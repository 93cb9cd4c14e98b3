"""AMI client: panoramisk's ``Manager`` and ``AMIProtocol``, with their known faults fixed.

The only module importing panoramisk. We keep its ``Action`` objects (ActionIDs, futures, and
the rules telling when a multi-message answer such as an ``EventList`` is complete) and its
``AMIProtocol.send``/``handle_message``; a ``Manager`` is the protocol's factory. Replaced:

* **Decoding.** ``AMIProtocol.data_received`` decodes each TCP read alone with
  ``errors='ignore'``: a UTF-8 name split across two reads loses characters (``José`` →
  ``Jos``). We feed bytes to :class:`~cti.ami.messages.AmiParser`, which decodes whole messages.
* **Speed.** Stock panoramisk wraps every event in a case-insensitive ``Message`` and matches it
  against fnmatch patterns. Here events go to ``on_event`` as plain dicts, stamped with the
  ``time.time()`` of their arrival; a ``Message`` is built only for answers whose ``ActionID``
  is pending, and events nobody reads are skipped unparsed (``AmiConfig.wanted``).
* **Actions that never resolve.** An action written while the link is down, or lost with it,
  stays pending forever, and ``AMIProtocol.close`` queues it to be *re-sent after the next
  login* (a click-to-dial ringing minutes later). Here every action has a timeout
  (:class:`AmiTimeout`), is refused at once when not logged in (:class:`AmiNotConnected`) and
  fails, never replays, when the connection drops.
* **Reconnection.** ``Manager`` truncates its reconnect and ping delays to whole seconds and
  retries at a fixed pace. Our loop backs off exponentially with full jitter between
  ``backoff_min`` and the cap, reset by a successful login. A wrong secret gives state
  ``auth_failed`` and the same backoff: Asterisk answers ``Authentication failed`` after a
  one-second pause and closes the socket.
* **Keepalive.** A ``Ping`` every ``ping_interval`` s; an unanswered one drops the link, since a
  half-open TCP connection (PBX rebooted, NAT expired) otherwise looks alive forever.

After each login ``on_connected(client)`` is awaited: the daemon resyncs there with
:meth:`AmiClient.list_action` (``CoreShowChannels``, ``BridgeList``): events sent while we were
away are lost for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from cti.ami.messages import AmiMessage, AmiParser, ParserStats, encode_action
from cti.ami.reconnect import ReconnectLoop
from cti.ami.types import (
    ALWAYS_WANTED,
    FAILED_RESPONSES,
    ActionFields,
    AmiConfig,
    AmiCounters,
    AmiSnapshot,
    AmiState,
    EventCallback,
    InOrderCallback,
    action_pairs,
    sum_parser_stats,
)
from cti.errors import AmiActionError, AmiAuthError, AmiError, AmiNotConnected, AmiTimeout

__all__ = [
    "ALWAYS_WANTED", "ActionFields", "AmiClient", "AmiConfig", "AmiCounters", "AmiSnapshot",
    "AmiState", "ConnectedHook", "EventCallback", "InOrderCallback",
]

log = logging.getLogger(__name__)

ConnectedHook = Callable[["AmiClient"], Awaitable[None]]


def _fields(message: Any) -> AmiMessage:
    return cast(AmiMessage, message.cti_fields)


class _CtiProtocol(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    """``AMIProtocol`` with byte-level parsing, fast event dispatch and honest failures."""

    closed: bool
    responses: dict[str, Any]  # ActionID -> panoramisk Action
    transport: asyncio.Transport

    def __init__(self, client: AmiClient) -> None:
        super().__init__()
        self.client = client
        self.parser = AmiParser(wanted=client.wanted)
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # transport, queue, responses, closed…
        self.factory = self.client.manager
        self.encoding = "utf-8"  # AMIProtocol.send encodes with it (default ascii)
        self.log = log

    def data_received(self, data: bytes) -> None:
        received_at = time.time()
        client = self.client
        counters = client.counters
        counters.bytes_received += len(data)
        messages = self.parser.feed(data)
        if not messages:
            return
        pending = self.responses
        on_event = client.on_event
        for _offset, msg in messages:
            action_id = msg.get("ActionID")
            if action_id is not None:
                action = pending.get(action_id)
                if action is not None:
                    counters.responses += 1
                    message = Message(msg)
                    message.cti_fields = msg
                    self.handle_message(message)  # resolves the Action's future
                    if action.future.done() and "cti_in_order" in vars(action):
                        self._in_order(action, received_at)
                    continue
                if action_id in client.expired:
                    counters.orphans += 1
                    continue
            if "Event" in msg:
                counters.events += 1
                counters.last_event_at = received_at
                try:
                    on_event(msg, received_at)
                except Exception:
                    counters.callback_errors += 1
                    log.exception("AMI on_event failed on %s", msg.get("Event"))
            else:
                counters.orphans += 1

    def _in_order(self, action: Any, received_at: float) -> None:
        future = action.future
        if future.cancelled() or future.exception() is not None:
            return
        if isinstance(future.result(), list):  # not for an error answer
            try:
                action.cti_in_order(future.result(), received_at)
            except Exception:
                self.client.counters.callback_errors += 1
                log.exception("AMI in_order callback of %s failed", action.get("Action", "?"))

    def close(self) -> None:
        """Fail what is pending (panoramisk would re-send it after the next login)."""
        actions = {id(a): a for a in self.responses.values()}
        self.responses.clear()
        for action in actions.values():
            self.client.expire(action)
            if not action.future.done():
                action.future.set_exception(AmiNotConnected(
                    f"AMI connection lost before the answer to {action.get('Action', '?')}"))
        if not self.closed:
            self.closed = True
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()  # never Manager.connection_lost: it schedules its own reconnect
        if not self.lost.done():
            self.lost.set_result(None)


class AmiClient(ReconnectLoop):
    """A resilient AMI session: ``start()``, then events flow to ``on_event`` until ``close()``.

    ``on_event(msg, received_at)`` is called synchronously, in wire order, from the socket
    callback: keep it quick (fold into the tracker, publish on the bus). The reconnect loop and
    link state (``state``, ``start``, ``wait_connected``) come from :class:`ReconnectLoop`.
    """

    def __init__(self, config: AmiConfig, on_event: EventCallback,
                 on_connected: ConnectedHook | None = None, *,
                 rng: random.Random | None = None) -> None:
        encode_action([("Username", config.username), ("Secret", config.secret),
                       ("Events", config.events)])  # ValueError now rather than at login
        super().__init__(config, rng)
        self.on_event = on_event
        self.on_connected = on_connected
        self.wanted = None if config.wanted is None else frozenset(config.wanted) | ALWAYS_WANTED
        self.counters = AmiCounters()
        self.expired: dict[str, None] = {}  # ActionIDs given up on: their late answers are dropped
        # Not Manager.connect(): its timers are whole seconds and it re-sends lost actions.
        self.manager = Manager(host=config.host, port=config.port, events=config.events,
                               encoding="utf-8", protocol_factory=_CtiProtocol,
                               forgetable_actions=("ping", "login"), log=log)
        self._protocol: _CtiProtocol | None = None
        self._parser_totals = ParserStats()
        self._banner: str | None = None

    # -- lifecycle
    async def close(self) -> None:
        """Log off politely if logged in, then stop reconnecting."""
        self._closing = True
        proto = self._protocol
        if proto is not None and self._state is AmiState.CONNECTED:
            with contextlib.suppress(AmiError):
                await self._request(proto, {"Action": "Logoff"},
                                    min(1.0, self.config.action_timeout), as_list=False,
                                    check=False)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reconnect(self) -> None:
        """Drop the current connection; the loop reconnects (and resyncs) after backoff."""
        if self._protocol is not None:
            self._protocol.transport.abort()

    def snapshot(self) -> AmiSnapshot:
        parser = self._parser_totals
        if self._protocol is not None:
            parser = sum_parser_stats(parser, self._protocol.parser.stats)
        return AmiSnapshot(self._state, dataclasses.replace(self.counters), parser, self._banner)

    # -- actions
    async def send_action(self, action: ActionFields, timeout: float | None = None, *,
                          check: bool = True) -> AmiMessage:
        """Send one action and return its ``Response`` message.

        Raises :class:`AmiNotConnected`, :class:`AmiTimeout`, :class:`AmiActionError` (an
        ``Error`` answer, unless ``check=False``) or ``ValueError`` (CR/LF in a field). Events
        that follow later with the same ActionID (``OriginateResponse`` of an async Originate)
        reach ``on_event``.
        """
        proto = self._require_connected()
        result = await self._request(proto, action, timeout, as_list=False, check=check)
        return _fields(result)

    async def list_action(self, action: ActionFields, complete_event: str,
                          timeout: float | None = None, *,
                          in_order: InOrderCallback | None = None) -> list[AmiMessage]:
        """Run a list action (``EventList: start`` … ``<complete_event>``); return the items.

        Events keep flowing meanwhile, and by the time this coroutine resumes, events read
        *after* the list (same TCP read) may already have reached ``on_event``. A resync must
        therefore be applied with ``in_order(items, received_at)``: it is called synchronously
        at the list's place in the stream, before any later event is dispatched.

        With ``AmiConfig.wanted`` set, the item and complete events must be in it (the parser
        skips the others): :data:`ALWAYS_WANTED` covers CoreShowChannels and BridgeList.
        """
        if self.wanted is not None and complete_event not in self.wanted:
            raise ValueError(f"{complete_event} is filtered out: add it to AmiConfig.wanted")
        def items(result: Any) -> list[AmiMessage]:
            if not isinstance(result, list):  # a single answer: no list followed
                return []
            return [m for m in map(_fields, result[1:]) if m.get("Event") != complete_event]

        proto = self._require_connected()
        hook = None if in_order is None else (lambda res, at: in_order(items(res), at))
        return items(await self._request(proto, action, timeout, as_list=None, check=True,
                                         in_order=hook))

    def _require_connected(self) -> _CtiProtocol:
        proto = self._protocol
        if self._state is not AmiState.CONNECTED or proto is None or proto.closed:
            raise AmiNotConnected(f"AMI not connected (state {self._state})")
        return proto

    async def _request(self, proto: _CtiProtocol, fields: ActionFields, timeout: float | None,
                       *, as_list: bool | None, check: bool,
                       in_order: Callable[[Any, float], None] | None = None) -> Any:
        pairs = action_pairs(fields)
        encode_action(pairs)  # ValueError on CR/LF: header injection
        if proto.closed:
            raise AmiNotConnected("AMI connection closed")
        name = next((v for k, v in pairs if k.lower() == "action"), "?")
        timeout = self.config.action_timeout if timeout is None else timeout
        action = Action({k: v for k, v in fields.items()}, as_list=as_list)
        if in_order is not None:
            action.cti_in_order = in_order
        self.counters.actions_sent += 1
        future = proto.send(action, as_list=as_list)
        try:
            result = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.counters.actions_timed_out += 1
            raise AmiTimeout(f"AMI {name}: no answer within {timeout:g}s") from None
        except AmiNotConnected:
            self.counters.actions_failed += 1
            raise
        finally:
            if not future.done() or future.cancelled():
                proto.responses.pop(action.id, None)
                proto.responses.pop(action.action_id, None)
                self.expire(action)
        first = _fields(result[0] if isinstance(result, list) else result)
        if check and first.get("Response") in FAILED_RESPONSES:
            self.counters.actions_failed += 1
            raise AmiActionError(f"AMI {name}: {first.get('Message', first['Response'])}", first)
        return result

    def expire(self, action: Any) -> None:
        self.expired[str(action.action_id)] = None
        if len(self.expired) > 1024:
            del self.expired[next(iter(self.expired))]

    # -- connection loop
    async def _session(self) -> None:
        """One connection: connect, log in, resync hook, then wait for the link to drop."""
        cfg = self.config
        self._set_state(AmiState.CONNECTING)
        try:
            _, proto = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
                lambda: _CtiProtocol(self), cfg.host, cfg.port), cfg.action_timeout)
        except (OSError, TimeoutError) as exc:
            self.counters.connect_failures += 1
            log.warning("AMI connect to %s:%s failed: %s", cfg.host, cfg.port, exc or "timeout")
            self._set_state(AmiState.DISCONNECTED)
            return
        self._protocol = self.manager.protocol = proto
        self.counters.connects += 1
        end_state = AmiState.DISCONNECTED
        try:
            answer = _fields(await self._request(proto, {
                "Action": "Login", "Username": cfg.username, "Secret": cfg.secret,
                "Events": cfg.events}, None, as_list=False, check=False))
            if answer.get("Response") != "Success":
                raise AmiAuthError(answer.get("Message", "login refused"), answer)
            self._banner = proto.parser.banner
            await self._logged_in(proto)
        except AmiAuthError as exc:
            self.counters.login_failures += 1
            log.error("AMI login as %r refused by %s:%s (%s): check the secret in manager.conf;"
                      " retrying with backoff", cfg.username, cfg.host, cfg.port, exc)
            end_state = AmiState.AUTH_FAILED
        except AmiError as exc:
            log.warning("AMI login to %s:%s failed: %s", cfg.host, cfg.port, exc)
        finally:
            proto.close()
            self._parser_totals = sum_parser_stats(self._parser_totals, proto.parser.stats)
            self._protocol = self.manager.protocol = None
            self.manager.authenticated = False
            self._set_state(end_state)

    async def _logged_in(self, proto: _CtiProtocol) -> None:
        self._attempt = 0
        self.counters.logins += 1
        self.manager.authenticated = True
        self._set_state(AmiState.CONNECTED)
        keepalive = asyncio.create_task(self._keepalive(proto))
        try:
            if self.on_connected is not None:
                try:
                    await self.on_connected(self)
                except Exception as exc:  # the session goes on: events still flow
                    self.counters.hook_errors += 1
                    log.warning("AMI on_connected hook failed: %r", exc,
                                exc_info=not isinstance(exc, AmiError))
            await proto.lost
        finally:
            keepalive.cancel()
            self.counters.disconnects += 1
            if not self._closing:
                log.warning("AMI connection to %s:%s lost", self.config.host, self.config.port)

    async def _keepalive(self, proto: _CtiProtocol) -> None:
        interval = self.config.ping_interval
        if interval <= 0:
            return
        while not proto.closed:
            await asyncio.sleep(interval)
            try:
                await self._request(proto, {"Action": "Ping"}, None, as_list=False, check=False)
            except AmiTimeout:
                self.counters.ping_timeouts += 1
                log.warning("AMI ping unanswered within %gs: dropping the connection",
                            self.config.action_timeout)
                proto.transport.abort()
                return
            except AmiNotConnected:
                return
            self.counters.pings += 1
