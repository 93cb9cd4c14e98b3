"""The ARI client against the simulator's real ARI (HTTP and WebSocket on 127.0.0.1): events,
REST round trips, errors, and a reconnect loop that backs off instead of spinning."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from cti.ami.types import AmiConfig, backoff_delay
from cti.ari import AriClient, AriConfig, AriError, AriEvent, AriState
from cti.sim.ari_server import AriServer


class Inbox:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[AriEvent] = asyncio.Queue()

    def __call__(self, event: AriEvent) -> None:
        self.queue.put_nowait(event)

    async def next(self) -> AriEvent:
        return await asyncio.wait_for(self.queue.get(), 2)


def config(url: str, password: str = "cti-secret", **kw: float) -> AriConfig:
    return AriConfig(url=url, user="cti", password=password, timeout=2.0,
                     backoff_min=kw.get("backoff_min", 0.05),
                     backoff_max=kw.get("backoff_max", 0.2))


@pytest.fixture
async def ari() -> AsyncIterator[AriServer]:
    async with AriServer(playback_seconds=0.02) as server:
        yield server
        assert server.handler_errors == 0


@pytest.fixture
async def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def client(ari: AriServer, inbox: Inbox) -> AsyncIterator[AriClient]:
    async with AriClient(config(ari.url), inbox) as cli:
        await cli.wait_connected(2)
        await ari.wait_for_app("cti", 2)
        yield cli


async def test_a_stasis_call_arrives_as_a_typed_event(ari: AriServer, client: AriClient,
                                                      inbox: Inbox) -> None:
    assert client.state is AriState.CONNECTED and ari.registered_apps == {"cti"}
    assert str(client.events_url()).endswith("/ari/events?app=cti&subscribeAll=false")
    chan = ari.inject_stasis_call('"Lucas Girard" <+33655443322>', "0155512399",
                                  ["inbound", "+33655443322"])
    event = await inbox.next()
    assert (event.type, event.application) == ("StasisStart", "cti")
    assert event.channel is not None and event.channel["id"] == chan.id
    assert event.channel["caller"] == {"name": "Lucas Girard", "number": "+33655443322"}
    assert event.data["args"] == ["inbound", "+33655443322"]
    assert event.timestamp.endswith("+0000")
    assert client.counters.events == 1 and client.counters.bad_events == 0


async def test_answer_play_hangup_round_trips(ari: AriServer, client: AriClient,
                                              inbox: Inbox) -> None:
    chan = ari.inject_stasis_call("0612345678", "0155512399")
    assert (await inbox.next()).type == "StasisStart"
    assert [c["id"] for c in await client.channels()] == [chan.id]
    await client.answer(chan.id)
    changed = await inbox.next()
    assert changed.type == "ChannelStateChange" and changed.channel is not None
    assert changed.channel["state"] == "Up" and (await client.channel(chan.id))["state"] == "Up"
    playback = await client.play(chan.id, "sound:custom/ari-welcome", playback_id="pb&x=1/2")
    assert playback == {"id": "pb&x=1/2", "media_uri": "sound:custom/ari-welcome",
                        "target_uri": f"channel:{chan.id}", "language": "en",
                        "state": "queued"}
    played = [await inbox.next(), await inbox.next()]
    assert [(e.type, e.data["playback"]["state"]) for e in played] == [
        ("PlaybackStarted", "playing"), ("PlaybackFinished", "done")]
    await client.hangup(chan.id, reason="busy")
    ends = [await inbox.next(), await inbox.next()]
    assert [e.type for e in ends] == ["ChannelHangupRequest", "StasisEnd"]
    assert await client.channels() == [] and ari.channels == {}
    with pytest.raises(AriError) as gone:
        await client.channel(chan.id)
    assert (gone.value.status, gone.value.message) == (404, "Channel not found")


async def test_originate_then_errors_come_back_as_ari_errors(ari: AriServer, client: AriClient,
                                                            inbox: Inbox) -> None:
    created = await client.originate("PJSIP/1001", app_args=["outbound", "42"],
                                      caller_id='"Click2Dial" <0612345678>',
                                      variables={"CTI_REQUEST": "r1"})
    assert created["state"] == "Down"
    assert created["caller"] == {"name": "Click2Dial", "number": "0612345678"}
    assert ari.channels[created["id"]].variables == {"CTI_REQUEST": "r1"}
    events = [await inbox.next() for _ in range(3)]
    assert [e.type for e in events] == ["ChannelStateChange", "ChannelStateChange",
                                        "StasisStart"]
    assert events[2].data["args"] == ["outbound", "42"]
    # Ids are one escaped path segment: "../asterisk/info" cannot reach another resource.
    for sneaky in ("../asterisk/info", "x?api_key=cti:cti-secret", "a#b"):
        with pytest.raises(AriError) as err:
            await client.channel(sneaky)
        assert (err.value.status, err.value.message) == (404, "Channel not found")
    with pytest.raises(AriError) as err:
        await client.answer("404.1")
    assert err.value.status == 404 and str(err.value) == "ARI 404: Channel not found"
    with pytest.raises(AriError) as err:
        await client.hangup(created["id"], reason="bored")
    assert err.value.message == "Invalid reason for hangup reason provided"
    # Resources the simulator does not model answer Asterisk's 404, as a clear error.
    # (…/continue is modelled since the survey: cti.sim.ari_survey, tests/test_survey.py.)
    for call in (client.create_bridge(), client.add_to_bridge("b1", ["c1", "c2"]),
                 client.snoop(created["id"])):
        with pytest.raises(AriError) as err:
            await call
        assert (err.value.status, err.value.message) == (404, "Resource not found")


async def test_a_wrong_password_is_a_clear_error_and_retried_with_backoff(
        ari: AriServer, inbox: Inbox) -> None:
    bad = AriClient(config(ari.url, password="wrong", backoff_min=0.05, backoff_max=0.4), inbox)
    with pytest.raises(AriError) as err:
        await bad.channels()
    assert (err.value.status, err.value.message) == (401, "Authentication required")
    assert ari.auth_failures == 1
    bad.start()
    await asyncio.sleep(1.0)
    attempts = ari.auth_failures - 1
    assert bad.state is not AriState.CONNECTED and ari.registered_apps == set()
    assert bad.last_error is not None and bad.last_error.status == 401
    assert bad.counters.auth_failures == attempts and bad.counters.connects == 0
    # At least two tries, and no more than the 0.05 s floor allows (a busy loop makes hundreds).
    assert 2 <= attempts <= 1.0 / 0.05
    assert all(d >= 0.05 for d in bad.counters.retry_delays)
    with pytest.raises(AriError):
        await bad.wait_connected(0.05)
    await bad.close()
    assert bad.state is AriState.DISCONNECTED


async def test_a_server_that_closes_at_once_is_retried_with_growing_delays(
        inbox: Inbox) -> None:
    accepted: list[float] = []

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        accepted.append(time.monotonic())
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ari/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    cfg = config(f"http://127.0.0.1:{port}/ari", backoff_min=0.02, backoff_max=0.64)
    cli = AriClient(cfg, inbox, rng=random.Random(7))
    try:
        cli.start()
        await asyncio.sleep(1.5)
    finally:
        await cli.close()
        await runner.cleanup()
    same = random.Random(7)
    expected = [backoff_delay(AmiConfig(backoff_min=0.02, backoff_max=0.64), i, same)
                for i in range(len(accepted))]
    gaps = [b - a for a, b in itertools.pairwise(accepted)]
    assert 4 <= len(accepted) <= 15, accepted  # a busy loop would connect thousands of times
    assert cli.counters.connects == cli.counters.disconnects == len(accepted)
    assert cli.counters.retry_delays[:len(gaps)] == expected[:len(gaps)]
    assert all(gap >= delay * 0.95 for gap, delay in zip(gaps, expected, strict=False))
    # The attempt count never resets on such short links: the delays grow.
    assert sum(gaps[-2:]) / 2 > 2 * sum(gaps[:2]) / 2


async def test_reconnects_after_a_server_restart_and_events_flow_again(inbox: Inbox) -> None:
    first = AriServer()
    await first.start()
    port = first.port
    cli = AriClient(config(first.url), inbox)
    cli.start()
    try:
        await cli.wait_connected(2)
        await first.wait_for_app("cti")
        first.inject_stasis_call("100", "200")
        assert (await inbox.next()).type == "StasisStart"
        await first.close()
        await asyncio.wait_for(_until(lambda: cli.state is not AriState.CONNECTED), 2)
        await asyncio.sleep(0.3)  # down for a while: refused connections, backing off
        assert cli.counters.connect_failures >= 1
        async with AriServer(port=port) as second:
            await cli.wait_connected(3)
            await second.wait_for_app("cti")
            chan = second.inject_stasis_call("300", "400")
            event = await inbox.next()
            assert event.type == "StasisStart" and event.channel is not None
            assert event.channel["id"] == chan.id
            assert cli.counters.connects == 2 and cli.counters.disconnects == 1
            await cli.answer(chan.id)
            assert second.channels[chan.id].state == "Up"
    finally:
        await cli.close()


async def test_malformed_events_are_counted_and_the_loop_goes_on(ari: AriServer,
                                                                  inbox: Inbox) -> None:
    seen: list[str] = []

    def handler(event: AriEvent) -> None:
        seen.append(event.type)
        if len(seen) == 1:
            raise RuntimeError("a subscriber bug")
        inbox(event)

    async with AriClient(config(ari.url), handler) as cli:
        await cli.wait_connected(2)
        await ari.wait_for_app("cti")
        queue = ari._listeners[0].queue  # the simulator's outgoing text, as is
        for text in ('{"type":"StasisStart"', "[1,2]", '{"no":"type"}', "null",
                     '{"type":"RaisedByAHandler"}', '{"type":"FromAsterisk99"}'):
            queue.put_nowait(text)
        chan = ari.inject_stasis_call("100", "200")
        got = [await inbox.next(), await inbox.next()]
        assert [e.type for e in got] == ["FromAsterisk99", "StasisStart"]
        assert got[1].channel is not None and got[1].channel["id"] == chan.id
        assert seen == ["RaisedByAHandler", "FromAsterisk99", "StasisStart"]
        c = cli.counters
        assert (c.bad_events, c.unknown_types, c.handler_errors, c.events) == (4, 2, 1, 3)
        assert cli.state is AriState.CONNECTED and c.connects == 1 and c.disconnects == 0


async def _until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await asyncio.sleep(0.005)
