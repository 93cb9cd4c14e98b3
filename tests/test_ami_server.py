"""The simulator's AMI server, over real TCP on 127.0.0.1: wire format as Asterisk 22 writes it,
stock panoramisk as a client, the PBX state behind CoreShowChannels, the capture loader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from panoramisk import Manager

from cti.ami.messages import parse_stream
from cti.sim.ami_server import AmiServer
from cti.sim.ami_state import PbxState
from cti.sim.capture import load_capture

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "ami.raw").exists())
SECRET = "s3cret"


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET, auth_fail_delay=0, clock=lambda: 1700000000.25) as srv:
        yield srv
        for wire in Wire.opened:
            await wire.close()
        Wire.opened.clear()


class Wire:
    """A raw AMI client: write requests, read whole messages as bytes."""

    opened: list[Wire] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: AmiServer) -> Wire:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        wire = cls(reader, writer)
        cls.opened.append(wire)
        assert await asyncio.wait_for(reader.readline(), 2) == b"Asterisk Call Manager/11.0.0\r\n"
        return wire

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 2)

    async def login(self, events: str = "on") -> None:
        await self.send(f"Action: Login\r\nActionID: l1\r\nUsername: cti\r\nSecret: {SECRET}\r\n"
                        f"Events: {events}\r\n\r\n".encode())
        assert await self.read() == (b"Response: Success\r\nActionID: l1\r\n"
                                     b"Message: Authentication accepted\r\n\r\n")
        if events == "on":
            assert (await self.read()).startswith(b"Event: FullyBooted\r\nPrivilege: system,all")

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 2) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_wrong_secret_is_refused_then_the_socket_closed_like_asterisk(
        server: AmiServer) -> None:
    wire = await Wire.open(server)
    await wire.send(b"Action: Login\r\nActionID: x\r\nUsername: cti\r\nSecret: nope\r\n\r\n"
                    b"Action: Ping\r\n\r\n")
    assert await wire.read() == (b"Response: Error\r\nActionID: x\r\n"
                                 b"Message: Authentication failed\r\n\r\n")
    assert await wire.at_eof()  # action_login returned -1: the Ping is never answered
    assert server.auth_failures == 1 and server.logins == 0


async def test_requests_before_login_and_malformed_ones_get_asterisks_errors(
        server: AmiServer) -> None:
    wire = await Wire.open(server)
    await wire.send(b"Action: CoreShowChannels\r\nActionID: a1\r\n\r\n")
    assert await wire.read() == (b"Response: Error\r\nActionID: a1\r\n"
                                 b"Message: Permission denied\r\n\r\n")
    await wire.login()
    await wire.send(b"ActionID: a2\r\nFoo: bar\r\n\r\n")
    assert await wire.read() == (b"Response: Error\r\nActionID: a2\r\n"
                                 b"Message: Missing action in request\r\n\r\n")
    await wire.send(b"Action: Frobnicate\r\nActionID: a3\r\n\r\n")
    assert await wire.read() == (
        b"Response: Error\r\nActionID: a3\r\nMessage: Invalid/unknown command: Frobnicate. "
        b"Use Action: ListCommands to show available commands.\r\n\r\n")
    await wire.send(b"\x00\xff\xfe garbage \xc3\r\n\r\n")  # no Action at all
    assert await wire.read() == b"Response: Error\r\nMessage: Missing action in request\r\n\r\n"
    await wire.send(b"Action: Ping\r\nActionID: " + b"x" * 2000 + b"\r\n\r\n")
    assert await wire.read() == (b"Response: Error\r\nMessage: Failed to parse message: "
                                 b"line too long\r\n\r\n")
    await wire.send(b"Action: Ping\r\n" + b"X-Filler: y\r\n" * 200 + b"\r\n")
    assert (await wire.read()).endswith(b"Message: Too many lines in message or allocation "
                                        b"failure\r\n\r\n")
    # bare LF line ends, case-insensitive names, blanks after the colon: all accepted
    await wire.send(b"action:   ping\nACTIONID: p1\n\n")
    assert await wire.read() == (b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\n"
                                 b"Timestamp: 1700000000.250000\r\n\r\n")
    assert server.handler_errors == 0
    assert server.actions["Ping"] == 1 and server.actions["Frobnicate"] == 1
    await wire.send(b"Action: Logoff\r\nActionID: bye\r\n\r\n")
    assert await wire.read() == (b"Response: Goodbye\r\nActionID: bye\r\n"
                                 b"Message: Thanks for all the fish.\r\n\r\n")
    assert await wire.at_eof()


async def test_event_masks_and_timestamp_events(server: AmiServer) -> None:
    quiet, calls = await Wire.open(server), await Wire.open(server)
    await quiet.login(events="off")
    await calls.login(events="call,cdr")
    server.timestamp_events = True
    assert server.emit({"Event": "Reload", "Privilege": "system,all", "Module": "x"}) == 0
    assert server.emit({"Event": "Newstate", "Privilege": "call,all", "Uniqueid": "1"}) == 1
    assert await calls.read() == (b"Event: Newstate\r\nPrivilege: call,all\r\n"
                                  b"Timestamp: 1700000000.250000\r\nUniqueid: 1\r\n\r\n")
    await quiet.send(b"Action: Events\r\nActionID: e1\r\nEventMask: on\r\n\r\n")
    assert await quiet.read() == b"Response: Success\r\nActionID: e1\r\nEvents: On\r\n\r\n"
    await quiet.send(b"Action: Events\r\nActionID: e2\r\n\r\n")
    assert await quiet.read() == (b"Response: Error\r\nActionID: e2\r\n"
                                  b"Message: Invalid event mask\r\n\r\n")
    raw = b"Event: Hold\r\nPrivilege: call,all\r\nUniqueid: 2\r\n\r\n"
    assert server.emit(raw, timestamp=12.5) == 2
    expected = b"Event: Hold\r\nPrivilege: call,all\r\nTimestamp: 12.500000\r\nUniqueid: 2\r\n\r\n"
    assert await quiet.read() == expected and await calls.read() == expected
    assert server.events_lost == 1


async def test_core_show_channels_and_bridge_list_wire_format(server: AmiServer) -> None:
    wire = await Wire.open(server)
    await wire.login(events="off")
    snap = {"Channel": "PJSIP/1001-00000001", "ChannelState": "4", "ChannelStateDesc": "Ring",
            "CallerIDNum": "1001", "CallerIDName": "José Müller", "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>", "Language": "fr", "AccountCode": "",
            "Context": "from-internal", "Exten": "1002", "Priority": "1", "Uniqueid": "17.1",
            "Linkedid": "17.1"}
    now = [1000.0]
    server.clock = lambda: now[0]
    server.emit({"Event": "Newchannel", "Privilege": "call,all", **snap})
    server.emit({"Event": "Newexten", "Privilege": "dialplan,all", **snap, "Extension": "1002",
                 "Application": "Dial", "AppData": "PJSIP/1002,20"})
    server.emit({"Event": "BridgeEnter", "Privilege": "call,all", "BridgeUniqueid": "b-1",
                 "BridgeType": "basic", "BridgeTechnology": "simple_bridge",
                 "BridgeCreator": "<unknown>", "BridgeName": "<unknown>",
                 "BridgeNumChannels": "1", "BridgeVideoSourceMode": "none", **snap,
                 "ChannelState": "6", "ChannelStateDesc": "Up"})
    now[0] = 1000.0 + 3725.9  # 1 h 2 min 5.9 s later
    await wire.send(b"Action: CoreShowChannels\r\nActionID: c1\r\n\r\n")
    assert await wire.read() == (b"Response: Success\r\nActionID: c1\r\nEventList: start\r\n"
                                 b"Message: Channels will follow\r\n\r\n")
    item = parse_stream(await wire.read())[0][1]
    assert list(item) == ["Event", "ActionID", *snap, "Application", "ApplicationData",
                          "Duration", "BridgeId"]
    assert item["CallerIDName"] == "José Müller" and item["ChannelStateDesc"] == "Up"
    assert (item["Application"], item["ApplicationData"]) == ("Dial", "PJSIP/1002,20")
    assert (item["Duration"], item["BridgeId"]) == ("01:02:05", "b-1")
    assert await wire.read() == (b"Event: CoreShowChannelsComplete\r\nActionID: c1\r\n"
                                 b"EventList: Complete\r\nListItems: 1\r\n\r\n")
    await wire.send(b"Action: BridgeList\r\nActionID: b1\r\n\r\n")
    assert await wire.read() == (b"Response: Success\r\nActionID: b1\r\nEventList: start\r\n"
                                 b"Message: Bridge listing will follow\r\n\r\n")
    assert await wire.read() == (
        b"Event: BridgeListItem\r\nActionID: b1\r\nBridgeUniqueid: b-1\r\nBridgeType: basic\r\n"
        b"BridgeTechnology: simple_bridge\r\nBridgeCreator: <unknown>\r\n"
        b"BridgeName: <unknown>\r\nBridgeNumChannels: 1\r\nBridgeVideoSourceMode: none\r\n\r\n")
    assert (await wire.read()).endswith(b"EventList: Complete\r\nListItems: 1\r\n\r\n")
    server.emit({"Event": "Hangup", "Privilege": "call,all", **snap})
    assert server.state.channels == {}


async def test_stock_panoramisk_logs_in_and_receives_events(server: AmiServer) -> None:
    logged_in = asyncio.Event()
    got: list[str] = []
    manager = Manager(host="127.0.0.1", port=server.port, username="cti", secret=SECRET,
                      ping_delay=3600, reconnect_timeout=3600,
                      on_login=lambda m: logged_in.set())
    manager.register_event("*", lambda m, event: got.append(event.event))
    await manager.connect()
    try:
        await asyncio.wait_for(logged_in.wait(), 2)
        assert manager.authenticated
        for name in ("Newchannel", "Newstate", "Hangup"):
            server.emit({"Event": name, "Privilege": "call,all", "Uniqueid": "9.1"})
        await until(lambda: len(got) >= 4)
        assert got == ["FullyBooted", "Newchannel", "Newstate", "Hangup"]
        pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 2)
        assert pong.ping == "Pong" and pong.success
    finally:
        manager.close()


async def test_stock_panoramisk_wrong_secret_gets_authentication_failed(
        server: AmiServer) -> None:
    manager = Manager(host="127.0.0.1", port=server.port, username="cti", secret="bad",
                      ping_delay=3600, reconnect_timeout=3600)
    await manager.connect()
    try:
        await until(lambda: manager.authenticated_future is not None)
        answer = await asyncio.wait_for(manager.authenticated_future, 2)
        assert (answer.response, answer.message) == ("Error", "Authentication failed")
        await until(lambda: not manager._connected)  # the server hung up
        assert not manager.authenticated and server.auth_failures == 1
    finally:
        manager.close()


def test_capture_loader_keeps_pbx_traffic_only() -> None:
    cap = load_capture(FIXTURES / "click_to_dial")
    timing = (FIXTURES / "click_to_dial" / "ami.timing.jsonl").read_text().splitlines()
    # banner, Login answer, its FullyBooted, the Originate answer, the Logoff Goodbye
    assert len(cap.messages) == len(timing) - 5
    assert all(raw.startswith(b"Event: ") and raw.endswith(b"\r\n\r\n") for _, raw in cap.messages)
    assert cap.messages[0][1].startswith(b"Event: SuccessfulAuth\r\n")
    assert cap.epoch == 1795444345.0  # truth.json: 2026-11-23T14:32:25Z
    assert [t for t, _ in cap.messages] == sorted(t for t, _ in cap.messages)
    with_answers = load_capture(FIXTURES / "click_to_dial", keep_responses=True)
    assert sum(raw.startswith(b"Response: ") for _, raw in with_answers.messages) == 1


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pbx_state_follows_every_channel_of_the_capture(scenario: str) -> None:
    cap = load_capture(FIXTURES / scenario)
    truth = json.loads((FIXTURES / scenario / "truth.json").read_text())
    expected = {c["uniqueid"] for call in truth["asterisk_calls_by_linkedid"]
                for c in call["channels"]}
    state, seen = PbxState(), set[str]()
    for (t, _), msg in zip(cap.messages, cap.parsed(), strict=True):
        state.observe(msg, t)
        seen.update(state.channels)
        for uid, rec in state.channels.items():
            assert rec.fields["Uniqueid"] == uid and rec.fields["Channel"]
    assert seen == expected
    assert state.channels == {} and state.bridges == {}  # every capture ends idle
