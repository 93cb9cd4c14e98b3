"""``cti replay``: run a capture through the live path's parser, tracker and (optionally) store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallEnded, CallRecord, DomainEvent
from cti.capture import load
from cti.clients.settings import ClientSettings
from cti.pipeline import Pipeline
from cti.progress import Progress


async def replay(path: Path, cfg: TrackerConfig, db: Path | None = None,
                 out: TextIO | None = None, progress: bool = False,
                 clients: ClientSettings | None = None) -> list[CallRecord]:
    """Replay ``path``; print one JSON object per finished call on ``out``; store when ``db``,
    with each call linked to its clients as the live daemon does (``clients``: the
    ``clients.*`` settings; by default the documented defaults and the PBX's extension
    pattern)."""
    capture = load(path)
    bus = Bus()
    records: list[CallRecord] = []

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            records.append(event.record)
            if out is not None:
                out.write(json.dumps(event.record.to_json(), ensure_ascii=False) + "\n")

    bus.subscribe(on_event)
    store = None
    linker = None
    if db is not None:
        from cti.clients.directory import ClientDirectory
        from cti.clients.linker import ClientLinker
        from cti.daemon import attach_store
        from cti.store.sqlite import Store

        store = await Store.open(db)
        attach_store(bus, store)
        settings = clients or ClientSettings(extension_pattern=cfg.extension_pattern)
        linker = ClientLinker(bus, ClientDirectory(store, settings))
    pipeline = Pipeline(cfg, bus)
    bar = Progress(len(capture.events), "replay", enabled=progress)
    try:
        for i, (msg, t) in enumerate(capture.events):
            pipeline.on_ami_event(msg, t)
            if i % 1000 == 0:
                bar.update(i)
        bar.done(len(capture.events))
    finally:
        if linker is not None:
            await linker.close()  # lookups run in tasks: let them finish before closing
        if store is not None:
            await store.close()
    if capture.stats.malformed or capture.bad_lines:
        print(f"replay: {capture.stats.malformed + capture.bad_lines} malformed message(s) "
              "skipped", file=sys.stderr)
    return records
