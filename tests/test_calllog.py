"""The call log over real loopback HTTP: filters (period in the viewer's zone, direction,
status, agent/extension, queue, client, number fragment, overlong), keyset pages and sorts,
agents seeing only their own calls, the CSV export, the call page with its timeline, and the
search tables the migration keeps (triggers, backfill)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.calls.model import (
    CallAnswered,
    CallRecord,
    CallRinging,
    CallStarted,
    CallTransferred,
    Leg,
    Party,
    Transfer,
)
from cti.clients.directory import ClientDirectory
from cti.store.schema import MIGRATIONS
from cti.store.sqlite import Store
from cti.users import UserService
from cti.webapp.calllog_filters import period_bounds
from cti.wrapups import WrapupService
from tests.web_helpers import login, open_store, seed_users, serve_app

PARIS = ZoneInfo("Europe/Paris")
#: Monday 23 November 2026, 10:00 in Paris.
T = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS).timestamp()
DAY = 86400.0


def call(call_id: str, started: float, *, direction: str = "inbound",
         status: str = "answered", caller: tuple[str, str] = ("+33612345678", "Marie Dupont"),
         callee: str = "0155512345", extension: str | None = "1001",
         rung: tuple[str, ...] = ("1001",), queue: str | None = None, talk: float = 60.0,
         overlong: bool = False, **extra: Any) -> CallRecord:
    answered = status == "answered"
    return CallRecord(
        pbx="main", call_id=call_id, direction=direction,  # type: ignore[arg-type]
        status=status, answered=answered,  # type: ignore[arg-type]
        caller=Party(*caller), callee=Party(callee), extension=extension,
        extensions_rung=rung, queue=queue, started_at=started,
        answered_at=started + 5 if answered else None,
        ended_at=started + 5 + (talk if answered else 20), hangup_cause="16",
        overlong=overlong, **extra)


CALLS = [
    call("c1", T),  # Marie → 1001, answered
    call("c2", T + 600, status="missed", caller=("+33698765432", "Paul Leroy"),
         extension="1002", rung=("1001", "1002")),
    call("c3", T + 3600, direction="outbound", caller=("1002", "Bruno"), callee="0147200000",
         extension="1002", rung=(), talk=700, overlong=True),
    call("c4", T - DAY, direction="internal", caller=("1003", "Chloe"), callee="1001",
         extension="1003", rung=("1001",), talk=30),
    call("c5", T - 2 * DAY, caller=("+32471123456", "=HYPERLINK(\"http://x\")"),
         extension="1002", rung=("1001", "1002"), queue="support", talk=120,
         transfers=(Transfer("blind", "1002", "1003", T - 2 * DAY + 60),),
         recordings=("/var/spool/asterisk/monitor/q-support-c5.wav",),
         legs=(Leg("PJSIP/trunk-0001", "c5", "trunk", "trunk", T - 2 * DAY),
               Leg("PJSIP/1002-0002", "c5.2", "extension", "1002", T - 2 * DAY + 1))),
    call("c6", T - 40 * DAY, direction="outbound", status="no_answer",
         caller=("1001", "Alice"), callee="+3225551234", extension="1001", rung=()),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    for record in CALLS:
        await s.save_call(record)
    yield s
    await s.close()


@pytest.fixture
async def users(store: Store) -> UserService:
    service = UserService(store)
    await seed_users(service)
    return service


async def ids(http: Any, **params: str) -> list[str]:
    resp = await http.get("/api/calls", params=params)
    assert resp.status == 200, await resp.text()
    return [c["call_id"] for c in (await resp.json())["calls"]]


# --------------------------------------------------------------------------- filters
async def test_filters_narrow_the_list(store: Store, users: UserService) -> None:
    directory = ClientDirectory(store)
    marie = await directory.create({"name": "Marie Dupont", "phones": ["+33612345678"]})
    await directory.link_call("main", "c1", {marie.id: "e164"}, number="+33612345678", at=T)
    async with serve_app(store, users=users) as client:
        await login(client, "boss")
        assert await ids(client) == ["c3", "c2", "c1", "c4", "c5", "c6"]
        assert await ids(client, direction="outbound") == ["c3", "c6"]
        assert await ids(client, status="missed") == ["c2"]
        assert await ids(client, queue="support") == ["c5"]
        assert await ids(client, overlong="1") == ["c3"]
        assert await ids(client, ext="1003") == ["c4"]
        assert await ids(client, agent="agent1") == ["c2", "c1", "c4", "c5", "c6"]
        assert await ids(client, client=str(marie.id)) == ["c1"]
        # number fragments: the digits as stored, and the national spelling of E.164 ones
        assert await ids(client, number="5678") == ["c1"]
        assert await ids(client, number="06 12 34") == ["c1"]
        assert await ids(client, number="0033698") == ["c2"]
        assert await ids(client, number="471 12") == ["c5"]
        # custom range: Sunday 22 November in Paris, both days included
        assert await ids(client, **{"from": "2026-11-22", "to": "2026-11-22"}) == ["c4"]
        assert await ids(client, **{"from": "2026-11-21", "to": "2026-11-23"}) == [
            "c3", "c2", "c1", "c4", "c5"]
        both = await client.get("/api/calls", params={"direction": "inbound",
                                                      "status": "answered"})
        data = await both.json()
        assert [c["call_id"] for c in data["calls"]] == ["c1", "c5"] and data["total"] == 2
        for bad in ({"number": "12"}, {"number": "06x"}, {"direction": "sideways"},
                    {"from": "23/11/2026"}, {"sort": "random"}, {"limit": "0"},
                    {"from": "2026-11-23", "to": "2026-11-01"}):
            resp = await client.get("/api/calls", params=bad)
            assert resp.status == 422, bad
            assert (await resp.json())["field"] in bad


def test_periods_are_days_of_the_viewers_zone() -> None:
    now = dt.datetime(2026, 3, 29, 12, 0, tzinfo=PARIS)  # the day Paris moves to summer time
    since, until = period_bounds("today", PARIS, now)
    assert (since, until) == (dt.datetime(2026, 3, 29, tzinfo=PARIS).timestamp(),
                              dt.datetime(2026, 3, 30, tzinfo=PARIS).timestamp())
    assert until is not None and since is not None and until - since == 23 * 3600
    since, until = period_bounds("week", PARIS, now)  # Sunday: the week began on Monday 23rd
    assert since == dt.datetime(2026, 3, 23, tzinfo=PARIS).timestamp()
    assert until == dt.datetime(2026, 3, 30, tzinfo=PARIS).timestamp()
    since, until = period_bounds("month", PARIS, dt.datetime(2026, 12, 31, 23, 30,
                                                             tzinfo=dt.UTC))
    # 23:30 UTC on 31 December is already January in Paris
    assert since == dt.datetime(2027, 1, 1, tzinfo=PARIS).timestamp()
    assert until == dt.datetime(2027, 2, 1, tzinfo=PARIS).timestamp()
    bucharest = ZoneInfo("Europe/Bucharest")
    since, _ = period_bounds("yesterday", bucharest, now)
    assert since == dt.datetime(2026, 3, 28, tzinfo=bucharest).timestamp()
    assert period_bounds("all", PARIS, now) == (None, None)


# --------------------------------------------------------------------------- pages and sorts
async def test_keyset_pages_cover_every_call_once_in_each_sort(store: Store,
                                                               users: UserService) -> None:
    for i in range(114):  # 120 calls in all
        await store.save_call(call(f"p{i:03d}", T - 3 * DAY - i * 97.0, talk=float(i % 17)))
    async with serve_app(store, users=users) as client:
        await login(client, "boss")
        for sort, key in (("newest", lambda c: -c["_t"]), ("oldest", lambda c: c["_t"]),
                          ("longest", lambda c: (-c["duration_seconds"], -c["_t"])),
                          ("shortest", lambda c: (c["duration_seconds"], c["_t"]))):
            seen: list[dict[str, Any]] = []
            after = None
            pages = 0
            while True:
                params = {"sort": sort, "limit": "50", **({"after": after} if after else {})}
                data = await (await client.get("/api/calls", params=params)).json()
                assert data["total"] == 120
                seen += data["calls"]
                pages += 1
                after = data["next"]
                if after is None:
                    break
            assert pages == 3
            assert len({c["call_id"] for c in seen}) == 120 == len(seen)
            for c in seen:
                c["_t"] = dt.datetime.fromisoformat(c["started_at"]).timestamp()
            assert seen == sorted(seen, key=key), sort
        forged = await client.get("/api/calls", params={"after": "WzEsMiwzXQ"})  # [1,2,3]
        assert forged.status == 422 and (await forged.json())["field"] == "after"
        html = await (await client.get("/calls", params={"limit": "50"})).text()
        assert 'rel="next"' in html and "/calls?limit=50&amp;after=" in html


# --------------------------------------------------------------------------- who sees what
async def test_an_agent_sees_only_calls_of_their_own_extensions(store: Store,
                                                                users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")  # extension 1001
        mine = ["c2", "c1", "c4", "c5", "c6"]  # answered, rang, dialled
        assert await ids(client) == mine
        # asking for another agent's calls changes nothing: the scope is the server's
        assert await ids(client, agent="agent2") == mine
        assert await ids(client, ext="1002") == ["c2", "c5"]  # 1002's calls that 1001 was on
        assert await ids(client, **{"from": "2026-11-22", "to": "2026-11-23"}) == [
            "c2", "c1", "c4"]
        assert (await client.get("/calls/main/c3")).status == 404
        assert (await client.get("/api/calls/main/c3")).status == 404
        assert (await client.get("/calls/main/c1")).status == 200
        csv_text = await (await client.get("/calls.csv")).text()
        assert "c3" not in {row[-1] for row in csv.reader(io.StringIO(csv_text))}
        page = await (await client.get("/calls")).text()
        assert 'name="agent"' not in page  # no agent picker for agents
        await login(client, "agent2")  # 1002 and 1003
        assert await ids(client) == ["c3", "c2", "c4", "c5"]
        await login(client, "root")
        assert len(await ids(client)) == 6
        assert (await client.get("/calls/main/c3")).status == 200
        assert (await client.get("/calls/main/nope")).status == 404


# --------------------------------------------------------------------------- CSV
async def test_csv_export_of_the_filtered_list(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "boss")
        resp = await client.get("/calls.csv", params={"direction": "inbound"},
                                cookies={"cti_tz": "Europe/Paris"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in resp.headers["Content-Disposition"]
        raw = await resp.read()
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        header, body = rows[0], rows[1:]
        assert header[:3] == ["date", "direction", "status"] and header[-1] == "call_id"
        col = {name: i for i, name in enumerate(header)}
        assert [r[col["call_id"]] for r in body] == ["c2", "c1", "c5"]
        c1 = body[1]
        assert c1[col["date"]] == "2026-11-23 10:00:00"  # in the viewer's zone
        assert c1[col["caller_number"]] == "06 12 34 56 78"
        assert c1[col["caller_name"]] == "Marie Dupont"
        assert c1[col["talk_seconds"]] == "60"
        c5 = body[2]
        assert c5[col["caller_name"]].startswith("'=HYPERLINK")  # no formula for Excel
        assert c5[col["caller_number"]] == "+32 471 12 34 56"
        assert c5[col["transfers"]] == "blind 1002>1003"
        semi = await client.get("/calls.csv", params={"sep": ";", "status": "missed"})
        lines = (await semi.read()).decode("utf-8-sig").splitlines()
        assert lines[0].startswith("date;direction;status;") and len(lines) == 2
        assert ";missed;" in lines[1]
        assert (await client.get("/calls.csv", params={"sep": "|"})).status == 422


# --------------------------------------------------------------------------- one call
async def test_call_page_shows_timeline_legs_clients_recordings_and_wrapup(
        store: Store, users: UserService) -> None:
    directory = ClientDirectory(store)
    acme = await directory.create({"name": "Acme", "kind": "company",
                                   "phones": ["+32471123456"]})
    secret = await directory.create({"name": "Hidden Person", "phones": ["+32471123456"],
                                     "visibility": "private", "owner": "agent2"})
    await directory.link_call("main", "c5", {acme.id: "e164", secret.id: "e164"},
                              number="+32471123456", at=T - 2 * DAY)
    caller = Party("+32471123456", "Caller")
    await store.add_events([
        CallStarted("main", "c5", T - 2 * DAY, "inbound", caller, Party("0155512345")),
        CallRinging("main", "c5", T - 2 * DAY + 1, "1002", "inbound", caller,
                    Party("0155512345"), "support"),
        CallAnswered("main", "c5", T - 2 * DAY + 5, "1002", "inbound", "support"),
        CallTransferred("main", "c5", T - 2 * DAY + 60, "blind", "1002", "1003"),
    ])
    await WrapupService(store).save("main", "c5", username="agent2", user_id=None,
                                    fields={"subject": "Invoice", "note": "Sent a copy"})
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        resp = await client.get("/calls/main/c5", headers={"Accept-Language": "en"},
                                cookies={"cti_tz": "Europe/Paris"})
        assert resp.status == 200
        page = await resp.text()
        for text in ("Ringing at 1002", "Answered by 1002",
                     "Transferred (Blind transfer) from 1002 to 1003", "PJSIP/trunk-0001",
                     "q-support-c5.wav", "Acme", "Invoice", "Sent a copy", "+32 471 12 34 56",
                     "support", "21/11/2026 10:00:00"):
            assert text in page, text
        assert "Hidden Person" not in page  # another agent's private card
        assert 'data-dial="+32471123456"' in page  # agent1 has an extension: call button
        api = await (await client.get("/api/calls/main/c5")).json()
        assert [e["kind"] for e in api["events"]] == [
            "call_started", "call_ringing", "call_answered", "call_transferred"]
        assert [c["name"] for c in api["call"]["clients"]] == ["Acme"]
        assert [leg["channel"] for leg in api["legs"]] == ["PJSIP/trunk-0001", "PJSIP/1002-0002"]
        assert api["wrapups"][0]["subject"] == "Invoice"
        # The file is not in the recordings folder: the call says so, and offers no player.
        [recording] = api["recordings"]
        assert (recording["name"], recording["status"], recording["url"]) == (
            "q-support-c5.wav", "missing", None)
        assert "File missing" in page
        await login(client, "agent2")
        page = await (await client.get("/calls/main/c5")).text()
        assert "Hidden Person" in page  # the owner sees it


async def test_list_page_groups_by_day_colours_rows_and_offers_calls(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        resp = await client.get("/calls", headers={"Accept-Language": "fr"},
                                cookies={"cti_tz": "Europe/Paris"})
        page = await resp.text()
        days = re.findall(r"<h2>([^<]+)</h2>", page)
        assert days[:3] == ["Lundi 23/11/2026", "Dimanche 22/11/2026", "Samedi 21/11/2026"]
        assert 'class="call status-missed' in page and 'class="call status-answered' in page
        assert "dir-inbound" in page and "dir-internal" in page and "dir-outbound" in page
        assert "06 12 34 56 78" in page  # Marie's number as the French write it
        assert 'data-dial="+33612345678"' in page
        assert 'data-dial="1001"' not in page  # not a button to call yourself
        assert "Journal d&#39;appels" in page
        await login(client, "boss")  # no extension: no call buttons
        page = await (await client.get("/calls", params={"overlong": "1"})).text()
        assert "data-dial" not in page and "badge overlong" in page
        assert 'name="agent"' in page


# --------------------------------------------------------------------------- search tables
async def test_search_tables_follow_updates_and_are_filled_for_older_calls(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before = await Store.open(path, migrations=MIGRATIONS[:5])  # a database of the last release
    await before.save_call(CALLS[0])
    await before.close()
    store = await Store.open(path)  # migration 6 fills the search tables
    try:
        rows = await store.query("SELECT extension FROM call_extensions WHERE call_id = 'c1'")
        assert rows == [{"extension": "1001"}]
        hit = await store.query("SELECT rowid FROM call_numbers WHERE call_numbers MATCH ?",
                                ('"5678"',))
        assert len(hit) == 1
        # a re-save that changes the numbers and extensions moves the search rows with it
        await store.save_call(CALLS[0].replace(caller=Party("+33611111111", "Marie"),
                                               extensions_rung=("1001", "1004"),
                                               extension="1004"))
        rows = await store.query("SELECT extension FROM call_extensions WHERE call_id = 'c1' "
                                 "ORDER BY extension")
        assert rows == [{"extension": "1001"}, {"extension": "1004"}]
        for fragment, n in (('"5678"', 0), ('"11111"', 1)):
            found = await store.query(
                "SELECT rowid FROM call_numbers WHERE call_numbers MATCH ?", (fragment,))
            assert len(found) == n, fragment
        plan = await store.query(
            "EXPLAIN QUERY PLAN SELECT * FROM calls c WHERE (c.pbx, c.call_id) IN "
            "(SELECT pbx, call_id FROM call_extensions WHERE extension IN ('1001'))")
        assert any("call_extensions_extension" in str(r["detail"]) for r in plan)
    finally:
        await store.close()
