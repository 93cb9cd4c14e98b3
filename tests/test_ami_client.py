"""AmiClient against the simulator's AMI server over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from panoramisk import Manager

from cti.ami.client import AmiClient, AmiConfig, AmiState
from cti.ami.messages import AmiMessage
from cti.errors import AmiActionError, AmiNotConnected, AmiTimeout
from cti.sim.ami_server import AmiServer
from cti.sim.ami_state import PbxState, format_duration
from cti.sim.capture import CapturePlayer, load_capture

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "ami.raw").exists())
SECRET = "s3cret"
NAME = "José Müller"


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def received_bytes(client: AmiClient, total: int) -> None:
    await until(lambda: client.counters.bytes_received == total)


class Events:
    """on_event callback recording (message, received_at)."""

    def __init__(self) -> None:
        self.items: list[tuple[AmiMessage, float]] = []

    def __call__(self, msg: AmiMessage, received_at: float) -> None:
        self.items.append((msg, received_at))

    @property
    def names(self) -> list[str]:
        return [m["Event"] for m, _ in self.items]

    async def wait(self, count: int, timeout: float = 2.0) -> None:
        await until(lambda: len(self.items) >= count, timeout)


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET, auth_fail_delay=0) as srv:
        yield srv


ClientFactory = Callable[..., AmiClient]


@pytest.fixture
async def make_client(server: AmiServer) -> AsyncIterator[ClientFactory]:
    clients: list[AmiClient] = []

    def make(on_event: Any = None, on_connected: Any = None, start: bool = True,
             **overrides: Any) -> AmiClient:
        settings: dict[str, Any] = dict(port=server.port, username="cti", secret=SECRET,
                                        ping_interval=0, action_timeout=1.0,
                                        backoff_min=0.01, backoff_max=0.05)
        settings.update(overrides)
        client = AmiClient(AmiConfig(**settings), on_event or Events(), on_connected)
        if start:
            client.start()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_every_event_of_a_capture_arrives_in_order(
        server: AmiServer, make_client: ClientFactory, scenario: str) -> None:
    events = Events()
    client = make_client(events)
    await client.wait_connected(2)
    capture = load_capture(FIXTURES / scenario)
    expected = capture.parsed()
    await CapturePlayer(server, capture).play()
    await events.wait(1 + len(expected))
    assert events.names[0] == "FullyBooted"  # the server's own, sent at login
    assert [m for m, _ in events.items[1:]] == expected
    stamps = [t for _, t in events.items]
    assert stamps == sorted(stamps) and stamps[0] <= time.time()
    snap = client.snapshot()
    assert snap.counters.events == 1 + len(expected) and snap.parser.malformed == 0


async def test_capture_timestamps_become_timestamp_headers(
        server: AmiServer, make_client: ClientFactory) -> None:
    events = Events()
    await make_client(events).wait_connected(2)
    capture = load_capture(FIXTURES / "inbound_missed")
    await CapturePlayer(server, capture, timestamps=True).play()
    await events.wait(1 + len(capture.messages))
    assert capture.epoch is not None
    assert [m["Timestamp"] for m, _ in events.items[1:]] == [
        f"{capture.epoch + t:.6f}" for t, _ in capture.messages]


async def test_utf8_name_split_at_every_byte_boundary_arrives_intact(
        server: AmiServer, make_client: ClientFactory) -> None:
    events = Events()
    client = make_client(events)
    await client.wait_connected(2)
    await events.wait(1)
    msg = f"Event: NewCallerid\r\nCallerIDName: {NAME}\r\nUniqueid: 1.1\r\n\r\n".encode()
    for cut in range(1, len(msg)):
        target = client.counters.bytes_received + cut
        server.send_raw(msg[:cut])  # the client must have *read* the first part alone
        await received_bytes(client, target)
        server.send_raw(msg[cut:])
        await events.wait(1 + cut)
    assert len(events.items) == len(msg)
    assert {m["CallerIDName"] for m, _ in events.items[1:]} == {NAME}


async def test_stock_panoramisk_loses_a_split_utf8_char(server: AmiServer) -> None:
    """Why the client overrides data_received: panoramisk 1.4 decodes each read alone."""
    names: list[str] = []
    manager = Manager(host="127.0.0.1", port=server.port, username="cti", secret=SECRET,
                      ping_delay=3600, reconnect_timeout=3600)
    manager.register_event("NewCallerid", lambda m, e: names.append(e.calleridname))
    await manager.connect()
    try:
        await until(lambda: manager.authenticated)
        msg = f"Event: NewCallerid\r\nCallerIDName: {NAME}\r\n\r\n".encode()
        cut = msg.index("é".encode()) + 1
        server.send_raw(msg[:cut])
        await asyncio.sleep(0.05)  # let the first read happen alone
        server.send_raw(msg[cut:])
        await until(lambda: bool(names))
        assert names == ["Jos Müller"]
    finally:
        manager.close()


async def test_action_without_answer_times_out_clearly(
        server: AmiServer, make_client: ClientFactory) -> None:
    client = make_client()
    await client.wait_connected(2)
    server.silent_actions.add("Originate")
    started = time.monotonic()
    with pytest.raises(AmiTimeout, match=r"Originate: no answer within 0\.2s"):
        await client.send_action({"Action": "Originate", "Channel": "PJSIP/1001"}, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert server.actions["Originate"] == 1
    assert client.counters.actions_timed_out == 1
    assert (await client.send_action({"Action": "Ping"}))["Ping"] == "Pong"  # still usable
    with pytest.raises(AmiActionError, match="Invalid/unknown command") as err:
        await client.send_action({"Action": "Bogus"})
    assert err.value.response["Response"] == "Error"


async def test_actions_fail_at_once_when_not_connected(make_client: ClientFactory) -> None:
    idle = make_client(start=False)
    with pytest.raises(AmiNotConnected):
        await idle.send_action({"Action": "Ping"})
    nowhere = make_client(port=1)  # connection refused: retried with backoff
    await until(lambda: nowhere.counters.connect_failures >= 2)  # retried, with backoff
    assert nowhere.counters.connects == 0 and nowhere.state is not AmiState.CONNECTED
    started = time.monotonic()
    with pytest.raises(AmiNotConnected):
        await nowhere.list_action({"Action": "CoreShowChannels"}, "CoreShowChannelsComplete")
    assert time.monotonic() - started < 0.1


async def test_pending_action_fails_on_drop_and_is_never_replayed(
        server: AmiServer, make_client: ClientFactory) -> None:
    client = make_client()
    await client.wait_connected(2)
    server.silent_actions.add("Originate")
    task = asyncio.create_task(client.send_action({"Action": "Originate"}, timeout=5))
    await until(lambda: server.actions["Originate"] == 1)
    server.drop_clients()
    started = time.monotonic()
    with pytest.raises(AmiNotConnected):
        await task
    assert time.monotonic() - started < 1.0
    await until(lambda: server.logins == 2)
    await client.wait_connected(2)
    await client.send_action({"Action": "Ping"})  # after the new FullyBooted has been read
    assert server.actions["Originate"] == 1  # panoramisk would re-send it after FullyBooted
    assert client.counters.actions_failed == 1


async def test_header_injection_is_refused_before_sending(
        server: AmiServer, make_client: ClientFactory) -> None:
    client = make_client()
    await client.wait_connected(2)
    with pytest.raises(ValueError, match="CR, LF"):
        await client.send_action({"Action": "Originate",
                                  "Channel": "PJSIP/1001\r\nAction: Hangup"})
    await client.send_action({"Action": "Ping"})
    assert set(server.actions) == {"Login", "Ping"}


async def test_reconnect_after_drop_with_backoff_calls_on_connected_again(
        server: AmiServer, make_client: ClientFactory) -> None:
    logins: list[float] = []

    async def on_connected(client: AmiClient) -> None:
        logins.append(time.monotonic())

    client = make_client(on_connected=on_connected, backoff_min=0.05, backoff_max=0.1)
    await until(lambda: len(logins) == 1)
    server.send_raw(b"Event: Half\r\nChannel: PJSIP/10")  # truncated by the drop
    dropped_at = time.monotonic()
    assert server.drop_clients() == 1
    await until(lambda: len(logins) == 2)
    assert logins[1] - dropped_at >= 0.05  # backoff_min, not a hot loop
    snap = client.snapshot()
    assert snap.state is AmiState.CONNECTED
    assert (snap.counters.connects, snap.counters.logins, snap.counters.disconnects) == (2, 2, 1)
    assert "Half" not in client.on_event.names  # type: ignore[attr-defined]


async def test_wrong_secret_is_auth_failed_and_retried_with_backoff(
        server: AmiServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="cti.ami.client")
    started = time.monotonic()
    client = make_client(secret="wrong", backoff_min=0.04, backoff_max=0.08)
    await until(lambda: server.auth_failures >= 3)
    assert time.monotonic() - started >= 0.08  # two backoffs of at least 0.04 s
    await until(lambda: client.state is AmiState.AUTH_FAILED)
    assert client.counters.login_failures >= 3 and server.logins == 0
    assert "refused" in caplog.text and "Authentication failed" in caplog.text
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})


async def test_keepalive_pings_and_drops_a_silent_link(
        server: AmiServer, make_client: ClientFactory) -> None:
    client = make_client(ping_interval=0.03, action_timeout=0.1)
    await until(lambda: client.counters.pings >= 2)
    server.silent_actions.add("Ping")
    await until(lambda: client.counters.ping_timeouts == 1)
    server.silent_actions.clear()
    await until(lambda: server.logins == 2)
    await client.wait_connected(2)
    assert client.counters.disconnects == 1


async def test_list_action_returns_the_channels_live_at_that_point(
        server: AmiServer, make_client: ClientFactory) -> None:
    client = make_client()
    await client.wait_connected(2)
    capture = load_capture(FIXTURES / "internal")
    player = CapturePlayer(server, capture)
    both_bridged = player.index("BridgeEnter", 2)
    await player.play(both_bridged + 1)
    channels = await client.list_action({"Action": "CoreShowChannels"},
                                        "CoreShowChannelsComplete")
    bridges = await client.list_action({"Action": "BridgeList"}, "BridgeListComplete")
    parsed = capture.parsed()
    created = {m["Uniqueid"]: capture.messages[i][0] for i, m in enumerate(parsed)
               if m["Event"] == "Newchannel"}
    now = capture.messages[both_bridged][0]
    assert [c["Channel"] for c in channels] == ["PJSIP/1001-0000008c", "PJSIP/1002-0000008d"]
    assert {c["BridgeId"] for c in channels} == {parsed[both_bridged]["BridgeUniqueid"]}
    assert {c["ChannelStateDesc"] for c in channels} == {"Up"}
    assert [c["Duration"] for c in channels] == [
        format_duration(now - created[c["Uniqueid"]]) for c in channels]
    assert [(b["BridgeUniqueid"], b["BridgeNumChannels"]) for b in bridges] == [
        (parsed[both_bridged]["BridgeUniqueid"], "2")]
    await player.play()
    assert await client.list_action({"Action": "CoreShowChannels"},
                                    "CoreShowChannelsComplete") == []


async def test_in_order_resync_is_applied_before_later_events(
        server: AmiServer, make_client: ClientFactory) -> None:
    order: list[str] = []
    client = make_client(lambda msg, at: order.append(msg["Event"]))
    await client.wait_connected(2)
    chan = {"Privilege": "call,all", "Channel": "PJSIP/1001-1", "ChannelState": "6",
            "Uniqueid": "5.1", "Linkedid": "5.1"}
    server.emit({"Event": "Newchannel", **chan})
    core_show_channels = server.handler("CoreShowChannels")
    assert core_show_channels is not None

    def list_then_hangup(session: Any, req: Any) -> None:
        core_show_channels(session, req)
        server.emit({"Event": "Hangup", **chan})  # right behind the list, same TCP write

    server.register_action("CoreShowChannels", list_then_hangup)
    items = await client.list_action(
        {"Action": "CoreShowChannels"}, "CoreShowChannelsComplete",
        in_order=lambda items, at: order.append(f"resync:{len(items)}"))
    await until(lambda: "Hangup" in order)
    assert order == ["FullyBooted", "Newchannel", "resync:1", "Hangup"]
    assert [c["Uniqueid"] for c in items] == ["5.1"]
    with pytest.raises(AmiActionError):
        await client.list_action({"Action": "Bogus"}, "CoreShowChannelsComplete",
                                 in_order=lambda items, at: order.append("wrong"))
    assert "wrong" not in order


async def test_outage_loses_events_and_resync_sees_the_pbx_state(
        server: AmiServer, make_client: ClientFactory) -> None:
    """The daemon's recovery path: events sent while we are away are gone; CoreShowChannels
    in on_connected tells what is live now."""
    resynced: list[list[AmiMessage]] = []

    async def resync(client: AmiClient) -> None:
        resynced.append(await client.list_action({"Action": "CoreShowChannels"},
                                                 "CoreShowChannelsComplete"))

    events = Events()
    make_client(events, resync)
    await until(lambda: len(resynced) == 1)
    capture = load_capture(FIXTURES / "blind_transfer")
    player = CapturePlayer(server, capture)
    cut, outage = player.index("DialBegin"), 10
    await player.play(cut)
    server.drop_clients()
    await player.play(cut + outage)  # nobody is listening
    await until(lambda: len(resynced) == 2)
    await player.play()
    assert player.lost == outage
    parsed = capture.parsed()
    state = PbxState()
    for msg in parsed[:cut + outage]:
        state.observe(msg, 0.0)
    assert resynced[0] == []
    assert [c["Uniqueid"] for c in resynced[1]] == list(state.channels)
    assert len(resynced[1]) == 2
    await until(lambda: len([m for m, _ in events.items if m["Event"] != "FullyBooted"])
                == len(parsed) - outage)
    received = [m for m, _ in events.items if m["Event"] != "FullyBooted"]
    assert received == parsed[:cut] + parsed[cut + outage:]


async def test_player_drop_hook_waits_for_the_client_to_come_back(
        server: AmiServer, make_client: ClientFactory) -> None:
    events = Events()
    client = make_client(events)
    await client.wait_connected(2)
    capture = load_capture(FIXTURES / "inbound_answered")
    player = CapturePlayer(server, capture, drop_at=[30], outage=5)
    await player.play()
    assert (player.lost, player.delivered) == (5, len(capture.messages) - 5)
    await until(lambda: client.counters.events == 2 + len(capture.messages) - 5)
    assert client.counters.connects == 2


async def test_bad_input_is_counted_and_never_fatal(
        server: AmiServer, make_client: ClientFactory) -> None:
    events = Events()

    def on_event(msg: AmiMessage, received_at: float) -> None:
        if msg["Event"] == "Boom":
            raise RuntimeError("a bug in a consumer")
        events(msg, received_at)

    client = make_client(on_event)
    await client.wait_connected(2)
    server.send_raw(b"\x00\xff\xfe garbage\r\nwithout any key\r\n\r\n")
    server.send_raw(b"Event: Cut\r\nChannel: PJSIP/1")  # truncated, glued to the next one
    server.send_raw(b"Event: Newstate\r\nUniqueid: 1.1\r\n\r\n")
    server.send_raw(b"Response: Success\r\nActionID: nobody-asked\r\n\r\n")
    server.send_raw(b"Event: Boom\r\n\r\nEvent: After\r\nKey: v\r\n\r\n")
    await events.wait(3)
    assert events.names == ["FullyBooted", "Newstate", "After"]
    snap = client.snapshot()
    assert snap.state is AmiState.CONNECTED
    assert snap.parser.malformed >= 2 and snap.parser.garbage_bytes > 0
    assert (snap.counters.orphans, snap.counters.callback_errors) == (1, 1)


async def test_wanted_filter_skips_other_events_but_keeps_resync_lists(
        server: AmiServer, make_client: ClientFactory) -> None:
    events = Events()
    client = make_client(events, wanted=frozenset({"Newchannel", "Hangup"}))
    await client.wait_connected(2)
    capture = load_capture(FIXTURES / "inbound_missed")
    player = CapturePlayer(server, capture)
    await player.play(player.index("Newchannel", 2) + 1)
    channels = await client.list_action({"Action": "CoreShowChannels"},
                                        "CoreShowChannelsComplete")
    assert len(channels) == 2
    await player.play()
    expected = [m for m in capture.parsed() if m["Event"] in ("Newchannel", "Hangup")]
    await events.wait(1 + len(expected))
    assert [m for m, _ in events.items[1:]] == expected
    assert client.snapshot().parser.skipped == len(capture.messages) - len(expected)
    with pytest.raises(ValueError, match="QueueStatusComplete"):
        await client.list_action({"Action": "QueueStatus"}, "QueueStatusComplete")


async def test_close_logs_off_and_hook_errors_are_contained(
        server: AmiServer, make_client: ClientFactory) -> None:
    async def broken(client: AmiClient) -> None:
        raise RuntimeError("resync bug")

    events = Events()
    client = make_client(events, broken)
    await client.wait_connected(2)
    server.emit({"Event": "Newstate", "Privilege": "call,all"})
    await events.wait(2)  # events still flow after the hook failed
    assert client.counters.hook_errors == 1
    await client.close()
    assert client.state is AmiState.DISCONNECTED
    assert server.actions["Logoff"] == 1
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})
