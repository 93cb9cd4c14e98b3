"""Latency of the client lookup a ringing call waits for, on a directory of a million numbers.

Builds a SQLite file with N clients (one phone each, and a second one for one in ten):
French, Belgian and Romanian mobiles and landlines, bulk-inserted through
``store.transaction`` + ``executemany`` as an import would. Then times
``ClientDirectory.match()`` — normalisation, the indexed E.164 probe, the last-digits fallback
when nothing matched, reading the cards back — through the real async path (aiosqlite's thread),
for random existing numbers written the ways people and PBXes write them, and for missing ones
(which pay for both the exact probe and the fallback). Target: p99 <= 1 ms.

    .venv/bin/python benchmarks/lookup.py [clients] [lookups] [--keep FILE]
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cti.clients.directory import ClientDirectory
from cti.clients.queries import reversed_digits
from cti.phone import format_international, format_national
from cti.store.sqlite import Store
from cti.store.tx import Tx

# (E.164 prefix, digits after it): real number plans, drawn with these weights.
PLANS: list[tuple[str, int, float]] = [
    ("+336", 8, 0.30), ("+337", 8, 0.10), ("+331", 8, 0.08), ("+334", 8, 0.07),
    ("+335", 8, 0.05), ("+32470", 6, 0.05), ("+32475", 6, 0.05), ("+32498", 6, 0.04),
    ("+322", 7, 0.03), ("+3271", 6, 0.02), ("+3293", 6, 0.01), ("+40721", 6, 0.06),
    ("+40745", 6, 0.05), ("+40766", 6, 0.03), ("+4021", 7, 0.04), ("+40264", 6, 0.02),
]
CHUNK = 50_000


def random_number(rng: random.Random) -> str:
    prefix, n, _ = rng.choices(PLANS, weights=[w for *_, w in PLANS])[0]
    return prefix + "".join(rng.choices("0123456789", k=n))


def numbers(count: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(random_number(rng))
    out = list(seen)
    rng.shuffle(out)
    return out


async def build(store: Store, count: int, phones: list[str]) -> float:
    """``count`` clients, client i owning ``phones[i]``; every tenth client also owns one of
    the numbers after the first ``count`` as its second phone."""
    start = time.perf_counter()
    now = time.time()
    client_rows = [(cid, "person", f"Client {cid}", "client", "[]", "", "", None, "public", 0,
                    None, now, now) for cid in range(1, count + 1)]
    owners = [(i + 1, 0) for i in range(count)]
    owners += [(10 * j + 1, 1) for j in range(len(phones) - count)]
    phone_rows = []
    for number, (cid, pos) in zip(phones, owners, strict=True):
        label = "mobile" if number[:4] in ("+336", "+337", "+324", "+407") else "work"
        phone_rows.append((cid, pos, label, number, number, "valid", reversed_digits(number)))

    for lo in range(0, max(len(client_rows), len(phone_rows)), CHUNK):
        async def work(tx: Tx, lo: int = lo) -> None:
            await tx.executemany(
                "INSERT INTO clients (id, kind, name, type, emails, address, notes, owner, "
                "visibility, auto_created, last_contact_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", client_rows[lo:lo + CHUNK])
            await tx.executemany(
                "INSERT INTO client_phones (client_id, position, label, raw, e164, status, "
                "digits_rev) VALUES (?, ?, ?, ?, ?, ?, ?)", phone_rows[lo:lo + CHUNK])

        await store.transaction(work)
    await store.transaction(lambda tx: tx.execute("ANALYZE"))
    return time.perf_counter() - start


def written(number: str, rng: random.Random) -> str:
    """The number as a caller id or a person would give it (default region FR)."""
    style = rng.randrange(4)
    if style == 1:
        return "00" + number[1:]
    if style == 2:
        return format_international(number)
    if style == 3:  # national form for French numbers; country code without "+" for others
        return format_national(number) if number.startswith("+33") else number[1:]
    return number


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


async def main(count: int, lookups: int, keep: Path | None) -> None:
    rng = random.Random(1)
    extra = count // 10
    all_numbers = numbers(count + extra + lookups, rng)
    stored, missing = all_numbers[:count + extra], all_numbers[count + extra:]
    with tempfile.TemporaryDirectory() as folder:
        path = keep or Path(folder) / "lookup.db"
        store = await Store.open(path)
        directory = ClientDirectory(store)
        seconds = await build(store, count, stored)
        size = path.stat().st_size / 1e6
        print(f"built {(await directory.count()):,} clients with {len(stored):,} numbers in "
              f"{seconds:.1f}s, {size:.0f} MB")
        queries = [(written(rng.choice(stored), rng), True) for _ in range(lookups // 2)]
        queries += [(n, False) for n in missing[: lookups - len(queries)]]
        rng.shuffle(queries)
        for number, _ in queries[:500]:  # warm-up: caches, aiosqlite thread
            await directory.match(number, direction="inbound")
        gc.collect()
        gc.freeze()
        timings: dict[bool, list[float]] = {True: [], False: []}
        found = 0
        for number, exists in queries:
            start = time.perf_counter()
            result = await directory.match(number, direction="inbound")
            timings[exists].append((time.perf_counter() - start) * 1000)
            found += exists and bool(result)
        await store.close()
    every = sorted(timings[True] + timings[False])
    print(f"{len(every):,} lookups, {found:,}/{len(timings[True]):,} existing numbers found")
    for label, ms in (("all", every), ("existing", sorted(timings[True])),
                      ("missing", sorted(timings[False]))):
        print(f"  {label:9} p50 {percentile(ms, 50):.3f} ms  p95 {percentile(ms, 95):.3f} ms  "
              f"p99 {percentile(ms, 99):.3f} ms  max {ms[-1]:.3f} ms  "
              f"mean {statistics.fmean(ms):.3f} ms")


if __name__ == "__main__":
    args = sys.argv[1:]
    keep_path = None
    if "--keep" in args:
        i = args.index("--keep")
        keep_path = Path(args[i + 1])
        del args[i:i + 2]
    n = int(args[0]) if args else 1_000_000
    k = int(args[1]) if len(args) > 1 else 10_000
    asyncio.run(main(n, k, keep_path))
