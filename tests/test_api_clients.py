"""``/api/clients`` over real loopback HTTP, as the UI's scripts call it: CRUD, search by name,
tag, type and by numbers typed every which way, validation errors naming the field, garbage
JSON, unknown ids, roles (merge/delete for supervisors), private cards, vCard, CSRF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cti.clients.model import Client
from cti.store.sqlite import Store
from cti.users import UserService
from cti.webapp.keys import CLIENTS
from tests.web_helpers import app_of, login, open_store, seed_users, serve_app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    store: Store = await open_store(tmp_path)
    users = UserService(store)
    await seed_users(users)
    async with serve_app(store, users=users) as c:
        yield c
    await store.close()


class Api:
    """Calls as one logged-in user, CSRF header included unless told otherwise."""

    def __init__(self, client: TestClient[Any, Any], csrf: str) -> None:
        self.client, self.csrf = client, csrf

    async def __call__(self, method: str, path: str, body: Any = None, *, csrf: bool = True,
                       raw: bytes | None = None, params: dict[str, str] | None = None,
                       ) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        resp = await self.client.request(method, "/api/clients" + path, json=body, data=raw,
                                         headers=headers, params=params)
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def as_user(client: TestClient[Any, Any], username: str) -> Api:
    return Api(client, await login(client, username))


MARIE = {"name": "Marie Dupont", "phones": ["06 12 34 56 78"], "tags": ["Fidèle"],
         "type": "client", "emails": ["marie@example.fr"]}


async def test_crud_as_an_agent(client: TestClient[Any, Any]) -> None:
    api = await as_user(client, "agent1")
    status, marie = await api("POST", "", MARIE)
    assert status == 201
    assert marie["phones"][0]["e164"] == "+33612345678" and marie["tags"] == ["Fidèle"]
    status, got = await api("GET", f"/{marie['id']}")
    assert status == 200 and got == marie
    status, changed = await api("PATCH", f"/{marie['id']}", {"notes": "rappeler lundi",
                                                             "type": "vip"})
    assert status == 200 and (changed["notes"], changed["type"]) == ("rappeler lundi", "vip")
    assert changed["name"] == "Marie Dupont"  # fields not given are kept
    status, page = await api("GET", "", params={"q": "dupont"})
    assert status == 200 and [c["id"] for c in page["clients"]] == [marie["id"]]
    assert page["total"] == 1
    status, none = await api("GET", "", params={"q": "nobody-like-this"})
    assert status == 200 and none == {"clients": [], "total": 0, "limit": 50, "offset": 0}
    status, history = await api("GET", f"/{marie['id']}/history")
    assert status == 200 and history["client_id"] == marie["id"] and history["total"] == 0


@pytest.mark.parametrize("typed", ["06 12 34 56 78", "+33612345678", "0033 6 12 34 56 78",
                                   "0612345678"])
async def test_search_by_number_however_it_is_typed(client: TestClient[Any, Any],
                                                    typed: str) -> None:
    api = await as_user(client, "agent1")
    _, marie = await api("POST", "", MARIE)
    await api("POST", "", {"name": "Paul Martin", "phones": ["+32 71 84 43 18"]})
    status, page = await api("GET", "", params={"number": typed})
    assert status == 200 and [c["id"] for c in page["clients"]] == [marie["id"]]
    _, matches = await api("GET", "/match", params={"number": typed})
    assert [m["client"]["id"] for m in matches["matches"]] == [marie["id"]]


async def test_search_by_fragment_tag_and_type(client: TestClient[Any, Any]) -> None:
    api = await as_user(client, "agent1")
    _, marie = await api("POST", "", MARIE)
    _, paul = await api("POST", "", {"name": "Paul Martin", "phones": ["01 40 00 00 00"],
                                     "tags": ["fournisseur"], "type": "supplier"})

    async def ids(**params: str) -> list[int]:
        status, page = await api("GET", "", params=params)
        assert status == 200
        return [c["id"] for c in page["clients"]]

    assert await ids(q="56 78") == [marie["id"]]
    assert await ids(q="5678") == [marie["id"]]
    assert await ids(tag="fidèle") == [marie["id"]]
    assert await ids(type="supplier") == [paul["id"]]
    assert await ids(limit="1") == [marie["id"]]  # ordered by name
    assert await ids(limit="1", offset="1") == [paul["id"]]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"phones": ["0612345678"]}, "name"),
    ({"name": "X", "emails": ["not-an-address"]}, "emails"),
    ({"name": "X", "type": "emperor"}, "type"),
    ({"name": "X", "colour": "blue"}, "colour"),
    ({"name": "X", "phones": "0612345678"}, "phones"),
])
async def test_validation_errors_name_the_field(client: TestClient[Any, Any],
                                                body: dict[str, Any], field: str) -> None:
    api = await as_user(client, "agent1")
    status, err = await api("POST", "", body)
    assert status == 422
    assert err["error"] == "validation" and err["field"] == field and err["message"]
    _, page = await api("GET", "")
    assert page["total"] == 0


async def test_bad_query_parameters_name_the_parameter(client: TestClient[Any, Any]) -> None:
    api = await as_user(client, "agent1")
    for params, field in (({"limit": "lots"}, "limit"), ({"limit": "0"}, "limit"),
                          ({"offset": "-1"}, "offset"), ({"company_id": "x"}, "company_id")):
        status, err = await api("GET", "", params=params)
        assert (status, err["field"]) == (422, field)


async def test_garbage_json_is_400_and_unknown_ids_404(client: TestClient[Any, Any]) -> None:
    api = await as_user(client, "agent1")
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe", b""):
        status, err = await api("POST", "", raw=raw)
        assert status == 400 and err["error"] == "bad_json", raw
    _, marie = await api("POST", "", MARIE)
    status, err = await api("PATCH", f"/{marie['id']}", raw=b'{"name": ')
    assert status == 400
    for method, path in (("GET", "/999999"), ("PATCH", "/999999"), ("GET", "/999999/history"),
                         ("GET", "/999999/vcard"), ("GET", "/abc")):
        status, err = await api(method, path, {} if method == "PATCH" else None)
        assert status == 404 and err["error"] == "not_found", (method, path)


async def test_only_supervisors_merge_and_delete(client: TestClient[Any, Any]) -> None:
    agent = await as_user(client, "agent1")
    _, keep = await agent("POST", "", MARIE)
    _, dup = await agent("POST", "", {"name": "+33 6 99 88 77 66", "phones": ["0699887766"]})
    assert (await agent("POST", f"/{keep['id']}/merge", {"absorb": dup["id"]}))[0] == 403
    assert (await agent("DELETE", f"/{dup['id']}"))[0] == 403
    assert (await agent("GET", f"/{dup['id']}"))[0] == 200  # untouched

    boss = await as_user(client, "boss")
    status, err = await boss("POST", f"/{keep['id']}/merge", {})
    assert (status, err["field"]) == (422, "absorb")
    status, err = await boss("POST", f"/{keep['id']}/merge", {"absorb": keep["id"]})
    assert (status, err["field"]) == (422, "absorb")
    assert (await boss("POST", f"/{keep['id']}/merge", {"absorb": dup["id"]}, csrf=False))[0] \
        == 403
    status, merged = await boss("POST", f"/{keep['id']}/merge", {"absorb": dup["id"]})
    assert status == 200
    assert {p["e164"] for p in merged["phones"]} == {"+33612345678", "+33699887766"}
    assert (await boss("GET", f"/{dup['id']}"))[0] == 404

    admin = await as_user(client, "root")
    assert (await admin("DELETE", f"/{keep['id']}", csrf=False))[0] == 403
    assert (await admin("DELETE", f"/{keep['id']}"))[0] == 204
    assert (await admin("GET", f"/{keep['id']}"))[0] == 404


async def test_delete_is_refused_while_something_refers_to_the_client(
        client: TestClient[Any, Any]) -> None:
    async def tickets_guard(c: Client) -> str | None:
        return "2 open tickets" if c.name == "Marie Dupont" else None

    app_of(client)[CLIENTS].add_delete_guard(tickets_guard)
    boss = await as_user(client, "boss")
    _, marie = await boss("POST", "", MARIE)
    status, err = await boss("DELETE", f"/{marie['id']}")
    assert status == 409 and err["error"] == "conflict" and "2 open tickets" in err["message"]
    assert (await boss("GET", f"/{marie['id']}"))[0] == 200


async def test_mutations_need_the_csrf_header(client: TestClient[Any, Any]) -> None:
    api = await as_user(client, "agent1")
    _, marie = await api("POST", "", MARIE)
    assert (await api("POST", "", MARIE, csrf=False))[0] == 403
    assert (await api("PATCH", f"/{marie['id']}", {"notes": "x"}, csrf=False))[0] == 403
    _, still = await api("GET", f"/{marie['id']}")
    assert still["notes"] == ""


async def test_private_cards_are_for_their_owner_and_supervisors(
        client: TestClient[Any, Any]) -> None:
    mine = await as_user(client, "agent1")
    status, card = await mine("POST", "", {"name": "Secret Lead", "visibility": "private",
                                           "phones": ["0611223344"]})
    assert status == 201 and card["owner"] == "agent1"
    other = await as_user(client, "agent2")
    assert (await other("GET", f"/{card['id']}"))[0] == 404
    assert (await other("PATCH", f"/{card['id']}", {"notes": "x"}))[0] == 404
    _, page = await other("GET", "", params={"q": "secret"})
    assert page["clients"] == []
    _, matches = await other("GET", "/match", params={"number": "0611223344"})
    assert matches["matches"] == []
    boss = await as_user(client, "boss")
    assert (await boss("GET", f"/{card['id']}"))[0] == 200


async def test_vcard_of_one_client(client: TestClient[Any, Any]) -> None:
    api = await as_user(client, "agent1")
    _, marie = await api("POST", "", MARIE)
    resp = await client.get(f"/api/clients/{marie['id']}/vcard")
    assert resp.status == 200 and resp.content_type == "text/vcard"
    assert "attachment" in resp.headers["Content-Disposition"]
    card = await resp.text()
    assert card.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert "FN:Marie Dupont\r\n" in card and "+33612345678" in card
