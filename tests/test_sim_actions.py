"""Call-control actions on the simulator over real TCP: stock panoramisk originates a call,
Hangup/BlindTransfer/Redirect change a live call the way a real PBX reports it, and bad requests
get Asterisk's error answers while the server keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from panoramisk import Manager

from cti.ami.messages import AmiMessage, AmiParser
from cti.calls.model import CallEnded, CallRecord
from cti.calls.tracker import Tracker
from cti.sim.actions import attach
from cti.sim.ami_server import AmiServer
from cti.sim.generator import CallGenerator, LiveCall
from cti.sim.scenarios import Agent, CallSpec
from cti.sim.traffic import SimConfig

SECRET = "s3cret"
ALICE, BRUNO = Agent("1001", "Alice Martin"), Agent("1002", "Bruno Petit")


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


@dataclass
class Sim:
    server: AmiServer
    gen: CallGenerator


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    server = AmiServer(secret=SECRET, timestamp_events=True, auth_fail_delay=0)
    gen = attach(server, SimConfig(time_scale=200, speech=False), seed=9)
    await server.start()
    await gen.start()
    yield Sim(server, gen)
    await gen.close()
    await server.close()


class Client:
    """A raw AMI client that keeps every message it reads, in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = AmiParser()
        self.messages: list[AmiMessage] = []
        self.task = asyncio.create_task(self._read())
        self.n = 0

    @classmethod
    async def login(cls, server: AmiServer) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = cls(reader, writer)
        answer = await client.action("Login", Username="cti", Secret=SECRET)
        assert answer["Message"] == "Authentication accepted"
        return client

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            self.messages.extend(msg for _, msg in self.parser.feed(data))

    async def action(self, name: str, **fields: str) -> AmiMessage:
        self.n += 1
        action_id = f"t-{self.n}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

        def answered() -> AmiMessage | None:
            return next((m for m in self.messages if m.get("ActionID") == action_id
                         and "Response" in m and "Event" not in m), None)

        await until(lambda: answered() is not None)
        answer = answered()
        assert answer is not None
        return answer

    def events(self) -> list[tuple[AmiMessage, float]]:
        return [(m, float(m["Timestamp"])) for m in self.messages if "Timestamp" in m]

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()


async def record_of(client: Client, live: LiveCall) -> CallRecord:
    """The call's record once the client has read its end (the tracker on what it read)."""
    await live.wait(5)
    found: list[CallRecord] = []

    def ended() -> bool:
        recs = [e.record for e in Tracker().feed_all(client.events())
                if isinstance(e, CallEnded) and e.record.call_id == live.linkedid]
        found[:] = recs
        return bool(recs)

    await until(ended)
    return found[0]


def bridged(sim: Sim, prefix: str) -> str:
    """Name of the live channel starting with ``prefix`` once it is in a bridge, else ''."""
    for rec in sim.server.state.channels.values():
        if rec.fields["Channel"].startswith(prefix) and rec.bridge_id:
            return rec.fields["Channel"]
    return ""


async def test_panoramisk_originates_a_click_to_dial_call(sim: Sim) -> None:
    got: list[AmiMessage] = []
    logged_in = asyncio.Event()
    manager = Manager(host="127.0.0.1", port=sim.server.port, username="cti", secret=SECRET,
                      ping_delay=3600, reconnect_timeout=3600, on_login=lambda m: logged_in.set())
    manager.register_event("*", lambda m, event: got.append(dict(event)))
    bad = Manager(host="127.0.0.1", port=sim.server.port, username="cti", secret="wrong",
                  ping_delay=3600, reconnect_timeout=3600)
    sim.server.auth_fail_delay = 0.2  # Asterisk waits 1 s before refusing
    await bad.connect()
    await manager.connect()
    try:
        await until(lambda: bad.authenticated_future is not None)
        refused = await asyncio.wait_for(bad.authenticated_future, 2)
        assert (refused.response, refused.message) == ("Error", "Authentication failed")
        await until(lambda: not bad._connected)  # like Asterisk: the socket is closed
        await asyncio.wait_for(logged_in.wait(), 2)
        answers = await asyncio.wait_for(manager.send_action({
            "Action": "Originate", "ActionID": "c2d-42", "Channel": "PJSIP/1001",
            "Context": "from-internal", "Exten": "0612345678", "Priority": "1",
            "CallerID": '"Click2Dial" <0612345678>', "Timeout": "30000", "Async": "true",
            "Variable": "CTI_REQUEST=web-c2d-0001"}), 3)
        queued, outcome = answers[0], answers[-1]
        assert (queued.response, queued.message) == ("Success", "Originate successfully queued")
        assert (outcome.event, outcome.actionid, outcome.response, outcome.reason) == (
            "OriginateResponse", "c2d-42", "Success", "4")
        assert outcome.channel.startswith("PJSIP/1001-")
        await until(lambda: not sim.gen.calls)
        await until(lambda: any(e.get("Event") == "Cdr" for e in got))
        assert any(e.get("Variable") == "CTI_REQUEST" and e["Value"] == "web-c2d-0001"
                   for e in got)
    finally:
        manager.close()
        bad.close()
    events = [(e, float(e["Timestamp"])) for e in got if "Timestamp" in e]
    (rec,) = [e.record for e in Tracker().feed_all(events) if isinstance(e, CallEnded)]
    assert (rec.direction, rec.status, rec.answered, rec.extension) == (
        "outbound", "answered", True, "1001")
    assert rec.callee.number == "0612345678" and len(rec.recordings) == 1


async def test_sync_originate_to_an_extension_answers_after_the_agent_picks_up(
        sim: Sim) -> None:
    client = await Client.login(sim.server)
    answer = await client.action("Originate", Channel="PJSIP/1002", Exten="1003",
                                 Context="from-internal", Priority="1",
                                 CallerID="Bruno <1002>")
    assert (answer["Response"], answer["Message"]) == ("Success",
                                                      "Originate successfully queued")
    before = client.messages[:client.messages.index(answer)]
    assert any(m.get("Event") == "Newstate" and m.get("ChannelStateDesc") == "Up"
               and m["Channel"].startswith("PJSIP/1002-") for m in before)
    assert not any(m.get("Event") == "OriginateResponse" for m in client.messages)
    await until(lambda: not sim.gen.calls)
    (live,) = sim.gen.finished
    rec = await record_of(client, live)
    assert (rec.direction, rec.status, rec.extension, rec.extensions_rung) == (
        "internal", "answered", "1002", ("1003",))
    await client.close()


async def test_hangup_ends_a_live_call_early(sim: Sim) -> None:
    client = await Client.login(sim.server)
    live = sim.gen.play(CallSpec("inbound_answered", ALICE, caller="+33611111111",
                                 did="0155512345", ring=2, talk=600))
    await until(lambda: bridged(sim, "PJSIP/1001-") != "")
    answer = await client.action("Hangup", Channel=bridged(sim, "PJSIP/1001-"))
    assert (answer["Response"], answer["Message"]) == ("Success", "Channel Hungup")
    await live.wait(2)
    rec = await record_of(client, live)
    assert (rec.status, rec.answered, rec.extension) == ("answered", True, "1001")
    assert 0 < rec.talk_seconds < 100  # cut well before the planned 600 s
    assert sim.server.state.channels == {} and sim.server.state.bridges == {}
    await client.close()


async def test_hangup_by_regex_lists_the_channels_like_asterisk(sim: Sim) -> None:
    client = await Client.login(sim.server)
    live = sim.gen.play(CallSpec("internal", ALICE, (BRUNO,), ring=3, talk=600))
    await until(lambda: bridged(sim, "PJSIP/1002-") != "")
    answer = await client.action("Hangup", Channel="/^PJSIP/100[12]-/", Cause="16")
    assert (answer["Response"], answer["EventList"]) == ("Success", "start")
    await until(lambda: any(m.get("Event") == "ChannelsHungupListComplete"
                            for m in client.messages))
    hung = [m["Channel"] for m in client.messages if m.get("Event") == "ChannelHungup"]
    assert len(hung) == 2
    await live.wait(2)
    assert (await record_of(client, live)).talk_seconds < 100
    await client.close()


async def test_blind_transfer_continues_like_the_real_capture(sim: Sim) -> None:
    client = await Client.login(sim.server)
    live = sim.gen.play(CallSpec("inbound_answered", ALICE, caller="+33611111111",
                                 did="0155512345", ring=2, talk=60))
    await until(lambda: bridged(sim, "PJSIP/1001-") != "")
    answer = await client.action("BlindTransfer", Channel=bridged(sim, "PJSIP/1001-"),
                                 Exten="1002", Context="from-internal")
    assert (answer["Response"], answer["Message"]) == ("Success", "Transfer succeeded")
    names = [m.get("Event") for m in client.messages]
    assert names.index("BlindTransfer") < client.messages.index(answer)  # as in the capture
    await live.wait(3)
    rec = await record_of(client, live)
    assert [(t.kind, t.from_, t.to) for t in rec.transfers] == [("blind", "1001", "1002")]
    assert (rec.status, rec.extension, rec.extensions_rung) == (
        "answered", "1001", ("1001", "1002"))
    assert rec.talk_seconds == pytest.approx(60, abs=8)
    await client.close()


async def test_redirect_moves_the_caller_without_a_transfer_event(sim: Sim) -> None:
    client = await Client.login(sim.server)
    live = sim.gen.play(CallSpec("inbound_answered", ALICE, caller="+33611111111",
                                 did="0155512345", ring=2, talk=60))
    await until(lambda: bridged(sim, "PJSIP/trunk-") != "")
    answer = await client.action("Redirect", Channel=bridged(sim, "PJSIP/trunk-"),
                                 Exten="1002", Context="from-internal", Priority="1")
    assert (answer["Response"], answer["Message"]) == ("Success", "Redirect successful")
    await live.wait(3)
    rec = await record_of(client, live)
    assert rec.transfers == () and rec.extensions_rung == ("1001", "1002")
    assert not any(m.get("Event") == "BlindTransfer" for m in client.messages)
    await client.close()


async def test_bad_actions_get_asterisk_errors_and_the_server_keeps_serving(sim: Sim) -> None:
    client = await Client.login(sim.server)
    cases = [
        (("Frobnicate", {}), "Invalid/unknown command: Frobnicate. "
                             "Use Action: ListCommands to show available commands."),
        (("Hangup", {}), "No channel specified"),
        (("Hangup", {"Channel": "PJSIP/1001-000000ff"}), "No such channel"),
        (("Hangup", {"Channel": "/[/"}), "Regex compile failed on: /[/"),
        (("Originate", {"Exten": "1002"}), "Channel not specified"),
        (("Originate", {"Channel": "PJSIP"}), "Invalid channel"),
        (("Originate", {"Channel": "PJSIP/1001", "Timeout": "soon"}), "Invalid timeout"),
        (("Originate", {"Channel": "PJSIP/1001", "Exten": "1002"}),
         "Originate with 'Exten' requires 'Context' and 'Priority'"),
        (("Originate", {"Channel": "PJSIP/9999", "Exten": "1002", "Context": "from-internal",
                        "Priority": "1"}), "Originate failed"),
        (("BlindTransfer", {"Channel": "PJSIP/1001-000000ff"}), "No extension specified"),
        (("BlindTransfer", {"Channel": "PJSIP/1001-000000ff", "Exten": "1002"}),
         "Channel specified does not exist"),
        (("Redirect", {"Channel": "x", "Exten": "1", "Context": "c", "Priority": "0"}),
         "Priority is invalid"),
        (("Atxfer", {"Exten": "1002"}), "No channel specified"),
    ]
    for (name, fields), message in cases:
        answer = await client.action(name, **fields)
        assert (answer["Response"], answer["Message"]) == ("Error", message), name
    queued = await client.action("Originate", Channel="SIP/1001", Exten="0612345678",
                                 Context="from-internal", Async="yes")
    assert queued["Message"] == "Originate successfully queued"
    await until(lambda: any(m.get("Event") == "OriginateResponse" for m in client.messages))
    failure = next(m for m in client.messages if m.get("Event") == "OriginateResponse")
    assert (failure["Response"], failure["Reason"], failure["Uniqueid"]) == (
        "Failure", "0", "<null>")
    pong = await client.action("Ping")
    assert pong["Ping"] == "Pong"
    assert sim.server.handler_errors == 0
    await client.close()


async def test_originate_to_a_busy_agent_fails_with_reason_5(sim: Sim) -> None:
    client = await Client.login(sim.server)
    sim.gen.play(CallSpec("inbound_answered", ALICE, caller="+33611111111", did="0155512345",
                          ring=1, talk=300))
    await until(lambda: bridged(sim, "PJSIP/1001-") != "")
    await client.action("Originate", Channel="PJSIP/1001", Exten="0612345678",
                        Context="from-internal", Async="true", ActionID="busy-1")
    await until(lambda: any(m.get("Event") == "OriginateResponse" for m in client.messages))
    failure = next(m for m in client.messages if m.get("Event") == "OriginateResponse")
    assert (failure["Response"], failure["Reason"]) == ("Failure", "5")
    await client.close()


async def test_originate_through_a_local_channel(sim: Sim) -> None:
    client = await Client.login(sim.server)
    queued = await client.action("Originate", Channel="Local/1001@from-internal",
                                 Exten="0612345678", Context="from-internal", Priority="1",
                                 CallerID='"Click2Dial" <0612345678>', Async="true",
                                 ActionID="loc-1")
    assert queued["Message"] == "Originate successfully queued"
    await until(lambda: any(m.get("Event") == "OriginateResponse" for m in client.messages))
    (live,) = sim.gen.calls.values()
    outcome = next(m for m in client.messages if m.get("Event") == "OriginateResponse")
    assert (outcome["Response"], outcome["Reason"], outcome["Uniqueid"]) == (
        "Success", "4", live.linkedid)
    assert outcome["Channel"].startswith("Local/1001@from-internal-") and outcome[
        "Channel"].endswith(";1")
    rec = await record_of(client, live)
    assert (rec.direction, rec.status, rec.extension, rec.extensions_rung) == (
        "outbound", "answered", "1001", ())
    assert rec.caller.number == "1001" and rec.ring_seconds > 2  # agent's ring + remote ring
    assert rec.callee.number == "0612345678"  # not the Local channel's own 1001@from-internal
    locals_ = [m for m in client.messages if m.get("Event") == "LocalBridge"]
    assert len(locals_) == 1 and locals_[0]["LocalOneUniqueid"] == live.linkedid
    await until(lambda: not sim.server.state.channels)  # both halves torn down with the call
    await client.close()


async def test_originate_that_rings_out_fails_with_reason_3(sim: Sim) -> None:
    client = await Client.login(sim.server)
    answer = await client.action("Originate", Channel="PJSIP/1003", Exten="0612345678",
                                 Context="from-internal", Priority="1", Timeout="1000")
    assert (answer["Response"], answer["Message"]) == ("Error", "Originate failed")
    names = [m.get("Event") for m in client.messages[:client.messages.index(answer)]]
    assert names.count("Newchannel") == 1 and "Hangup" in names
    hangup = next(m for m in client.messages if m.get("Event") == "Hangup")
    assert hangup["Cause"] == "19"
    await client.action("Originate", Channel="PJSIP/1003", Exten="0612345678",
                        Context="from-internal", Async="true", Timeout="1000")
    await until(lambda: any(m.get("Event") == "OriginateResponse" for m in client.messages))
    failure = next(m for m in client.messages if m.get("Event") == "OriginateResponse")
    assert (failure["Response"], failure["Reason"], failure["Channel"]) == (
        "Failure", "3", "PJSIP/1003")
    await client.close()
