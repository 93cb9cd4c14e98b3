"""One AMI manager session of the simulator: request parsing and replies, as manager.c does.

Split from :mod:`cti.sim.ami_server` (which owns the listening socket, the actions and the event
broadcast). Lines may end in CRLF or a bare LF; header names are case-insensitive, the first
occurrence wins and blanks after the colon are skipped (``astman_get_header``). A line over 1024
bytes or more than 128 lines earn an error answer, never a crash. Every empty line ends a
request, so a stray one is answered ``Missing action in request``, as Asterisk does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from cti.ami.messages import AmiMessage

if TYPE_CHECKING:
    from cti.sim.ami_server import AmiServer

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MAX_LINE = 1024  # the session input buffer of manager.c
MAX_HEADERS = 128  # AST_MAX_MANHEADERS
#: Event classes of manager.conf (``read=``), as ``Privilege:`` names them.
EVENT_CLASSES = frozenset({
    "system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
    "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
    "message",
})
ALL_EVENTS: frozenset[str] = frozenset({"*"})  # sentinel mask: every class
#: How Asterisk spells "true" in a header (``ast_true``).
TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})


def parse_event_mask(value: str) -> frozenset[str] | None:
    """Asterisk's ``strings_to_mask``: on/off, or a comma list of classes; ``None`` if empty.

    Unknown class names are ignored, so ``Events: bogus`` means *off*, not an error.
    """
    text = value.strip().lower()
    if not text:
        return None
    if text in TRUE_WORDS:
        return ALL_EVENTS
    if text in _FALSE:
        return frozenset()
    classes = {c.strip() for c in text.split(",")}
    if "all" in classes:
        return ALL_EVENTS
    return frozenset(classes & EVENT_CLASSES)


def format_message(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``Key: Value`` lines and the empty line; a CR or LF inside a value becomes a space so
    that no value can end the message early."""
    out = []
    for key, value in pairs:
        if "\r" in value or "\n" in value:
            value = value.replace("\r", " ").replace("\n", " ")
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


class AmiRequest:
    """One request as received: its header lines in order, looked up like manager.c does."""

    __slots__ = ("headers",)

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers

    def get(self, key: str, default: str = "") -> str:
        wanted = key.lower()
        for name, value in self.headers:
            if name.lower() == wanted:
                return value
        return default

    @property
    def name(self) -> str:
        """The first non-empty ``Action`` header (``GET_HEADER_SKIP_EMPTY``)."""
        for name, value in self.headers:
            if name.lower() == "action" and value:
                return value
        return ""

    @property
    def action_id(self) -> str:
        return self.get("ActionID")

    def as_dict(self) -> AmiMessage:
        out: AmiMessage = {}
        for name, value in self.headers:
            if name:
                out.setdefault(name, value)
        return out


class AmiSession(asyncio.Protocol):
    """One manager connection: reads requests line by line, writes responses and events."""

    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.authenticated = False
        self.events: frozenset[str] = ALL_EVENTS  # manager.c starts with send_events = -1
        self._ignore_input = False
        self._buf = b""
        self._headers: list[tuple[str, str]] = []
        self._too_long = False
        self._too_many = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._auth_timer: asyncio.TimerHandle | None = None

    # -- transport callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server._sessions.add(self)
        self.server.connections += 1
        self.transport.write(BANNER)
        if self.server.auth_timeout > 0:
            self._auth_timer = asyncio.get_running_loop().call_later(
                self.server.auth_timeout, self.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._sessions.discard(self)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        if self._ignore_input:
            return
        buf = self._buf + data if self._buf else data
        start = 0
        while not self._ignore_input:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            end = nl - 1 if nl > start and buf[nl - 1] == 13 else nl
            self._line(buf[start:end])
            start = nl + 1
        rest = buf[start:]
        if len(rest) > MAX_LINE:  # like manager.c: flag it, keep the last byte (maybe a CR)
            self._too_long = True
            rest = rest[-1:]
        self._buf = rest

    # -- request assembly
    def _line(self, line: bytes) -> None:
        if not line:
            headers, self._headers = self._headers, []
            req = AmiRequest(headers)
            if self._too_many:
                self._too_many = self._too_long = False
                self.reply(req, "Error", message="Too many lines in message or allocation failure")
            elif self._too_long:
                self._too_long = False
                self.reply(req, "Error", message="Failed to parse message: line too long")
            else:
                self.server._dispatch(self, req)
            return
        if len(line) > MAX_LINE:
            self._too_long = True
            return
        if len(self._headers) >= MAX_HEADERS:
            self._too_many = True
            return
        key, sep, value = line.decode("utf-8", "replace").partition(":")
        if sep:
            self._headers.append((key, value.lstrip(" \t")))
        else:
            self._headers.append(("", key))  # a line without a colon matches no header

    # -- output
    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def reply(
        self, req: AmiRequest, response: str, *pairs: tuple[str, str],
        message: str | None = None, listflag: str | None = None,
    ) -> None:
        """``Response``, ``ActionID`` (if any), ``EventList`` (lists), extra pairs, ``Message``."""
        head = [("Response", response)]
        if req.action_id:
            head.append(("ActionID", req.action_id))
        if listflag is not None:
            head.append(("EventList", listflag))
        head.extend(pairs)
        if message is not None:
            head.append(("Message", message))
        self.send(format_message(head))

    def wants(self, classes: frozenset[str] | None) -> bool:
        if self.events is ALL_EVENTS:
            return True
        if not self.events:
            return False
        return classes is None or classes <= self.events

    def logged_in(self) -> None:
        self.authenticated = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()

    def refuse(self, req: AmiRequest, delay: float) -> None:
        """Failed login: stop reading, answer after ``delay``, then hang up (manager.c)."""
        self._ignore_input = True

        def answer() -> None:
            self.reply(req, "Error", message="Authentication failed")
            self.close()

        if delay > 0:
            asyncio.get_running_loop().call_later(delay, answer)
        else:
            answer()

    def close(self) -> None:
        self._ignore_input = True
        if self.transport is not None:
            self.transport.close()  # flushes what is buffered first

    def abort(self) -> None:
        self._ignore_input = True
        self.server._sessions.discard(self)
        if self.transport is not None:
            self.transport.abort()
