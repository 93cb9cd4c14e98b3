"""The ARI client: the only ARI HTTP code (aiohttp), REST helpers plus the events WebSocket.

Asterisk's ARI has two halves. REST calls (``/ari/channels/…``) act on channels that sit in a
Stasis application; the application only exists while a WebSocket on
``/ari/events?app=cti`` is open: with no socket, ``Stasis(cti)`` in the dialplan fails at once.
So the socket is kept up for as long as the client runs: after any close or error (refused
connection, 401, the server closing the socket, a dead link found by the heartbeat) it waits a
backoff delay (exponential with full jitter, :func:`cti.ami.types.backoff_delay`, the AMI
client's) and tries again. The attempt counter only resets after a link that stayed up for
``backoff_max``, so a server that accepts then closes at once is retried with growing delays,
never in a busy loop (the flaw of ari-py/aioari/asyncari: no reconnect, or one that spins).

Events reach ``on_event`` as :class:`AriEvent`, in wire order. Text that is not a JSON object
with a ``type`` is counted (``bad_events``) and logged; a type this module does not know is
counted (``unknown_types``) but still delivered, as a newer Asterisk may add some.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from cti.ami.types import AmiConfig, backoff_delay
from cti.errors import CtiError

log = logging.getLogger(__name__)

#: Event types of Asterisk 22's ``events.json`` (rest-api/api-docs).
KNOWN_TYPES = frozenset({
    "ApplicationMoveFailed", "ApplicationRegistered", "ApplicationReplaced",
    "ApplicationUnregistered", "BridgeAttendedTransfer", "BridgeBlindTransfer", "BridgeCreated",
    "BridgeDestroyed", "BridgeMerged", "BridgeVideoSourceChanged", "ChannelCallerId",
    "ChannelConnectedLine", "ChannelCreated", "ChannelDestroyed", "ChannelDialplan",
    "ChannelDtmfReceived", "ChannelEnteredBridge", "ChannelHangupRequest", "ChannelHold",
    "ChannelLeftBridge", "ChannelStateChange", "ChannelTalkingFinished", "ChannelTalkingStarted",
    "ChannelToneDetected", "ChannelTransfer", "ChannelUnhold", "ChannelUserevent",
    "ChannelVarset", "ContactStatusChange", "DeviceStateChanged", "Dial", "EndpointStateChange",
    "MissingParams", "PeerStatusChange", "PlaybackContinuing", "PlaybackFinished",
    "PlaybackStarted", "RecordingFailed", "RecordingFinished", "RecordingStarted",
    "RESTResponse", "StasisEnd", "StasisStart", "TextMessageReceived",
})


class AriError(CtiError):
    """An ARI call that failed: ``status`` is the HTTP status (0 when Asterisk could not be
    reached or did not answer in time), ``message`` Asterisk's ``{"message": …}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ARI {status}: {message}" if status else f"ARI: {message}")
        self.status, self.message = status, message


class AriState(enum.StrEnum):
    DISCONNECTED = "disconnected"  # not started, closed, or waiting to retry
    CONNECTING = "connecting"
    CONNECTED = "connected"  # the events socket is open: the Stasis app exists


@dataclass(frozen=True, slots=True)
class AriConfig:
    url: str = "http://127.0.0.1:8088/ari"  # the REST base, as ari.conf/http.conf serve it
    user: str = "cti"
    password: str = ""
    app: str = "cti"
    timeout: float = 10.0  # REST calls and the WebSocket handshake
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    heartbeat: float = 20.0  # WebSocket ping interval: finds a dead link (<= 0 disables)


@dataclass(frozen=True, slots=True)
class AriEvent:
    """One event of the app's socket; ``data`` is the whole JSON object (``args``,
    ``playback``, ``cause``… live there), ``channel`` its channel snapshot if any."""

    type: str
    application: str
    timestamp: str
    channel: dict[str, Any] | None
    data: dict[str, Any]


@dataclass(slots=True)
class AriCounters:
    connects: int = 0  # events sockets opened
    connect_failures: int = 0  # refused, unreachable, timed out, refused upgrade
    auth_failures: int = 0  # 401 on the upgrade
    disconnects: int = 0  # open sockets that closed
    events: int = 0
    bad_events: int = 0  # not JSON, not an object, no type
    unknown_types: int = 0
    handler_errors: int = 0  # on_event raised
    retry_delays: list[float] = field(default_factory=list)  # the last few backoff delays


def parse_event(text: str) -> AriEvent | None:
    """An event from the socket's text, or None when it is not a JSON object with a type."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return None
    channel = obj.get("channel")
    return AriEvent(type=obj["type"], application=str(obj.get("application", "")),
                    timestamp=str(obj.get("timestamp", "")),
                    channel=channel if isinstance(channel, dict) else None, data=obj)


def _seg(value: str) -> str:
    """One path segment, every reserved character escaped: an id cannot climb the path."""
    return quote(str(value), safe="")


class AriClient:
    """``start()``, then events flow to ``on_event`` until ``close()``; REST helpers at any time
    (they need no open socket, but a channel must be in the app for most of them)."""

    def __init__(self, config: AriConfig, on_event: Callable[[AriEvent], None], *,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.on_event = on_event
        self.counters = AriCounters()
        self.last_error: AriError | None = None
        self._rng = rng or random.Random()
        self._backoff = AmiConfig(backoff_min=config.backoff_min, backoff_max=config.backoff_max)
        self._attempt = 0
        self._state = AriState.DISCONNECTED
        self._connected = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._base = URL(config.url.rstrip("/"))

    # -- lifecycle
    @property
    def state(self) -> AriState:
        return self._state

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": _basic_auth(self.config.user, self.config.password)},
                # No total: it would cut the events socket; the REST calls pass their own.
                # sock_read bounds the upgrade; aiohttp lifts it once the socket is open.
                timeout=aiohttp.ClientTimeout(total=None, connect=self.config.timeout,
                                              sock_read=self.config.timeout))
        return self._session

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ari-events")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._set_state(AriState.DISCONNECTED)

    async def __aenter__(self) -> AriClient:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise AriError(0, f"events socket not connected after {timeout:g}s "
                              f"({self._state}; last error: {self.last_error})") from None

    def _set_state(self, state: AriState) -> None:
        if state is not self._state:
            log.info("ARI %s %s -> %s", self._base, self._state, state)
            self._state = state
        if state is AriState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()

    # -- the events socket
    def events_url(self) -> URL:
        scheme = {"https": "wss", "http": "ws"}.get(self._base.scheme, self._base.scheme)
        return (self._base.with_scheme(scheme) / "events").with_query(
            app=self.config.app, subscribeAll="false")

    async def _run(self) -> None:
        try:
            while True:
                started = time.monotonic()
                await self._session_once()
                if time.monotonic() - started >= self.config.backoff_max:
                    self._attempt = 0  # a link that held: the next retry starts small again
                delay = backoff_delay(self._backoff, self._attempt, self._rng)
                self._attempt += 1
                self.counters.retry_delays = [*self.counters.retry_delays[-19:], delay]
                log.info("ARI events: reconnecting in %.2fs", delay)
                await asyncio.sleep(delay)
        finally:
            self._set_state(AriState.DISCONNECTED)

    async def _session_once(self) -> None:
        """One socket: connect, deliver its events until it closes. Never raises but for
        cancellation; whatever went wrong is logged, counted and kept in ``last_error``."""
        self._set_state(AriState.CONNECTING)
        heartbeat = self.config.heartbeat if self.config.heartbeat > 0 else None
        try:
            ws = await self._http().ws_connect(
                self.events_url(), heartbeat=heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self.config.timeout))
        except aiohttp.WSServerHandshakeError as exc:
            self.counters.connect_failures += 1
            if exc.status == 401:
                self.counters.auth_failures += 1
                self._fail(AriError(401, "Authentication required (check user and password)"))
            else:
                self._fail(AriError(exc.status, f"events socket refused: {exc.message}"))
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.counters.connect_failures += 1
            self._fail(AriError(0, f"events socket: {type(exc).__name__}: {exc}"))
            return
        self.counters.connects += 1
        self.last_error = None
        self._set_state(AriState.CONNECTED)
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._deliver(msg.data)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    self._fail(AriError(0, f"events socket error: {ws.exception()}"))
                    break
                else:  # Asterisk only sends text; a binary frame is an anomaly
                    self.counters.bad_events += 1
                    log.warning("ARI events: unexpected %s frame", msg.type.name)
        except (aiohttp.ClientError, OSError) as exc:
            self._fail(AriError(0, f"events socket: {type(exc).__name__}: {exc}"))
        finally:
            await ws.close()
            self.counters.disconnects += 1
            self._set_state(AriState.DISCONNECTED)
            log.warning("ARI events socket closed (code %s)", ws.close_code)

    def _fail(self, error: AriError) -> None:
        self.last_error = error
        self._set_state(AriState.DISCONNECTED)
        log.warning("ARI %s: %s", self._base, error)

    def _deliver(self, text: str) -> None:
        event = parse_event(text)
        if event is None:
            self.counters.bad_events += 1
            log.warning("ARI events: not an event, skipped: %.200r", text)
            return
        self.counters.events += 1
        if event.type not in KNOWN_TYPES:
            self.counters.unknown_types += 1
            log.info("ARI events: unknown type %r (delivered anyway)", event.type)
        try:
            self.on_event(event)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("ARI on_event failed on %s", event.type)

    # -- REST
    async def request(self, method: str, path: Iterable[str],
                      params: Mapping[str, str] | None = None,
                      body: Mapping[str, Any] | None = None) -> Any:
        """``method`` on ``/ari/<path…>`` (each segment escaped); the decoded JSON answer, or
        None for 204. Raises :class:`AriError` with Asterisk's message."""
        url = URL(str(self._base) + "".join("/" + _seg(p) for p in path), encoded=True)
        if params:
            url = url.with_query(dict(params))
        try:
            async with self._http().request(method, url, json=body, timeout=aiohttp.ClientTimeout(
                    total=self.config.timeout)) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise AriError(resp.status, _error_message(text, resp.reason))
                if resp.status == 204 or not text:
                    return None
                try:
                    return json.loads(text)
                except ValueError:
                    raise AriError(resp.status, f"not JSON: {text[:200]!r}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise AriError(0, f"{method} {url.path}: {type(exc).__name__}: {exc}") from exc

    async def channels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", ["channels"])
        return result

    async def channel(self, channel_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", ["channels", channel_id])
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", ["channels", channel_id, "answer"])

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", ["channels", channel_id], {"reason": reason})

    async def play(self, channel_id: str, media: str | Iterable[str],
                   playback_id: str | None = None) -> dict[str, Any]:
        """Queue media (``sound:…``, ``digits:…``); the answer is the playback, ``queued``."""
        uris = [media] if isinstance(media, str) else list(media)
        params = {"media": ",".join(uris)}
        if playback_id:
            params["playbackId"] = playback_id
        result: dict[str, Any] = await self.request("POST", ["channels", channel_id, "play"],
                                                    params)
        return result

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str,
                                   priority: int = 1) -> None:
        await self.request("POST", ["channels", channel_id, "continue"], {
            "context": context, "extension": extension, "priority": str(priority)})

    async def originate(self, endpoint: str, app: str | None = None,
                        app_args: Iterable[str] = (), caller_id: str = "",
                        timeout: int = 30, variables: Mapping[str, str] | None = None,
                        ) -> dict[str, Any]:
        """A new outgoing channel (``Down``) that enters ``app`` once the far end answers."""
        params = {"endpoint": endpoint, "app": app or self.config.app,
                  "appArgs": ",".join(app_args), "timeout": str(timeout)}
        if caller_id:
            params["callerId"] = caller_id
        body = {"variables": dict(variables)} if variables else None
        result: dict[str, Any] = await self.request("POST", ["channels"], params, body)
        return result

    async def snoop(self, channel_id: str, spy: str = "both", whisper: str = "none",
                    app: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", ["channels", channel_id, "snoop"], {
            "spy": spy, "whisper": whisper, "app": app or self.config.app})
        return result

    async def create_bridge(self, type: str = "mixing") -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", ["bridges"], {"type": type})
        return result

    async def add_to_bridge(self, bridge_id: str, channel_ids: Iterable[str]) -> None:
        await self.request("POST", ["bridges", bridge_id, "addChannel"],
                           {"channel": ",".join(channel_ids)})


def _basic_auth(user: str, password: str) -> str:
    """Basic auth, as ARI wants it on every call and on the WebSocket upgrade (``api_key``
    in the query would end up in proxies' logs)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _error_message(text: str, reason: str | None) -> str:
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("message"), str):
        return str(obj["message"])
    return text.strip()[:200] or reason or "no message"
