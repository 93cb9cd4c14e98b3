"""The web foundation over real loopback HTTP: login, rate limit, sessions, CSRF, roles, the
deny-by-default middleware (walked over every route of the router), cookie flags, security
headers, the one error renderer, and the login page in French and English."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cti.store.sqlite import Store
from cti.users import UserService
from cti.webapp.auth import COOKIE, require_role
from cti.webapp.i18n import FR
from cti.webapp.ratelimit import LoginLimiter
from tests.web_helpers import (
    PEOPLE,
    app_of,
    hidden,
    login,
    open_store,
    seed_users,
    serve_app,
    web_config,
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    yield s
    await s.close()


@pytest.fixture
async def users(store: Store) -> UserService:
    service = UserService(store)
    await seed_users(service)
    return service


async def _login_post(client: Any, username: str, password: str) -> Any:
    client.session.cookie_jar.clear()  # a fresh browser
    page = await client.get("/login")
    token = hidden(await page.text(), "csrf_token")
    return await client.post("/login", allow_redirects=False, data={
        "username": username, "password": password, "csrf_token": token})


# --------------------------------------------------------------------------- login and sessions
async def test_login_sets_a_server_side_session_with_safe_cookie_flags(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        resp = await _login_post(client, "agent1", "agent1-secret")
        assert resp.status == 303 and resp.headers["Location"] == "/"
        cookie = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith(COOKIE))
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        assert "secure" not in flags
        token = resp.cookies[COOKIE].value
        assert len(token) >= 43  # 32 random bytes, base64url
        # only the token's hash is in the database: a stolen backup replays nothing
        rows = await store.query("SELECT id FROM sessions")
        assert rows == [{"id": hashlib.sha256(token.encode()).hexdigest()}]
        status = await client.get("/api/status")
        assert status.status == 200
        assert (await status.json())["user"]["username"] == "agent1"


async def test_secure_cookies_setting_marks_the_cookie_secure(store: Store,
                                                               users: UserService) -> None:
    async with serve_app(store, users=users,
                         config=web_config(**{"web.secure_cookies": True})) as client:
        page = await client.get("/login")
        token = hidden(await page.text(), "csrf_token")
        # the browser would send the Secure login cookie over HTTPS only; say it ourselves
        resp = await client.post("/login", allow_redirects=False, cookies={
            "cti_login_csrf": token}, data={"username": "agent1", "password": "agent1-secret",
                                            "csrf_token": token})
        assert resp.status == 303
        cookie = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith(COOKIE))
        assert "secure" in {p.strip().lower() for p in cookie.split(";")}
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_wrong_password_or_unknown_user_is_refused_without_a_session(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        for username, password in (("agent1", "wrong-password"), ("nobody", "whatever1")):
            resp = await _login_post(client, username, password)
            assert resp.status == 401
            assert "Identifiant ou mot de passe incorrect." in await resp.text()
            assert COOKIE not in resp.cookies
        assert await store.query("SELECT * FROM sessions") == []


async def test_login_form_needs_its_own_csrf_cookie(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        resp = await client.post("/login", allow_redirects=False, data={
            "username": "agent1", "password": "agent1-secret", "csrf_token": "forged"})
        assert resp.status == 403
        assert await store.query("SELECT * FROM sessions") == []


async def test_next_only_leads_to_a_local_path(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        for target, expected in (("/api/status", "/api/status"), ("//evil.example/", "/"),
                                 ("https://evil.example/", "/")):
            client.session.cookie_jar.clear()
            page = await client.get("/login", params={"next": target})
            html = await page.text()
            resp = await client.post("/login", allow_redirects=False, data={
                "username": "agent1", "password": "agent1-secret",
                "csrf_token": hidden(html, "csrf_token"), "next": hidden(html, "next")})
            assert resp.headers["Location"] == expected


async def test_rate_limit_after_five_failures_per_username_and_address(
        store: Store, users: UserService) -> None:
    clock = Clock()
    limiter = LoginLimiter(5, 300.0, clock=clock)
    async with serve_app(store, users=users, limiter=limiter) as client:
        for _ in range(5):
            assert (await _login_post(client, "agent1", "bad-password")).status == 401
        # the right password is refused too: otherwise the limit would still be an oracle
        locked = await _login_post(client, "agent1", "agent1-secret")
        assert locked.status == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 300
        assert "Trop d'échecs" in html.unescape(await locked.text())
        # another username from the same address is not locked out
        assert (await _login_post(client, "agent2", "agent2-secret")).status == 303
        clock.now += 301
        assert (await _login_post(client, "agent1", "agent1-secret")).status == 303


async def test_logout_ends_the_session_on_the_server(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        csrf = await login(client, "agent1")
        token = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
        refused = await client.post("/logout", allow_redirects=False)  # no CSRF token
        assert refused.status == 403
        assert (await client.get("/api/status")).status == 200
        out = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"].startswith("/login")
        assert await store.query("SELECT * FROM sessions") == []
        # a copy of the old cookie is worth nothing now
        replay = await client.get("/api/status", cookies={COOKIE: token})
        assert replay.status == 401


async def test_session_expires_and_disabling_a_user_ends_it(store: Store) -> None:
    clock = Clock()
    users = UserService(store, session_hours=12, clock=clock)
    people = await seed_users(users)
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        assert (await client.get("/api/status")).status == 200
        clock.now += 12 * 3600 + 1
        assert (await client.get("/api/status")).status == 401
        page = await client.get("/", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"] == "/login?notice=expired"
        assert page.cookies[COOKIE].value == ""  # the dead cookie is dropped
        told = await client.get("/login?notice=expired")
        assert "Votre session a expiré" in html.unescape(await told.text())
        await login(client, "agent2")
        await users.set_active(people["agent2"].id, False)
        assert (await client.get("/api/status")).status == 401
        assert (await _login_post(client, "agent2", "agent2-secret")).status == 401


# --------------------------------------------------------------------------- deny by default
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")}
#: Read by machines that cannot log in: their own check (bearer token or a supervisor's
#: session), 401 otherwise — never a login page a scraper would take for an answer.
MACHINE = {("GET", "/metrics")}
#: Routes that must exist (and so be walked below): the call log, click-to-dial, metrics.
MUST_WALK = {("GET", "/calls"), ("GET", "/calls.csv"), ("GET", "/calls/{pbx}/{call_id}"),
             ("GET", "/api/calls"), ("GET", "/api/calls/{pbx}/{call_id}"),
             ("POST", "/api/dial"), ("GET", "/api/dial/{id}"), ("GET", "/metrics")}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_route_needs_a_login(store: Store, users: UserService) -> None:
    """Walks the real router: a view added later without thinking of auth is caught here."""
    async with serve_app(store, users=users) as client:
        checked = public = 0
        walked = set()
        for route in app_of(client).router.routes():
            info = route.resource.get_info() if route.resource else {}
            if "prefix" in info:  # the static files: public by design, and nothing else
                assert info["prefix"] == "/static"
                continue
            path = info.get("path") or info.get("formatter")
            assert path, info
            if route.method == "HEAD":
                continue
            if (route.method, path) in PUBLIC:
                public += 1
                continue
            resp = await client.request(route.method, _concrete(path), allow_redirects=False,
                                        json={} if route.method != "GET" else None)
            walked.add((route.method, path))
            if (route.method, path) in MACHINE:
                assert resp.status == 401, (route.method, path)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            elif path.startswith("/api/") or path == "/ws":  # scripts get 401, not a form
                assert resp.status == 401, (route.method, path)
                assert (await resp.json())["error"] == "unauthorized"
            else:
                assert resp.status == 302, (route.method, path)
                assert resp.headers["Location"].startswith("/login")
            checked += 1
        assert public == len(PUBLIC) and checked >= 10
        assert walked >= MUST_WALK, MUST_WALK - walked
        for path in ("/ws", "/api/nothing-here", "/no-such-page"):
            resp = await client.get(path, allow_redirects=False)
            assert resp.status in (401, 302), path
        # and nothing public leaks anything but "ok"
        health = await client.get("/healthz")
        assert await health.json() == {"status": "ok"}


async def test_csrf_token_is_required_on_state_changes(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        csrf = await login(client, "agent1")
        body = {"name": "Marie Dupont"}
        assert (await client.post("/api/clients", json=body)).status == 403
        wrong = await client.post("/api/clients", json=body, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status == 403 and (await wrong.json())["error"] == "csrf"
        altered = csrf[:-1] + ("B" if csrf.endswith("A") else "A")  # one character off
        other = await client.post("/api/clients", json=body,
                                  headers={"X-CSRF-Token": altered})
        assert other.status == 403
        assert await store.query("SELECT * FROM clients") == []
        ok = await client.post("/api/clients", json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status == 201


# --------------------------------------------------------------------------- roles
async def test_require_role_is_enforced_on_the_server(store: Store, users: UserService) -> None:
    @require_role("supervisor")
    async def board(request: web.Request) -> web.Response:
        return web.json_response({"board": True})

    def setup(app: web.Application) -> None:
        app.router.add_get("/api/test-board", board)

    async with serve_app(store, users=users, setup=setup) as client:
        await login(client, "agent1")
        denied = await client.get("/api/test-board")
        assert denied.status == 403 and (await denied.json())["error"] == "forbidden"
        await login(client, "boss")
        assert (await client.get("/api/test-board")).status == 200
        await login(client, "root")  # admin is above supervisor
        assert (await client.get("/api/test-board")).status == 200
    with pytest.raises(ValueError, match="unknown role"):
        require_role("superuser")


# --------------------------------------------------------------------------- headers, errors
async def test_security_headers_on_pages_errors_and_static_files(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        for path in ("/login", "/healthz", "/static/cti.css", "/static/missing.css"):
            resp = await client.get(path)
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"], path
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "same-origin"
        assert (await client.get("/static/cti.js")).status == 200


async def test_errors_are_json_for_the_api_and_translated_pages_for_people(
        store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        api = await client.get("/api/clients/999999")
        assert api.status == 404 and (await api.json())["error"] == "not_found"
        page = await client.get("/no-such-page")
        assert page.status == 404 and page.content_type == "text/html"
        assert "Introuvable." in await page.text()
        method = await client.put("/api/status", headers={"X-CSRF-Token": "irrelevant"})
        assert method.status in (403, 405)


# --------------------------------------------------------------------------- i18n and time
async def test_login_page_in_french_and_english(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users) as client:
        fr = await client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
        html = await fr.text()
        assert '<html lang="fr">' in html and "Connexion à cti" in html
        assert "Identifiant" in html and "Mot de passe" in html
        en = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
        html = await en.text()
        assert '<html lang="en">' in html and "Log in to cti" in html and "Username" in html
        # no header: the configured default (fr)
        assert "Connexion à cti" in await (await client.get("/login")).text()
        # an explicit choice is remembered over the browser's
        await client.get("/login", params={"lang": "en"})
        again = await client.get("/login", headers={"Accept-Language": "fr"})
        assert "Log in to cti" in await again.text()


async def test_user_language_and_browser_timezone_shape_the_pages(store: Store) -> None:
    users = UserService(store)
    await users.create("anna", "anna-secret", "agent", ["1005"], language="en")
    async with serve_app(store, users=users) as client:
        await login(client, "anna", "anna-secret")
        page = await client.get("/", headers={"Accept-Language": "fr"},
                                cookies={"cti_tz": "America/New_York"})
        html = await page.text()
        assert "Welcome, anna" in html and "Times are shown in America/New_York." in html
        bad = await client.get("/", cookies={"cti_tz": "Mars/Olympus"})
        assert "Times are shown in Europe/Paris." in await bad.text()


def test_every_template_string_and_error_message_has_a_french_translation() -> None:
    from cti.webapp import errors

    templates = Path(__file__).parent.parent / "web" / "templates"
    used = set()
    for tpl in templates.glob("*.html"):
        used |= set(re.findall(r'_\("([^"]+)"', tpl.read_text()))
    used |= set(errors._MESSAGES.values())
    assert len(used) > 20
    assert sorted(used - set(FR)) == []


async def test_api_status_reports_the_daemon(store: Store, users: UserService) -> None:
    async with serve_app(store, users=users, status=lambda: {"default": {"state": "x"}}) as c:
        await login(c, "boss")
        data = await (await c.get("/api/status")).json()
        assert data["daemon"] == {"default": {"state": "x"}}
        assert data["user"]["role"] == "supervisor"
        assert set(PEOPLE) >= {data["user"]["username"]}


async def test_serve_refuses_to_run_without_its_web_port(tmp_path: Path) -> None:
    """``cti serve`` whose web port is taken stops with 1 instead of running UI-less."""
    import socket

    from cti.daemon import serve
    from cti.webapp.server import start_for_daemon

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = web_config(**{"db.path": str(tmp_path / "s.db"), "web.port": port,
                               "pbx.ami_port": 1})
        assert await serve(config, web=start_for_daemon) == 1
