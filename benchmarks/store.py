"""Write throughput of the call store, and how long it holds the event loop.

Each synthetic call is what the tracker emits for an answered inbound call: CallStarted,
CallRinging, CallAnswered and CallEnded (which carries the record with two legs). That is one
``calls`` row, two ``call_legs`` rows and four ``call_events`` rows per call.

    .venv/bin/python benchmarks/store.py [calls] [batch_size]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

from cti.calls.model import (
    CallAnswered,
    CallEnded,
    CallRecord,
    CallRinging,
    CallStarted,
    DomainEvent,
    Leg,
    Party,
)
from cti.store.sqlite import Store


def call_events(i: int) -> list[DomainEvent]:
    t0 = 1_700_000_000.0 + i * 0.01
    call_id = f"{t0:.6f}"
    caller = Party(f"+4072100{i % 10_000:04d}", "Client")
    callee = Party("0212345678")
    ext = f"2{i % 50:02d}"
    record = CallRecord(
        pbx="bench",
        call_id=call_id,
        direction="inbound",
        status="answered",
        answered=True,
        caller=caller,
        callee=callee,
        extension=ext,
        extensions_rung=(ext,),
        queue=None,
        started_at=t0,
        answered_at=t0 + 4.2,
        ended_at=t0 + 95.5,
        hangup_cause="16",
        legs=(
            Leg(f"PJSIP/trunk-{i:08x}", call_id, "trunk", "trunk", t0, t0 + 4.2, t0 + 95.5, "16"),
            Leg(f"PJSIP/{ext}-{i:08x}", f"{call_id}1", "extension", ext, t0 + 0.1, t0 + 4.2),
        ),
    )
    return [
        CallStarted("bench", call_id, t0, "inbound", caller, callee),
        CallRinging("bench", call_id, t0 + 0.1, ext, "inbound", caller, callee),
        CallAnswered("bench", call_id, t0 + 4.2, ext, "inbound"),
        CallEnded("bench", call_id, t0 + 95.5, record),
    ]


async def watch_lag(stop: asyncio.Event, worst: list[float]) -> None:
    """Largest delay of a 1 ms ticker: how long the loop was held by someone."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], loop.time() - before - 0.001)


async def main(calls: int, batch_size: int) -> None:
    items = [event for i in range(calls) for event in call_events(i)]
    # The prebuilt items are ~1.5 M objects a live daemon would never hold at once; keep the
    # garbage collector from rescanning them, or its full passes show up as loop stalls.
    gc.freeze()
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "bench.db", batch_size=batch_size)
        stop, worst = asyncio.Event(), [0.0]
        watcher = asyncio.create_task(watch_lag(stop, worst))
        start = time.perf_counter()
        for n, item in enumerate(items):
            store.submit(item)
            if n % 250 == 0:
                await asyncio.sleep(0)  # a real daemon yields between AMI reads
        await store.flush()
        elapsed = time.perf_counter() - start
        stop.set()
        await watcher
        assert await store.count_calls() == calls
        stats = store.stats
        await store.close()
    rows = calls * (1 + 2 + 4)
    print(
        f"{calls} calls ({len(items)} items, {rows} rows) in {elapsed:.2f}s: "
        f"{calls / elapsed:,.0f} calls/s, {rows / elapsed:,.0f} rows/s; "
        f"batch_size={batch_size}, batches={stats.batches}, failed={stats.failed}, "
        f"worst loop stall {worst[0] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    asyncio.run(main(n, size))
