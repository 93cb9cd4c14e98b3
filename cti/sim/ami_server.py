"""An AMI server speaking Asterisk's wire protocol: the simulator's manager interface.

It behaves like ``main/manager.c`` of Asterisk 22 where a client can tell the difference:

* the banner ``Asterisk Call Manager/11.0.0`` (AMI's own version, not Asterisk's), then
  requests of ``Key: Value`` lines ended by an empty line, parsed as manager.c does
  (:mod:`cti.sim.ami_session`); bad input earns an error answer, never a crash;
* before login only ``Login`` and ``Logoff`` run; anything else gets ``Permission denied``;
* a wrong secret is answered ``Authentication failed`` after a pause (Asterisk sleeps one
  second) and **the socket is closed**: ``action_login`` returns -1, which ends the session.
  Retrying means reconnecting. A session that does not log in within ``authtimeout`` (30 s) is
  closed too;
* responses echo ``ActionID`` right after the ``Response`` line (``astman_send_response_full``);
  list actions answer ``EventList: start`` then items then ``…Complete`` with ``ListItems``;
* events go only to logged-in sessions whose event mask (``Events:`` on Login, ``EventMask:`` of
  the ``Events`` action: on/off or a list of classes) covers the event's ``Privilege`` class.
  With ``timestamp_events`` a ``Timestamp:`` line follows ``Privilege:``, as with
  ``timestampevents=yes`` in manager.conf.

The PBX state behind ``CoreShowChannels`` and ``BridgeList`` is learnt from the emitted events
(:mod:`cti.sim.ami_state`). ``clock`` gives "now" for durations, pings and timestamps; a capture
player swaps in the capture's own (virtual) time so answers are deterministic.

Test hooks: ``silent_actions`` (received, counted, never answered), :meth:`drop_clients` (cut
every connection like a crashed PBX or a broken network), :meth:`send_raw` (arbitrary bytes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from cti.ami.messages import AmiMessage
from cti.sim.ami_session import (
    ALL_EVENTS,
    AmiRequest,
    AmiSession,
    format_message,
    parse_event_mask,
)
from cti.sim.ami_state import STATE_EVENTS, PbxState

log = logging.getLogger(__name__)


def _parse_one(data: bytes) -> AmiMessage:
    msg: AmiMessage = {}
    for line in data.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep and key not in msg:
            msg[key] = value
    return msg


def _insert_timestamp(data: bytes, ts: float) -> bytes:
    """Place ``Timestamp:`` after ``Event:``/``Privilege:``, where manager.c writes it."""
    head = data[:512]
    if b"\r\nTimestamp: " in head:
        return data
    pos = data.find(b"\r\n") + 2
    if data.startswith(b"Privilege: ", pos):
        pos = data.find(b"\r\n", pos) + 2
    return data[:pos] + f"Timestamp: {ts:.6f}\r\n".encode() + data[pos:]


def _event_classes(msg: AmiMessage | bytes) -> frozenset[str] | None:
    if isinstance(msg, bytes):
        start = msg.find(b"\r\nPrivilege: ", 0, 512)
        if start < 0:
            return None
        end = msg.find(b"\r\n", start + 2)
        privilege = msg[start + 13:end].decode("ascii", "replace")
    else:
        privilege = msg.get("Privilege", "")
        if not privilege:
            return None
    return frozenset(privilege.split(",")) - {"all"}


ActionHandler = Callable[[AmiSession, AmiRequest], None]


class AmiServer:
    """The simulator's manager port. ``emit()`` events into it; clients see them live."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, username: str = "cti",
        secret: str = "cti-secret", *, clock: Callable[[], float] | None = None,
        timestamp_events: bool = False, auth_fail_delay: float = 1.0, auth_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.clock: Callable[[], float] = clock or time.time
        self.timestamp_events = timestamp_events
        self.auth_fail_delay = auth_fail_delay
        self.auth_timeout = auth_timeout
        self.state = PbxState()
        self.silent_actions: set[str] = set()
        # counters
        self.actions: Counter[str] = Counter()
        self.connections = 0
        self.logins = 0
        self.auth_failures = 0
        self.events_emitted = 0
        self.events_lost = 0  # emitted while no logged-in client wanted them
        self.handler_errors = 0
        self.drops = 0
        self._sessions: set[AmiSession] = set()
        self._server: asyncio.Server | None = None
        self._started = time.monotonic()
        self._login_seen = asyncio.Event()
        self._handlers: dict[str, tuple[str, ActionHandler]] = {}
        for name, handler in (
            ("Login", self._login), ("Logoff", self._logoff), ("Ping", self._ping),
            ("Events", self._events), ("CoreShowChannels", self._core_show_channels),
            ("BridgeList", self._bridge_list),
        ):
            self.register_action(name, handler)

    # -- lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: AmiSession(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_clients()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- clients
    @property
    def sessions(self) -> list[AmiSession]:
        return [s for s in self._sessions if s.authenticated]

    def drop_clients(self) -> int:
        """Abort every connection at once (no Goodbye, no FIN): a crashed or rebooted PBX."""
        sessions = list(self._sessions)
        for session in sessions:
            session.abort()
        self.drops += 1
        return len(sessions)

    async def wait_for_login(self, logins: int, timeout: float = 5.0) -> None:
        """Wait until ``self.logins`` reaches ``logins`` (successful logins since start)."""
        async with asyncio.timeout(timeout):
            while self.logins < logins:
                self._login_seen.clear()
                await self._login_seen.wait()

    async def drain(self) -> None:
        """Wait until no client's socket buffer is above its high-water mark."""
        for session in list(self._sessions):
            await session._writable.wait()

    # -- events
    def emit(self, msg: AmiMessage | bytes, timestamp: float | None = None) -> int:
        """Broadcast one event; returns how many clients it was written to.

        ``msg`` is a dict (serialised in its order) or one raw message, empty line included.
        The PBX state learns from it either way, delivered or not: Asterisk's state does not
        depend on who is listening.
        """
        if isinstance(msg, bytes):
            data = msg
            end = data.find(b"\r\n")
            parsed = (_parse_one(data) if data.startswith(b"Event: ")
                      and data[7:end].decode("ascii", "replace") in STATE_EVENTS else None)
        else:
            data = format_message(msg.items())
            parsed = msg
        if timestamp is None and self.timestamp_events:
            timestamp = self.clock()
        if timestamp is not None:
            data = _insert_timestamp(data, timestamp)
        if parsed is not None:
            self.state.observe(parsed, self.clock())
        self.events_emitted += 1
        classes: frozenset[str] | None = None
        if any(s.events is not ALL_EVENTS for s in self._sessions):
            classes = _event_classes(msg)
        sent = 0
        for session in self._sessions:
            if session.authenticated and session.wants(classes):
                session.send(data)
                sent += 1
        if not sent:
            self.events_lost += 1
        return sent

    def send_raw(self, data: bytes) -> int:
        """Write bytes as they are to every logged-in client (tests: garbage, split UTF-8)."""
        sessions = self.sessions
        for session in sessions:
            session.send(data)
        return len(sessions)

    # -- actions
    def register_action(self, name: str, handler: ActionHandler) -> None:
        """Add (or replace) an action; the simulator's Originate, Hangup… plug in here."""
        self._handlers[name.lower()] = (name, handler)

    def handler(self, name: str) -> ActionHandler | None:
        entry = self._handlers.get(name.lower())
        return entry[1] if entry else None

    def _dispatch(self, session: AmiSession, req: AmiRequest) -> None:
        name = req.name
        if not name:
            session.reply(req, "Error", message="Missing action in request")
            return
        key = name.lower()
        entry = self._handlers.get(key)
        self.actions[entry[0] if entry else name] += 1
        if not session.authenticated and key not in ("login", "logoff", "challenge"):
            session.reply(req, "Error", message="Permission denied")
            return
        if self.silent_actions and key in {a.lower() for a in self.silent_actions}:
            return
        if entry is None:
            session.reply(req, "Error", message=f"Invalid/unknown command: {name}. "
                          "Use Action: ListCommands to show available commands.")
            return
        try:
            entry[1](session, req)
        except Exception:
            self.handler_errors += 1
            log.exception("AMI simulator: action %s failed", name)
            session.reply(req, "Error", message="Internal error")

    def _login(self, session: AmiSession, req: AmiRequest) -> None:
        if session.authenticated:
            session.reply(req, "Success", message="Already authenticated")
            return
        user = req.get("Username")
        if not user or user.lower() != self.username.lower() or req.get("Secret") != self.secret:
            self.auth_failures += 1
            log.info("AMI simulator: failed to authenticate as %r", user)
            session.refuse(req, self.auth_fail_delay)
            return
        session.logged_in()
        mask = parse_event_mask(req.get("Events"))
        if mask is not None:
            session.events = mask
        session.reply(req, "Success", message="Authentication accepted")
        if session.wants(frozenset({"system"})):
            uptime = str(int(time.monotonic() - self._started))
            session.send(format_message([
                ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", uptime),
                ("LastReload", uptime), ("Status", "Fully Booted"),
            ]))
        self.logins += 1
        self._login_seen.set()

    def _logoff(self, session: AmiSession, req: AmiRequest) -> None:
        session.reply(req, "Goodbye", message="Thanks for all the fish.")
        session.close()

    def _ping(self, session: AmiSession, req: AmiRequest) -> None:
        session.reply(req, "Success", ("Ping", "Pong"), ("Timestamp", f"{self.clock():.6f}"))

    def _events(self, session: AmiSession, req: AmiRequest) -> None:
        mask = parse_event_mask(req.get("EventMask"))
        if mask is None:
            session.reply(req, "Error", message="Invalid event mask")
            return
        session.events = mask
        session.reply(req, "Success", ("Events", "On" if mask else "Off"))

    def _list(self, session: AmiSession, req: AmiRequest, message: str, complete: str,
              items: list[list[tuple[str, str]]], item_event: str) -> None:
        session.reply(req, "Success", listflag="start", message=message)
        id_pair = [("ActionID", req.action_id)] if req.action_id else []
        out = [format_message([("Event", item_event), *id_pair, *item]) for item in items]
        out.append(format_message([("Event", complete), *id_pair, ("EventList", "Complete"),
                                   ("ListItems", str(len(items)))]))
        session.send(b"".join(out))

    def _core_show_channels(self, session: AmiSession, req: AmiRequest) -> None:
        now = self.clock()
        items = [self.state.core_show_channel(rec, now) for rec in self.state.channels.values()]
        self._list(session, req, "Channels will follow", "CoreShowChannelsComplete", items,
                   "CoreShowChannel")

    def _bridge_list(self, session: AmiSession, req: AmiRequest) -> None:
        kind = req.get("BridgeType")
        items = [self.state.bridge_list_item(rec) for rec in self.state.bridges.values()
                 if not kind or rec.fields.get("BridgeType") == kind]
        self._list(session, req, "Bridge listing will follow", "BridgeListComplete", items,
                   "BridgeListItem")
