"""``/ws``: the websocket that pushes screen pops to the browsers.

Each logged-in person opens one socket (``/ws``); an agent gets the calls ringing or up on
**their own** extensions, nothing else; a supervisor may ask for every call (``/ws?scope=all``,
for the live board). Messages are JSON objects:

* ``{"type": "hello", "user": …, "extensions": […], "scope": "own"|"all", "now": …}`` once;
* ``{"type": "pop" | "update" | "ended", "call": {…}}`` — ``pop`` the first time this socket
  hears of a call, ``update`` for each change while it runs (answer, transfer, client cards
  found…), ``ended`` after the hangup (and for changes after it). Every message carries the
  call's whole state (:func:`cti.webapp.pop.call_payload`), so a browser that missed one is
  right again with the next. On connect, the calls already in progress are sent as pops.
* ``{"type": "counts" | "reminder", …}`` — one person's action-center badges and due
  callbacks (:meth:`PopHub.send_to_user`, fed by :mod:`cti.webapp.actions_live`).

Why it is built this way:

* **The bus is never slowed by a browser.** :class:`~cti.live.LiveCalls` calls the hub
  synchronously on every change; the hub only serialises the call once and puts the text in
  each recipient's own queue. A task per socket sends. The first pop goes out on the
  ``CallRinging`` with what the PBX said; the cards follow (see :mod:`cti.webapp.pop`).
* **Backpressure per socket, never global.** A socket's queue holds one message per call:
  since each message is the call's whole state, a newer one *replaces* a pending one
  (coalescing; a slow browser sees fewer intermediate states, never a wrong one). A socket with
  more than ``max_pending`` calls waiting, or whose send blocks longer than ``send_timeout``,
  is closed with 1013 (try again later): its browser reconnects and gets a fresh snapshot.
* **Auth.** The auth middleware answers 401 before a socket without a session is opened. The
  ``Origin`` header must name this site (a page elsewhere must not ride the cookie:
  cross-site websocket hijacking), and sessions are checked again every ``revalidate`` seconds,
  so a logout, a disabled account or a changed password closes the socket (4401), and changed
  extensions take effect without a reconnect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from cti.calls.model import iso_utc
from cti.live import Change, Key, LiveCall, LiveCalls
from cti.users import User, UserService
from cti.webapp.api_clients import can_see
from cti.webapp.auth import COOKIE, check_origin, current_session
from cti.webapp.errors import HttpError
from cti.webapp.pop import Enrichment, PopBuilder, Targets, call_payload

log = logging.getLogger(__name__)

DEFAULT_MAX_PENDING = 200
SESSION_ENDED = 4401  # private-use close code: log in again
TRY_AGAIN_LATER = 1013
#: Queued frames sent as they are (not wrapped as ``{"type", "call"}``).
_WHOLE = frozenset({"hello", "message"})

_dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False,
                                                separators=(",", ":")).encode


@dataclass(eq=False)
class Connection:
    """One open socket: who it is, what it wants, what waits to be sent."""

    ws: web.WebSocketResponse
    request: web.Request
    user: User
    token: str
    extensions: frozenset[str]
    watch_all: bool
    pending: dict[Key, tuple[str, str]] = field(default_factory=dict)  # key → (type, call)
    seen: set[Key] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sender: asyncio.Task[None] | None = None
    dropped: bool = False
    limit: int = DEFAULT_MAX_PENDING


class PopHub:
    """Fans ``LiveCalls`` changes out to the sockets; ``start()``/``close()`` with the app."""

    def __init__(self, live: LiveCalls, builder: PopBuilder, users: UserService, *,
                 max_pending: int = DEFAULT_MAX_PENDING, send_timeout: float = 10.0,
                 revalidate: float = 60.0, heartbeat: float = 30.0) -> None:
        self.live = live
        self.builder = builder
        self.users = users
        self.max_pending = max_pending
        self.send_timeout = send_timeout
        self.revalidate = revalidate
        self.heartbeat = heartbeat
        self.targets = Targets()
        self.connections: set[Connection] = set()
        self._by_ext: dict[str, set[Connection]] = {}
        self._watchers: set[Connection] = set()
        self._extras: dict[Key, Enrichment] = {}
        self._enrich_seq: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        # counters (read by /metrics and /api/status)
        self.connections_total = 0
        self.frames_sent = 0
        self.coalesced = 0
        self.slow_closed = 0
        self.sessions_ended = 0
        self.enrich_errors = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def connected(self) -> int:
        """Sockets open now (the ``websocket clients`` gauge)."""
        return len(self.connections)

    def stats(self) -> dict[str, int]:
        return {"connected": self.connected, "connections_total": self.connections_total,
                "frames_sent": self.frames_sent, "coalesced": self.coalesced,
                "slow_closed": self.slow_closed, "sessions_ended": self.sessions_ended,
                "enrich_errors": self.enrich_errors}

    def start(self, router: web.UrlDispatcher | None = None) -> None:
        if router is not None:
            self.targets = Targets.from_router(router)
        if self._unsubscribe is None:
            self._unsubscribe = self.live.subscribe(self.on_change)
            if self.revalidate > 0:
                self._spawn(self._revalidate_loop())

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.connections):
            await self._close(conn, WSCloseCode.GOING_AWAY, "server shutdown")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ the endpoint
    async def handle(self, request: web.Request) -> web.StreamResponse:
        sess = current_session(request)  # the middleware already refused anonymous sockets
        check_origin(request)
        user = sess.user
        watch_all = request.query.get("scope") == "all"
        if watch_all and not user.at_least("supervisor"):
            raise HttpError(403, "Only supervisors may watch every call.")
        ws = web.WebSocketResponse(heartbeat=self.heartbeat or None, compress=False,
                                   max_msg_size=4096)
        await ws.prepare(request)
        conn = Connection(ws, request, user, request.cookies.get(COOKIE, ""),
                          frozenset(user.extensions), watch_all, limit=self.max_pending)
        self._register(conn)
        conn.sender = asyncio.get_running_loop().create_task(self._send_loop(conn))
        self._hello(conn)
        calls = self.live.all() if watch_all else self.live.for_extensions(conn.extensions)
        conn.limit = self.max_pending + len(calls)  # a busy PBX's snapshot is not slowness
        for call in calls:
            if call.key not in self._enrich_seq:
                self._enrich(call)
            self._offer(conn, call, self._text(call, conn))
        try:
            async for msg in ws:  # nothing to read: this loop only notices the close
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._unregister(conn)
            if conn.sender is not None:
                conn.sender.cancel()
        return ws

    def _hello(self, conn: Connection) -> None:
        hello = {"type": "hello", "user": {"username": conn.user.username,
                                           "label": conn.user.label, "role": conn.user.role},
                 "extensions": sorted(conn.extensions),
                 "scope": "all" if conn.watch_all else "own", "now": iso_utc(time.time())}
        conn.pending[("", "hello")] = ("hello", _dumps(hello))
        conn.wake.set()

    def _register(self, conn: Connection, *, new: bool = True) -> None:
        self.connections.add(conn)
        self.connections_total += new
        if conn.watch_all:
            self._watchers.add(conn)
        for ext in conn.extensions:
            self._by_ext.setdefault(ext, set()).add(conn)

    def _unregister(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._watchers.discard(conn)
        for ext in conn.extensions:
            conns = self._by_ext.get(ext)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self._by_ext[ext]

    # ------------------------------------------------------------------ to one person
    def online(self, username: str) -> bool:
        return any(c.user.username == username for c in self.connections)

    def send_to_user(self, username: str, msg: dict[str, Any], *,
                     key: str | None = None) -> int:
        """Queue ``msg`` (a JSON object with a ``type``) for every socket of ``username``;
        returns how many. Messages with the same ``key`` (default: the type) coalesce like
        calls do: a newer ``counts`` replaces one not sent yet."""
        text = _dumps(msg)
        sent = 0
        for conn in list(self.connections):
            if conn.user.username == username:
                self._offer_raw(conn, ("", "msg:" + (key or str(msg.get("type")))), "message",
                                text)
                sent += 1
        return sent

    # ------------------------------------------------------------------ fan-out
    def on_change(self, change: Change) -> None:
        call = change.call
        if change.kind == "gone":
            self._extras.pop(call.key, None)
            self._enrich_seq.pop(call.key, None)
            for conn in self.connections:
                conn.seen.discard(call.key)
            return
        if not self.recipients(call):
            if change.cause == "client_matched":  # looked up again when someone watches
                self._extras.pop(call.key, None)
                self._enrich_seq.pop(call.key, None)
            return
        enr = self._extras.get(call.key)
        if (call.key not in self._enrich_seq or change.cause == "client_matched"
                or (enr is not None and enr.stale_for(self.builder.lookup_number(call)))):
            self._enrich(call)
        self.publish(call)

    def recipients(self, call: LiveCall) -> set[Connection]:
        out = set(self._watchers)
        for ext in call.extensions:
            out |= self._by_ext.get(ext, set())
        return out

    def publish(self, call: LiveCall) -> None:
        """Queue ``call``'s current state for every socket that may see it."""
        targets = self.recipients(call)
        if not targets:
            return
        enr = self._extras.get(call.key) or Enrichment()
        private = any(c.visibility == "private" for c in enr.clients)
        shared: str | None = None
        for conn in targets:
            if private:
                text = self._text(call, conn)
            else:
                shared = shared or _dumps(call_payload(call, enr, self.builder, self.targets,
                                                       None))
                text = shared
            self._offer(conn, call, text)

    def _text(self, call: LiveCall, conn: Connection) -> str:
        enr = self._extras.get(call.key) or Enrichment()
        viewer = conn.user if any(not can_see(conn.user, c) for c in enr.clients) else None
        return _dumps(call_payload(call, enr, self.builder, self.targets, viewer))

    def _offer(self, conn: Connection, call: LiveCall, text: str) -> None:
        key = call.key
        if call.state == "ended":
            kind = "ended"
        elif key in conn.seen:
            kind = "update"
        else:
            kind = "pop"
            conn.seen.add(key)
        self._offer_raw(conn, key, kind, text)

    def _offer_raw(self, conn: Connection, key: Key, kind: str, text: str) -> None:
        if conn.dropped:
            return
        queued = conn.pending.get(key)
        if queued is not None:
            self.coalesced += 1
            if queued[0] == "pop" and kind == "update":
                kind = "pop"  # the browser has not had the pop yet
        elif len(conn.pending) >= conn.limit:
            self._drop(conn, "too many messages waiting")
            return
        conn.pending[key] = (kind, text)
        conn.wake.set()

    async def _send_loop(self, conn: Connection) -> None:
        ws = conn.ws
        try:
            while not ws.closed:
                await conn.wake.wait()
                conn.wake.clear()
                while conn.pending and not ws.closed:
                    key = next(iter(conn.pending))
                    kind, body = conn.pending.pop(key)
                    frame = body if kind in _WHOLE else f'{{"type":"{kind}","call":{body}}}'
                    async with asyncio.timeout(self.send_timeout):
                        await ws.send_str(frame)
                    self.frames_sent += 1
        except TimeoutError:
            self._drop(conn, "send timed out")
        except ConnectionError:
            pass  # the browser went away; the handler's loop ends and unregisters

    def _drop(self, conn: Connection, why: str) -> None:
        """Close a socket that cannot keep up; its browser reconnects for a fresh snapshot."""
        if conn.dropped:
            return
        conn.dropped = True
        conn.pending.clear()
        self.slow_closed += 1
        log.info("websocket of %s closed: %s", conn.user.username, why)
        self._spawn(self._close(conn, TRY_AGAIN_LATER, "too slow"))

    async def _close(self, conn: Connection, code: int, message: str) -> None:
        self._unregister(conn)
        if conn.sender is not None and conn.sender is not asyncio.current_task():
            conn.sender.cancel()
        try:
            async with asyncio.timeout(1.0):
                await conn.ws.close(code=code, message=message.encode())
        except (TimeoutError, ConnectionError):
            transport = conn.request.transport
            if transport is not None:
                transport.abort()  # a peer that does not even read the close frame

    # ------------------------------------------------------------------ enrichment
    def _enrich(self, call: LiveCall) -> None:
        seq = self._enrich_seq.get(call.key, 0) + 1
        self._enrich_seq[call.key] = seq
        self._spawn(self._enrich_task(call, seq))

    async def _enrich_task(self, call: LiveCall, seq: int) -> None:
        try:
            extra = await self.builder.enrich(call, self._extras.get(call.key))
        except Exception:
            self.enrich_errors += 1
            log.exception("screen pop lookup failed for %s/%s", call.pbx, call.call_id)
            extra = Enrichment("done")
        if self._enrich_seq.get(call.key) != seq:
            return  # a newer lookup (the linker's answer) is on its way, or the call is gone
        self._extras[call.key] = extra
        current = self.live.get(call.pbx, call.call_id)
        if current is not None:
            self.publish(current)
            if extra.stale_for(self.builder.lookup_number(current)):
                self._enrich(current)  # its number became known meanwhile

    def note_wrapup(self, pbx: str, call_id: str, username: str) -> None:
        """A wrap-up was saved: the pop (in every tab of every participant) says so, with the
        client's tickets read again (the wrap-up may have filed one)."""
        key = (pbx, call_id)
        enr = self._extras.get(key)
        call = self.live.get(pbx, call_id)
        if enr is None or call is None:
            return
        if username not in enr.wrapped_up_by:
            self._extras[key] = dataclasses.replace(
                enr, wrapped_up_by=(*enr.wrapped_up_by, username))
        self._enrich(call)  # publishes when done

    # ------------------------------------------------------------------ sessions
    async def _revalidate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.revalidate)
            await self.revalidate_now()

    async def revalidate_now(self) -> None:
        """Close the sockets whose session ended; follow changed extensions."""
        for conn in list(self.connections):
            sess = await self.users.session(conn.token) if conn.token else None
            if sess is None or not sess.user.active:
                self.sessions_ended += 1
                await self._close(conn, SESSION_ENDED, "session ended")
                continue
            exts = frozenset(sess.user.extensions)
            if exts != conn.extensions and conn in self.connections:
                self._unregister(conn)
                conn.user, conn.extensions = sess.user, exts
                self._register(conn, new=False)
