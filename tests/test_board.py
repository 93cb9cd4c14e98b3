"""The supervisors' live board over real loopback HTTP: who may see it, the line states read
off the live calls, today's missed calls (the viewer's day, newest first, with the callback
number, the client, and whether the caller was reached since), and the script's strings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from cti.bus import Bus
from cti.calls.model import CallRecord, Party
from cti.live import LiveCall, LiveCalls
from cti.store.sqlite import Store
from cti.users import UserService
from cti.webapp.board import line_state
from cti.webapp.keys import CLIENTS
from tests.test_ws import ringing
from tests.web_helpers import app_of, login, seed_users, serve_app, web_config

PARIS = ZoneInfo("Europe/Paris")


def live(call_id: str, state: str, *, extension: str | None = None, origin: str | None = None,
         ringing_: tuple[str, ...] = ()) -> LiveCall:
    return LiveCall(pbx="main", call_id=call_id, direction="inbound",
                    caller=Party("+33612345678"), callee=Party("0155512345"),
                    state=state, started_at=0.0, extension=extension, origin=origin,  # type: ignore[arg-type]
                    ringing=ringing_, rung=ringing_)


def test_line_state_in_call_beats_ringing_beats_idle() -> None:
    calls = [live("a", "ringing", ringing_=("1001", "1002")),
             live("b", "up", extension="1002"),
             live("c", "ringing", origin="1003", ringing_=("1004",)),
             live("d", "ended", extension="1005")]
    assert line_state("1001", calls) == "ringing"
    assert line_state("1002", calls) == "in_call"  # rung by a, but talking on b
    assert line_state("1003", calls) == "in_call"  # dialling out keeps the phone busy
    assert line_state("1004", calls) == "ringing"
    assert line_state("1005", calls) == "idle"  # an ended call frees the line
    assert line_state("1009", calls) == "idle"


def midnight(now: dt.datetime) -> float:
    day = now.astimezone(PARIS).date()
    return dt.datetime.combine(day, dt.time(0), tzinfo=PARIS).timestamp()


def record(call_id: str, started: float, status: str, *, direction: str = "inbound",
           caller: str = "+33612345678", callee: str = "0155512345",
           rung: tuple[str, ...] = ("1001",)) -> CallRecord:
    answered = status == "answered"
    return CallRecord(
        pbx="main", call_id=call_id, direction=direction,  # type: ignore[arg-type]
        status=status, answered=answered,  # type: ignore[arg-type]
        caller=Party(caller, "Trunk name"), callee=Party(callee),
        extension="1001" if answered else None, extensions_rung=rung, queue="sales",
        started_at=started, answered_at=started + 4 if answered else None,
        ended_at=started + 20, hangup_cause="16")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


async def test_only_supervisors_and_admins_see_the_board(store: Store) -> None:
    await seed_users(UserService(store))
    async with serve_app(store) as http:
        resp = await http.get("/board", allow_redirects=False)
        assert resp.status in (302, 303) and "/login" in resp.headers["Location"]
        assert (await http.get("/api/board")).status == 401
        await login(http, "agent1")
        assert (await http.get("/board")).status == 403
        assert (await http.get("/api/board")).status == 403
        home = await (await http.get("/")).text()
        assert 'href="/board"' not in home  # no link to a page the agent cannot open
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect("/ws?scope=all",
                                  headers={"Origin": str(http.make_url("/")).rstrip("/")})
        assert refused.value.status == 403  # the board's feed: every call, supervisors only
        for who in ("boss", "root"):
            await login(http, who)
            page = await http.get("/board")
            assert page.status == 200
            text = await page.text()
            assert 'id="board"' in text and "/static/board.js" in text
            assert 'href="/board" aria-current="page"' in text


async def test_missed_calls_today_newest_first_with_callback_and_reached_flag(
        store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    day = midnight(now)
    await store.save_call(record("m1", day + 60, "missed"))  # reached later (outbound callback)
    await store.save_call(record("m2", day + 120, "abandoned", caller="+33698765432"))
    await store.save_call(record("m3", day + 180, "busy", caller="anonymous"))
    await store.save_call(record("a1", day + 240, "answered", caller="+33611111111"))
    await store.save_call(record("cb", day + 300, "answered", direction="outbound",
                                 caller="1001", callee="0612345678", rung=()))
    await store.save_call(record("y1", day - 600, "missed", caller="+33622222222"))  # yesterday
    await store.save_call(record("o1", day + 90, "no_answer", direction="outbound",
                                 caller="1001", callee="+33633333333", rung=()))
    users = UserService(store)
    await seed_users(users)
    config = web_config(**{"web.timezone": "Europe/Paris"})
    async with serve_app(store, users=users, config=config) as http:
        directory = app_of(http)[CLIENTS]
        await directory.create({"name": "Marie Dupont", "phones": ["+33612345678"]})
        # The link the daemon's linker would have written for m1.
        client = (await directory.match("+33612345678"))[0].client
        await directory.link_call("main", "m1", {client.id: "e164"}, number="+33612345678",
                                  at=day + 61)
        await login(http, "boss")
        data = await (await http.get("/api/board")).json()
    missed = data["missed"]
    assert [m["call_id"] for m in missed] == ["m3", "m2", "m1"]
    by_id = {m["call_id"]: m for m in missed}
    assert by_id["m1"]["client"] == "Marie Dupont"
    assert by_id["m1"]["caller"]["dial"] == "+33612345678"
    assert by_id["m1"]["caller"]["display"] == "06 12 34 56 78"
    assert by_id["m1"]["reached"] is True  # the outbound call to 06 12… came after it
    assert by_id["m2"]["reached"] is False and by_id["m2"]["queue"] == "sales"
    assert by_id["m3"]["caller"]["withheld"] is True and by_id["m3"]["caller"]["dial"] is None
    assert by_id["m1"]["ring_seconds"] == pytest.approx(20.0)


async def test_lines_and_calls_come_from_the_live_model(store: Store) -> None:
    users = UserService(store)
    await seed_users(users)
    await users.create("idle", "idle-secret!", "agent", ["1009"], display_name="Ida")
    off = await users.create("gone", "gone-secret!", "agent", ["1010"])
    await users.set_active(off.id, False)
    bus = Bus()
    async with serve_app(store, users=users, live=LiveCalls(bus)) as http:
        bus.publish(ringing("r1", "1001"))
        await login(http, "root")
        data = await (await http.get("/api/board")).json()
    lines = {p["username"]: p["extensions"] for p in data["lines"]}
    assert "gone" not in lines and "boss" not in lines  # inactive, and no extension
    assert lines["agent1"] == [{"extension": "1001", "state": "ringing"}]
    assert lines["idle"] == [{"extension": "1009", "state": "idle"}]
    assert [c["call_id"] for c in data["calls"]] == ["r1"]
    assert data["calls"][0]["ringing"] == ["1001"]


def test_every_string_the_board_script_shows_is_handed_to_it_and_translated() -> None:
    from cti.webapp.i18n import FR
    from cti.webapp.i18n_board import SCRIPT_MSGIDS

    script = (Path(__file__).parent.parent / "web" / "static" / "board.js").read_text()
    used = set(re.findall(r'\bt\("([^"]+)"', script))
    for table in ("STATUS", "DIRECTION", "LINE"):
        body = re.search(rf"var {table} = \{{(.*?)\}};", script, re.S)
        assert body, table
        used |= set(re.findall(r':\s*"([^"]+)"', body.group(1)))
    assert len(used) > 20
    assert sorted(used - set(SCRIPT_MSGIDS)) == []
    assert sorted(set(SCRIPT_MSGIDS) - set(FR)) == []
    assert "innerHTML" not in script
