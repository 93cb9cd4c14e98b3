"""The client pages over real loopback HTTP and a real SQLite file: the list and its search,
the card (numbers with click-to-dial, the calls the viewer may see, in their time zone), the
create/edit forms (national numbers stored in E.164, refused input given back as typed),
delete for supervisors, CSRF, private cards, login, escaping, and the screen pop's
"Open client" link landing on the card."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from cti.calls.model import CallRecord, Party
from cti.clients.directory import ClientDirectory
from cti.clients.model import Client
from cti.errors import NotFound
from cti.store.sqlite import Store
from cti.users import UserService
from cti.webapp.keys import CLIENTS, TICKETS
from cti.webapp.pop import Targets
from tests.web_helpers import app_of, hidden, login, open_store, seed_users, serve_app

PARIS = ZoneInfo("Europe/Paris")
#: Monday 23 November 2026, 10:00 in Paris.
T = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS).timestamp()
EN = {"Accept-Language": "en"}


def call(call_id: str, started: float, *, extension: str, status: str = "answered",
         talk: float = 75.0) -> CallRecord:
    answered = status == "answered"
    return CallRecord(
        pbx="main", call_id=call_id, direction="inbound",
        status=status, answered=answered,  # type: ignore[arg-type]
        caller=Party("+33612345678", "Marie Dupont"), callee=Party("0155512345"),
        extension=extension if answered else None, extensions_rung=(extension,),
        queue=None, started_at=started, answered_at=started + 5 if answered else None,
        ended_at=started + 5 + (talk if answered else 20), hangup_cause="16")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    yield s
    await s.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[TestClient[Any, Any]]:
    users = UserService(store)
    await seed_users(users)
    async with serve_app(store, users=users) as c:
        yield c


def directory(client: TestClient[Any, Any]) -> ClientDirectory:
    return app_of(client)[CLIENTS]


async def marie_and_paul(client: TestClient[Any, Any]) -> tuple[Client, Client]:
    d = directory(client)
    marie = await d.create({"name": "Marie Dupont", "phones": ["06 12 34 56 78"],
                            "tags": ["Fidèle"], "type": "client",
                            "emails": ["marie@example.fr"], "notes": "Rappeler le matin"})
    paul = await d.create({"name": "Paul Martin", "phones": ["01 40 00 00 00"],
                           "tags": ["fournisseur"], "type": "supplier"})
    return marie, paul


async def page(client: TestClient[Any, Any], path: str, status: int = 200,
               **kwargs: Any) -> str:
    resp = await client.get(path, **kwargs)
    text = await resp.text()
    assert resp.status == status, (path, resp.status, text[:500])
    return text


def names_listed(page_html: str) -> list[str]:
    return re.findall(r'<a href="/clients/\d+">([^<]*)</a>', page_html)


# --------------------------------------------------------------------------- list
async def test_list_and_search_by_name_number_fragment_tag_and_type(
        client: TestClient[Any, Any]) -> None:
    marie, paul = await marie_and_paul(client)
    await login(client, "agent1")
    everyone = await page(client, "/clients")
    assert names_listed(everyone) == ["Marie Dupont", "Paul Martin"]  # by name
    assert "06 12 34 56 78" in everyone and "01 40 00 00 00" in everyone  # as people write
    assert "Fidèle" in everyone and "fournisseur" in everyone  # type of Paul, in French
    assert names_listed(await page(client, "/clients?q=dupont")) == ["Marie Dupont"]
    assert names_listed(await page(client, "/clients?q=56+78")) == ["Marie Dupont"]
    assert names_listed(await page(client, "/clients?q=0140000000")) == ["Paul Martin"]
    assert names_listed(await page(client, "/clients?tag=fid%C3%A8le")) == ["Marie Dupont"]
    assert names_listed(await page(client, "/clients?type=supplier")) == ["Paul Martin"]
    nothing = await page(client, "/clients?q=nobody-like-this", headers=EN)
    assert names_listed(nothing) == [] and "No client matches this search." in nothing
    # the list links every card, and the nav marks where we are
    assert f'href="/clients/{marie.id}"' in everyone and f'href="/clients/{paul.id}"' in everyone
    assert '<a href="/clients" aria-current="page">' in everyone


async def test_a_long_list_has_a_more_link(client: TestClient[Any, Any]) -> None:
    d = directory(client)
    for i in range(55):
        await d.create({"name": f"Client {i:02d}"})
    await login(client, "agent1")
    first = await page(client, "/clients")
    assert len(names_listed(first)) == 50
    more = re.search(r'href="/clients\?([^"]*)" rel="next"', first)
    assert more is not None
    rest = await page(client, "/clients?" + html.unescape(more.group(1)))
    assert names_listed(rest) == [f"Client {i}" for i in range(50, 55)]
    assert 'rel="next"' not in rest


# --------------------------------------------------------------------------- card
async def test_the_card_shows_numbers_to_dial_and_the_calls_the_viewer_may_see(
        store: Store, client: TestClient[Any, Any]) -> None:
    marie, _ = await marie_and_paul(client)
    await store.save_call(call("c1", T, extension="1001"))
    await store.save_call(call("c2", T + 600, extension="1002", status="missed"))
    d = directory(client)
    for call_id in ("c1", "c2"):
        await d.link_call("main", call_id, {marie.id: "e164"}, number="+33612345678", at=T)
    await login(client, "agent1")
    card = await page(client, f"/clients/{marie.id}", headers=EN)
    assert "<h1>Marie Dupont</h1>" in card
    assert 'data-dial="+33612345678"' in card and 'data-shown="06 12 34 56 78"' in card
    assert "marie@example.fr" in card and "Rappeler le matin" in card and "Fidèle" in card
    # agent1 (1001) sees its call, in the viewer's zone, with status and duration…
    assert 'href="/calls/main/c1"' in card and "23/11/2026 10:00" in card
    assert "Answered" in card and "1 min 15 s" in card
    # …not the one that rang only at 1002, which the call page would refuse them
    assert "/calls/main/c2" not in card
    assert (await client.get("/calls/main/c1")).status == 200
    assert f'href="/calls?client={marie.id}"' in card
    ny = await page(client, f"/clients/{marie.id}", cookies={"cti_tz": "America/New_York"})
    assert "23/11/2026 04:00" in ny
    await login(client, "boss")
    boss_card = await page(client, f"/clients/{marie.id}", headers=EN)
    assert 'href="/calls/main/c1"' in boss_card and 'href="/calls/main/c2"' in boss_card
    assert "Missed" in boss_card and "data-dial=" not in boss_card  # no extension, no button


async def test_unknown_client_is_404(client: TestClient[Any, Any]) -> None:
    await login(client, "agent1")
    await page(client, "/clients/999", 404)
    await page(client, "/clients/999/edit", 404)


# --------------------------------------------------------------------------- forms
async def test_create_through_the_form_stores_national_numbers_in_e164(
        client: TestClient[Any, Any]) -> None:
    await login(client, "agent1")
    form = await page(client, "/clients/new?number=0612345678")
    token = hidden(form, "csrf_token")
    assert "0612345678</textarea>" in form  # prefilled from ?number=
    resp = await client.post("/clients/new", allow_redirects=False, data={
        "csrf_token": token, "name": "  Jean   Valjean ", "kind": "person", "type": "vip",
        "visibility": "public", "phones": "06 12 34 56 78\n\n01.40.00.00.00\n",
        "tags": "Fidèle, urgent,", "emails": "jean@example.fr", "address": "1 rue X",
        "notes": "ligne 1\nligne 2"})
    assert resp.status == 303, await resp.text()
    client_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    stored = await directory(client).get(client_id)
    assert [p.e164 for p in stored.phones] == ["+33612345678", "+33140000000"]
    assert (stored.name, stored.type, stored.tags, stored.emails) == (
        "Jean Valjean", "vip", ("Fidèle", "urgent"), ("jean@example.fr",))
    assert stored.notes == "ligne 1\nligne 2" and stored.visibility == "public"
    card = await page(client, resp.headers["Location"])
    assert "Jean Valjean" in card and 'data-dial="+33140000000"' in card


async def test_a_private_card_made_in_the_form_belongs_to_its_author(
        client: TestClient[Any, Any]) -> None:
    token = await login(client, "agent2")
    resp = await client.post("/clients/new", allow_redirects=False, data={
        "csrf_token": token, "name": "Cousin", "kind": "person", "type": "client",
        "visibility": "private", "phones": "0699999999"})
    assert resp.status == 303
    found = await directory(client).search("Cousin")
    assert [(c.visibility, c.owner) for c in found] == [("private", "agent2")]


@pytest.mark.parametrize(("changes", "says"), [
    ({"name": "   "}, "Vérifiez « Nom » : un nom est obligatoire"),
    ({"phones": "06 12 34 56 78\nabc"},
     "Vérifiez « Numéros de téléphone » : &#39;abc&#39; n&#39;est pas un numéro de téléphone"),
    ({"emails": "not-an-address"}, "n&#39;est pas une adresse e-mail"),
    ({"type": "emperor"}, "Vérifiez « Type » : doit être l&#39;une de ces valeurs"),
])
async def test_an_invalid_form_says_why_and_keeps_what_was_typed(
        client: TestClient[Any, Any], changes: dict[str, str], says: str) -> None:
    token = await login(client, "agent1")
    typed = {"csrf_token": token, "name": "Marie <Dupont>", "kind": "person",
             "type": "client", "visibility": "public", "phones": "06 12 34 56 78",
             "tags": "a, b", "emails": "marie@example.fr", "address": "3 rue Y",
             "notes": "à rappeler\nvite", **changes}
    resp = await client.post("/clients/new", data=typed)
    text = await resp.text()
    assert resp.status == 400
    assert says in text
    for field in ("name", "tags"):
        assert f'name="{field}" value="{html.escape(typed[field])}"' in text
    for field in ("phones", "emails", "address", "notes"):
        assert f"{html.escape(typed[field])}</textarea>" in text
    assert f'<option value="{typed["type"]}" selected>' in text or typed["type"] == "emperor"
    assert await directory(client).count() == 0


async def test_an_invalid_form_in_english(client: TestClient[Any, Any]) -> None:
    token = await login(client, "agent1")
    resp = await client.post("/clients/new", headers=EN, data={
        "csrf_token": token, "name": "", "kind": "person", "type": "client",
        "visibility": "public", "phones": "", "tags": "", "emails": "", "address": "",
        "notes": "kept"})
    text = await resp.text()
    assert resp.status == 400 and "Check “Name”: a name is required" in text
    assert "kept</textarea>" in text


async def test_edit_changes_fields_and_keeps_the_labels_of_untouched_numbers(
        client: TestClient[Any, Any]) -> None:
    d = directory(client)
    marie = await d.create({"name": "Marie", "phones": [
        {"number": "01 40 00 00 00", "label": "home"}, "+32 471 12 34 56"]})
    token = await login(client, "agent1")
    form = await page(client, f"/clients/{marie.id}/edit")
    assert "01 40 00 00 00\n+32 471 12 34 56</textarea>" in form
    data = {"csrf_token": token, "name": "Marie Curie", "kind": "person", "type": "vip",
            "visibility": "public", "phones": "01 40 00 00 00\n+32 471 12 34 56",
            "tags": "", "emails": "", "address": "", "notes": "n"}
    resp = await client.post(f"/clients/{marie.id}/edit", data=data, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/clients/{marie.id}"
    kept = await d.get(marie.id)
    assert (kept.name, kept.type, kept.notes) == ("Marie Curie", "vip", "n")
    assert [(p.label, p.raw) for p in kept.phones] == [("home", "01 40 00 00 00"),
                                                       ("mobile", "+32 471 12 34 56")]
    data["phones"] = "+32 471 12 34 56\n01 40 00 00 00\n06 98 76 54 32"
    resp = await client.post(f"/clients/{marie.id}/edit", data=data, allow_redirects=False)
    assert resp.status == 303
    changed = await d.get(marie.id)
    assert [(p.label, p.e164) for p in changed.phones] == [
        ("mobile", "+32471123456"), ("home", "+33140000000"), ("mobile", "+33698765432")]
    data["name"] = ""
    refused = await client.post(f"/clients/{marie.id}/edit", data=data)
    assert refused.status == 400 and "06 98 76 54 32" in await refused.text()
    assert (await d.get(marie.id)).name == "Marie Curie"


# --------------------------------------------------------------------------- rules
async def test_posts_without_the_csrf_token_are_refused(client: TestClient[Any, Any]) -> None:
    marie, _ = await marie_and_paul(client)
    await login(client, "boss")
    resp = await client.post("/clients/new", data={"name": "Forged", "kind": "person",
                                                    "type": "client", "visibility": "public"})
    assert resp.status == 403
    resp = await client.post(f"/clients/{marie.id}/edit", data={
        "csrf_token": "wrong", "name": "Forged", "kind": "person", "type": "client",
        "visibility": "public"})
    assert resp.status == 403
    resp = await client.post(f"/clients/{marie.id}/delete", data={})
    assert resp.status == 403
    assert (await directory(client).get(marie.id)).name == "Marie Dupont"
    assert await directory(client).search("Forged") == []


async def test_delete_is_for_supervisors_and_says_why_it_is_refused(
        client: TestClient[Any, Any]) -> None:
    marie, paul = await marie_and_paul(client)
    d = directory(client)
    token = await login(client, "agent1")
    card = await page(client, f"/clients/{marie.id}")
    assert f'action="/clients/{marie.id}/delete"' not in card
    resp = await client.post(f"/clients/{marie.id}/delete", data={"csrf_token": token})
    assert resp.status == 403 and (await d.get(marie.id)).id == marie.id

    async def veto(c: Client) -> str | None:
        return "open tickets" if c.id == paul.id else None

    d.add_delete_guard(veto)
    token = await login(client, "boss")
    card = await page(client, f"/clients/{marie.id}")
    assert f'action="/clients/{marie.id}/delete"' in card
    resp = await client.post(f"/clients/{marie.id}/delete", data={"csrf_token": token},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/clients")
    with pytest.raises(NotFound):
        await d.get(marie.id)
    refused = await client.post(f"/clients/{paul.id}/delete", data={"csrf_token": token},
                                headers=EN)
    assert refused.status == 409
    assert "This client cannot be deleted: open tickets" in await refused.text()
    assert (await d.get(paul.id)).name == "Paul Martin"


async def test_an_agent_cannot_see_another_users_private_client(
        client: TestClient[Any, Any]) -> None:
    d = directory(client)
    secret = await d.create({"name": "Cousine Zoé", "visibility": "private",
                             "owner": "agent2", "phones": ["0611111111"]})
    token = await login(client, "agent1")
    await page(client, f"/clients/{secret.id}", 404)
    await page(client, f"/clients/{secret.id}/edit", 404)
    resp = await client.post(f"/clients/{secret.id}/edit", data={
        "csrf_token": token, "name": "Hacked", "kind": "person", "type": "client",
        "visibility": "public"})
    assert resp.status == 404
    assert "Cousine" not in await page(client, "/clients?q=0611111111")
    assert (await d.get(secret.id)).name == "Cousine Zoé"
    await login(client, "agent2")
    assert "Cousine Zoé" in await page(client, f"/clients/{secret.id}")
    assert "Cousine Zoé" in await page(client, "/clients")
    await login(client, "boss")
    assert "Cousine Zoé" in await page(client, f"/clients/{secret.id}")


async def test_anonymous_is_sent_to_the_login_page(client: TestClient[Any, Any]) -> None:
    marie, _ = await marie_and_paul(client)
    for path in ("/clients", f"/clients/{marie.id}", "/clients/new",
                 f"/clients/{marie.id}/edit"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"].startswith("/login"), path
    resp = await client.get("/clients", allow_redirects=False)
    assert resp.headers["Location"] in ("/login?next=/clients", "/login?next=%2Fclients")
    resp = await client.post(f"/clients/{marie.id}/delete", allow_redirects=False)
    assert resp.status == 302
    assert (await directory(client).get(marie.id)).id == marie.id


async def test_names_are_escaped(client: TestClient[Any, Any]) -> None:
    d = directory(client)
    evil = await d.create({"name": "<script>alert(1)</script>", "tags": ['"><b>x'],
                           "notes": "<img src=x onerror=alert(2)>", "phones": ["0612345678"]})
    await login(client, "agent1")
    for path in ("/clients", f"/clients/{evil.id}", f"/clients/{evil.id}/edit"):
        text = await page(client, path)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>x" not in text


async def test_the_pops_open_client_link_lands_on_the_card(
        client: TestClient[Any, Any]) -> None:
    marie, _ = await marie_and_paul(client)
    targets = Targets.from_router(app_of(client).router)
    assert targets.client == "/clients/{id}"
    await login(client, "agent1")
    card = await page(client, targets.client.replace("{id}", str(marie.id)))
    assert "<h1>Marie Dupont</h1>" in card
    assert str(app_of(client).router["client_page"].url_for(id=str(marie.id))) == (
        f"/clients/{marie.id}")


async def test_the_card_lists_the_clients_open_tickets_the_viewer_may_see(
        client: TestClient[Any, Any]) -> None:
    marie, _ = await marie_and_paul(client)
    tickets = app_of(client)[TICKETS]
    open_one = await tickets.create("boss", {"subject": "Box en panne", "client_id": marie.id})
    secret = await tickets.create("boss", {"subject": "Litige interne", "public": False,
                                           "client_id": marie.id})
    done = await tickets.create("boss", {"subject": "Ancienne demande", "client_id": marie.id})
    await tickets.set_status(done.id, "boss", "resolved")
    await login(client, "agent1")
    page = await (await client.get(f"/clients/{marie.id}")).text()
    assert open_one.number in page and "Box en panne" in page
    assert secret.number not in page  # private, and not agent1's
    assert done.number not in page  # resolved: not open
    assert f'href="/tickets/new?client={marie.id}"' in page
    await login(client, "boss")
    assert secret.number in await (await client.get(f"/clients/{marie.id}")).text()
