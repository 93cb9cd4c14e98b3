"""External caller lookup against a real HTTP server on 127.0.0.1: a generic JSON CRM and a
Dolibarr-shaped REST API (its ``sqlfilters`` syntax, ``DOLAPIKEY`` header, 404-when-empty of
older versions, 503 on an unknown column), timeouts, HTTP 500, cache TTL and negative caching,
and a chain that never makes the local match wait."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cti.clients.connectors import DolibarrLookup, HttpJsonLookup, build_chain
from cti.clients.lookup import (
    ERROR_TTL,
    CachedLookup,
    ExternalContact,
    LookupChain,
    LookupSettings,
)
from cti.config import load_config

MARIE = "+33612345678"
API_KEY = "s3cret-key"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Crm:
    """The fake CRM's state: known numbers, and what it was asked."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    queries: list[dict[str, str]] = field(default_factory=list)
    thirdparties: list[dict[str, Any]] = field(default_factory=list)
    old_dolibarr: bool = False  # before 20: no phone_mobile column, 404 when nothing matches
    maintenance: bool = False  # a 503 from a proxy, about nothing in particular


def like(pattern: str, value: str) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


def make_app(crm: Crm) -> web.Application:
    async def lookup(request: web.Request) -> web.Response:
        number = request.query["number"]
        crm.hits[f"lookup {number}"] += 1
        crm.queries.append(dict(request.query))
        if number not in crm.contacts:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(crm.contacts[number])

    async def wrapped(request: web.Request) -> web.Response:
        crm.hits["wrapped"] += 1
        return web.json_response({"data": [{"full_name": "Ion Popescu", "org": {"name": "SC X"},
                                            "mail": "ion@x.ro"}]})

    async def slow(request: web.Request) -> web.Response:
        crm.hits["slow"] += 1
        await asyncio.sleep(float(request.query.get("sleep", "5")))
        return web.json_response({"name": "Too Late"})

    async def broken(request: web.Request) -> web.Response:
        crm.hits["broken"] += 1
        return web.Response(status=500, text="Internal Server Error")

    async def not_json(request: web.Request) -> web.Response:
        crm.hits["not_json"] += 1
        return web.Response(text="<html>login</html>", content_type="text/html")

    async def thirdparties(request: web.Request) -> web.Response:
        crm.hits["thirdparties"] += 1
        crm.queries.append(dict(request.query))
        if request.headers.get("DOLAPIKEY") != API_KEY:
            return web.json_response({"error": {"code": 401, "message": "Unauthorized"}},
                                     status=401)
        if crm.maintenance:
            return web.Response(status=503, text="Service Unavailable")
        filters = request.query.get("sqlfilters", "")
        tests = re.findall(r"\(t\.(\w+):like:'([^']*)'\)", filters)
        if not tests or filters.count("(") != len(tests):
            return web.json_response({"error": {"code": 503, "message": "bad sqlfilters"}},
                                     status=503)
        if crm.old_dolibarr and any(f == "phone_mobile" for f, _ in tests):
            return web.json_response({"error": {"code": 503, "message": "Error when retrieve "
                                     "thirdparties : Unknown column 't.phone_mobile'"}},
                                     status=503)
        found = [tp for tp in crm.thirdparties
                 if any(like(p, str(tp.get(f) or "")) for f, p in tests)]
        if not found and crm.old_dolibarr:
            return web.json_response({"error": {"code": 404, "message": "Thirdparties not "
                                                "found"}}, status=404)
        return web.json_response(found[:int(request.query.get("limit", "100"))])

    app = web.Application()
    app.router.add_get("/lookup", lookup)
    app.router.add_get("/wrapped", wrapped)
    app.router.add_get("/slow", slow)
    app.router.add_get("/broken", broken)
    app.router.add_get("/not-json", not_json)
    app.router.add_get("/doli/api/index.php/thirdparties", thirdparties)
    return app


@pytest.fixture
async def crm() -> AsyncIterator[tuple[Crm, str]]:
    state = Crm(contacts={MARIE: {"name": "Marie Dupont", "company": "ACME",
                                  "email": "marie@acme.fr", "type": "client",
                                  "url": "https://crm.example/c/42", "id": 42}})
    server = TestServer(make_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


# ---------------------------------------------------------------------------------- HTTP JSON
async def test_http_json_lookup_maps_the_answer(crm: tuple[Crm, str]) -> None:
    state, base = crm
    conn = HttpJsonLookup(base + "/lookup?number={e164}&raw={number}", timeout=2)
    try:
        contact = await conn.lookup(MARIE, "06 12 34 56 78")
    finally:
        await conn.close()
    assert contact == ExternalContact(
        source="http", number=MARIE, name="Marie Dupont", company="ACME",
        email="marie@acme.fr", type="client", url="https://crm.example/c/42", external_id="42")
    assert state.queries == [{"number": MARIE, "raw": "06 12 34 56 78"}]  # "+" survived


async def test_root_and_field_mapping_for_wrapped_answers(crm: tuple[Crm, str]) -> None:
    _, base = crm
    conn = HttpJsonLookup(base + "/wrapped?n={e164}", root="data",
                          fields={"name": "full_name", "company": "org.name", "email": "mail"})
    try:
        contact = await conn.lookup("+40721234567")
    finally:
        await conn.close()
    assert contact is not None
    assert (contact.name, contact.company, contact.email) == ("Ion Popescu", "SC X", "ion@x.ro")


async def test_not_found_is_cached_until_the_ttl_ends(crm: tuple[Crm, str]) -> None:
    state, base = crm
    clock = Clock()
    conn = HttpJsonLookup(base + "/lookup?number={e164}", cache_ttl=60, clock=clock)
    try:
        stranger = "+33699999999"
        assert await conn.lookup(stranger) is None
        assert await conn.lookup(stranger) is None
        assert await conn.lookup(MARIE) is not None
        assert await conn.lookup(MARIE) is not None
        assert state.hits == {f"lookup {stranger}": 1, f"lookup {MARIE}": 1}
        clock.now += 61
        assert await conn.lookup(stranger) is None
        assert state.hits[f"lookup {stranger}"] == 2
    finally:
        await conn.close()
    assert (conn.stats.lookups, conn.stats.cache_hits, conn.stats.found,
            conn.stats.not_found, conn.stats.errors) == (5, 2, 1, 2, 0)


async def test_http_500_is_logged_counted_and_retried_after_a_short_while(
        crm: tuple[Crm, str], caplog: pytest.LogCaptureFixture) -> None:
    state, base = crm
    clock = Clock()
    conn = HttpJsonLookup(base + "/broken?n={e164}", cache_ttl=3600, clock=clock)
    try:
        assert await conn.lookup(MARIE) is None
        assert await conn.lookup(MARIE) is None  # not asked again at once
        assert state.hits["broken"] == 1
        clock.now += ERROR_TTL + 1  # ... but well before the hour of a real answer
        assert await conn.lookup(MARIE) is None
        assert state.hits["broken"] == 2
    finally:
        await conn.close()
    assert conn.stats.errors == 2 and "HTTP 500" in conn.stats.last_error
    assert "lookup http: +33612345678 failed: LookupFailed: HTTP 500" in caplog.text


async def test_a_body_that_is_not_json_is_an_error_not_an_exception(
        crm: tuple[Crm, str]) -> None:
    _, base = crm
    conn = HttpJsonLookup(base + "/not-json?n={e164}")
    try:
        assert await conn.lookup(MARIE) is None
    finally:
        await conn.close()
    assert conn.stats.errors == 1 and conn.stats.timeouts == 0


async def test_timeout_bounds_a_slow_server(crm: tuple[Crm, str]) -> None:
    _, base = crm
    conn = HttpJsonLookup(base + "/slow?n={e164}&sleep=5", timeout=0.3)
    t0 = time.monotonic()
    try:
        assert await conn.lookup(MARIE) is None
    finally:
        await conn.close()
    assert time.monotonic() - t0 < 2
    assert conn.stats.timeouts == 1 and conn.stats.errors == 1


async def test_refused_connection_is_an_error(unused_tcp_port: int) -> None:
    conn = HttpJsonLookup(f"http://127.0.0.1:{unused_tcp_port}/x?n={{e164}}")
    try:
        assert await conn.lookup(MARIE) is None
    finally:
        await conn.close()
    assert conn.stats.errors == 1 and "ClientConnectorError" in conn.stats.last_error


async def test_concurrent_lookups_of_one_number_share_one_request(crm: tuple[Crm, str]) -> None:
    state, base = crm
    conn = HttpJsonLookup(base + "/slow?n={e164}&sleep=0.2", timeout=2)
    try:
        results = await asyncio.gather(*(conn.lookup(MARIE) for _ in range(5)))
    finally:
        await conn.close()
    assert [c.name if c else None for c in results] == ["Too Late"] * 5
    assert state.hits["slow"] == 1


# ---------------------------------------------------------------------------------- Dolibarr
THIRDPARTIES = [
    # Matches the LIKE pattern (same digits in order) but is another number: must be dropped.
    {"id": "3", "name": "Faux Positif", "phone": "06 12 34 56 78 00", "client": "1"},
    {"id": "7", "name": "Boulangerie Dupont", "name_alias": "Chez Marie",
     "phone": "06 12 34 56 78", "email": "contact@boulangerie.fr", "client": "2",
     "fournisseur": "0", "country_code": "FR"},
    {"id": "9", "name": "Fournitures SA", "phone": "", "phone_mobile": "+33 6 98 76 54 32",
     "client": "0", "fournisseur": "1"},
]


def dolibarr(base: str, **kw: Any) -> DolibarrLookup:
    return DolibarrLookup(base + "/doli/", API_KEY, timeout=2, **kw)


async def test_dolibarr_finds_a_thirdparty_by_phone_as_typed(crm: tuple[Crm, str]) -> None:
    state, base = crm
    state.thirdparties = THIRDPARTIES
    conn = dolibarr(base)
    try:
        marie = await conn.lookup(MARIE)
        supplier = await conn.lookup("+33698765432")
    finally:
        await conn.close()
    assert marie == ExternalContact(
        source="dolibarr", number=MARIE, name="Boulangerie Dupont", company="Chez Marie",
        email="contact@boulangerie.fr", type="prospect",
        url=base + "/doli/societe/card.php?socid=7", external_id="7")
    assert supplier is not None and (supplier.name, supplier.type) == ("Fournitures SA",
                                                                      "supplier")
    assert state.queries[0]["sqlfilters"] == (
        "(t.phone:like:'%6%1%2%3%4%5%6%7%8') OR (t.phone_mobile:like:'%6%1%2%3%4%5%6%7%8')")
    assert state.queries[0]["limit"] == "20"


@pytest.mark.parametrize("old", [False, True])
async def test_dolibarr_unknown_number_is_none_whatever_the_version(
        crm: tuple[Crm, str], old: bool) -> None:
    state, base = crm
    state.thirdparties, state.old_dolibarr = THIRDPARTIES, old
    conn = dolibarr(base)
    try:
        assert await conn.lookup("+33155555555") is None
        assert await conn.lookup("+33155555555") is None  # negative cache
    finally:
        await conn.close()
    assert conn.stats.not_found == 1 and conn.stats.errors == 0
    assert state.hits["thirdparties"] == (2 if old else 1)  # old: 503 then phone-only retry


async def test_dolibarr_before_20_is_searched_on_phone_only(crm: tuple[Crm, str]) -> None:
    state, base = crm
    state.thirdparties, state.old_dolibarr = THIRDPARTIES, True
    conn = dolibarr(base)
    try:
        assert (await conn.lookup(MARIE) or ExternalContact("", "", "")).external_id == "7"
        assert await conn.lookup("+33123456789") is None
    finally:
        await conn.close()
    assert conn.phone_fields == ("phone",)
    assert [("phone_mobile" in q["sqlfilters"]) for q in state.queries] == [True, False, False]


async def test_a_passing_503_does_not_make_dolibarr_look_old(crm: tuple[Crm, str]) -> None:
    state, base = crm
    state.thirdparties, state.maintenance = THIRDPARTIES, True
    conn = dolibarr(base)
    try:
        assert await conn.lookup(MARIE) is None
        assert conn.phone_fields == ("phone", "phone_mobile")
        assert conn.stats.errors == 1 and "HTTP 503" in conn.stats.last_error
        state.maintenance = False
        conn.clear_cache()
        assert (await conn.lookup("+33698765432") or ExternalContact("", "", "")).name == (
            "Fournitures SA")  # found through phone_mobile
    finally:
        await conn.close()


async def test_dolibarr_wrong_api_key_is_counted(crm: tuple[Crm, str]) -> None:
    state, base = crm
    state.thirdparties = THIRDPARTIES
    conn = DolibarrLookup(base + "/doli/api/index.php", "wrong", timeout=2)
    try:
        assert await conn.lookup(MARIE) is None
    finally:
        await conn.close()
    assert conn.stats.errors == 1 and "HTTP 401" in conn.stats.last_error
    assert API_KEY not in conn.stats.last_error and "wrong" not in conn.stats.last_error


async def test_a_connector_bug_is_logged_with_its_traceback_but_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    class Buggy(CachedLookup):
        name = "buggy"

        async def fetch(self, e164: str, raw: str) -> ExternalContact | None:
            return {}["missing"]  # type: ignore[no-any-return]

    conn = Buggy()
    assert await conn.lookup(MARIE) is None
    assert conn.stats.errors == 1 and "KeyError" in conn.stats.last_error
    assert "Traceback" in caplog.text and "bug while looking up" in caplog.text


# ---------------------------------------------------------------------------------- the chain
def local_match(result: str) -> Callable[[str], Any]:
    async def local(number: str) -> str:
        return f"{result} for {number}"
    return local


async def test_chain_answers_locally_at_once_while_bad_connectors_fail_later(
        crm: tuple[Crm, str]) -> None:
    state, base = crm
    chain = LookupChain([
        HttpJsonLookup(base + "/broken?n={e164}", timeout=2),
        HttpJsonLookup(base + "/slow?n={e164}&sleep=5", timeout=0.5),
    ])
    try:
        t0 = time.monotonic()
        local, task = await chain.lookup("06 12 34 56 78", local_match("Marie"))
        assert local == "Marie for 06 12 34 56 78"
        assert time.monotonic() - t0 < 0.1
        assert not task.done()
        assert await task is None
        assert 0.4 < time.monotonic() - t0 < 3
        assert (state.hits["broken"], state.hits["slow"]) == (1, 1)
        t1 = time.monotonic()
        assert await chain.enrich("+33 6 12 34 56 78") is None  # both failures cached
        assert time.monotonic() - t1 < 0.1
        assert (state.hits["broken"], state.hits["slow"]) == (1, 1)
    finally:
        await chain.close()
    assert {n: (s.errors, s.timeouts) for n, s in chain.stats().items()} == {
        "http": (1, 0), "http#2": (1, 1)}


async def test_chain_delivers_a_late_answer_through_the_callback(crm: tuple[Crm, str]) -> None:
    state, base = crm
    chain = LookupChain([HttpJsonLookup(base + "/lookup?number={e164}", timeout=2),
                         HttpJsonLookup(base + "/slow?n={e164}&sleep=0.3", timeout=2)])
    got: list[ExternalContact] = []
    arrived = asyncio.Event()

    async def on_result(contact: ExternalContact) -> None:
        got.append(contact)
        arrived.set()

    try:
        local, task = await chain.lookup("0711223344", local_match("nobody"), on_result)
        assert local.startswith("nobody") and got == []
        await asyncio.wait_for(arrived.wait(), 3)
        assert got[0].name == "Too Late" and await task == got[0]  # first connector: 404
        _, task = await chain.lookup("0711223344", local_match("nobody"))
        assert (await task) == got[0]
        assert state.hits["slow"] == 1  # cache hit: the server was not asked again
    finally:
        await chain.close()


async def test_chain_never_sends_extensions_or_withheld_numbers(crm: tuple[Crm, str]) -> None:
    state, base = crm
    chain = LookupChain([HttpJsonLookup(base + "/lookup?number={e164}")])
    try:
        for number in ("1001", "anonymous", "", "abc"):
            assert await chain.enrich(number) is None
    finally:
        await chain.close()
    assert sum(state.hits.values()) == 0


async def test_close_cancels_pending_lookups(crm: tuple[Crm, str]) -> None:
    _, base = crm
    chain = LookupChain([HttpJsonLookup(base + "/slow?n={e164}&sleep=5", timeout=10)])
    task = chain.enrich_later(MARIE)
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    await chain.close()
    assert time.monotonic() - t0 < 1
    assert task.cancelled()


# ---------------------------------------------------------------------------------- settings
def test_settings_from_config_and_build_chain() -> None:
    config = load_config(None, env={"CTI_LOOKUP_DOLIBARR_URL": "https://erp.example",
                                    "CTI_LOOKUP_DOLIBARR_API_KEY": "k",
                                    "CTI_LOOKUP_HTTP_URL": "https://crm.example/?n={e164}"})
    settings = LookupSettings.from_config(config)
    assert settings == LookupSettings(http_url="https://crm.example/?n={e164}",
                                      dolibarr_url="https://erp.example",
                                      dolibarr_api_key="k")
    chain = build_chain(settings, region="BE")
    assert [c.name for c in chain.connectors] == ["dolibarr", "http"]
    assert chain.region == "BE"
    assert build_chain(LookupSettings.from_config(load_config(None, env={}))).connectors == []
    with pytest.raises(ValueError, match="must contain"):
        LookupSettings(http_url="https://crm.example/lookup")
    with pytest.raises(ValueError, match="api_key"):
        LookupSettings(dolibarr_url="https://erp.example")
    with pytest.raises(ValueError, match="http_timeout"):
        LookupSettings(http_timeout=0)
