"""AMI ingest throughput over loopback TCP: bare asyncio vs stock panoramisk vs cti's live path.

The stream is built from the real Asterisk captures in tests/fixtures, repeated with fresh
Uniqueids/Linkedids/channel names/bridge ids so every copy is a new set of calls (≥ 200,000
events). A server in a *separate process* logs the client in and writes the stream as fast as
the socket takes it, so the measured side has its core to itself.

  (a) a bare asyncio StreamReader loop: readuntil(b"\\r\\n\\r\\n") + split into a dict
  (b) stock panoramisk 1.4 delivering every event to a no-op callback
  (c) cti's full live path: AmiClient → tracker → bus → SQLite (every call stored and flushed)

Prints events/s for each and the ratios c/a and c/b (best of --runs runs, same process).
Usage: python benchmarks/ingest.py [--copies N] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import tempfile
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
ID_RE = re.compile(rb"\b(1795\d{6})\.(\d+)\b")
CHAN_SEQ_RE = re.compile(rb"(PJSIP/[A-Za-z0-9]+)-([0-9a-f]{8})")
UUID_RE = re.compile(rb"\b[0-9a-f]{8}-([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
SESSION_EVENTS = (b"Event: FullyBooted", b"Event: SuccessfulAuth")


def base_messages() -> tuple[list[bytes], int]:
    """Every PBX event of every capture (no banner, responses or session events), and the
    number of calls they make."""
    msgs: list[bytes] = []
    calls = 0
    for folder in sorted(FIXTURES.iterdir()):
        raw_path = folder / "ami.raw"
        if not raw_path.exists():
            continue
        raw = raw_path.read_bytes()
        body = raw[raw.index(b"\r\n") + 2:]
        for m in body.split(b"\r\n\r\n"):
            if m.startswith(b"Event: ") and not m.startswith(SESSION_EVENTS):
                msgs.append(m + b"\r\n\r\n")
        calls += 1  # one call per capture (checked by tests/test_tracker_truth.py)
    return msgs, calls


def build_stream(copies: int) -> tuple[bytes, int, int]:
    msgs, calls = base_messages()
    blob = b"".join(msgs)
    out = []
    for k in range(copies):
        def new_id(m: re.Match[bytes], k: int = k) -> bytes:
            return m.group(1) + b"." + str(int(m.group(2)) + 1000 * (k + 1)).encode()

        def new_chan(m: re.Match[bytes], k: int = k) -> bytes:
            return m.group(1) + b"-" + f"{int(m.group(2), 16) + 0x1000 * (k + 1):08x}".encode()

        def new_uuid(m: re.Match[bytes], k: int = k) -> bytes:
            return f"{k:08x}-".encode() + m.group(1)

        copy = ID_RE.sub(new_id, blob)
        copy = CHAN_SEQ_RE.sub(new_chan, copy)
        out.append(UUID_RE.sub(new_uuid, copy))
    return b"".join(out), len(msgs) * copies, calls * copies


# --------------------------------------------------------------------------- server process
def serve(port_q: mp.Queue, stream: bytes) -> None:  # type: ignore[type-arg]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        sent = False
        try:
            while True:
                req = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in req.decode().split("\r\n")
                              if ": " in line)
                aid = fields.get("ActionID", "")
                action = fields.get("Action", "").lower()
                if action == "login":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\n"
                                 "Message: Authentication accepted\r\n\r\n".encode())
                elif action == "coreshowchannels":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                                 "Message: Channels will follow\r\n\r\n"
                                 f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\n"
                                 "EventList: Complete\r\nListItems: 0\r\n\r\n".encode())
                elif action == "logoff":
                    writer.write(f"Response: Goodbye\r\nActionID: {aid}\r\n\r\n".encode())
                    await writer.drain()
                    break
                else:
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n"
                                 .encode())
                if action == "login" and not sent:
                    sent = True
                    await asyncio.sleep(0.2)  # let the client finish its login work
                    view = memoryview(stream)
                    for i in range(0, len(stream), 1 << 16):
                        writer.write(view[i:i + (1 << 16)])
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- clients
async def run_bare(port: int, n_events: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readuntil(b"\r\n")
    writer.write(b"Action: Login\r\nUsername: cti\r\nSecret: x\r\nActionID: 1\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")  # login response
    count = 0
    start = 0.0
    while count < n_events:
        data = await reader.readuntil(b"\r\n\r\n")
        if not count:
            start = time.perf_counter()
        msg = dict(line.split(": ", 1) for line in data[:-4].decode().split("\r\n")
                   if ": " in line)
        if "Event" in msg:
            count += 1
    elapsed = time.perf_counter() - start
    writer.close()
    return n_events / elapsed


async def run_panoramisk(port: int, n_events: int) -> float:
    from panoramisk import Manager

    done = asyncio.Event()
    state = {"count": 0, "start": 0.0}

    def on_event(manager: object, event: object) -> None:
        if not state["count"]:
            state["start"] = time.perf_counter()
        state["count"] += 1
        if state["count"] >= n_events:
            done.set()

    manager = Manager(host="127.0.0.1", port=port, username="cti", secret="x",
                      ping_delay=3600, ping_interval=3600)
    manager.register_event("*", on_event)
    await manager.connect()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - state["start"]
    manager.close()
    return n_events / elapsed


async def run_cti(port: int, n_events: int, n_calls: int, db: Path) -> float:
    from cti.calls.model import CallEnded, DomainEvent
    from cti.config import load_config
    from cti.daemon import Daemon

    config = load_config(env={}, overrides={"db.path": str(db), "pbx.ami_port": port,
                                            "pbx.ami_ping_interval": 3600.0})
    daemon = Daemon(config)
    done = asyncio.Event()
    state = {"calls": 0}

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            state["calls"] += 1
            if state["calls"] >= n_calls:
                done.set()

    daemon.bus.subscribe(on_event)
    await daemon.start()
    client = daemon.links[0].client
    while client.counters.bytes_received < 200:  # wait for the stream's first bytes
        await asyncio.sleep(0.0005)
    start = time.perf_counter()
    await asyncio.wait_for(done.wait(), 600)
    assert daemon.store is not None
    await daemon.store.flush()
    elapsed = time.perf_counter() - start
    stored = await daemon.store.count_calls()
    await daemon.close()
    if stored != n_calls:
        raise SystemExit(f"cti stored {stored} calls, expected {n_calls}")
    return n_events / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=170, help="copies of the capture set")
    ap.add_argument("--runs", type=int, default=3, help="runs per variant (best is kept)")
    args = ap.parse_args()
    stream, n_events, n_calls = build_stream(args.copies)
    print(f"stream: {n_events:,} events, {n_calls:,} calls, {len(stream) / 1e6:,.1f} MB "
          f"({args.copies} copies of the real captures, fresh ids)")
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=serve, args=(q, stream), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    best: dict[str, float] = {}
    try:
        for run in range(args.runs):
            for name in ("a", "b", "c"):
                with tempfile.TemporaryDirectory() as tmp:
                    if name == "a":
                        rate = asyncio.run(run_bare(port, n_events))
                    elif name == "b":
                        rate = asyncio.run(run_panoramisk(port, n_events))
                    else:
                        rate = asyncio.run(run_cti(port, n_events, n_calls, Path(tmp) / "b.db"))
                best[name] = max(best.get(name, 0.0), rate)
                print(f"run {run + 1} ({name}) {rate:>12,.0f} events/s", flush=True)
    finally:
        proc.terminate()
    a, b, c = best["a"], best["b"], best["c"]
    print()
    print(f"(a) bare asyncio readuntil + dict    {a:>12,.0f} events/s")
    print(f"(b) stock panoramisk, no-op callback {b:>12,.0f} events/s")
    print(f"(c) cti AMI → tracker → SQLite        {c:>12,.0f} events/s")
    print(f"c/a = {c / a:.2f}   c/b = {c / b:.2f}   (target c/b ≥ 1, stretch c/a ≥ 0.5)")


if __name__ == "__main__":
    main()
