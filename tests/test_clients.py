"""The client directory against a real SQLite file: cards, lookup, merge, history."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cti.calls.model import CallRecord, Party
from cti.clients.directory import ClientDirectory
from cti.clients.model import RANK_EXACT, RANK_LAST_DIGITS, Client, ClientPhone, Period
from cti.clients.settings import ClientSettings
from cti.errors import Conflict, NotFound, ValidationError
from cti.store.sqlite import Store

MARIE = "+33612345678"
#: Monday 2026-11-23 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp()


def ticking(start: float = 1000.0) -> Callable[[], float]:
    now = [start]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    return clock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


@pytest.fixture
def directory(store: Store) -> ClientDirectory:
    return ClientDirectory(store, ClientSettings(), clock=ticking())


def call(call_id: str, started_at: float, *, answered: bool = True, number: str = MARIE,
         direction: str = "inbound") -> CallRecord:
    return CallRecord(
        pbx="main", call_id=call_id, direction=direction,  # type: ignore[arg-type]
        status="answered" if answered else "missed", answered=answered,
        caller=Party(number, ""), callee=Party("0155512345", ""), extension="1001",
        extensions_rung=("1001",), queue=None, started_at=started_at,
        answered_at=started_at + 3 if answered else None, ended_at=started_at + 60,
        hangup_cause="16")


async def linked_call(store: Store, directory: ClientDirectory, client: Client,
                      record: CallRecord) -> None:
    await store.save_call(record)
    await directory.link_call(record.pbx, record.call_id, {client.id: "e164"},
                              number=record.caller.number, at=record.started_at)


# --------------------------------------------------------------------------- one number, one key
async def test_the_same_number_typed_three_ways_is_one_phone_and_one_client(
        directory: ClientDirectory) -> None:
    marie = await directory.create({
        "name": "Marie Dupont",
        "phones": ["06 12 34 56 78", "+33612345678", {"number": "0033 6 12 34 56 78"}],
    })
    assert marie.phones == (ClientPhone("mobile", "06 12 34 56 78", MARIE, "valid"),)
    for typed in ("06 12 34 56 78", "+33612345678", "0033 6 12 34 56 78", "33612345678"):
        matches = await directory.match(typed, direction="inbound")
        assert [(m.client.id, m.rank, m.how) for m in matches] == [(marie.id, RANK_EXACT, "e164")]
        assert matches[0].client == marie
        assert matches[0].phone == marie.phones[0]


async def test_two_clients_sharing_a_number_both_come_back_most_recent_first(
        store: Store, directory: ClientDirectory) -> None:
    office = await directory.create({"name": "Dupont SARL", "kind": "company",
                                     "phones": ["01 55 51 23 45"]})
    paul = await directory.create({"name": "Paul Dupont", "company_id": office.id,
                                   "phones": ["+33 1 55 51 23 45"]})
    matches = await directory.match("+33155512345", direction="inbound")
    # Nobody contacted yet: the most recently edited first.
    assert [m.client.id for m in matches] == [paul.id, office.id]
    await linked_call(store, directory, office, call("c1", T0, number="+33155512345"))
    matches = await directory.match("0155512345", direction="inbound")
    assert [(m.client.name, m.rank) for m in matches] == [
        ("Dupont SARL", RANK_EXACT), ("Paul Dupont", RANK_EXACT)]
    assert matches[0].client.last_contact_at == T0


async def test_last_digits_fallback_finds_a_foreign_number_stored_without_its_country_code(
        store: Store) -> None:
    directory = ClientDirectory(store, ClientSettings(default_region="FR"))
    # A Belgian mobile typed in national form in a French office reads as a French number...
    jan = await directory.create({"name": "Jan Peeters", "phones": ["0472 12 34 56"]})
    assert jan.phones[0].e164 == "+33472123456"
    # ... so the real caller id only shares its last 9 digits.
    matches = await directory.match("+32472123456", direction="inbound")
    assert [(m.client.id, m.rank, m.how) for m in matches] == [
        (jan.id, RANK_LAST_DIGITS, "last_digits")]
    off = ClientDirectory(store, ClientSettings(match_last_digits=0))
    assert await off.match("+32472123456", direction="inbound") == []


async def test_exact_matches_make_the_last_digits_rule_unnecessary(
        directory: ClientDirectory) -> None:
    fr = await directory.create({"name": "FR", "phones": [MARIE]})
    be = await directory.create({"name": "BE", "phones": ["+32 612 34 56 78"]})
    assert [m.client.id for m in await directory.match(MARIE, direction="inbound")] == [fr.id]
    swiss = await directory.match("+41 61 234 56 78", direction="inbound")
    assert {m.client.id for m in swiss} == {fr.id, be.id}
    assert {m.rank for m in swiss} == {RANK_LAST_DIGITS}


async def test_numbers_kept_raw_match_on_their_digits(directory: ClientDirectory) -> None:
    odd = await directory.create({"name": "Odd", "phones": ["06 12 34 5"]})
    assert odd.phones == (ClientPhone("other", "06 12 34 5", None, "invalid"),)
    matches = await directory.match("0612345", direction="inbound")
    assert [(m.client.id, m.how) for m in matches] == [(odd.id, "raw")]


# --------------------------------------------------------------------------- never matched
async def test_withheld_numbers_never_match_nor_create(directory: ClientDirectory) -> None:
    await directory.create({"name": "Someone", "phones": [MARIE]})
    for withheld in ("", "anonymous", "Restricted", "unknown", "<unknown>"):
        assert await directory.match(withheld, direction="inbound") == []
        with pytest.raises(ValidationError) as err:
            await directory.auto_create(withheld)
        assert err.value.field == "phones"
    assert await directory.count() == 1


async def test_extensions_are_never_matched_against_clients(directory: ClientDirectory) -> None:
    desk = await directory.create({"name": "Reception desk", "phones": ["1001", MARIE]})
    assert desk.phones[0] == ClientPhone("other", "1001", None, "extension")
    assert await directory.match("1001", direction="inbound") == []
    assert await directory.match(MARIE, direction="internal") == []
    with pytest.raises(ValidationError) as err:
        await directory.auto_create("1001")
    assert err.value.field == "number"


# --------------------------------------------------------------------------- creating
async def test_auto_create_names_the_client_after_the_number(directory: ClientDirectory) -> None:
    client = await directory.auto_create("0612345678")
    assert (client.name, client.type, client.auto_created, client.kind) == (
        "+33 6 12 34 56 78", "prospect", True, "person")
    assert client.phones == (ClientPhone("mobile", "0612345678", MARIE, "valid"),)
    assert await directory.get(client.id) == client
    typed = await directory.create({"name": "Typed"})
    assert typed.auto_created is False


async def test_unverified_numbers_are_stored_in_e164_and_flagged(
        store: Store) -> None:
    directory = ClientDirectory(store, ClientSettings(default_region="BE"))
    client = await directory.create({"name": "Seed", "phones": ["+32 72 84 43 18"]})
    assert client.phones == (ClientPhone("work", "+32 72 84 43 18", "+3272844318", "unverified"),)
    assert [m.client.id for m in await directory.match("072 84 43 18", direction="inbound")] == [
        client.id]


@pytest.mark.parametrize(("data", "field"), [
    ({}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "A", "colour": "red"}, "colour"),
    ({"name": "A", "type": "friend"}, "type"),
    ({"name": "A", "kind": "robot"}, "kind"),
    ({"name": "A", "emails": ["not-an-address"]}, "emails"),
    ({"name": "A", "emails": "a@b.fr"}, "emails"),
    ({"name": "A", "visibility": "private"}, "owner"),
    ({"name": "A", "visibility": "secret", "owner": "alice"}, "visibility"),
    ({"name": "A", "phones": ["anonymous"]}, "phones"),
    ({"name": "A", "phones": [{"number": MARIE, "label": "pager"}]}, "phones"),
    ({"name": "A", "phones": [{"number": MARIE, "region": "XX"}]}, "phones"),
    ({"name": "A", "company_id": 999}, "company_id"),
    ({"name": "A", "company_id": "1"}, "company_id"),
    ({"name": "A", "kind": "company", "company_id": 1}, "company_id"),
])
async def test_validation_errors_name_the_field(directory: ClientDirectory,
                                                data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        await directory.create(data)
    assert err.value.field == field
    assert await directory.count() == 0  # nothing half-written


async def test_a_company_member_must_point_at_a_company(directory: ClientDirectory) -> None:
    person = await directory.create({"name": "Not a company"})
    with pytest.raises(ValidationError) as err:
        await directory.create({"name": "B", "company_id": person.id})
    assert (err.value.field, err.value.message) == (
        "company_id", f"client {person.id} is not a company")


async def test_cleaning_trims_and_deduplicates(directory: ClientDirectory) -> None:
    client = await directory.create({
        "name": "  Ana   Pop ", "tags": ["VIP", "vip", " export "],
        "emails": ["ana@example.ro", "ANA@example.ro"], "owner": "alice",
        "visibility": "private", "phones": [{"number": "021 312 34 56", "region": "ro",
                                             "label": "work"}]})
    assert (client.name, client.tags, client.emails, client.visibility) == (
        "Ana Pop", ("VIP", "export"), ("ana@example.ro",), "private")
    assert client.phones == (ClientPhone("work", "021 312 34 56", "+40213123456", "valid"),)


# --------------------------------------------------------------------------- editing
async def test_update_changes_only_given_fields_and_lookup_follows_the_phones(
        directory: ClientDirectory) -> None:
    marie = await directory.create({"name": "Marie", "tags": ["a"], "phones": [MARIE]})
    same = await directory.update(marie.id, {"name": "Marie"})
    assert same == marie  # nothing changed, not even updated_at
    moved = await directory.update(marie.id, {"phones": ["+33 6 98 76 54 32"], "notes": "x"})
    assert (moved.name, moved.tags, moved.notes) == ("Marie", ("a",), "x")
    assert moved.updated_at > marie.updated_at
    assert await directory.match(MARIE, direction="inbound") == []
    assert [m.client.id for m in await directory.match("0698765432", direction="inbound")] == [
        marie.id]
    with pytest.raises(ValidationError) as err:
        await directory.update(marie.id, {"type": "nope"})
    assert err.value.field == "type"


async def test_unknown_ids_are_not_found(directory: ClientDirectory) -> None:
    for attempt in (directory.get(42), directory.update(42, {"name": "x"}), directory.delete(42),
                    directory.history(42)):
        with pytest.raises(NotFound):
            await attempt


async def test_delete_can_be_vetoed_and_removes_the_card(
        store: Store, directory: ClientDirectory) -> None:
    marie = await directory.create({"name": "Marie", "phones": [MARIE]})
    await linked_call(store, directory, marie, call("c1", T0))
    open_tickets = {marie.id: 2}

    async def tickets_guard(client: Client) -> str | None:
        n = open_tickets.get(client.id, 0)
        return f"{n} open tickets" if n else None

    directory.add_delete_guard(tickets_guard)
    assert await directory.can_delete(marie.id) == "2 open tickets"
    with pytest.raises(Conflict, match="2 open tickets"):
        await directory.delete(marie.id)
    assert (await directory.get(marie.id)).name == "Marie"
    open_tickets.clear()
    await directory.delete(marie.id)
    with pytest.raises(NotFound):
        await directory.get(marie.id)
    assert await directory.match(MARIE, direction="inbound") == []
    assert await store.count_calls() == 1  # the call log keeps the call
    assert await store.query("SELECT * FROM call_clients") == []


# --------------------------------------------------------------------------- merging
async def test_merge_moves_phones_emails_tags_and_all_call_history(
        store: Store, directory: ClientDirectory) -> None:
    auto = await directory.auto_create(MARIE)
    marie = await directory.create({"name": "Marie Dupont", "phones": ["+33 1 55 51 23 45"],
                                    "emails": ["marie@example.fr"], "tags": ["vip"]})
    await directory.update(auto.id, {"tags": ["VIP", "new"], "notes": "called twice"})
    for i in range(3):
        await linked_call(store, directory, auto, call(f"a{i}", T0 + i * 3600))
    await linked_call(store, directory, marie, call("m0", T0 - 86400, number="0155512345"))
    shared = call("both", T0 + 7200 + 1)
    await linked_call(store, directory, auto, shared)
    await linked_call(store, directory, marie, shared)

    merged = await directory.merge(auto.id, marie.id)
    # The human-made name wins over the auto-created one, and the card is no longer "auto".
    assert (merged.id, merged.name, merged.auto_created) == (auto.id, "Marie Dupont", False)
    assert [p.e164 for p in merged.phones] == [MARIE, "+33155512345"]
    assert (merged.emails, merged.tags, merged.notes) == (
        ("marie@example.fr",), ("VIP", "new"), "called twice")
    with pytest.raises(NotFound):
        await directory.get(marie.id)
    history = await directory.history(auto.id)
    assert sorted(c["call_id"] for c in history.calls) == ["a0", "a1", "a2", "both", "m0"]
    assert history.total == 5
    assert [m.client.id for m in await directory.match("0155512345", direction="inbound")] == [
        auto.id]


async def test_merge_refuses_itself_and_mixed_kinds(directory: ClientDirectory) -> None:
    person = await directory.create({"name": "P"})
    company = await directory.create({"name": "C", "kind": "company"})
    with pytest.raises(ValidationError) as err:
        await directory.merge(person.id, person.id)
    assert err.value.field == "absorb_id"
    with pytest.raises(ValidationError):
        await directory.merge(person.id, company.id)
    with pytest.raises(NotFound):
        await directory.merge(person.id, 999)
    assert await directory.count() == 2


async def test_merging_companies_moves_their_members(directory: ClientDirectory) -> None:
    keep = await directory.create({"name": "ACME", "kind": "company"})
    old = await directory.create({"name": "ACME Ltd", "kind": "company"})
    member = await directory.create({"name": "Wile", "company_id": old.id})
    seen: list[tuple[int, int]] = []

    async def tickets_follow(tx: Any, keep_id: int, absorb_id: int) -> None:
        seen.append((keep_id, absorb_id))

    directory.add_merge_hook(tickets_follow)
    await directory.merge(keep.id, old.id)
    assert (await directory.get(member.id)).company_id == keep.id
    assert seen == [(keep.id, old.id)]
    assert [c.id for c in await directory.search(company_id=keep.id)] == [member.id]


# --------------------------------------------------------------------------- history
async def test_history_counts_per_day_week_month_answered_and_missed(
        store: Store, directory: ClientDirectory) -> None:
    marie = await directory.create({"name": "Marie", "phones": [MARIE]})
    day = 86400.0
    calls = [
        call("mon-1", T0),                                      # 2026-11-23, week 48
        call("mon-2", T0 + 3600, answered=False),
        call("tue", T0 + day, answered=False),                  # 2026-11-24, week 48
        call("next-mon", T0 + 7 * day),                         # 2026-11-30, week 49
        call("december", T0 + 8 * day, direction="outbound"),   # 2026-12-01, week 49
    ]
    for record in calls:
        await linked_call(store, directory, marie, record)
    await store.save_call(call("someone-else", T0 + 2 * day, number="+33698765432"))
    history = await directory.history(marie.id)
    assert (history.total, history.answered, history.missed) == (5, 3, 2)
    assert history.last_contact_at == T0 + 8 * day
    assert [c["call_id"] for c in history.calls] == [
        "december", "next-mon", "tue", "mon-2", "mon-1"]
    assert history.calls[0]["linked_how"] == "e164"
    assert history.by_day == (
        Period("2026-12-01", 1, 1, 0), Period("2026-11-30", 1, 1, 0),
        Period("2026-11-24", 1, 0, 1), Period("2026-11-23", 2, 1, 1))
    assert history.by_week == (Period("2026-W49", 2, 2, 0), Period("2026-W48", 3, 1, 2))
    assert history.by_month == (Period("2026-12", 1, 1, 0), Period("2026-11", 4, 2, 2))
    # Days are days where the agents are: 23:30 UTC is already the next day in Bucharest.
    late = await directory.create({"name": "Late", "phones": ["+40721234567"]})
    await linked_call(store, directory, late, call("late", T0 + 13.5 * 3600,
                                                   number="+40721234567"))
    bucharest = timezone(timedelta(hours=2))
    assert [p.period for p in (await directory.history(late.id, tz=bucharest)).by_day] == [
        "2026-11-24"]
    assert [p.period for p in (await directory.history(late.id)).by_day] == ["2026-11-23"]
    assert (await directory.history(marie.id, limit=2)).total == 5


async def test_linking_is_idempotent_and_checks_the_client(
        store: Store, directory: ClientDirectory) -> None:
    marie = await directory.create({"name": "Marie", "phones": [MARIE]})
    for _ in range(2):
        await directory.link_call("main", "c1", {marie.id: "manual"}, number=MARIE, at=T0)
    assert await store.query("SELECT client_id, how FROM call_clients") == [
        {"client_id": marie.id, "how": "manual"}]
    assert [c.id for c in await directory.clients_of_call("main", "c1")] == [marie.id]
    with pytest.raises(NotFound):
        await directory.link_call("main", "c2", {999: "manual"}, number=MARIE, at=T0)
    # An older call does not move the last contact back.
    await directory.link_call("main", "c0", {marie.id: "manual"}, number=MARIE, at=T0 - 10)
    assert (await directory.get(marie.id)).last_contact_at == T0


# --------------------------------------------------------------------------- searching
async def test_search_by_text_number_tag_and_type(directory: ClientDirectory) -> None:
    marie = await directory.create({"name": "Marie Dupont", "phones": [MARIE], "tags": ["VIP"],
                                    "type": "client"})
    paul = await directory.create({"name": "Paul Leroy", "emails": ["paul@dupont.example"],
                                   "phones": ["+33 6 98 76 54 32"]})
    ana = await directory.create({"name": "Ana 100%_sure", "phones": ["+40721234567"],
                                  "notes": "Romanian office"})

    async def names(**kwargs: Any) -> list[str]:
        return [c.name for c in await directory.search(**kwargs)]

    assert await names(q="dupont") == ["Marie Dupont", "Paul Leroy"]  # name or e-mail
    assert await names(q="ROMANIAN") == ["Ana 100%_sure"]
    assert await names(q="100%_") == ["Ana 100%_sure"]
    assert await names(q="0%") == ["Ana 100%_sure"]  # % and _ are literal characters
    assert await names(q="06 12 34 56 78") == ["Marie Dupont"]
    assert await names(q="5678") == ["Marie Dupont"]
    assert await names(number="0033612345678") == ["Marie Dupont"]
    # Read in FR this is no valid number; its digits (no trunk 0) still end Ana's number.
    assert await names(number="0721 234 567") == ["Ana 100%_sure"]
    assert await names(number="0699999999") == []
    assert await names(number="anonymous") == []
    assert await names(tag="vip") == ["Marie Dupont"]
    assert await names(type="prospect") == ["Ana 100%_sure", "Paul Leroy"]
    assert await names(limit=1, offset=1) == ["Marie Dupont"]
    assert await directory.count(type="prospect") == 2
    assert await directory.count() == 3
    assert {marie.id, paul.id, ana.id} == {c.id for c in await directory.search()}
    with pytest.raises(ValidationError) as err:
        await directory.search(limit=0)
    assert err.value.field == "limit"


async def test_schema_has_the_lookup_indexes(store: Store, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "cti.db") as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT client_id FROM client_phones "
                          "WHERE e164 = ?", (MARIE,)).fetchall()
        versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations")]
    assert "client_phones_e164" in str(plan)
    assert 2 in versions


def test_settings_come_from_the_config() -> None:
    from cti.config import load_config

    config = load_config(env={"CTI_CLIENTS_DEFAULT_REGION": "ro"}, overrides={
        "clients.match_last_digits": 8, "clients.types": ["lead", "customer"],
        "pbx.extension_pattern": r"^9\d{3}$"})
    settings = ClientSettings.from_config(config)
    assert settings == ClientSettings(default_region="RO", match_last_digits=8,
                                      types=("lead", "customer"),
                                      extension_pattern=r"^9\d{3}$")
    assert settings.default_type == "lead"
    with pytest.raises(ValueError, match="default_region"):
        ClientSettings(default_region="XX")
