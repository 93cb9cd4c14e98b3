"""Screen-pop latency: from the AMI event received to the websocket frame delivered.

Three kinds of processes, as in production: the PBX (the simulator, generating calls for every
agent's phone), cti (daemon + web app: AMI client → tracker → bus → live calls → websocket
hub), and the browsers (websocket clients over real HTTP on loopback, each with its own
logged-in session: agents watching their own extension, supervisors watching every call).

What is measured, per websocket frame a change of a call causes:

* **event → frame**: the AmiClient's receive stamp of the AMI event (``time.time()`` when the
  TCP read carrying it arrived) to the moment the client process reads the frame. The cti
  process notes, for every change of a call caused synchronously by an AMI event, the stamp
  of that event against the call's ``(call_id, version)``; frames carry the version, so each
  client's first frame of a version is matched to its stamp (same machine, same clock).
* **pop → card**: for each socket and call, the receive stamp of the event behind the first
  frame it got (the pop) to the first frame with the client cards looked up (``lookup:
  done``: SQLite queries in between, on purpose not on the fast path).

Target: event → frame p99 <= 20 ms.

    .venv/bin/python benchmarks/screenpop.py [--clients 200] [--supervisors 20]
        [--events 50] [--seconds 30] [--client-procs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CAUSES = {"call_started", "call_ringing", "call_answered", "call_transferred", "call_ended",
          "recording_started"}
EVENTS_PER_CALL = 4.2  # changes an average call of the simulator's mix causes (measured)
_FRAME = re.compile(r'"call_id":"([^"]+)".*?"version":(\d+).*?"lookup":"(\w+)"')


def extensions(n: int) -> list[str]:
    return [str(2000 + i) for i in range(n)]


# --------------------------------------------------------------------------- the PBX
def pbx_main(agents: int, per_minute: float, seed: int, out: Any, go: Any, stop: Any) -> None:
    asyncio.run(_pbx(agents, per_minute, seed, out, go, stop))


async def _pbx(agents: int, per_minute: float, seed: int, out: Any, go: Any, stop: Any) -> None:
    from cti.sim.actions import attach
    from cti.sim.ami_server import AmiServer
    from cti.sim.scenarios import Agent
    from cti.sim.traffic import QueueConfig, SimConfig

    exts = extensions(agents)
    config = SimConfig(
        agents=tuple(Agent(e, f"Agent {e}") for e in exts),
        queues=(QueueConfig("support", "0155512346", tuple(exts[:4])),),
        calls_per_minute=per_minute, talk_mean=6.0, min_talk=2.0, ring=(1.0, 3.0),
        unanswered_ring=(2.0, 5.0), recordings_dir=None, speech=False)
    ami = AmiServer("127.0.0.1", 0, "cti", "cti-secret", timestamp_events=True)
    generator = attach(ami, config, seed)
    await ami.start()
    out.put(ami.port)
    while not go.is_set():
        await asyncio.sleep(0.05)
    task = asyncio.create_task(generator.run())
    while not stop.is_set():
        await asyncio.sleep(0.05)
    task.cancel()
    await generator.close()
    await ami.close()


# --------------------------------------------------------------------------- cti
def cti_main(port: int, agents: int, supervisors: int, out: Any, stop: Any) -> None:
    asyncio.run(_cti(port, agents, supervisors, out, stop))


async def _cti(port: int, agents: int, supervisors: int, out: Any, stop: Any) -> None:
    import logging

    from cti.config import load_config
    from cti.daemon import Daemon
    from cti.live import Change
    from cti.store.tx import Tx
    from cti.users import UserService
    from cti.webapp.keys import HUB
    from cti.webapp.server import start_for_daemon

    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="cti-screenpop-"))
    config = load_config(env={}, overrides={"db.path": str(tmp / "cti.db"), "web.port": 0,
                                            "pbx.ami_port": port, "log.level": "warning"})
    daemon = Daemon(config)
    await daemon.start()
    assert daemon.store is not None and daemon.live is not None
    users = UserService(daemon.store)
    model = await users.create("agent-model", "bench-password", "agent", ["1"])
    row = await daemon.store.query_one("SELECT password_hash FROM users WHERE id = ?",
                                       (model.id,))
    assert row is not None
    people = [(f"agent{e}", "agent", e) for e in extensions(agents)]
    people += [(f"sup{i}", "supervisor", None) for i in range(supervisors)]

    async def bulk(tx: Tx) -> None:  # one password hash for all: 200 scrypt runs cost 10 s
        now = time.time()
        for name, role, ext in people:
            uid = await tx.execute(
                "INSERT INTO users (username, display_name, role, password_hash, active, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                (name, name, role, row["password_hash"], now, now))
            if ext:
                await tx.execute("INSERT INTO user_extensions VALUES (?, ?)", (uid, ext))

    await daemon.store.transaction(bulk)
    creds = []
    for name, role, _ in people:
        user = await users.get_by_username(name)
        assert user is not None
        token, _ = await users.open_session(user, "127.0.0.1", "screenpop-benchmark")
        creds.append((token, role == "supervisor"))

    # Instrumentation: the receive stamp of the AMI event being processed, noted against every
    # change it causes (synchronously, in the same call stack).
    current = [0.0]
    stamps: dict[tuple[str, int], float] = {}
    for link in daemon.links:
        inner = link.client.on_event

        def on_event(msg: Any, received_at: float, inner: Any = inner) -> None:
            current[0] = received_at
            inner(msg, received_at)

        link.client.on_event = on_event

    def note(change: Change) -> None:
        if change.cause in CAUSES and current[0]:
            stamps[(change.call.call_id, change.call.version)] = current[0]

    daemon.live.subscribe(note)
    web = await start_for_daemon(daemon)
    hub = web.runner.app[HUB]
    out.put((web.url, creds))
    peak = 0
    while not stop.is_set():
        peak = max(peak, hub.connected)  # the gauge /metrics reads
        await asyncio.sleep(0.05)
    out.put({"stamps": stamps, "hub": {**hub.stats(), "connected_peak": peak},
             "bus": daemon.bus.published,
             "ami_events": sum(link.pipeline.events_in for link in daemon.links)})
    await web.close()
    await daemon.close()


# --------------------------------------------------------------------------- the browsers
def clients_main(url: str, creds: list[tuple[str, bool]], out: Any, stop: Any) -> None:
    asyncio.run(_clients(url, creds, out, stop))


async def _clients(url: str, creds: list[tuple[str, bool]], out: Any, stop: Any) -> None:
    import aiohttp

    records: list[list[tuple[float, str, int, bool]]] = [[] for _ in creds]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = []
        for token, watch_all in creds:
            ws = await http.ws_connect(url + "/ws" + ("?scope=all" if watch_all else ""),
                                       headers={"Cookie": f"cti_session={token}"},
                                       compress=0, autoping=True)
            sockets.append(ws)

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            mine = records[i]
            async for msg in ws:
                now = time.time()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                found = _FRAME.search(msg.data)
                if found:
                    mine.append((now, found.group(1), int(found.group(2)),
                                 found.group(3) == "done"))

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        out.put(("connected", len(sockets)))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    out.put(("records", records))


# --------------------------------------------------------------------------- the run
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200, help="websocket clients in all")
    ap.add_argument("--supervisors", type=int, default=20, help="of which watch every call")
    ap.add_argument("--events", type=float, default=50.0, help="call events per second")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the measured run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds not counted at start")
    ap.add_argument("--client-procs", type=int, default=2, help="processes for the clients")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    agents = args.clients - args.supervisors
    per_minute = args.events / EVENTS_PER_CALL * 60
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    pbx_q, cti_q, cl_q = ctx.Queue(), ctx.Queue(), ctx.Queue()
    pbx = ctx.Process(target=pbx_main, args=(agents, per_minute, args.seed, pbx_q, go, stop))
    pbx.start()
    port = pbx_q.get(timeout=30)
    cti = ctx.Process(target=cti_main, args=(port, agents, args.supervisors, cti_q, stop))
    cti.start()
    url, creds = cti_q.get(timeout=60)
    # Spread agents and supervisors evenly over the client processes.
    shares = [creds[i::args.client_procs] for i in range(args.client_procs)]
    procs = [ctx.Process(target=clients_main, args=(url, share, cl_q, stop)) for share in shares]
    for p in procs:
        p.start()
    connected = sum(cl_q.get(timeout=60)[1] for _ in procs)
    print(f"{connected} websocket clients connected ({agents} agents, {args.supervisors} "
          f"supervisors watching every call) to {url}; traffic {per_minute:.0f} calls/min",
          flush=True)
    go.set()
    started = time.time()
    time.sleep(args.seconds)
    stop.set()
    ended = time.time()
    records = []
    for _ in procs:
        kind, data = cl_q.get(timeout=120)
        assert kind == "records"
        records.extend(data)
    server = cti_q.get(timeout=120)
    for p in (*procs, cti, pbx):
        p.join(timeout=30)
    report(server, records, started + args.warmup, ended - started - args.warmup)
    return 0


def report(server: dict[str, Any], records: list[list[tuple[float, str, int, bool]]],
           since: float, seconds: float) -> None:
    stamps = server["stamps"]
    event_ms: list[float] = []
    card_ms: list[float] = []
    frames = 0
    for frames_of_one in records:
        seen: set[tuple[str, int]] = set()
        popped: dict[str, float | None] = {}  # call → stamp of this socket's first frame of it
        for t, call_id, version, done in frames_of_one:
            frames += 1
            stamp = stamps.get((call_id, version))
            if stamp is not None and stamp >= since and (call_id, version) not in seen:
                seen.add((call_id, version))
                event_ms.append((t - stamp) * 1000)
            first = popped.setdefault(call_id, stamp)
            if done and first is not None and first >= since:
                card_ms.append((t - first) * 1000)
                popped[call_id] = None  # counted once per socket and call
    changes = sum(1 for s in stamps.values() if s >= since)
    print(f"measured {seconds:.0f} s: {changes / seconds:.1f} call events/s from AMI "
          f"({server['ami_events']} AMI events, {server['bus']} bus events in all), "
          f"{frames} frames received ({frames / seconds:.0f}/s)")
    print(f"hub: {server['hub']}")
    for name, values in (("event → frame", event_ms), ("pop → card", card_ms)):
        if not values:
            print(f"{name}: no samples")
            continue
        print(f"{name:14} n={len(values):6d}  p50={pct(values, 50):6.2f} ms  "
              f"p90={pct(values, 90):6.2f} ms  p99={pct(values, 99):6.2f} ms  "
              f"max={max(values):7.2f} ms  mean={statistics.fmean(values):6.2f} ms")
    p99 = pct(event_ms, 99)
    verdict = "OK" if p99 <= 20 else "ABOVE TARGET"
    print(f"target event → frame p99 <= 20 ms: {p99:.2f} ms, {verdict}")


if __name__ == "__main__":
    sys.exit(main())
