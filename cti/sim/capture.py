"""Replay a recorded AMI capture through the simulator's AMI server, byte for byte.

A capture folder holds ``ami.raw`` (the bytes Asterisk sent to the recorder, banner included)
and ``ami.timing.jsonl`` (``{"t": seconds, "offset": byte}`` per message, optionally a first
``{"t0": epoch}`` line). What the recorder got back for *its own* session is not PBX activity
and is left out: the banner, the answer to its ``Login`` and the ``FullyBooted`` that manager.c
appends to it (our server sends its own at each login), the ``Goodbye`` to its ``Logoff``, and
by default every other response (answers to actions the replay client never sent). The
``ActionID`` of the recorder's Login/Logoff come from ``ami.sent.jsonl`` when present.

:class:`CapturePlayer` emits the messages into an :class:`~cti.sim.ami_server.AmiServer`, as fast
as the sockets drain or at a chosen speed, and drives the server's clock with capture time
(``epoch + t``) so ``CoreShowChannels`` durations and optional ``Timestamp:`` headers are
deterministic. The epoch is ``t0``, else ``truth.json``'s ``capture.wall_clock_start_utc``.

Outages: ``drop_at`` cuts every client before message N; the next ``outage`` messages are then
emitted into the void, exactly as a real Asterisk keeps running while nobody listens, and the
player waits for a client to log in again before going on (``wait_reconnect``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cti.ami.messages import BANNER_PREFIX, AmiMessage, AmiParser
from cti.sim.ami_server import AmiServer


@dataclass(frozen=True, slots=True)
class Capture:
    name: str
    messages: tuple[tuple[float, bytes], ...]  # (seconds since capture start, raw message)
    epoch: float | None  # wall-clock time of t = 0, when known

    def parsed(self) -> list[AmiMessage]:
        """The messages as the AMI parser reads them (what a client should receive)."""
        parser = AmiParser(expect_banner=False)
        return [msg for _, msg in parser.feed(b"".join(raw for _, raw in self.messages))]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _own_action_ids(folder: Path) -> set[str]:
    ids = set()
    for row in _read_jsonl(folder / "ami.sent.jsonl"):
        action = row.get("action")
        if isinstance(action, dict) and str(action.get("Action", "")).lower() in (
                "login", "logoff") and action.get("ActionID"):
            ids.add(str(action["ActionID"]))
    return ids


def _epoch_from_truth(folder: Path) -> float | None:
    try:
        truth = json.loads((folder / "truth.json").read_text())
        stamp = truth["capture"]["wall_clock_start_utc"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _header(raw: bytes, name: bytes) -> bytes | None:
    start = raw.find(b"\r\n" + name + b": ")
    if start < 0:
        return None
    start += len(name) + 4
    return raw[start:raw.find(b"\r\n", start)]


def load_capture(folder: str | Path, *, keep_responses: bool = False) -> Capture:
    folder = Path(folder)
    data = (folder / "ami.raw").read_bytes()
    timing = _read_jsonl(folder / "ami.timing.jsonl")
    epoch = next((float(r["t0"]) for r in timing if "t0" in r), None)
    if epoch is None:
        epoch = _epoch_from_truth(folder)
    marks = sorted((int(r["offset"]), float(r["t"])) for r in timing if "offset" in r)
    own = _own_action_ids(folder)
    out: list[tuple[float, bytes]] = []
    after_login = False
    for i, (offset, t) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(data)
        raw = data[offset:end]
        was_login, after_login = after_login, False
        if not raw or raw.startswith(BANNER_PREFIX):
            continue
        if raw.startswith(b"Response: "):
            action_id = (_header(raw, b"ActionID") or b"").decode("utf-8", "replace")
            if action_id in own or (not own and (b"Message: Authentication accepted" in raw
                                                 or raw.startswith(b"Response: Goodbye"))):
                after_login = b"Authentication accepted" in raw
                continue
            if not keep_responses:
                continue
        if was_login and raw.startswith(b"Event: FullyBooted\r\n"):
            continue
        out.append((t, raw))
    return Capture(folder.name, tuple(out), epoch)


class CapturePlayer:
    """Plays a :class:`Capture` into a server; ``position`` is the index of the next message."""

    def __init__(
        self, server: AmiServer, capture: Capture, *, speed: float | None = None,
        timestamps: bool = False, epoch: float | None = None, drop_at: Collection[int] = (),
        outage: int = 0, wait_reconnect: bool = True, reconnect_timeout: float = 10.0,
        virtual_clock: bool = True,
    ) -> None:
        self.server = server
        self.capture = capture
        self.speed = speed  # None: as fast as the clients drain; 2.0: twice real time
        self.timestamps = timestamps
        self.epoch = epoch if epoch is not None else (
            capture.epoch if capture.epoch is not None else time.time())
        self.drop_at = frozenset(drop_at)
        self.outage = outage
        self.wait_reconnect = wait_reconnect
        self.reconnect_timeout = reconnect_timeout
        self.position = 0
        self.t = capture.messages[0][0] if capture.messages else 0.0
        self.delivered = 0  # messages written to at least one client
        self.lost = 0  # messages nobody received
        if virtual_clock:
            server.clock = self.now

    def now(self) -> float:
        """Capture time as wall-clock epoch seconds: the server's clock during a replay."""
        return self.epoch + self.t

    def index(self, event: str, nth: int = 1, **fields: str) -> int:
        """Index of the ``nth`` message of this event name whose fields match (for tests)."""
        seen = 0
        for i, msg in enumerate(self.capture.parsed()):
            if msg.get("Event") == event and all(msg.get(k) == v for k, v in fields.items()):
                seen += 1
                if seen == nth:
                    return i
        raise LookupError(f"{self.capture.name}: no {nth}th {event} with {fields}")

    async def play(self, until: int | None = None) -> int:
        """Emit messages from ``position`` up to (not including) ``until``; returns how many."""
        messages = self.capture.messages
        stop = len(messages) if until is None else min(until, len(messages))
        loop = asyncio.get_running_loop()
        first = self.position
        anchor: tuple[float, float] | None = None
        void = 0  # messages still to emit into the outage
        logins_before = 0
        while self.position < stop:
            i = self.position
            t, raw = messages[i]
            if self.speed:
                if anchor is None:
                    anchor = (loop.time(), t)
                delay = anchor[0] + (t - anchor[1]) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if i in self.drop_at:
                logins_before = self.server.logins
                self.server.drop_clients()
                void = self.outage
                if not void:
                    await self._await_client(logins_before)
            self.t = t
            ts = self.now() if self.timestamps else None
            if self.server.emit(raw, timestamp=ts):
                self.delivered += 1
            else:
                self.lost += 1
            self.position += 1
            if void:
                void -= 1
                if not void:
                    await self._await_client(logins_before)
            elif i % 64 == 63:
                await self.server.drain()
        await self.server.drain()
        return self.position - first

    async def _await_client(self, logins_before: int) -> None:
        if self.wait_reconnect:
            await self.server.wait_for_login(logins_before + 1, self.reconnect_timeout)
