# ruff: noqa: E501  (the capture excerpt below is kept byte for byte)
"""The simulator's ARI server over real HTTP and WebSocket on 127.0.0.1, checked against the
events a real Asterisk 22.10.1 sent in the ``ari_stasis`` capture (``ari.jsonl`` of the Stasis
app ``cti``, ``ari_observer.jsonl`` of an app subscribed to everything)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import ClientSession, WSServerHandshakeError
from yarl import URL

from cti.sim.ami_server import AmiServer
from cti.sim.ari_model import ari_timestamp, parse_callerid
from cti.sim.ari_server import AriServer


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AUTH = basic("cti", "cti-secret")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")

# ari_stasis/ari.jsonl without its five RTCP ChannelVarset (RTPAUDIOQOS…), which need media.
CAPTURE_CTI = """\
{"type":"StasisStart","timestamp":"2026-11-23T14:35:50.359+0000","args":["inbound","+33655443322"],"channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Ring","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti"}
{"type":"ChannelStateChange","timestamp":"2026-11-23T14:35:51.866+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti"}
{"type":"PlaybackStarted","timestamp":"2026-11-23T14:35:52.169+0000","playback":{"id":"pb-1795444550.159","media_uri":"sound:custom/ari-welcome","target_uri":"channel:1795444550.159","language":"en","state":"playing"},"asterisk_id":"02:fc:00:00:00:01","application":"cti"}
{"type":"PlaybackFinished","timestamp":"2026-11-23T14:35:57.999+0000","playback":{"id":"pb-1795444550.159","media_uri":"sound:custom/ari-welcome","target_uri":"channel:1795444550.159","language":"en","state":"done"},"asterisk_id":"02:fc:00:00:00:01","application":"cti"}
{"cause":32,"soft":true,"type":"ChannelHangupRequest","timestamp":"2026-11-23T14:35:58.503+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti"}
{"type":"StasisEnd","timestamp":"2026-11-23T14:35:58.503+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti"}
"""
# ari_stasis/ari_observer.jsonl: the events of kinds the simulator emits (it has no
# SIPDOMAIN, ChannelDialplan, DeviceStateChanged or RTCP varsets: no SIP stack, no dialplan).
CAPTURE_OBSERVER = """\
{"type":"ChannelCreated","timestamp":"2026-11-23T14:35:50.359+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Ring","protocol_id":"","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":1,"app_name":"","app_data":""},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"type":"ChannelStateChange","timestamp":"2026-11-23T14:35:51.866+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"type":"PlaybackStarted","timestamp":"2026-11-23T14:35:52.169+0000","playback":{"id":"pb-1795444550.159","media_uri":"sound:custom/ari-welcome","target_uri":"channel:1795444550.159","language":"en","state":"playing"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"type":"PlaybackFinished","timestamp":"2026-11-23T14:35:57.999+0000","playback":{"id":"pb-1795444550.159","media_uri":"sound:custom/ari-welcome","target_uri":"channel:1795444550.159","language":"en","state":"done"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"cause":32,"soft":true,"type":"ChannelHangupRequest","timestamp":"2026-11-23T14:35:58.503+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"variable":"STASISSTATUS","value":"SUCCESS","type":"ChannelVarset","timestamp":"2026-11-23T14:35:58.503+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"cause":16,"soft":true,"type":"ChannelHangupRequest","timestamp":"2026-11-23T14:35:58.503+0000","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"Stasis","app_data":"cti,inbound,+33655443322"},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
{"type":"ChannelDestroyed","timestamp":"2026-11-23T14:35:58.503+0000","cause":16,"cause_txt":"Normal Clearing","channel":{"id":"1795444550.159","name":"PJSIP/trunk-00000099","state":"Up","protocol_id":"1-25634@127.0.0.1","caller":{"name":"Lucas Girard","number":"+33655443322"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"0155512399","priority":2,"app_name":"","app_data":""},"creationtime":"2026-11-23T14:35:50.359+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cti-observer"}
"""
# ari_stasis/ari.rest.jsonl: the body Asterisk answered to POST /channels/{id}/play (201).
CAPTURE_PLAY_ANSWER = '{"id":"pb-1795444550.159","media_uri":"sound:custom/ari-welcome","target_uri":"channel:1795444550.159","language":"en","state":"queued"}'


def captured(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def normalised(event: dict[str, Any]) -> dict[str, Any]:
    """Blank what differs between two runs of one call: ids, names, SIP Call-ID, times."""
    out: dict[str, Any] = json.loads(json.dumps(event))
    for holder in (out, out.get("channel"), out.get("playback")):
        if not holder:
            continue
        for key in ("timestamp", "creationtime"):
            if key in holder:
                assert TIMESTAMP.match(holder[key]), holder[key]
                holder[key] = "T"
        for key in ("id", "name", "target_uri"):
            if key in holder:
                holder[key] = key.upper()
        if holder.get("protocol_id"):
            holder["protocol_id"] = "CALL-ID"
    return out


@pytest.fixture
async def ari() -> AsyncIterator[AriServer]:
    async with AriServer(playback_seconds=0.02) as server:
        yield server
        assert server.handler_errors == 0


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession(headers=AUTH) as session:
        yield session


async def next_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    event: dict[str, Any] = await asyncio.wait_for(ws.receive_json(), 2)
    return event


async def connect(http: ClientSession, ari: AriServer, app: str, *,
                  subscribe_all: bool = False) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(ari.events_url(app, subscribe_all=subscribe_all))
    await ari.wait_for_app(app)
    return ws


async def test_credentials_by_basic_auth_or_api_key_else_401_like_asterisk(
        ari: AriServer) -> None:
    async with ClientSession() as anonymous:
        for url, auth in ((f"{ari.url}/asterisk/info", None),
                          (f"{ari.url}/asterisk/info", basic("cti", "wrong")),
                          (f"{ari.url}/asterisk/info", {"Authorization": "Basic !!"}),
                          (f"{ari.url}/asterisk/info?api_key=cti:wrong", None),
                          (f"{ari.url}/asterisk/info?api_key=cti", None),
                          (f"{ari.url}/no/such/thing", None)):
            async with anonymous.get(url, headers=auth) as resp:
                assert resp.status == 401, url
                assert await resp.json() == {"message": "Authentication required"}
                assert resp.headers["WWW-Authenticate"] == 'Basic realm="Asterisk REST Interface"'
        async with anonymous.get(f"{ari.url}/asterisk/info", headers=AUTH) as resp:
            assert resp.status == 200
            info = await resp.json()
        assert list(info) == ["build", "system", "config", "status"]
        assert info["system"] == {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"}
        async with anonymous.get(f"{ari.url}/asterisk/info?api_key=cti:cti-secret&only=status"
                                 ) as resp:
            assert resp.status == 200
            assert list(await resp.json()) == ["status"]
        with pytest.raises(WSServerHandshakeError) as refused:
            await anonymous.ws_connect(ari.events_url("cti"))
        assert refused.value.status == 401
    assert ari.auth_failures == 7 and ari.registered_apps == set()


async def test_stasis_call_flow_matches_the_capture_event_for_event(
        ari: AriServer, http: ClientSession) -> None:
    cti = await connect(http, ari, "cti")
    observer = await connect(http, ari, "cti-observer", subscribe_all=True)
    chan = ari.inject_stasis_call('"Lucas Girard" <+33655443322>', "0155512399",
                                  ["inbound", "+33655443322"], priority=2)
    got_cti = [await next_event(cti)]
    assert got_cti[0]["channel"]["id"] == chan.id and re.match(r"^\d+\.\d+$", chan.id)
    assert re.match(r"^PJSIP/trunk-[0-9a-f]{8}$", chan.name)
    base = f"{ari.url}/channels/{chan.id}"
    async with http.post(f"{base}/ring") as resp:  # 180 Ringing: the state stays Ring
        assert resp.status == 204
    async with http.get(base) as resp:
        assert (await resp.json())["state"] == "Ring"
    async with http.post(f"{base}/answer") as resp:
        assert resp.status == 204
    got_cti.append(await next_event(cti))
    async with http.post(f"{base}/play", params={
            "media": "sound:custom/ari-welcome", "playbackId": f"pb-{chan.id}"}) as resp:
        assert resp.status == 201
        assert resp.headers["Location"] == f"/ari/playbacks/pb-{chan.id}"
        answer = await resp.json()
    assert answer == json.loads(CAPTURE_PLAY_ANSWER.replace("1795444550.159", chan.id))
    got_cti += [await next_event(cti), await next_event(cti)]  # started, finished
    async with http.delete(base, params={"reason_code": "16"}) as resp:
        assert resp.status == 204
    got_cti += [await next_event(cti), await next_event(cti)]
    got_observer = [await next_event(observer) for _ in range(8)]

    assert [normalised(e) for e in got_cti] == [normalised(e) for e in captured(CAPTURE_CTI)]
    assert [normalised(e) for e in got_observer] == [
        normalised(e) for e in captured(CAPTURE_OBSERVER)]
    assert ari.channels == {} and ari.playbacks == {}
    # The app left Stasis before the channel died: no ChannelDestroyed for it, as in the
    # capture. The next thing it hears is the next call.
    second = ari.inject_stasis_call("0612345678", "0155512399")
    assert (await next_event(cti))["type"] == "StasisStart"
    assert second.caller == ("", "0612345678")
    await cti.close()
    await observer.close()


async def test_dtmf_reaches_the_app_and_a_hangup_ends_the_playback_first(
        ari: AriServer, http: ClientSession) -> None:
    cti = await connect(http, ari, "cti")
    chan = ari.inject_stasis_call("+33655443322", "0155512399", ["survey"])
    assert (await next_event(cti))["args"] == ["survey"]
    ari.send_dtmf(chan.id, "4#")
    presses = [await next_event(cti), await next_event(cti)]
    assert [(e["type"], e["digit"], e["duration_ms"]) for e in presses] == [
        ("ChannelDtmfReceived", "4", 100), ("ChannelDtmfReceived", "#", 100)]
    assert list(presses[0]) == ["type", "timestamp", "digit", "duration_ms", "channel",
                                "asterisk_id", "application"]
    with pytest.raises(ValueError):
        ari.send_dtmf(chan.id, "x")
    with pytest.raises(KeyError):
        ari.send_dtmf("404.1", "1")
    ari.media_seconds["sound:long-survey"] = 30.0
    async with http.post(f"{ari.url}/channels/{chan.id}/play",
                         json={"media": ["sound:long-survey", "sound:bye"]}) as resp:
        assert resp.status == 201
        assert (await resp.json())["next_media_uri"] == "sound:bye"
    started = await next_event(cti)
    assert (started["type"], started["playback"]["state"]) == ("PlaybackStarted", "playing")
    ari.remote_hangup(chan.id)  # the caller hangs up mid-prompt
    ends = [await next_event(cti) for _ in range(3)]
    assert [e["type"] for e in ends] == ["ChannelHangupRequest", "PlaybackFinished", "StasisEnd"]
    assert ends[0]["cause"] == 16 and "soft" not in ends[0]
    assert ends[1]["playback"]["state"] == "done"
    await cti.close()


async def test_playback_of_several_media_and_of_an_unknown_scheme(
        ari: AriServer, http: ClientSession) -> None:
    cti = await connect(http, ari, "cti")
    chan = ari.inject_stasis_call("100", "200")
    await next_event(cti)
    url = f"{ari.url}/channels/{chan.id}/play"
    async with http.post(url, params=[("media", "sound:a,sound:b"), ("media", "digits:42")]):
        pass
    events = [await next_event(cti) for _ in range(4)]
    assert [(e["type"], e["playback"]["media_uri"]) for e in events] == [
        ("PlaybackStarted", "sound:a"), ("PlaybackContinuing", "sound:b"),
        ("PlaybackContinuing", "digits:42"), ("PlaybackFinished", "digits:42")]
    async with http.post(f"{url}/my-pb", params={"media": "video:nope"}) as resp:
        assert (await resp.json())["id"] == "my-pb"
    events = [await next_event(cti) for _ in range(2)]
    assert [e["playback"]["state"] for e in events] == ["playing", "failed"]
    await cti.close()


async def test_originate_rings_answers_then_enters_stasis(ari: AriServer,
                                                          http: ClientSession) -> None:
    ari.answer_delay = None  # the far end answers when the test says so
    cti = await connect(http, ari, "cti")
    async with http.post(f"{ari.url}/channels", params={
            "endpoint": "PJSIP/1001", "app": "cti", "appArgs": "outbound,42",
            "callerId": '"Click2Dial" <0612345678>'}) as resp:
        assert resp.status == 200
        created = await resp.json()
    assert created["state"] == "Down" and created["name"].startswith("PJSIP/1001-")
    assert created["caller"] == created["connected"] == {"name": "Click2Dial",
                                                         "number": "0612345678"}
    assert list(created) == list(captured(CAPTURE_CTI)[0]["channel"])
    async with http.post(f"{ari.url}/channels/{created['id']}/answer") as resp:
        assert resp.status == 409  # not in Stasis before it answers
        assert await resp.json() == {"message": "Channel not in Stasis application"}
    ari.remote_ring(created["id"])
    ari.remote_answer(created["id"])
    events = [await next_event(cti) for _ in range(3)]
    assert [(e["type"], e["channel"]["state"]) for e in events] == [
        ("ChannelStateChange", "Ringing"), ("ChannelStateChange", "Up"), ("StasisStart", "Up")]
    assert events[2]["args"] == ["outbound", "42"]
    assert events[2]["channel"]["dialplan"]["app_data"] == "cti,outbound,42"
    # A callee that is busy: the app, subscribed by the originate, hears the channel die.
    async with http.post(f"{ari.url}/channels", params={
            "endpoint": "PJSIP/1002", "app": "cti"}) as resp:
        busy = await resp.json()
    ari.remote_hangup(busy["id"], cause=17)
    gone = await next_event(cti)
    assert (gone["type"], gone["cause"], gone["cause_txt"]) == (
        "ChannelDestroyed", 17, "User busy")
    ari.answer_delay = 0.01  # automatic: Ringing, Up, StasisStart on their own
    async with http.post(f"{ari.url}/channels/custom-id", json={
            "endpoint": "PJSIP/0612345678@trunk", "app": "cti",
            "variables": {"CTI_REQUEST": "r1"}}) as resp:
        assert (await resp.json())["name"].startswith("PJSIP/trunk-")
    assert [(await next_event(cti))["type"] for _ in range(3)] == [
        "ChannelStateChange", "ChannelStateChange", "StasisStart"]
    assert ari.channels["custom-id"].variables == {"CTI_REQUEST": "r1"}
    async with http.post(f"{ari.url}/channels/custom-id", json={
            "endpoint": "PJSIP/1", "app": "cti"}) as resp:
        assert resp.status == 409
    async with http.get(f"{ari.url}/channels") as resp:
        assert sorted(c["id"] for c in await resp.json()) == sorted([created["id"], "custom-id"])
    await cti.close()


@pytest.mark.parametrize(("method", "path", "params", "status", "message"), [
    ("GET", "/channels/404.1", {}, 404, "Channel not found"),
    ("POST", "/channels/404.1/answer", {}, 404, "Channel not found"),
    ("POST", "/channels/404.1/ring", {}, 404, "Channel not found"),
    ("POST", "/channels/404.1/play", {"media": "sound:x"}, 404, "Channel not found"),
    ("DELETE", "/channels/404.1", {}, 404, "Channel not found"),
    ("GET", "/playbacks/nope", {}, 404, "Playback not found"),
    ("POST", "/channels", {}, 400, "Endpoint must be specified"),
    ("POST", "/channels", {"endpoint": "PJSIP"}, 400, "Invalid endpoint specified"),
    ("POST", "/channels", {"endpoint": "PJSIP/1001"}, 400,
     "Application or extension must be specified"),
    ("GET", "/bridges", {}, 404, "Resource not found"),
    ("PUT", "/channels", {}, 405, "Invalid method"),
])
async def test_bad_requests_get_asterisk_errors(
        ari: AriServer, http: ClientSession, method: str, path: str, params: dict[str, str],
        status: int, message: str) -> None:
    async with http.request(method, ari.url + path, params=params) as resp:
        assert (resp.status, await resp.json()) == (status, {"message": message})
        assert resp.content_type == "application/json"


async def test_channel_errors_and_the_server_keeps_serving(ari: AriServer,
                                                           http: ClientSession) -> None:
    cti = await connect(http, ari, "cti")
    chan = ari.inject_stasis_call("100", "200")
    assert (await next_event(cti))["type"] == "StasisStart"
    base = f"{ari.url}/channels/{chan.id}"
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("DELETE", base, {"params": {"reason": "busy", "reason_code": "17"}}, 400,
         "The reason and reason_code can't both be specified"),
        ("DELETE", base, {"params": {"reason": "bored"}}, 400,
         "Invalid reason for hangup reason provided"),
        ("DELETE", base, {"params": {"reason_code": "x"}}, 400,
         "Invalid reason for hangup reason code provided"),
        ("POST", f"{base}/play", {}, 400, "Missing required parameter 'media'"),
        ("POST", f"{base}/play", {"params": {"media": "sound:x", "skipms": "-1"}}, 400,
         "skipms cannot be negative"),
        ("POST", f"{base}/play", {"data": "{not json", "headers": {
            "Content-Type": "application/json"}}, 400, "Error parsing request body"),
        ("POST", f"{base}/play", {"json": {"media": {"no": "dict"}}}, 400,
         "Invalid value for parameter 'media'"),
        ("POST", f"{base}/dtmf", {}, 400, "DTMF is required"),
        ("POST", f"{ari.url}/channels", {"json": {"endpoint": "PJSIP/1", "app": "cti",
                                                  "variables": {"N": 1}}}, 400,
         "Only string values in the 'variables' object allowed"),
    ]
    for method, url, kwargs, status, message in cases:
        async with http.request(method, url, **kwargs) as resp:
            assert (resp.status, await resp.json()) == (status, {"message": message}), message
    async with ClientSession() as anonymous, anonymous.get(
            f"{ari.url}/events?api_key=cti:cti-secret") as resp:
        assert resp.status == 400 and "Missing param 'app'" in await resp.text()
    async with http.post(f"{base}/dtmf", params={"dtmf": "12"}) as resp:
        assert resp.status == 204
    by_name = URL(f"{ari.url}/channels/{quote(chan.name, safe='')}?reason=busy", encoded=True)
    async with http.delete(by_name) as resp:
        assert resp.status == 204  # by name too, as ast_channel_get_by_name allows
    hangup, end = await next_event(cti), await next_event(cti)
    assert (hangup["type"], end["type"]) == ("ChannelHangupRequest", "StasisEnd")
    async with http.get(f"{ari.url}/asterisk/info") as resp:
        assert resp.status == 200
    await cti.close()


async def test_a_second_socket_takes_the_app_over(ari: AriServer, http: ClientSession) -> None:
    first = await connect(http, ari, "cti")
    second = await http.ws_connect(ari.events_url("cti"))
    replaced = await next_event(first)
    assert (replaced["type"], replaced["application"]) == ("ApplicationReplaced", "cti")
    ari.inject_stasis_call("100", "200")
    assert (await next_event(second))["type"] == "StasisStart"
    await second.close()
    await first.close()
    await asyncio.wait_for(_until(lambda: not ari.registered_apps), 2)
    with pytest.raises(LookupError):  # Stasis() fails when nobody registered the app
        ari.inject_stasis_call("100", "200")


async def test_channels_also_appear_on_ami_with_the_same_uniqueid(
        http: ClientSession) -> None:
    async with AmiServer() as ami, AriServer(ami=ami, answer_delay=None) as ari:
        cti = await connect(http, ari, "cti")
        chan = ari.inject_stasis_call('"Lucas Girard" <+33655443322>', "0155512399")
        rec = ami.state.channels[chan.id]
        assert rec.fields["Channel"] == chan.name and rec.fields["ChannelStateDesc"] == "Ring"
        assert (rec.application, rec.application_data) == ("Stasis", "cti")
        assert rec.fields["CallerIDName"] == "Lucas Girard"
        async with http.post(f"{ari.url}/channels/{chan.id}/answer"):
            pass
        assert rec.fields["ChannelState"] == "6"
        async with http.delete(f"{ari.url}/channels/{chan.id}"):
            pass
        assert ami.state.channels == {}
        await cti.close()


def test_timestamps_and_caller_ids_are_read_and_written_like_asterisk() -> None:
    assert ari_timestamp(1795444550.359) == "2026-11-23T14:35:50.359+0000"
    assert ari_timestamp(1795444550.9996) == "2026-11-23T14:35:51.000+0000"
    assert parse_callerid('"Lucas Girard" <+33655443322>') == ("Lucas Girard", "+33655443322")
    assert parse_callerid("Alice <1001>") == ("Alice", "1001")
    assert parse_callerid("06 12-34.56 78") == ("", "0612345678")
    assert parse_callerid("Reception") == ("Reception", "")


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.005)
