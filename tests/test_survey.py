"""The post-call survey against the simulator's ARI (real HTTP and WebSocket on 127.0.0.1) and a
real SQLite store: the caller's keys become stored scores, a wrong key replays the question
after the "invalid" prompt, silence ends in "no answer", a caller hanging up keeps what they
answered, a lost events socket closes (or adopts) surveys, and the agent is the one the tracker
saw answer — from a real Asterisk capture fed through the tracker and LiveCalls."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.ari.client import AriClient, AriConfig
from cti.bus import Bus
from cti.calls.model import CallEnded, DomainEvent
from cti.calls.tracker import Tracker
from cti.capture import load
from cti.daemon import attach_store
from cti.live import LiveCalls
from cti.sim.ari_server import AriServer
from cti.sim.ari_survey import survey_caller
from cti.store.sqlite import Store
from cti.survey.app import SurveyApp
from cti.survey.service import SurveyService
from cti.survey.settings import SurveySettings
from cti.survey.store import SurveyStore
from tests.captures import FIXTURES

INBOUND = "1795444272.132"  # inbound_answered: DID 0155512345, answered by 1001
QUEUED = "1795444384.146"  # queue_ringall: DID 0155512346, queue support, answered by 1002
Q1, Q2 = "sound:cti/survey-q1", "sound:cti/survey-q2"


def call_events(scenario: str) -> list[DomainEvent]:
    return Tracker().feed_all(load(FIXTURES / scenario).events)


class Observer:
    """An app with ``subscribeAll`` on the simulator, as the capture's ``cti-observer``: what
    Asterisk tells anyone watching (playbacks started, stopped, channels destroyed)."""

    def __init__(self, ari: AriServer) -> None:
        self.ari = ari
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        token = base64.b64encode(b"cti:cti-secret").decode()
        self._http = aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"})
        self._ws = await self._http.ws_connect(self.ari.events_url("observer",
                                                                   subscribe_all=True))
        self._task = asyncio.create_task(self._read())
        await self.ari.wait_for_app("observer")

    async def _read(self) -> None:
        async for msg in self._ws:
            self.events.append(msg.json())
            self._changed.set()

    async def close(self) -> None:
        await self._ws.close()
        await self._http.close()
        if self._task is not None:
            self._task.cancel()

    async def wait(self, test: Callable[[dict[str, Any]], bool], after: int = 0) -> int:
        """Index of the first event from ``after`` on that passes ``test`` (waits for it)."""
        async with asyncio.timeout(10):
            while True:
                for i in range(after, len(self.events)):
                    if test(self.events[i]):
                        return i
                self._changed.clear()
                await self._changed.wait()

    async def playing(self, uri: str, after: int = 0) -> int:
        """Wait until ``uri`` starts playing (alone or as the next media of a list)."""
        return await self.wait(lambda e: e["type"] in ("PlaybackStarted", "PlaybackContinuing")
                               and e["playback"]["media_uri"] == uri, after)

    def started(self, channel_id: str) -> list[str]:
        """Every media that started playing on the channel, in order."""
        return [e["playback"]["media_uri"] for e in self.events
                if e["type"] in ("PlaybackStarted", "PlaybackContinuing")
                and e["playback"]["target_uri"] == f"channel:{channel_id}"]


@pytest.fixture
async def ari() -> AsyncIterator[AriServer]:
    async with AriServer(playback_seconds=0.02) as server:
        # Questions play long enough for the test's caller to press a key while they do.
        server.media_seconds.update({Q1: 5.0, Q2: 5.0})
        yield server
        assert server.handler_errors == 0


@pytest.fixture
async def observer(ari: AriServer) -> AsyncIterator[Observer]:
    obs = Observer(ari)
    await obs.start()
    yield obs
    await obs.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


@pytest.fixture
def bus(store: Store) -> Bus:
    bus = Bus()
    attach_store(bus, store)
    return bus


@pytest.fixture
def live(bus: Bus) -> LiveCalls:
    return LiveCalls(bus)


def ari_config(ari: AriServer) -> AriConfig:
    return AriConfig(url=ari.url, user="cti", password="cti-secret", timeout=2.0,
                     backoff_min=0.05, backoff_max=0.2)


Start = Callable[..., Any]


@pytest.fixture
async def start_app(ari: AriServer, store: Store, live: LiveCalls,
                    ) -> AsyncIterator[Callable[..., Any]]:
    apps: list[SurveyApp] = []

    async def start(wait: bool = True, **settings: Any) -> SurveyApp:
        values: dict[str, Any] = {"enabled": True, "timeout": 5.0, **settings}
        app = SurveyApp("default", ari_config(ari), SurveySettings(**values), SurveyStore(store),
                        live, check_interval=0.05)
        apps.append(app)
        app.start()
        if wait:
            await app.client.wait_connected(2)
            await ari.wait_for_app("cti")
        return app

    yield start
    for app in apps:
        await app.close()


async def until(test: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not test():
            await asyncio.sleep(0.01)


async def ended(app: SurveyApp, ari: AriServer, channel_id: str) -> None:
    """The survey task is over and the caller's channel is gone."""
    await until(lambda: app.running == 0 and channel_id not in ari.channels)


async def survey_rows(store: Store) -> list[dict[str, Any]]:
    return await store.query("SELECT * FROM surveys ORDER BY id")


async def answers(store: Store, survey_id: int) -> list[tuple[Any, ...]]:
    rows = await store.query("SELECT position, question, score, attempts, result "
                             "FROM survey_answers WHERE survey_id = ? ORDER BY position",
                             (survey_id,))
    return [tuple(r.values()) for r in rows]


def talking(bus: Bus, scenario: str) -> list[DomainEvent]:
    """The call of ``scenario`` as the tracker saw it up to the agent's hangup: every domain
    event but the end (the caller is still on the line, in the survey). Returns the rest."""
    events = call_events(scenario)
    bus.publish_all([e for e in events if not isinstance(e, CallEnded)])
    return [e for e in events if isinstance(e, CallEnded)]


# ------------------------------------------------------------------------------ acceptance
async def test_valid_keys_are_stored_as_scores_with_the_agent_who_answered(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus,
        live: LiveCalls) -> None:
    rest = talking(bus, "inbound_answered")
    assert live.get("default", INBOUND) is not None
    app = await start_app()
    chan = survey_caller(ari, INBOUND, language="en", lang_arg="")  # dialplan passed no language
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "4")  # while the question plays: barge-in
    await observer.playing(Q2, at)
    ari.send_dtmf(chan.id, "5")
    await ended(app, ari, chan.id)

    [row] = await survey_rows(store)
    assert (row["pbx"], row["call_id"], row["channel"]) == ("default", INBOUND, chan.id)
    assert (row["agent"], row["queue"], row["did"]) == ("1001", None, "0155512345")
    assert (row["status"], row["language"]) == ("completed", "fr")  # survey.language default
    assert row["ended_at"] >= row["started_at"]
    assert await answers(store, row["id"]) == [(1, "q1", 4, 1, "answered"),
                                               (2, "q2", 5, 1, "answered")]
    # What the caller heard: intro and question 1 as one list, question 2, thanks; each
    # question stopped by the key (PlaybackFinished long before its 5 s), in French.
    assert observer.started(chan.id) == ["sound:cti/survey-intro", Q1, Q2,
                                         "sound:cti/survey-thanks"]
    langs = {e["playback"]["language"] for e in observer.events if "playback" in e}
    assert langs == {"fr"}
    destroyed = [e for e in observer.events if e["type"] == "ChannelDestroyed"
                 and e["channel"]["id"] == chan.id]
    assert destroyed and destroyed[0]["cause"] == 16  # cti hung up: normal clearing
    assert (app.counters.started, app.counters.finished, app.counters.errors) == (1, 1, 0)

    bus.publish_all(rest)  # the caller's channel is gone: the call ends, its row is written
    await store.flush()
    call = await store.get_call("default", INBOUND)
    assert call is not None and call["extension"] == "1001"


async def test_an_invalid_key_plays_the_retry_prompt_then_a_valid_key_is_stored(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    app = await start_app()
    chan = survey_caller(ari, INBOUND, language="en")  # the channel's language
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "9")
    invalid = await observer.playing("sound:cti/survey-invalid", at)
    at = await observer.playing(Q1, invalid)  # the question again, right after
    ari.send_dtmf(chan.id, "4")
    at = await observer.playing(Q2, at)
    ari.send_dtmf(chan.id, "*")
    at = await observer.playing(Q2, await observer.playing("sound:cti/survey-invalid", at))
    ari.send_dtmf(chan.id, "5")
    await ended(app, ari, chan.id)

    [row] = await survey_rows(store)
    assert (row["status"], row["language"]) == ("completed", "en")
    assert await answers(store, row["id"]) == [(1, "q1", 4, 2, "answered"),
                                               (2, "q2", 5, 2, "answered")]
    assert observer.started(chan.id) == [
        "sound:cti/survey-intro", Q1, "sound:cti/survey-invalid", Q1,
        Q2, "sound:cti/survey-invalid", Q2, "sound:cti/survey-thanks"]


async def test_no_key_within_the_timeout_is_no_answer(ari: AriServer, observer: Observer,
                                                      start_app: Start, store: Store,
                                                      bus: Bus) -> None:
    talking(bus, "inbound_answered")
    ari.media_seconds.clear()  # short prompts; the caller presses nothing at all
    app = await start_app(timeout=0.2, retries=1)
    chan = survey_caller(ari, INBOUND, language="en", lang_arg="en")
    await ended(app, ari, chan.id)

    [row] = await survey_rows(store)
    assert row["status"] == "no_answer"
    assert await answers(store, row["id"]) == [(1, "q1", None, 2, "no_answer"),
                                               (2, "q2", None, 2, "no_answer")]
    noinput = "sound:cti/survey-noinput"
    assert observer.started(chan.id) == ["sound:cti/survey-intro", Q1, noinput, Q1,
                                         Q2, noinput, Q2, "sound:cti/survey-thanks"]


async def test_one_answer_then_silence_is_partial(ari: AriServer, observer: Observer,
                                                  start_app: Start, store: Store,
                                                  bus: Bus) -> None:
    talking(bus, "inbound_answered")
    ari.media_seconds.pop(Q2)
    app = await start_app(timeout=0.2, retries=0)
    chan = survey_caller(ari, INBOUND)
    await observer.playing(Q1)
    ari.send_dtmf(chan.id, "3")
    await ended(app, ari, chan.id)
    [row] = await survey_rows(store)
    assert row["status"] == "partial"
    assert await answers(store, row["id"]) == [(1, "q1", 3, 1, "answered"),
                                               (2, "q2", None, 1, "no_answer")]


async def test_a_caller_hanging_up_mid_survey_leaves_an_abandoned_survey_with_the_answers(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    app = await start_app()
    chan = survey_caller(ari, INBOUND)
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "2")
    await observer.playing(Q2, at)
    ari.remote_hangup(chan.id)
    await ended(app, ari, chan.id)
    [row] = await survey_rows(store)
    assert row["status"] == "abandoned" and row["ended_at"] is not None
    assert await answers(store, row["id"]) == [(1, "q1", 2, 1, "answered")]
    assert app.counters.abandoned == 1 and app.counters.errors == 0
    assert "sound:cti/survey-thanks" not in observer.started(chan.id)


# ------------------------------------------------------------------------------ who is asked
async def test_only_calls_of_the_listed_queues_are_surveyed_once_each(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    talking(bus, "queue_ringall")
    app = await start_app(queues=("support",))
    direct = survey_caller(ari, INBOUND)  # not through the support queue: hung up at once
    queued = survey_caller(ari, QUEUED, caller="+33698765432")
    await observer.playing(Q1)
    await until(lambda: direct.id not in ari.channels)
    assert "sound:cti/survey-intro" not in observer.started(direct.id)
    ari.send_dtmf(queued.id, "5")
    await observer.playing(Q2)
    ari.send_dtmf(queued.id, "1")
    await ended(app, ari, queued.id)
    again = survey_caller(ari, QUEUED)  # the same call reaching the survey twice
    await until(lambda: again.id not in ari.channels)
    [row] = await survey_rows(store)
    assert (row["call_id"], row["agent"], row["queue"], row["did"]) == (
        QUEUED, "1002", "support", "0155512346")
    assert await answers(store, row["id"]) == [(1, "q1", 5, 1, "answered"),
                                               (2, "q2", 1, 1, "answered")]
    assert app.counters.skipped == 2 and observer.started(again.id) == []


async def test_outbound_calls_and_unknown_calls_with_a_filter_are_not_surveyed(
        ari: AriServer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "outbound_answered")
    app = await start_app(dids=("0155512345",))
    outbound = survey_caller(ari, "1795444312.138")
    unknown = survey_caller(ari, "1795449999.1")
    bad = survey_caller(ari, "1795444312.138,x")  # a Linkedid that is not one
    await until(lambda: not {outbound.id, unknown.id, bad.id} & set(ari.channels))
    assert await survey_rows(store) == [] and app.counters.skipped == 3


async def test_many_callers_at_once_each_get_their_own_survey(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    talking(bus, "queue_ringall")
    app = await start_app()
    first = survey_caller(ari, INBOUND)
    second = survey_caller(ari, QUEUED, caller="+33698765432")
    await until(lambda: sum(1 for e in observer.events if e["type"] == "PlaybackContinuing"
                            and e["playback"]["media_uri"] == Q1) == 2)
    ari.send_dtmf(second.id, "1")
    ari.send_dtmf(first.id, "5")
    await until(lambda: len(observer.started(first.id)) == 3 == len(observer.started(second.id)))
    ari.send_dtmf(first.id, "4")
    ari.send_dtmf(second.id, "2")
    await ended(app, ari, first.id)
    await ended(app, ari, second.id)
    rows = {r["call_id"]: r for r in await survey_rows(store)}
    assert {k: r["agent"] for k, r in rows.items()} == {INBOUND: "1001", QUEUED: "1002"}
    assert [a[2] for a in await answers(store, rows[INBOUND]["id"])] == [5, 4]
    assert [a[2] for a in await answers(store, rows[QUEUED]["id"])] == [1, 2]


async def test_a_call_unknown_at_the_start_gets_its_agent_when_its_record_comes(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    """cti (re)started while the call was going on: LiveCalls never saw it answered."""
    app = await start_app()
    service = SurveyService(app.settings, app.surveys, bus, {"default": app})
    chan = survey_caller(ari, INBOUND)
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "4")
    await observer.playing(Q2, at)
    ari.send_dtmf(chan.id, "4")
    await ended(app, ari, chan.id)
    [row] = await survey_rows(store)
    assert (row["agent"], row["did"], row["status"]) == (None, None, "completed")
    bus.publish_all(call_events("inbound_answered"))  # the call's record, written later
    await service.flush()
    await store.flush()
    [row] = await survey_rows(store)
    assert (row["agent"], row["queue"], row["did"]) == ("1001", None, "0155512345")
    assert service.fills == 1
    full = await app.surveys.of_call("default", INBOUND)
    assert full is not None and full["agent"] == "1001" and len(full["answers"]) == 2


# ------------------------------------------------------------------------------ the link
async def test_a_survey_whose_channel_vanished_while_the_link_was_down_is_abandoned(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    app = await start_app()
    chan = survey_caller(ari, INBOUND)
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "5")
    await observer.playing(Q2, at)
    survey_socket = next(lst for lst in ari._listeners if "cti" in lst.apps)
    await survey_socket.ws.close()
    # At once: cti waits at least backoff_min (50 ms) before it reconnects, so StasisEnd
    # goes nowhere — nobody listens for "cti" — and only the check after reconnecting can
    # tell the survey its caller is gone.
    ari.remote_hangup(chan.id)
    await until(lambda: app.running == 0)
    [row] = await survey_rows(store)
    assert row["status"] == "abandoned"
    assert await answers(store, row["id"]) == [(1, "q1", 5, 1, "answered")]
    assert app.client.counters.connects == 2


async def test_a_caller_waiting_in_the_survey_while_cti_was_away_is_taken(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    async with AriClient(ari_config(ari), lambda e: None) as before:  # cti before its restart
        await before.wait_connected(2)
        await ari.wait_for_app("cti")
        chan = survey_caller(ari, INBOUND)  # its StasisStart went to the old process
    app = await start_app(wait=False)
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "3")
    await observer.playing(Q2, at)
    ari.send_dtmf(chan.id, "4")
    await ended(app, ari, chan.id)
    [row] = await survey_rows(store)
    assert (row["status"], row["agent"]) == ("completed", "1001")
    assert [a[2] for a in await answers(store, row["id"])] == [3, 4]


async def test_another_stasis_call_goes_back_to_the_dialplan_and_odd_events_are_ignored(
        ari: AriServer, observer: Observer, start_app: Start, store: Store) -> None:
    app = await start_app()
    queue = next(lst for lst in ari._listeners if "cti" in lst.apps).queue
    for text in ('{"type":"StasisStart","args":"survey"}', '{"type":"StasisStart"}',
                 '{"type":"ChannelDtmfReceived","channel":{"id":"nope"},"digit":"5"}',
                 '{"type":"PlaybackFinished","playback":{"target_uri":7}}',
                 '{"type":"StasisStart","channel":{},"args":["survey","1.2"]}'):
        queue.put_nowait(text)
    chan = ari.inject_stasis_call("0612345678", "0155512399", ["inbound", "+33612345678"])
    await until(lambda: chan.id not in ari.channels)  # continued, and [cti-survey] hangs up
    ends = [e for e in observer.events if e["type"] == "StasisEnd"]
    assert ends == [] and app.counters.not_ours == 1  # the observer never gets StasisEnd
    assert ari.channels == {} and await survey_rows(store) == []
    assert app.counters.errors == 0 and app.client.counters.handler_errors == 0


async def test_a_running_survey_is_closed_when_cti_stops_and_orphans_at_start(
        ari: AriServer, observer: Observer, start_app: Start, store: Store, bus: Bus) -> None:
    talking(bus, "inbound_answered")
    app = await start_app()
    chan = survey_caller(ari, INBOUND)
    at = await observer.playing(Q1)
    ari.send_dtmf(chan.id, "4")
    await observer.playing(Q2, at)
    await app.close()  # cti stops mid-survey
    [row] = await survey_rows(store)
    assert row["status"] == "abandoned"
    assert [a[2] for a in await answers(store, row["id"])] == [4]
    # A row a crash left "running" is closed at the next start.
    surveys = SurveyStore(store)
    await store.transaction(lambda tx: tx.execute(
        "UPDATE surveys SET status = 'running', ended_at = NULL"))
    assert await surveys.close_orphans() == 1
    assert [r["status"] for r in await survey_rows(store)] == ["abandoned"]


def test_settings_are_frozen_values() -> None:
    s = SurveySettings()
    assert dataclasses.replace(s, timeout=1.0).timeout == 1.0 and not s.enabled
