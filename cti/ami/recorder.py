"""``cti record-ami``: capture a live AMI stream exactly as read from the socket.

The output is the format ``cti replay`` and the test fixtures use: the raw bytes (banner and
login response included) and a timing sidecar of ``{"t": seconds, "offset": byte}`` lines, one
per message, plus a first ``{"t0": epoch}`` line so replays show real dates. The secret is sent
but never written: only what the PBX sends is recorded.

It talks to the socket directly rather than through panoramisk, because the point is to keep
the bytes *before* any parsing, faults included.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO, TextIO

from cti.ami.messages import TERMINATOR, encode_action
from cti.config import PbxConfig


def _stdout_path() -> Path | None:
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        return None
    path = Path(target)
    return path if path.is_file() else None


class _Splitter:
    """Finds message boundaries in the byte stream to write the timing sidecar."""

    def __init__(self, timing: TextIO | None) -> None:
        self.timing = timing
        self.offset = 0
        self.start = 0
        self.pending = b""
        self.t0 = time.time()
        self.banner = True
        if timing is not None:
            timing.write(json.dumps({"t0": self.t0}) + "\n")

    def feed(self, data: bytes) -> None:
        t = round(time.time() - self.t0, 6)
        buf = self.pending + data
        base = self.offset - len(self.pending)
        pos = 0
        if self.banner:
            eol = buf.find(b"\r\n")
            if eol < 0:
                self.pending = buf
                self.offset += len(data)
                return
            self.banner = False
            self._mark(t, base)
            pos = eol + 2
        while True:
            end = buf.find(TERMINATOR, pos)
            if end < 0:
                break
            self._mark(t, base + pos)
            pos = end + 4
        self.pending = buf[pos:]
        self.offset += len(data)

    def _mark(self, t: float, offset: int) -> None:
        if self.timing is not None:
            self.timing.write(json.dumps({"t": t, "offset": offset}) + "\n")


async def record(pbx: PbxConfig, seconds: float = 0.0, timing_path: Path | None = None,
                 out: BinaryIO | None = None) -> int:
    out = out or sys.stdout.buffer
    if timing_path is None:
        target = _stdout_path()
        timing_path = target.with_name(target.name + ".timing.jsonl") if target else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(pbx.ami_host, pbx.ami_port), timeout=10)
    except (OSError, TimeoutError) as exc:
        print(f"record-ami: cannot connect to {pbx.ami_host}:{pbx.ami_port}: {exc}",
              file=sys.stderr)
        return 1
    timing = open(timing_path, "w") if timing_path else None  # noqa: SIM115
    splitter = _Splitter(timing)
    writer.write(encode_action({"Action": "Login", "Username": pbx.ami_user,
                                "Secret": pbx.ami_secret, "Events": "on",
                                "ActionID": "cti-record-login"}))
    deadline = time.monotonic() + seconds if seconds > 0 else None
    total = 0
    try:
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timeout == 0.0:
                break
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout=timeout)
            except TimeoutError:
                break
            if not data:
                print("record-ami: the PBX closed the connection", file=sys.stderr)
                break
            splitter.feed(data)
            out.write(data)
            out.flush()
            total += len(data)
    finally:
        writer.close()
        if timing is not None:
            timing.close()
    print(f"record-ami: {total:,} bytes recorded"
          + (f", timing in {timing_path}" if timing_path else ""), file=sys.stderr)
    return 0
