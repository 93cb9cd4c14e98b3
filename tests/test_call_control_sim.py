"""The simulator's call features on raw AMI over TCP (Park, taking a parked call back, ChanSpy
legs, Atxfer), checked the way Asterisk answers; the tracker's view of a parked and resumed
call (one call, no call for the control leg); call control's own rules (target checks, the
French of every refusal, the dialplan sample's transfer group)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.asterisk_conf import load
from cti.asterisk_dialplan import dialplan, matches
from cti.calls.model import CallEnded, CallStarted
from cti.calls.tracker import Tracker
from cti.config import SETTINGS, load_config
from cti.pbx.call_legs import CallLegsModel, Consult
from cti.pbx.control_rules import ControlRefused, ControlRules, clean_target, control_rules
from cti.sim.actions import attach
from cti.sim.ami_server import AmiServer
from cti.sim.scenarios import Agent, CallSpec
from cti.sim.traffic import SimConfig
from cti.webapp.i18n import FR
from tests.test_sim_actions import SECRET, Client, Sim, bridged, record_of, until

ROOT = Path(__file__).parent.parent
ALICE = Agent("1001", "Alice Martin")


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    server = AmiServer(secret=SECRET, timestamp_events=True, auth_fail_delay=0)
    gen = attach(server, SimConfig(time_scale=20, speech=False), seed=4)
    await server.start()
    await gen.start()
    yield Sim(server, gen)
    await gen.close()
    await server.close()


async def test_park_answers_like_res_parking_and_the_call_comes_back(sim: Sim) -> None:
    client = await Client.login(sim.server)
    live = sim.gen.play(CallSpec("inbound_answered", ALICE, caller="+33611111111",
                                 did="0155512345", ring=2, talk=600))
    await until(lambda: bridged(sim, "PJSIP/1001-") != "")
    agent, caller = bridged(sim, "PJSIP/1001-"), bridged(sim, "PJSIP/trunk-")
    for fields, message in (({}, "Channel not specified"),
                            ({"Channel": caller, "Timeout": "soon"}, "Invalid Timeout value."),
                            ({"Channel": "PJSIP/9-0"}, "Channel does not exist: PJSIP/9-0"),
                            ({"Channel": caller, "TimeoutChannel": "PJSIP/1002-1"},
                             "Park action failed")):
        answer = await client.action("Park", **fields)
        assert (answer["Response"], answer["Message"]) == ("Error", message)
    answer = await client.action("Park", Channel=caller, TimeoutChannel=agent,
                                 Parkinglot="default")
    assert (answer["Response"], answer["Message"]) == ("Success", "Park successful")
    await until(lambda: any(m.get("Event") == "ParkedCall" for m in client.messages))
    parked = next(m for m in client.messages if m.get("Event") == "ParkedCall")
    assert (parked["ParkeeChannel"], parked["ParkingSpace"], parked["Parkinglot"],
            parked["ParkerDialString"], parked["ParkeeLinkedid"]) == (
        caller, "701", "default", "PJSIP/1001", live.linkedid)
    # The agent's leg is released after the announcement; the caller waits in the lot.
    await until(lambda: bridged(sim, "PJSIP/1001-") == "" and not any(
        r.fields["Channel"] == agent for r in sim.server.state.channels.values()))
    assert bridged(sim, "PJSIP/trunk-") == caller
    answer = await client.action("Originate", Channel="PJSIP/1001", Context="parkedcalls",
                                 Exten="701", Priority="1", Async="true",
                                 ChannelId="ctictl-hold-test")
    assert answer["Message"] == "Originate successfully queued"
    await until(lambda: any(m.get("Event") == "UnParkedCall" for m in client.messages))
    unparked = next(m for m in client.messages if m.get("Event") == "UnParkedCall")
    assert (unparked["RetrieverUniqueid"], unparked["ParkingSpace"]) == ("ctictl-hold-test",
                                                                        "701")
    await until(lambda: bridged(sim, "PJSIP/1001-") != "")
    response = next(m for m in client.messages if m.get("Event") == "OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Success", "4")
    answer = await client.action("Hangup", Channel=caller)
    assert answer["Message"] == "Channel Hungup"
    rec = await record_of(client, live)
    assert (rec.status, rec.extension, rec.transfers) == ("answered", "1001", ())
    # The control leg is no call: one record, one start.
    out = Tracker().feed_all(client.events())
    assert [e.call_id for e in out if isinstance(e, CallStarted)] == [live.linkedid]
    assert [e.call_id for e in out if isinstance(e, CallEnded)] == [live.linkedid]
    assert sim.server.state.channels == {}
    await client.close()


async def test_chanspy_and_atxfer_refusals_and_a_spy_on_nothing(sim: Sim) -> None:
    client = await Client.login(sim.server)
    answer = await client.action("Originate", Channel="PJSIP/9999", Application="ChanSpy",
                                 Data="PJSIP/1001-00000001,qE", Async="true")
    assert answer["Message"] == "Originate successfully queued"
    await until(lambda: any(m.get("Event") == "OriginateResponse" for m in client.messages))
    failure = next(m for m in client.messages if m.get("Event") == "OriginateResponse")
    assert (failure["Response"], failure["Reason"]) == ("Failure", "0")
    refused = await client.action("Originate", Channel="PJSIP/1001", Application="System",
                                  Data="rm -rf /", Async="true")
    assert refused["Response"] == "Error"  # other applications: still not simulated
    live = sim.gen.play(CallSpec("inbound_answered", ALICE, caller="+33611111111",
                                 did="0155512345", ring=2, talk=600))
    await until(lambda: bridged(sim, "PJSIP/1001-") != "")
    agent = bridged(sim, "PJSIP/1001-")
    for fields, message in (
            ({"Exten": "1002"}, "No channel specified"),
            ({"Channel": agent}, "No extension specified"),
            ({"Channel": "PJSIP/1-0", "Exten": "1002"}, "Channel specified does not exist"),
            ({"Channel": agent, "Exten": "1999", "Context": "from-internal"},
             "Atxfer is simulated to an agent's extension only")):
        answer = await client.action("Atxfer", **fields)
        assert (answer["Response"], answer["Message"]) == ("Error", message)
    # A spy whose target is gone is released once it answers.
    answer = await client.action("Originate", Channel="PJSIP/1003", Application="ChanSpy",
                                 Data="PJSIP/1002-deadbeef,qE", Async="true",
                                 ChannelId="ctictl-spy-x")
    await until(lambda: any(m.get("Event") == "Hangup" and m["Uniqueid"] == "ctictl-spy-x"
                            for m in client.messages))
    assert not any(m.get("Event") == "ChanSpyStart" for m in client.messages)
    await client.action("Hangup", Channel=agent)
    await live.wait(5)
    await client.close()


def test_the_tracker_never_takes_a_control_leg_for_a_call() -> None:
    leg = {"Channel": "PJSIP/1003-00000009", "Uniqueid": "ctictl-spy-1",
           "Linkedid": "ctictl-spy-1", "ChannelStateDesc": "Down", "CallerIDNum": "1003",
           "Context": "default", "Exten": "s"}
    tracker = Tracker()
    out = tracker.feed_all([({"Event": "Newchannel", **leg}, 1.0),
                            ({"Event": "Newstate", **leg, "ChannelStateDesc": "Up"}, 2.0),
                            ({"Event": "DialBegin", **{"Dest" + k: v for k, v in leg.items()}},
                             2.0),
                            ({"Event": "Hangup", **leg, "Cause": "16"}, 9.0)])
    assert out == [] and tracker.live_calls() == []


def test_targets_are_digits_or_a_configured_group() -> None:
    groups = {"support": "600"}
    assert clean_target("1002", groups) == "1002"
    assert clean_target("support", groups) == "600"
    for bad in ("1002\n", "1002&PJSIP/666", "s", "1,2", "", " 1002", "12345678901234567",
                None, 1002, "SUPPORT"):
        with pytest.raises(ControlRefused) as refused:
            clean_target(bad, groups)
        assert (refused.value.status, refused.value.code) == (400, "invalid_target")
    with pytest.raises(ValueError, match="transfer_groups"):
        ControlRules(groups={"sales": "6&0"})
    with pytest.raises(ValueError, match="transfer_context"):
        ControlRules(transfer_context="from-internal,1")
    config = load_config(env={}, overrides={"pbx.transfer_groups": {"sales": 601}})
    assert control_rules(config.pbxes[0]).groups == {"sales": "601"}


def test_the_default_group_and_context_route_in_the_dialplan_sample() -> None:
    defaults = {s.key: s.default for s in SETTINGS}
    plan = dialplan(load(ROOT / "dialplan" / "extensions_cti.conf"))
    reachable, todo = [], [defaults["pbx.transfer_context"]]
    while todo:  # the context and what it includes
        name = todo.pop()
        if name in plan.contexts and name not in reachable:
            reachable.append(name)
            todo.extend(inc.value for inc in plan.contexts[name].includes)
    for exten in (*defaults["pbx.transfer_groups"].values(), "1002"):
        assert any(matches(p, exten) for c in reachable for p in plan.contexts[c].labels), exten


def test_every_refusal_and_legs_event_has_what_it_needs() -> None:
    for module in ("call_control.py", "control_rules.py", "supervision.py"):
        text = (ROOT / "cti" / "pbx" / module).read_text()
        for msgid in re.findall(r'ControlRefused\(\s*\d+,\s*"\w+",\s*((?:"[^"]*"\s*)+)', text):
            joined = "".join(re.findall(r'"([^"]*)"', msgid))
            assert joined in FR, joined
    model = CallLegsModel()
    model.on_ami_event("p", {"Event": "Newchannel", "Channel": "PJSIP/1001-1", "Uniqueid": "u1",
                             "Linkedid": "L", "ChannelStateDesc": "Up"})
    model.on_ami_event("p", {"Event": "Hangup", "Channel": "PJSIP/1001-1", "Uniqueid": "u1",
                             "Linkedid": "L"})
    model.on_ami_event("p", {"Event": "VarSet", "Channel": "PJSIP/1001-1", "Uniqueid": "u1",
                             "Linkedid": "L", "Variable": "DIALSTATUS"})
    assert model.get("p", "L") is None  # a late event never brings a dead leg back


def test_the_legs_model_follows_merges_linkedid_moves_parking_and_consultations() -> None:
    model = CallLegsModel()

    def chan(name: str, uid: str, linkedid: str = "L", **more: str) -> None:
        model.on_ami_event("p", {"Event": more.pop("Event", "Newstate"), "Channel": name,
                                 "Uniqueid": uid, "Linkedid": linkedid,
                                 "ChannelStateDesc": "Up", **more})

    chan("PJSIP/trunk-1", "L")
    chan("PJSIP/1001-2", "a", Event="BridgeEnter", BridgeUniqueid="B")
    model.start_consult("p", "L", Consult("1002", "a", "1001"))
    chan("Local/1002@from-internal-3;1", "c1", ChannelStateDesc="Down")
    entry = model.get("p", "L")
    assert entry is not None and entry.consult is not None
    assert entry.consult.name == "Local/1002@from-internal-3;1" and not entry.consult.answered
    chan("Local/1002@from-internal-3;1", "c1", Event="BridgeEnter", BridgeUniqueid="B2")
    assert entry.consult.answered
    model.on_ami_event("p", {"Event": "BridgeMerge", "ToBridgeUniqueid": "B",
                             "FromBridgeUniqueid": "B2"})
    assert entry.legs["c1"].bridge == "B"
    model.on_ami_event("p", {"Event": "Hangup", "Uniqueid": "c1"})
    assert entry.consult is None  # the consultation's channel gone: cancelled
    # A leg that joins an older call's bridge takes its Linkedid: it moves there.
    chan("PJSIP/1001-9", "ctictl-hold-1", "ctictl-hold-1")
    chan("PJSIP/1001-9", "ctictl-hold-1", "L", Event="NewConnectedLine")
    assert "ctictl-hold-1" in entry.legs and model.get("p", "ctictl-hold-1") is None
    model.on_ami_event("p", {"Event": "ParkedCall", "ParkeeUniqueid": "L",
                             "ParkeeLinkedid": "L", "ParkingSpace": "702",
                             "Parkinglot": "default", "ParkerDialString": "PJSIP/1001",
                             "ParkeeCallerIDNum": "+33611111111"})
    assert entry.parked is not None
    assert (entry.parked.space, entry.parked.by, entry.parked.tech) == ("702", "1001", "PJSIP")
    model.on_ami_event("p", {"Event": "UnParkedCall", "ParkeeUniqueid": "L",
                             "ParkeeLinkedid": "L"})
    assert entry.parked is None
