# ruff: noqa: E501  (AMI messages of the queue_ringall capture are kept byte for byte)
"""QueueStatus, QueueSummary, MixMonitor, StopMixMonitor and MixMonitorMute of the simulator's AMI server, over
real TCP on 127.0.0.1: raw bytes compared with Asterisk 22's output (the ``queue_ringall``
capture, app_queue.c's field order), stock panoramisk as a client, errors that never stop the
server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from panoramisk import Manager

from cti.sim.ami_queue import QueueActions, install
from cti.sim.ami_server import AmiServer
from cti.sim.ari_server import AriServer

SECRET = "s3cret"
T0 = 1795444384.0
QUEUES = {
    "support": [("PJSIP/1001", "Alice Martin"), ("PJSIP/1002", "Bruno Petit")],
    "sales": [("PJSIP/1003", "Chloe Durand")],
}
# queue_ringall/ami.raw: the caller, the Queue() it runs, then the answering agent's recording.
CALLER_NEWCHANNEL = b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-0000008e\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: +33698765432\r\nCallerIDName: Paul Leroy\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 0155512346\r\nPriority: 1\r\nUniqueid: 1795444384.146\r\nLinkedid: 1795444384.146\r\n\r\n"
CALLER_QUEUE = b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/trunk-0000008e\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: +33698765432\r\nCallerIDName: Paul Leroy\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 0155512346\r\nPriority: 4\r\nUniqueid: 1795444384.146\r\nLinkedid: 1795444384.146\r\nExtension: 0155512346\r\nApplication: Queue\r\nAppData: support,tr,,,60,,sub-rec-on-answer\r\n\r\n"
AGENT_VARSET = b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1002-0000008f\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 1002\r\nCallerIDName: Bruno Petit\r\nConnectedLineNum: +33698765432\r\nConnectedLineName: Paul Leroy\r\nLanguage: en\r\nAccountCode: \r\nContext: sub-rec-on-answer\r\nExten: s\r\nPriority: 3\r\nUniqueid: 1795444384.147\r\nLinkedid: 1795444384.146\r\nVariable: MIXMONITOR_FILENAME\r\nValue: /var/astrec/recordings/q-support-20261123-143304-33698765432-1795444384.146.wav\r\n\r\n"
AGENT_MIXMONITOR_START = b"Event: MixMonitorStart\r\nPrivilege: call,all\r\nChannel: PJSIP/1002-0000008f\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 1002\r\nCallerIDName: Bruno Petit\r\nConnectedLineNum: +33698765432\r\nConnectedLineName: Paul Leroy\r\nLanguage: en\r\nAccountCode: \r\nContext: sub-rec-on-answer\r\nExten: s\r\nPriority: 3\r\nUniqueid: 1795444384.147\r\nLinkedid: 1795444384.146\r\n\r\n"
RECORDING = "/var/astrec/recordings/q-support-20261123-143304-33698765432-1795444384.146.wav"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET, auth_fail_delay=0, clock=clock) as srv:
        yield srv
        assert srv.handler_errors == 0


@pytest.fixture
def actions(server: AmiServer) -> QueueActions:
    return install(server, QUEUES, strategies={"sales": "rrmemory"})


class Wire:
    """A raw AMI client: write requests, read whole messages as bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def login(cls, server: AmiServer) -> Wire:
        wire = cls(*await asyncio.open_connection("127.0.0.1", server.port))
        assert await asyncio.wait_for(wire.reader.readline(), 2) == b"Asterisk Call Manager/11.0.0\r\n"
        await wire.send(f"Action: Login\r\nUsername: cti\r\nSecret: {SECRET}\r\nEvents: call,dialplan\r\n\r\n")
        assert await wire.read() == b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n"
        return wire

    async def send(self, text: str) -> None:
        self.writer.write(text.encode())
        await self.writer.drain()

    async def read(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 2)

    async def action(self, text: str) -> bytes:
        await self.send(text + "\r\n")
        return await self.read()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def agent_channel(state: str = "6", desc: str = "Up", name: str = "PJSIP/1002-0000008f",
                  uid: str = "1795444384.147") -> dict[str, str]:
    return {"Event": "Newchannel", "Privilege": "call,all", "Channel": name,
            "ChannelState": state, "ChannelStateDesc": desc, "CallerIDNum": "1002",
            "CallerIDName": "Bruno Petit", "ConnectedLineNum": "+33698765432",
            "ConnectedLineName": "Paul Leroy", "Language": "en", "AccountCode": "",
            "Context": "sub-rec-on-answer", "Exten": "s", "Priority": "3", "Uniqueid": uid,
            "Linkedid": "1795444384.146"}


def member(name: str, interface: str, status: int, action_id: str = "qs",
           queue: str = "support") -> bytes:
    return (f"Event: QueueMember\r\nQueue: {queue}\r\nName: {name}\r\nLocation: {interface}\r\n"
            f"StateInterface: {interface}\r\nMembership: static\r\nPenalty: 0\r\nCallsTaken: 0\r\n"
            f"LastCall: 0\r\nLastPause: 0\r\nLoginTime: {int(T0)}\r\nInCall: 0\r\n"
            f"Status: {status}\r\nPaused: 0\r\nPausedReason: \r\nWrapuptime: 0\r\n"
            f"ActionID: {action_id}\r\n\r\n").encode()


async def test_queue_status_lists_params_members_and_waiting_callers_like_app_queue(
        server: AmiServer, actions: QueueActions, clock: Clock) -> None:
    wire = await Wire.login(server)
    server.emit(CALLER_NEWCHANNEL)
    server.emit(CALLER_QUEUE)
    server.emit(agent_channel("5", "Ringing", "PJSIP/1001-00000090", "1795444384.148"))
    server.emit(agent_channel())
    for _ in range(4):  # the four events, as any client would see them
        await wire.read()
    clock.now = T0 + 7
    assert await wire.action("Action: QueueStatus\r\nActionID: qs\r\nQueue: SUPPORT\r\n") == (
        b"Response: Success\r\nActionID: qs\r\nEventList: start\r\n"
        b"Message: Queue status will follow\r\n\r\n")
    got = [await wire.read() for _ in range(5)]
    assert got == [
        b"Event: QueueParams\r\nQueue: support\r\nMax: 0\r\nStrategy: ringall\r\nCalls: 1\r\n"
        b"Holdtime: 0\r\nTalkTime: 0\r\nCompleted: 0\r\nAbandoned: 0\r\nServiceLevel: 0\r\n"
        b"ServicelevelPerf: 0.0\r\nServicelevelPerf2: 0.0\r\nWeight: 0\r\nActionID: qs\r\n\r\n",
        member("Alice Martin", "PJSIP/1001", 6),  # ringing
        member("Bruno Petit", "PJSIP/1002", 2),  # in use
        b"Event: QueueEntry\r\nQueue: support\r\nPosition: 1\r\nChannel: PJSIP/trunk-0000008e\r\n"
        b"Uniqueid: 1795444384.146\r\nCallerIDNum: +33698765432\r\nCallerIDName: Paul Leroy\r\n"
        b"ConnectedLineNum: unknown\r\nConnectedLineName: unknown\r\nWait: 7\r\nPriority: 0\r\n"
        b"ActionID: qs\r\n\r\n",
        b"Event: QueueStatusComplete\r\nActionID: qs\r\nEventList: Complete\r\nListItems: 4\r\n\r\n",
    ]
    # Every queue when no Queue is given; Member filters members only (callers still listed).
    await wire.send("Action: QueueStatus\r\nActionID: m\r\nMember: Chloe Durand\r\n\r\n")
    got = [await wire.read() for _ in range(6)]
    assert [m.split(b"\r\n")[:2] for m in got] == [
        [b"Response: Success", b"ActionID: m"], [b"Event: QueueParams", b"Queue: support"],
        [b"Event: QueueEntry", b"Queue: support"], [b"Event: QueueParams", b"Queue: sales"],
        [b"Event: QueueMember", b"Queue: sales"], [b"Event: QueueStatusComplete", b"ActionID: m"]]
    assert b"Strategy: rrmemory" in got[3] and got[4] == member(
        "Chloe Durand", "PJSIP/1003", 1, "m", "sales")
    assert got[5].endswith(b"ListItems: 4\r\n\r\n")
    await wire.close()


async def test_queue_summary_counts_available_members_and_callers(
        server: AmiServer, actions: QueueActions, clock: Clock) -> None:
    wire = await Wire.login(server)
    server.emit(CALLER_NEWCHANNEL)
    server.emit(CALLER_QUEUE)
    server.emit(agent_channel())
    for _ in range(3):
        await wire.read()
    clock.now = T0 + 12
    await wire.send("Action: QueueSummary\r\nActionID: s1\r\n\r\n")
    got = [await wire.read() for _ in range(4)]
    assert got == [
        b"Response: Success\r\nActionID: s1\r\nEventList: start\r\n"
        b"Message: Queue summary will follow\r\n\r\n",
        b"Event: QueueSummary\r\nQueue: support\r\nLoggedIn: 2\r\nAvailable: 1\r\nCallers: 1\r\n"
        b"HoldTime: 0\r\nTalkTime: 0\r\nLongestHoldTime: 12\r\nActionID: s1\r\n\r\n",
        b"Event: QueueSummary\r\nQueue: sales\r\nLoggedIn: 1\r\nAvailable: 1\r\nCallers: 0\r\n"
        b"HoldTime: 0\r\nTalkTime: 0\r\nLongestHoldTime: 0\r\nActionID: s1\r\n\r\n",
        b"Event: QueueSummaryComplete\r\nActionID: s1\r\nEventList: Complete\r\nListItems: 2\r\n\r\n",
    ]
    # An unknown queue is an empty list, not an error (app_queue only filters).
    await wire.send("Action: QueueSummary\r\nQueue: nope\r\n\r\n")
    assert (await wire.read()).startswith(b"Response: Success\r\nEventList: start")
    assert await wire.read() == b"Event: QueueSummaryComplete\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
    await wire.close()


async def test_mixmonitor_start_and_stop_emit_the_captured_events(
        server: AmiServer, actions: QueueActions) -> None:
    wire = await Wire.login(server)
    server.emit(agent_channel())
    await wire.read()
    assert await wire.action(
        f"Action: MixMonitor\r\nActionID: mm1\r\nChannel: pjsip/1002-0000008F\r\nFile: {RECORDING}\r\n"
        "Options: b\r\n") == b"Response: Success\r\nActionID: mm1\r\n\r\n"
    assert await wire.read() == AGENT_VARSET
    assert await wire.read() == AGENT_MIXMONITOR_START
    assert actions.recordings["1795444384.147"][0].filename == RECORDING
    # By Uniqueid, a relative file, and the i() option: the id comes back in the answer.
    answer = await wire.action("Action: MixMonitor\r\nChannel: 1795444384.147\r\nFile: x.wav\r\n"
                               "Options: i(MID)\r\n")
    head, mid_line = answer.split(b"\r\n")[0], answer.split(b"\r\n")[1]
    assert head == b"Response: Success" and mid_line.startswith(b"MixMonitorID: 0x")
    mid = mid_line.split(b": ")[1].decode()
    assert (await wire.read()).endswith(f"Variable: MID\r\nValue: {mid}\r\n\r\n".encode())
    assert (await wire.read()).endswith(
        b"Variable: MIXMONITOR_FILENAME\r\nValue: /var/spool/asterisk/monitor/x.wav\r\n\r\n")
    assert (await wire.read()).startswith(b"Event: MixMonitorStart\r\n")
    # Stop that one by its id, then the other one, then nothing is left to stop.
    for extra in (f"MixMonitorID: {mid}\r\n", ""):
        assert await wire.action(
            f"Action: StopMixMonitor\r\nActionID: st\r\nChannel: PJSIP/1002-0000008f\r\n{extra}"
        ) == b"Response: Success\r\nActionID: st\r\n\r\n"
        assert await wire.read() == AGENT_MIXMONITOR_START.replace(
            b"MixMonitorStart", b"MixMonitorStop")
    assert await wire.action("Action: StopMixMonitor\r\nChannel: PJSIP/1002-0000008f\r\n") == (
        b"Response: Error\r\nMessage: Could not stop monitoring channel\r\n\r\n")
    assert actions.recordings == {"1795444384.147": []}
    await wire.close()


@pytest.mark.parametrize(("request_text", "message"), [
    ("Action: MixMonitor\r\nActionID: e1\r\nFile: a.wav\r\n", "No channel specified"),
    ("Action: MixMonitor\r\nActionID: e1\r\nChannel: \r\nFile: a.wav\r\n", "No channel specified"),
    ("Action: MixMonitor\r\nActionID: e1\r\nChannel: PJSIP/9999-00000001\r\nFile: a.wav\r\n",
     "No such channel"),
    ("Action: MixMonitor\r\nActionID: e1\r\nChannel: PJSIP/1002-0000008f\r\n",
     "Could not start monitoring channel"),
    ("Action: StopMixMonitor\r\nActionID: e1\r\n", "No channel specified"),
    ("Action: StopMixMonitor\r\nActionID: e1\r\nChannel: 1.1\r\n", "No such channel"),
    ("Action: StopMixMonitor\r\nActionID: e1\r\nChannel: PJSIP/1002-0000008f\r\n",
     "Could not stop monitoring channel"),
    ("Action: MixMonitorMute\r\nActionID: e1\r\nState: 1\r\n", "No channel specified"),
    ("Action: MixMonitorMute\r\nActionID: e1\r\nChannel: PJSIP/1002-0000008f\r\n",
     "No state specified"),
    ("Action: MixMonitorMute\r\nActionID: e1\r\nChannel: PJSIP/1002-0000008f\r\nState: 1\r\n"
     "Direction: sideways\r\n", "Invalid direction specified. Must be read, write or both"),
    ("Action: MixMonitorMute\r\nActionID: e1\r\nChannel: 1.1\r\nState: 1\r\n"
     "Direction: both\r\n", "No such channel"),
    ("Action: MixMonitorMute\r\nActionID: e1\r\nChannel: PJSIP/1002-0000008f\r\nState: 1\r\n"
     "Direction: both\r\n", "Cannot set mute flag"),
])
async def test_bad_requests_are_answered_and_the_server_keeps_serving(
        server: AmiServer, actions: QueueActions, request_text: str, message: str) -> None:
    server.emit(agent_channel())
    wire = await Wire.login(server)
    assert await wire.action(request_text) == (
        f"Response: Error\r\nActionID: e1\r\nMessage: {message}\r\n\r\n".encode())
    assert (await wire.action("Action: Ping\r\n")).startswith(b"Response: Success\r\nPing: Pong")
    assert actions.recordings == {}
    await wire.close()


async def test_recordings_of_a_hung_up_channel_are_forgotten(
        server: AmiServer, actions: QueueActions) -> None:
    server.emit(agent_channel())
    wire = await Wire.login(server)
    assert (await wire.action("Action: MixMonitor\r\nChannel: 1795444384.147\r\nFile: a.wav\r\n"
                              )).startswith(b"Response: Success")
    server.emit({**agent_channel(), "Event": "Hangup", "Cause": "16"})
    for event in (b"VarSet", b"MixMonitorStart", b"Hangup"):
        assert (await wire.read()).startswith(b"Event: " + event)
    assert await wire.action("Action: StopMixMonitor\r\nChannel: 1795444384.147\r\n") == (
        b"Response: Error\r\nMessage: No such channel\r\n\r\n")
    assert actions.recordings == {}
    await wire.close()


async def test_stock_panoramisk_reads_the_queue_lists(server: AmiServer,
                                                      actions: QueueActions) -> None:
    server.emit(CALLER_NEWCHANNEL)
    server.emit(CALLER_QUEUE)
    logged_in = asyncio.Event()
    manager = Manager(host="127.0.0.1", port=server.port, username="cti", secret=SECRET,
                      ping_delay=3600, reconnect_timeout=3600,
                      on_login=lambda m: logged_in.set())
    await manager.connect()
    try:
        await asyncio.wait_for(logged_in.wait(), 2)
        status = await asyncio.wait_for(manager.send_action({"Action": "QueueStatus"}), 2)
        assert [m.event for m in status[1:]] == [
            "QueueParams", "QueueMember", "QueueMember", "QueueEntry", "QueueParams",
            "QueueMember", "QueueStatusComplete"]
        assert status[4].callerIDName == "Paul Leroy" and status[-1].listitems == "6"
        summary = await asyncio.wait_for(manager.send_action({"Action": "QueueSummary"}), 2)
        assert [(m.queue, m.callers) for m in summary[1:-1]] == [("support", "1"), ("sales", "0")]
        answer = await asyncio.wait_for(manager.send_action(
            {"Action": "MixMonitor", "Channel": "PJSIP/trunk-0000008e", "File": "c.wav"}), 2)
        assert answer.response == "Success"
    finally:
        manager.close()


async def test_mixmonitor_on_a_channel_the_ari_simulator_created(server: AmiServer,
                                                                 actions: QueueActions) -> None:
    async with AriServer(ami=server) as ari, ClientSession() as http:
        ws = await http.ws_connect(ari.events_url("cti") + "&api_key=cti:cti-secret")
        await ari.wait_for_app("cti")
        chan = ari.inject_stasis_call("+33655443322", "0155512399", ["inbound"])
        wire = await Wire.login(server)
        assert await wire.action(f"Action: MixMonitor\r\nChannel: {chan.name}\r\nFile: s.wav\r\n"
                                 ) == b"Response: Success\r\n\r\n"
        await wire.read()  # VarSet MIXMONITOR_FILENAME
        start = await wire.read()
        assert start.startswith(b"Event: MixMonitorStart\r\n")
        assert f"Uniqueid: {chan.id}\r\n".encode() in start
        assert b"ChannelStateDesc: Ring\r\n" in start
        await wire.close()
        await ws.close()


async def test_mixmonitormute_on_a_recording_the_dialplan_started(
        server: AmiServer, actions: QueueActions) -> None:
    """A played call's own MixMonitor (its ``VarSet MIXMONITOR_FILENAME``) can be muted and
    stopped by AMI, as on a real PBX: the event carries the channel, Direction and State."""
    server.emit(agent_channel())
    server.emit({**agent_channel(), "Event": "VarSet", "Variable": "MIXMONITOR_FILENAME",
                 "Value": RECORDING})
    wire = await Wire.login(server)
    assert await wire.action(
        "Action: MixMonitorMute\r\nActionID: m1\r\nChannel: PJSIP/1002-0000008f\r\n"
        "Direction: BOTH\r\nState: yes\r\n") == b"Response: Success\r\nActionID: m1\r\n\r\n"
    event = await wire.read()
    assert event.startswith(b"Event: MixMonitorMute\r\nPrivilege: call,all\r\n")
    assert event.endswith(b"Direction: both\r\nState: 1\r\n\r\n")
    assert b"Uniqueid: 1795444384.147\r\n" in event
    assert (await wire.action("Action: StopMixMonitor\r\nChannel: PJSIP/1002-0000008f\r\n")
            ) == b"Response: Success\r\n\r\n"
    assert (await wire.read()).startswith(b"Event: MixMonitorStop\r\n")
    assert await wire.action(
        "Action: MixMonitorMute\r\nChannel: PJSIP/1002-0000008f\r\nDirection: read\r\n"
        "State: 0\r\n") == b"Response: Error\r\nMessage: Cannot set mute flag\r\n\r\n"
    await wire.close()
