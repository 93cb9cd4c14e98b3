"""Clients attached to calls, on the real captures: ``cti replay --db`` (and the live daemon)
link each call to the right client and auto-create exactly one client per unknown number."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from cti.bus import Bus
from cti.calls.classify import TrackerConfig
from cti.calls.model import CallEnded, ClientMatched, DomainEvent
from cti.capture import load
from cti.clients.directory import ClientDirectory
from cti.clients.linker import ClientLinker
from cti.clients.settings import ClientSettings
from cti.config import load_config
from cti.daemon import Daemon, attach_store
from cti.pipeline import Pipeline
from cti.replay import replay
from cti.sim.ami_server import AmiServer
from cti.sim.capture import CapturePlayer, load_capture
from cti.store.sqlite import Store
from tests.captures import FIXTURES, SCENARIOS

MARIE = "+33612345678"
#: The fixtures' outside numbers other than Marie's (see each capture's truth.json).
UNKNOWN = {"long_call": "+33611223344", "queue_ringall": "+33698765432",
           "ari_stasis": "+33655443322"}
MARIES_CALLS = {"inbound_answered", "inbound_missed", "inbound_busy_or_rejected",
                "blind_transfer", "outbound_answered", "outbound_no_answer", "click_to_dial"}


def links(db: Path) -> dict[str, list[tuple[str, str]]]:
    """call_id → [(client name, how)] as stored."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT cc.call_id, c.name, cc.how FROM call_clients cc "
                            "JOIN clients c ON c.id = cc.client_id ORDER BY 1, 2").fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for call_id, name, how in rows:
        out.setdefault(call_id, []).append((name, how))
    return out


def call_ids(scenario: str) -> list[str]:
    return [e.call_id for e in events_of(scenario) if isinstance(e, CallEnded)]


def events_of(scenario: str) -> list[DomainEvent]:
    bus = Bus()
    seen: list[DomainEvent] = []
    bus.subscribe(seen.append)
    pipeline = Pipeline(TrackerConfig(), bus)
    for msg, t in load(FIXTURES / scenario).events:
        pipeline.on_ami_event(msg, t)
    return seen


async def with_marie(db: Path) -> int:
    async with await Store.open(db) as store:
        marie = await ClientDirectory(store).create({"name": "Marie Dupont", "phones": [MARIE]})
    return marie.id


async def test_replay_links_every_call_to_the_right_client(tmp_path: Path) -> None:
    db = tmp_path / "cti.db"
    await with_marie(db)
    for scenario in SCENARIOS:
        await replay(FIXTURES / scenario, TrackerConfig(), db=db)
    linked = links(db)
    by_scenario = {s: [linked.get(cid, []) for cid in call_ids(s)] for s in SCENARIOS}
    for scenario in MARIES_CALLS:
        # Outbound calls dial 0612345678: the same E.164 as Marie's, so they find her.
        assert by_scenario[scenario] == [[("Marie Dupont", "e164")]], scenario
    assert by_scenario["internal"] == [[]]
    for scenario, number in UNKNOWN.items():
        name = "+33 6 " + " ".join(number[4:][i:i + 2] for i in range(0, 8, 2))
        assert by_scenario[scenario] == [[(name, "auto_created")]], scenario
    with sqlite3.connect(db) as conn:
        clients = conn.execute("SELECT name, auto_created, type FROM clients ORDER BY name")
        assert [tuple(r) for r in clients] == [
            ("+33 6 11 22 33 44", 1, "prospect"),
            ("+33 6 55 44 33 22", 1, "prospect"),
            ("+33 6 98 76 54 32", 1, "prospect"),
            ("Marie Dupont", 0, "prospect"),
        ]
        phones = conn.execute("SELECT e164 FROM client_phones ORDER BY e164").fetchall()
        assert [r[0] for r in phones] == sorted([MARIE, *UNKNOWN.values()])
        matched = conn.execute("SELECT call_id, detail FROM call_events "
                               "WHERE kind = 'client_matched'").fetchall()
    assert len(matched) == len(MARIES_CALLS) + len(UNKNOWN)

    # A second replay finds everyone: no new client, no new link.
    for scenario in SCENARIOS:
        await replay(FIXTURES / scenario, TrackerConfig(), db=db)
    assert links(db) == linked
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM clients").fetchone() == (4,)


async def run(scenario: str, store: Store, settings: ClientSettings,
              rewrite: dict[str, str] | None = None) -> tuple[list[ClientMatched], ClientLinker]:
    """Feed a capture through the pipeline with the linker on the bus (the replay path)."""
    bus = Bus()
    attach_store(bus, store)
    matched: list[ClientMatched] = []
    bus.subscribe(lambda e: matched.append(e) if isinstance(e, ClientMatched) else None)
    linker = ClientLinker(bus, ClientDirectory(store, settings))
    pipeline = Pipeline(TrackerConfig(), bus)
    for msg, t in load(FIXTURES / scenario).events:
        fields: dict[str, Any] = dict(msg)
        for key, value in fields.items():
            if rewrite and value in rewrite:
                fields[key] = rewrite[value]
        pipeline.on_ami_event(fields, t)
    await linker.close()
    await store.flush()
    return matched, linker


async def test_the_bus_is_never_blocked_and_flush_waits(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "cti.db") as store:
        bus = Bus()
        directory = ClientDirectory(store)
        linker = ClientLinker(bus, directory)
        pipeline = Pipeline(TrackerConfig(), bus)
        for msg, t in load(FIXTURES / "queue_ringall").events:
            pipeline.on_ami_event(msg, t)
        # Every event went through synchronously; the lookup is still a pending task.
        assert linker.pending == 1
        assert await directory.count() == 0
        await linker.flush()
        assert linker.pending == 0
        # Two phones rang (two CallRinging) but one lookup ran.
        assert (linker.lookups, linker.created, linker.errors) == (1, 1, 0)
        assert [c.name for c in await directory.search()] == ["+33 6 98 76 54 32"]


async def test_events_carry_the_clients_and_whether_one_was_created(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "cti.db") as store:
        marie_id = (await ClientDirectory(store).create(
            {"name": "Marie Dupont", "phones": ["06 12 34 56 78"]})).id
        matched, _ = await run("inbound_answered", store, ClientSettings())
        assert [(e.call_id, e.client_ids, e.auto_created, e.kind) for e in matched] == [
            (call_ids("inbound_answered")[0], (marie_id,), False, "client_matched")]
        matched, _ = await run("long_call", store, ClientSettings())
        assert len(matched) == 1
        assert matched[0].auto_created
        timeline = await store.call_events("default", matched[0].call_id)
        assert [e["detail"] for e in timeline if e["kind"] == "client_matched"] == [
            {"client_ids": list(matched[0].client_ids), "auto_created": True}]


async def test_auto_create_respects_the_directions(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "cti.db") as store:
        inbound_only = ClientSettings(auto_create_directions=("inbound",))
        matched, linker = await run("outbound_answered", store, inbound_only)
        assert (matched, linker.lookups, linker.created) == ([], 1, 0)
        matched, _ = await run("inbound_answered", store, inbound_only)
        assert [e.auto_created for e in matched] == [True]
        # The client created from the inbound call is found by the next outbound call.
        matched, linker = await run("outbound_no_answer", store, inbound_only)
        assert [e.auto_created for e in matched] == [False]
        off = ClientSettings(auto_create=False)
        matched, linker = await run("long_call", store, off)
        assert (matched, linker.created) == ([], 0)
        assert await ClientDirectory(store).count() == 1


async def test_withheld_callers_never_match_nor_create(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "cti.db") as store:
        # Someone whose card holds the word as a raw "number" must not catch withheld calls.
        await ClientDirectory(store).create({"name": "Marie Dupont", "phones": [MARIE]})
        for withheld in ("anonymous", "<unknown>", "Restricted"):
            matched, linker = await run("inbound_answered", store, ClientSettings(),
                                        rewrite={MARIE: withheld})
            assert (matched, linker.created) == ([], 0)
        assert await ClientDirectory(store).count() == 1
        assert await store.query("SELECT * FROM call_clients") == []


async def test_the_live_daemon_links_clients(tmp_path: Path) -> None:
    server = AmiServer(timestamp_events=True, auth_fail_delay=0.01)
    await server.start()
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": server.port,
        "pbx.ami_backoff_min": 0.01, "pbx.ami_backoff_max": 0.05,
        "clients.default_region": "FR"})
    daemon = Daemon(config)
    got = asyncio.Event()
    matched: list[ClientMatched] = []

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, ClientMatched):
            matched.append(event)
            got.set()

    daemon.bus.subscribe(on_event)
    await daemon.start()
    try:
        assert daemon.clients is not None
        await server.wait_for_login(1)
        await asyncio.sleep(0.05)
        await CapturePlayer(server, load_capture(FIXTURES / "long_call"),
                            timestamps=True).play()
        await asyncio.wait_for(got.wait(), 5)
        client = await daemon.clients.get(matched[0].client_ids[0])
        assert (client.name, client.auto_created) == ("+33 6 11 22 33 44", True)
        assert daemon.status()["clients"]["created"] == 1
    finally:
        await daemon.close()
        await server.close()
