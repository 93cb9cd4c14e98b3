"""The admin pages for users over real loopback HTTP and a real SQLite file: list, create,
edit, deactivate and reset a password (sessions ending with them), admins only, CSRF, forms
that keep what was typed and say what is wrong, the guards that stop an admin locking
everyone out, escaping, the audit trail and the French catalog."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from cti.store.sqlite import Store
from cti.users import User, UserService
from cti.webapp import admin_users
from cti.webapp.auth import COOKIE
from cti.webapp.i18n import FR
from tests.web_helpers import PEOPLE, hidden, login, open_store, seed_users, serve_app

GOOD = {"username": "nadia", "display_name": "Nadia Benali", "password": "nadia-pass-1",
        "confirm": "nadia-pass-1", "role": "agent", "extensions": "2001, 2002 2003",
        "language": "en", "timezone": "Europe/Bucharest"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    yield s
    await s.close()


@pytest.fixture
async def users(store: Store) -> UserService:
    return UserService(store)


@pytest.fixture
async def people(users: UserService) -> dict[str, User]:
    return await seed_users(users)


async def form_token(client: Any, path: str) -> str:
    page = await client.get(path)
    assert page.status == 200, await page.text()
    return hidden(await page.text(), "csrf_token")


async def post(client: Any, path: str, data: dict[str, str]) -> Any:
    """Submit a form the way the browser does: token taken from the page itself."""
    form_page = path.removesuffix("/password")
    token = await form_token(client, form_page)
    return await client.post(path, data={**data, "csrf_token": token}, allow_redirects=False)


async def can_log_in(client: Any, username: str, password: str) -> bool:
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    token = hidden(await page.text(), "csrf_token")
    resp = await client.post("/login", allow_redirects=False, data={
        "username": username, "password": password, "csrf_token": token})
    return resp.status == 303


def value_of(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no field {name}"
    return html.unescape(found.group(1))


def field_message(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{name}">([^<]*)</p>', page)
    assert found, f"no error beside {name}"
    return html.unescape(found.group(1))


# --------------------------------------------------------------------------- list and create
async def test_admin_lists_every_user_with_role_extensions_and_sessions(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    await users.update(people["agent2"].id, language="en", timezone="Europe/Bucharest")
    await users.set_active(people["boss"].id, False)
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await client.get("/admin/users", headers={"Accept-Language": "en"})
        assert resp.status == 200
        page = await resp.text()
        rows = re.findall(r'<tr class="user[^"]*">(.*?)</tr>', page, re.S)
        assert len(rows) == 4
        text = {re.search(r">(\w+)</a>", r).group(1): r for r in rows}  # type: ignore[union-attr]
        assert "1002, 1003" in text["agent2"] and "Europe/Bucharest" in text["agent2"]
        assert "English" in text["agent2"] and "Agent2" in text["agent2"]
        assert "Inactive" in text["boss"] and "Inactive" not in text["agent1"]
        assert f'href="/admin/users/{people["root"].id}"' in text["root"]
        sessions = re.findall(r'data-label="Sessions">(\d+)<', text["root"])
        assert sessions == ["1"]  # root's own session, counted
        assert 'href="/admin/users"' in page  # the nav link, for admins


async def test_admin_creates_a_user_who_can_then_log_in(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await post(client, "/admin/users/new", GOOD)
        assert resp.status == 303, await resp.text()
        created = await users.get_by_username("nadia")
        assert created is not None
        assert resp.headers["Location"] == f"/admin/users/{created.id}?done=created"
        assert created.role == "agent" and created.extensions == ("2001", "2002", "2003")
        assert created.display_name == "Nadia Benali" and created.active
        assert (created.language, created.timezone) == ("en", "Europe/Bucharest")
        page = await (await client.get(resp.headers["Location"],
                                       headers={"Accept-Language": "en"})).text()
        assert "User created." in page and "nadia-pass-1" not in page
        audit = await store.query("SELECT username, action, target, detail FROM audit_log")
        assert [(a["username"], a["action"], a["target"]) for a in audit] == [
            ("root", "user_create", "nadia")]
        assert "nadia-pass-1" not in audit[0]["detail"]
        assert await can_log_in(client, "nadia", "nadia-pass-1")


async def test_a_taken_username_any_case_is_refused_and_the_form_kept(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await post(client, "/admin/users/new", {**GOOD, "username": "Agent1"})
        assert resp.status == 400
        page = await resp.text()
        assert field_message(page, "username") == "Cet identifiant est déjà pris."
        assert value_of(page, "username") == "Agent1"
        assert value_of(page, "display_name") == "Nadia Benali"
        assert len(await users.list_all()) == 4


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"username": "-bad name"}, "username", "1 to 64 letters"),
    ({"username": ""}, "username", "1 to 64 letters"),
    ({"password": "short", "confirm": "short"}, "password", "between 8 and 1024"),
    ({"confirm": "nadia-pass-2"}, "confirm", "The two passwords differ."),
    ({"extensions": "2001, 20 02/x"}, "extensions", "“02/x” is not an extension"),
    ({"extensions": " , "}, "extensions", "An agent needs at least one extension."),
    ({"role": "superuser"}, "role", "Choose agent, supervisor or admin."),
    ({"language": "de"}, "language", "Choose French, English"),
    ({"timezone": "Mars/Olympus"}, "timezone", "“Mars/Olympus” is not a time zone"),
    ({"display_name": "x" * 101}, "display_name", "At most 100 characters."),
])
async def test_invalid_input_is_refused_with_a_message_and_typed_values_kept(
        store: Store, users: UserService, people: dict[str, User], change: dict[str, str],
        field: str, message: str) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        typed = {**GOOD, **change}
        resp = await client.post("/admin/users/new", headers={"Accept-Language": "en"},
                                 data={**typed, "csrf_token": await form_token(
                                     client, "/admin/users/new")})
        assert resp.status == 400
        page = await resp.text()
        assert message in field_message(page, field)
        assert 'role="alert"' in page and f'href="#f-{field}"' in page
        assert f'id="f-{field}"' in page
        for kept in ("username", "display_name", "extensions", "timezone"):
            assert value_of(page, kept) == typed[kept].strip()
        assert re.search(rf'<option value="{typed["role"]}" selected', page) or field == "role"
        # secrets are never written back into a page
        assert 'name="password" value' not in page and "nadia-pass-1" not in page
        assert await users.get_by_username(typed["username"] or "nadia") is None


async def test_garbage_forms_are_400_not_500(store: Store, users: UserService,
                                             people: dict[str, User]) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        token = await form_token(client, "/admin/users/new")
        for data in ({}, {"username": "\x00", "role": "\ud800".encode("utf-8", "surrogatepass")
                          .decode("utf-8", "replace"), "timezone": "../../etc/passwd"},
                     {"username": "a" * 5000, "extensions": "," * 5000, "timezone": "a" * 5000,
                      "password": "p" * 2000, "language": "x" * 50}):
            resp = await client.post("/admin/users/new", data={**data, "csrf_token": token})
            assert resp.status == 400, data
            assert "field-error" in await resp.text()
        edit = await client.post(f"/admin/users/{people['agent1'].id}",
                                 data={"csrf_token": token, "role": "🙂"})
        assert edit.status == 400
        assert (await client.get("/admin/users/99999999999999999999999")).status == 404
        assert (await client.get("/admin/users/4242")).status == 404
        assert len(await users.list_all()) == 4


# --------------------------------------------------------------------------- edit
async def test_admin_edits_role_extensions_names_language_and_zone(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    uid = people["agent2"].id
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        page = await (await client.get(f"/admin/users/{uid}")).text()
        assert value_of(page, "extensions") == "1002, 1003"
        assert value_of(page, "display_name") == "Agent2"
        resp = await post(client, f"/admin/users/{uid}", {
            "display_name": "Bruno Martin", "role": "supervisor", "extensions": "1004;1005",
            "language": "fr", "timezone": "Europe/Paris", "active": "1"})
        assert resp.status == 303 and resp.headers["Location"].endswith("?done=saved")
        after = await users.get(uid)
        assert after is not None
        assert (after.role, after.extensions, after.display_name) == (
            "supervisor", ("1004", "1005"), "Bruno Martin")
        assert (after.language, after.timezone, after.active) == ("fr", "Europe/Paris", True)
        shown = await (await client.get(resp.headers["Location"])).text()
        assert "Modifications enregistrées." in shown
        audit = await store.query("SELECT action, target, detail FROM audit_log")
        assert audit[0]["action"] == "user_update" and audit[0]["target"] == "agent2"
        assert '"role": ["agent", "supervisor"]' in audit[0]["detail"]
        # clearing language and zone: back to the browser's
        await post(client, f"/admin/users/{uid}", {"role": "supervisor", "active": "1"})
        cleared = await users.get(uid)
        assert cleared is not None and (cleared.language, cleared.timezone) == (None, None)
        assert cleared.extensions == () and cleared.display_name == ""


async def test_a_refused_edit_keeps_what_was_typed(store: Store, users: UserService,
                                                   people: dict[str, User]) -> None:
    uid = people["agent1"].id
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await post(client, f"/admin/users/{uid}", {
            "display_name": "Alice Typed", "role": "agent", "extensions": "1001 bad/ext",
            "timezone": "Europe/Paris", "active": "1"})
        assert resp.status == 400
        page = await resp.text()
        assert "« bad/ext » n'est pas un poste" in field_message(page, "extensions")
        assert value_of(page, "display_name") == "Alice Typed"
        assert value_of(page, "extensions") == "1001 bad/ext"
        unchanged = await users.get(uid)
        assert unchanged is not None and unchanged.display_name == "Agent1"


async def test_deactivating_ends_sessions_and_blocks_login(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    uid = people["agent1"].id
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        agent_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE]
        await login(client, "root")
        resp = await post(client, f"/admin/users/{uid}", {
            "display_name": "Agent1", "role": "agent", "extensions": "1001"})  # no "active"
        assert resp.status == 303
        user = await users.get(uid)
        assert user is not None and not user.active
        assert await users.sessions_of(uid) == 0
        page = await (await client.get("/admin/users")).text()
        assert "Désactivé" in page
        client.session.cookie_jar.clear()
        stale = await client.get("/", cookies={COOKIE: agent_cookie.value},
                                 allow_redirects=False)
        assert stale.status == 302 and "/login" in stale.headers["Location"]
        assert not await can_log_in(client, "agent1", PEOPLE["agent1"][0])
        # and back again
        await login(client, "root")
        again = await post(client, f"/admin/users/{uid}", {
            "role": "agent", "extensions": "1001", "active": "1"})
        assert again.status == 303
        assert await can_log_in(client, "agent1", PEOPLE["agent1"][0])


async def test_password_reset_ends_sessions_and_only_the_new_password_works(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    uid = people["agent2"].id
    async with serve_app(store, users=users) as client:
        await login(client, "agent2")
        await login(client, "root")
        assert await users.sessions_of(uid) == 1
        bad = await post(client, f"/admin/users/{uid}/password",
                         {"password": "brand-new-pass", "confirm": "brand-new-pasS"})
        assert bad.status == 400
        page = await bad.text()
        assert field_message(page, "confirm") == "Les deux mots de passe diffèrent."
        assert "brand-new-pass" not in page
        assert await users.sessions_of(uid) == 1
        resp = await post(client, f"/admin/users/{uid}/password",
                          {"password": "brand-new-pass", "confirm": "brand-new-pass"})
        assert resp.status == 303 and resp.headers["Location"].endswith("?done=password")
        assert await users.sessions_of(uid) == 0
        actions = [a["action"] for a in await store.query("SELECT action FROM audit_log")]
        assert actions == ["user_password"]
        assert not await can_log_in(client, "agent2", PEOPLE["agent2"][0])
        assert await can_log_in(client, "agent2", "brand-new-pass")


async def test_an_admin_resetting_their_own_password_stays_logged_in(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    uid = people["root"].id
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await post(client, f"/admin/users/{uid}/password",
                          {"password": "root-new-secret", "confirm": "root-new-secret"})
        assert resp.status == 303
        assert COOKIE in resp.cookies  # a fresh session replaces the ended ones
        assert (await client.get("/admin/users")).status == 200
        assert await can_log_in(client, "root", "root-new-secret")
        assert not await can_log_in(client, "root", PEOPLE["root"][0])


# --------------------------------------------------------------------------- guards
async def test_an_admin_cannot_demote_or_deactivate_themselves(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    uid = people["root"].id
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await post(client, f"/admin/users/{uid}", {
            "display_name": "Root", "role": "supervisor", "extensions": ""})
        assert resp.status == 400
        page = await resp.text()
        assert field_message(page, "role") == ("Vous ne pouvez pas retirer votre propre rôle "
                                               "d'administrateur.")
        assert field_message(page, "active") == ("Vous ne pouvez pas désactiver votre propre "
                                                 "compte.")
        me = await users.get(uid)
        assert me is not None and me.role == "admin" and me.active
        assert await store.query("SELECT * FROM audit_log") == []
        # another admin may be demoted by this one
        other = await users.create("root2", "root2-secret", "admin")
        ok = await post(client, f"/admin/users/{other.id}", {"role": "supervisor",
                                                             "active": "1"})
        assert ok.status == 303
        demoted = await users.get(other.id)
        assert demoted is not None and demoted.role == "supervisor"


def test_the_last_active_admin_cannot_go() -> None:
    root = User(1, "root", "admin", ())
    other = User(2, "root2", "admin", ())
    agent = User(3, "agent", "agent", ("1001",))
    guard = admin_users.guard
    assert guard(root, other, "agent", True, active_admins=1) == {"role": ("last_admin", {})}
    assert guard(root, other, "admin", False, active_admins=1) == {
        "active": ("last_admin", {})}
    assert guard(root, other, "agent", True, active_admins=2) == {}
    assert guard(root, agent, "agent", False, active_admins=1) == {}
    # an inactive admin is not one of the active ones
    asleep = User(4, "old", "admin", (), active=False)
    assert guard(root, asleep, "agent", False, active_admins=1) == {}
    assert guard(root, root, "agent", False, active_admins=1) == {
        "role": ("self_role", {}), "active": ("self_active", {})}
    assert guard(root, root, "admin", True, active_admins=1) == {}


# --------------------------------------------------------------------------- access
ROUTES = [("GET", "/admin/users"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
          ("GET", "/admin/users/{id}"), ("POST", "/admin/users/{id}"),
          ("POST", "/admin/users/{id}/password")]


async def test_agents_and_supervisors_get_403_everywhere(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    target = people["agent2"].id
    async with serve_app(store, users=users) as client:
        for who in ("agent1", "boss"):
            csrf = await login(client, who)
            home = await (await client.get("/")).text()
            assert 'href="/admin/users"' not in home
            for method, path in ROUTES:
                resp = await client.request(
                    method, path.format(id=target), allow_redirects=False,
                    data={"csrf_token": csrf, "role": "admin", "password": "x" * 20,
                          "confirm": "x" * 20, "username": "intruder", "extensions": "1"}
                    if method == "POST" else None)
                assert resp.status == 403, (who, method, path)
        after = await users.get(target)
        assert after is not None and after == people["agent2"]
        assert await users.get_by_username("intruder") is None


async def test_anonymous_is_sent_to_login_and_posts_change_nothing(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    target = people["agent2"].id
    async with serve_app(store, users=users) as client:
        for method, path in ROUTES:
            resp = await client.request(method, path.format(id=target), allow_redirects=False,
                                        data={"role": "admin"} if method == "POST" else None)
            assert resp.status == 302, (method, path)
            assert resp.headers["Location"].startswith("/login")
        listing = await client.get("/admin/users", allow_redirects=False)
        assert unquote(listing.headers["Location"]) == "/login?next=/admin/users"
        after = await users.get(target)
        assert after is not None and after.role == "agent"


async def test_posts_without_the_csrf_token_are_refused(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    target = people["agent2"].id
    async with serve_app(store, users=users) as client:
        csrf = await login(client, "root")
        for path in ("/admin/users/new", f"/admin/users/{target}",
                     f"/admin/users/{target}/password"):
            for token in (None, "x" * 43, csrf[:-1] + ("A" if csrf[-1] != "A" else "B")):
                data = {**GOOD, "role": "admin", "extensions": "9"}
                if token is not None:
                    data["csrf_token"] = token
                resp = await client.post(path, data=data, allow_redirects=False)
                assert resp.status == 403, (path, token)
        assert await users.get_by_username("nadia") is None
        after = await users.get(target)
        assert after is not None and after.role == "agent"
        assert await can_log_in(client, "agent2", PEOPLE["agent2"][0])


# --------------------------------------------------------------------------- escaping, i18n
async def test_a_display_name_with_markup_is_shown_as_text(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        resp = await post(client, "/admin/users/new", {**GOOD, "display_name": evil})
        assert resp.status == 303
        for path in ("/admin/users", resp.headers["Location"]):
            page = await (await client.get(path)).text()
            assert "&lt;script&gt;alert(" in page, path
            assert "<script>alert" not in page and "<img src=x" not in page
        refused = await post(client, "/admin/users/new",
                             {**GOOD, "username": "x", "display_name": evil,
                              "confirm": "other", "timezone": '"><script>1</script>'})
        page = await refused.text()
        assert refused.status == 400 and "<script>" not in page.split("</head>")[1]


def test_every_refusal_and_notice_has_a_french_translation() -> None:
    used = set(admin_users.MESSAGES.values()) | set(admin_users.NOTICES.values())
    assert sorted(used - set(FR)) == []
    templates = Path(__file__).parent.parent / "web" / "templates"
    for name in ("admin_users.html", "admin_user_form.html"):
        strings = set(re.findall(r'_\("([^"]+)"', (templates / name).read_text()))
        assert strings and sorted(strings - set(FR)) == [], name


async def test_admin_pages_in_french_by_default_and_every_form_carries_the_token(
        store: Store, users: UserService, people: dict[str, User]) -> None:
    async with serve_app(store, users=users) as client:
        csrf = await login(client, "root")
        for path in ("/admin/users", "/admin/users/new", f"/admin/users/{people['boss'].id}"):
            page = await (await client.get(path)).text()
            assert "Utilisateurs" in page, path
            forms = page.count("<form ")
            assert page.count(f'name="csrf_token" value="{csrf}"') == forms, path
            assert "<style" not in page and "style=" not in page
            assert re.search(r"<script(?! src=)", page) is None
        edit = await (await client.get(f"/admin/users/{people['boss'].id}")).text()
        assert "Réinitialiser le mot de passe" in edit and "superviseur" in edit
        assert f'action="/admin/users/{people["boss"].id}/password"' in edit
