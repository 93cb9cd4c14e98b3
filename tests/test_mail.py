"""E-mail notifications against a real SMTP server on loopback (aiosmtpd) and a real SQLite
file: who gets which mail for which ticket change, in which language, the client's switch,
the queue surviving a broken server, header injection, the send loop's wake-up, the admin's
view of unsent mail, and the users' new e-mail address (service, admin form, command line)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cti.clients.directory import ClientDirectory
from cti.clients.settings import ClientSettings
from cti.config import ConfigError, load_config
from cti.daemon import Daemon
from cti.errors import ValidationError
from cti.mail import MailError, SmtpSettings, build_message, send
from cti.store.sqlite import Store
from cti.tickets.groups import GroupService
from cti.tickets.notify import Notifier
from cti.tickets.outbox import MailOutbox, backoff, enqueue
from cti.tickets.service import TicketService
from cti.users import UserService
from tests.web_helpers import login, seed_users, serve_app

BASE = "https://cti.example"


# --------------------------------------------------------------------------- a real SMTP server
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """aiosmtpd handler: keeps what it accepts; ``refuse`` answers DATA with 451."""

    received: list[Received] = field(default_factory=list)
    refuse: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 Try again later"
        msg = message_from_bytes(envelope.original_content or envelope.content,
                                 policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self) -> list[str]:
        return [r for item in self.received for r in item.rcpt_tos]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, **kwargs: Any) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[Server]:
    with Server() as server:
        yield server


def settings_for(port: int, **kw: Any) -> SmtpSettings:
    return replace(SmtpSettings(host="127.0.0.1", port=port, sender="cti@example.com",
                                retry_max=4, timeout=5.0), **kw)


# --------------------------------------------------------------------------- the house
class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class House:
    store: Store
    clock: Clock
    tickets: TicketService
    groups: GroupService
    notifier: Notifier
    outbox: MailOutbox

    def with_server(self, settings: SmtpSettings) -> MailOutbox:
        return MailOutbox(self.store, settings, self.clock)


async def make_house(store: Store, port: int) -> House:
    clock = Clock()
    users = UserService(store)
    await users.create("alice", "alice-secret!", "agent", ["1001"], email="alice@example.com",
                       language="fr", display_name="Alice Martin")
    await users.create("bob", "bob-secret!!", "agent", ["1002"], email="bob@example.com",
                       language="en", display_name="Bob Smith")
    await users.create("chloe", "chloe-secret!", "agent", ["1003"], email="chloe@example.com",
                       language="fr")
    await users.create("dan", "dan-secret!!", "agent", ["1004"])  # no address
    await users.create("erin", "erin-secret!", "agent", ["1005"], email="erin@example.com")
    tickets = TicketService(store, clock=clock)
    notifier = Notifier(base_url=BASE + "/", language="fr", clock=clock)
    notifier.attach(tickets)
    return House(store, clock, tickets, GroupService(store), notifier,
                 MailOutbox(store, settings_for(port), clock))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "cti.db")
    yield s
    await s.close()


@pytest.fixture
async def house(store: Store, smtp: Server) -> House:
    return await make_house(store, smtp.port)


async def outbox_rows(store: Store) -> list[dict[str, Any]]:
    return await store.query("SELECT * FROM mail_outbox ORDER BY id")


# --------------------------------------------------------------------------- who gets mail
async def test_assignment_sends_exactly_one_mail_with_number_and_link(
        house: House, smtp: Server) -> None:
    t = await house.tickets.create("alice", {"subject": "Printer down", "priority": "high"})
    assert await house.outbox.drain() == 0  # created without an assignee: nobody to tell
    await house.tickets.assign(t.id, "alice", assignee="bob", group_id=None,
                               note="Call them before noon")
    assert await house.outbox.drain() == 1
    assert await house.outbox.drain() == 0  # sent once, never again
    assert len(smtp.inbox.received) == 1
    got = smtp.inbox.received[0]
    assert got.rcpt_tos == ["bob@example.com"] and got.mail_from == "cti@example.com"
    assert t.number in str(got.message["Subject"])
    body = got.message.get_content()
    link = f"{BASE}/tickets/{t.id}"
    for expected in (t.number, "Printer down", "Priority: high", "Status: assigned",
                     "Alice Martin", "Call them before noon", link):
        assert expected in body
    assert got.message["Auto-Submitted"] == "auto-generated"
    row = (await outbox_rows(house.store))[0]
    assert row["sent_at"] is not None and row["attempts"] == 1 and row["kind"] == \
        "ticket_assigned"
    timeline = await house.tickets.timeline(t.id)
    mailed = [e for e in timeline if e.kind == "email"]
    assert len(mailed) == 1 and mailed[0].data["recipient"] == "bob@example.com"
    assert mailed[0].internal


async def test_created_with_assignee_mails_them_but_nobody_about_their_own_action(
        house: House, smtp: Server) -> None:
    t = await house.tickets.create("alice", {"subject": "Invoice"}, assignee="chloe")
    mine = await house.tickets.create("alice", {"subject": "Mine"}, assignee="alice")
    await house.tickets.set_status(mine.id, "alice", "in_progress")  # her own ticket
    await house.outbox.drain()
    assert smtp.inbox.to() == ["chloe@example.com"]
    assert t.number in str(smtp.inbox.received[0].message["Subject"])


async def test_status_change_mails_the_assignee_unless_they_made_it(
        house: House, smtp: Server) -> None:
    t = await house.tickets.create("alice", {"subject": "Router"}, assignee="bob")
    await house.outbox.drain()
    smtp.inbox.received.clear()
    await house.tickets.set_status(t.id, "bob", "in_progress")  # bob's own move: no mail
    await house.tickets.set_status(t.id, "alice", "waiting", note="Client on holiday")
    await house.outbox.drain()
    assert smtp.inbox.to() == ["bob@example.com"]
    msg = smtp.inbox.received[0].message
    assert "waiting" in str(msg["Subject"]) and t.number in str(msg["Subject"])
    assert "in progress → waiting" in msg.get_content()
    assert "Client on holiday" in msg.get_content()


async def test_group_assignment_mails_each_member_once(house: House, smtp: Server) -> None:
    users = UserService(house.store)
    erin = await users.get_by_username("erin")
    assert erin is not None
    await users.set_active(erin.id, False)  # disabled: no mail
    group = await house.groups.create("Hotline", ["alice", "bob", "chloe", "dan", "erin"],
                                      email="hotline@example.com")
    t = await house.tickets.create("alice", {"subject": "Outage"}, group_id=group.id)
    await house.tickets.assign(t.id, "alice", assignee=None, group_id=group.id)  # same: none
    await house.outbox.drain()
    counts = Counter(smtp.inbox.to())
    assert counts == {"bob@example.com": 1, "chloe@example.com": 1, "hotline@example.com": 1}
    assert house.notifier.skipped == 1  # dan has no address
    subjects = {r.rcpt_tos[0]: str(r.message["Subject"]) for r in smtp.inbox.received}
    assert "Hotline" in subjects["bob@example.com"] and t.number in subjects["bob@example.com"]
    assert "groupe Hotline" in subjects["chloe@example.com"]  # chloe reads French
    smtp.inbox.received.clear()
    await house.tickets.set_status(t.id, "bob", "in_progress")  # bob takes it himself
    await house.outbox.drain()
    assert smtp.inbox.received == []


async def test_french_or_english_by_the_users_language(store: Store, smtp: Server) -> None:
    house = await make_house(store, smtp.port)
    for person in ("bob", "chloe", "dan"):
        await house.tickets.create("alice", {"subject": "Écran noir", "priority": "urgent"},
                                   assignee=person)
    users = UserService(store)
    dan = await users.get_by_username("dan")
    assert dan is not None
    await users.update(dan.id, email="dan@example.com")  # no language: web.language (fr)
    await house.tickets.create("alice", {"subject": "Clavier"}, assignee="dan")
    await house.outbox.drain()
    by_to = {r.rcpt_tos[0]: r.message for r in smtp.inbox.received}
    assert set(by_to) == {"bob@example.com", "chloe@example.com", "dan@example.com"}
    english, french, default = (by_to["bob@example.com"], by_to["chloe@example.com"],
                                by_to["dan@example.com"])
    assert "Ticket assigned to you: Écran noir" in str(english["Subject"])
    assert "Priority: urgent" in english.get_content() and "Priorité" not in \
        english.get_content()
    assert "Ticket assigné : Écran noir" in str(french["Subject"])
    assert "Priorité : urgente" in french.get_content()
    assert "Ticket assigné : Clavier" in str(default["Subject"])


async def test_client_mail_only_when_the_switch_is_on(house: House, smtp: Server) -> None:
    off = await house.tickets.create("alice", {"subject": "Quote", "contact": "Mr Off",
                                               "contact_email": "off@client.example"})
    on = await house.tickets.create("alice", {"subject": "Repair", "contact": "Mme On",
                                              "contact_email": "on@client.example",
                                              "notify_client": True})
    await house.outbox.drain()
    assert smtp.inbox.to() == ["on@client.example"]
    created = smtp.inbox.received[0].message
    assert on.number in str(created["Subject"]) and "Repair" in created.get_content()
    assert BASE not in created.get_content()  # the internal UI link is not for clients
    smtp.inbox.received.clear()
    await house.tickets.comment(on.id, "alice", "Internal: customer is difficult")
    await house.tickets.comment(on.id, "alice", "Technician comes on Monday", internal=False)
    await house.tickets.comment(off.id, "alice", "Technician comes on Tuesday", internal=False)
    await house.outbox.drain()
    assert smtp.inbox.to() == ["on@client.example"]
    assert "Technician comes on Monday" in smtp.inbox.received[0].message.get_content()
    assert all("difficult" not in r.message.get_content() for r in smtp.inbox.received)
    smtp.inbox.received.clear()
    for t in (off, on):
        await house.tickets.set_status(t.id, "alice", "resolved", note="internal: swapped fuse")
    await house.outbox.drain()
    assert smtp.inbox.to() == ["on@client.example"]
    resolved = smtp.inbox.received[0].message
    assert "résolue" in str(resolved["Subject"])  # web.language
    assert "fuse" not in resolved.get_content()  # the status note is internal


async def test_client_card_address_when_the_ticket_has_none(house: House, smtp: Server) -> None:
    clients = ClientDirectory(house.store, ClientSettings.from_config(load_config(env={})))
    client = await clients.create({"kind": "company", "name": "ACME",
                                   "emails": ["contact@acme.example", "other@acme.example"]})
    await house.tickets.create("alice", {"subject": "Boiler", "client_id": client.id,
                                         "notify_client": True})
    await house.tickets.create("alice", {"subject": "No address", "notify_client": True})
    await house.outbox.drain()
    assert smtp.inbox.to() == ["contact@acme.example"]
    assert house.notifier.skipped == 1


# --------------------------------------------------------------------------- the queue
async def test_dead_server_leaves_mail_queued_then_a_later_drain_sends_it(
        store: Store) -> None:
    dead = free_port()  # nothing listens here
    house = await make_house(store, dead)
    t = await house.tickets.create("alice", {"subject": "Fax"}, assignee="bob")  # not blocked
    await house.tickets.create("alice", {"subject": "Scanner"}, assignee="chloe")
    assert await house.outbox.drain() == 0
    rows = await outbox_rows(store)
    assert len(rows) == 2
    for row in rows:  # one failed connection, the same verdict for the whole round
        assert row["sent_at"] is None and row["attempts"] == 1
        assert "cannot connect" in row["last_error"]
        assert row["next_try_at"] == pytest.approx(house.clock.now + backoff(1))
    assert [m.ticket_id for m in await house.outbox.pending()] == [t.id, t.id + 1]
    assert await house.outbox.failed() == []
    with Server() as smtp:
        working = house.with_server(settings_for(smtp.port))
        assert await working.drain() == 0  # not due yet: backoff is respected
        house.clock.now += backoff(1) + 1
        assert await working.drain() == 2
        assert sorted(smtp.inbox.to()) == ["bob@example.com", "chloe@example.com"]
    assert await working.pending() == []


async def test_temporary_refusal_is_retried_with_backoff_then_given_up(
        house: House, smtp: Server) -> None:
    smtp.inbox.refuse = True
    await house.tickets.create("alice", {"subject": "Phone"}, assignee="bob")
    assert await house.outbox.drain() == 0
    row = (await outbox_rows(house.store))[0]
    assert row["attempts"] == 1 and "451" in row["last_error"]
    house.clock.now += backoff(1)
    assert await house.outbox.drain() == 0
    row = (await outbox_rows(house.store))[0]
    assert row["attempts"] == 2 and row["next_try_at"] == pytest.approx(
        house.clock.now + 2 * backoff(1))
    smtp.inbox.refuse = False
    house.clock.now += backoff(2)
    assert await house.outbox.drain() == 1
    assert smtp.inbox.to() == ["bob@example.com"]
    # A mail that keeps failing is left as failed after mail.retry_max (4) attempts.
    smtp.inbox.refuse = True
    await house.tickets.create("alice", {"subject": "Desk"}, assignee="chloe")
    for attempt in range(1, 5):
        await house.outbox.drain()
        house.clock.now += backoff(attempt)
    failed = await house.outbox.failed()
    assert [(m.recipient, m.attempts) for m in failed] == [("chloe@example.com", 4)]
    assert "451" in failed[0].last_error
    assert await house.outbox.drain() == 0 and await house.outbox.pending() == []
    assert backoff(30) == 3600.0  # capped at an hour


async def test_empty_smtp_host_keeps_mail_queued(house: House, smtp: Server) -> None:
    queue_only = house.with_server(SmtpSettings())
    await house.tickets.create("alice", {"subject": "Fax"}, assignee="bob")
    assert await queue_only.drain() == 0
    await queue_only.run()  # returns at once: nothing to do without a server
    rows = await outbox_rows(house.store)
    assert [(r["recipient"], r["attempts"], r["sent_at"]) for r in rows] == [
        ("bob@example.com", 0, None)]
    assert smtp.inbox.received == []


async def test_the_loop_sends_promptly_after_a_commit(house: House, smtp: Server) -> None:
    house.notifier.wake = house.outbox.wake
    house.outbox.start()
    try:
        await asyncio.sleep(0.05)  # the loop is now asleep, waiting for work
        await house.tickets.create("alice", {"subject": "Wake"}, assignee="bob")
        for _ in range(100):
            if smtp.inbox.received:
                break
            await asyncio.sleep(0.05)
    finally:
        await house.outbox.close()
    assert smtp.inbox.to() == ["bob@example.com"]


async def test_the_daemon_wires_the_notifier_and_the_sender(tmp_path: Path,
                                                             smtp: Server) -> None:
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "daemon.db"), "pbx.ami_port": free_port(),
        "mail.smtp_host": "127.0.0.1", "mail.smtp_port": smtp.port,
        "mail.sender": "cti@example.com", "mail.base_url": BASE})
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.tickets is not None and daemon.store is not None
        await UserService(daemon.store).create("bob", "bob-secret!!", "agent", ["1002"],
                                               email="bob@example.com", language="en")
        t = await daemon.tickets.create("system", {"subject": "Missed call"}, assignee="bob")
        for _ in range(100):
            if smtp.inbox.received:
                break
            await asyncio.sleep(0.05)
    finally:
        await daemon.close()
    assert smtp.inbox.to() == ["bob@example.com"]
    assert f"{BASE}/tickets/{t.id}" in smtp.inbox.received[0].message.get_content()


# --------------------------------------------------------------------------- the wire
async def test_header_injection_in_a_subject_adds_no_header(house: House, smtp: Server) -> None:
    async def queue(tx: Any) -> None:
        await enqueue(tx, kind="test", recipient="bob@example.com",
                      subject="Hello\r\nBcc: evil@attacker.example\r\nX-Evil: 1\nReply-To: x@y",
                      body="Body\r\nBcc: not-a-header@attacker.example\n", now=house.clock())

    await house.store.transaction(queue)
    assert await house.outbox.drain() == 1
    got = smtp.inbox.received[0]
    assert got.rcpt_tos == ["bob@example.com"]
    msg = got.message
    assert msg["Bcc"] is None and msg["X-Evil"] is None and msg["Reply-To"] is None
    assert str(msg["Subject"]) == "Hello Bcc: evil@attacker.example X-Evil: 1 Reply-To: x@y"
    assert "not-a-header@attacker.example" in msg.get_content()
    with pytest.raises(ValidationError):  # a ticket subject cannot hold a line break at all
        await house.tickets.create("alice", {"subject": "a\r\nBcc: evil@attacker.example"})


async def test_an_address_with_a_line_break_is_never_sent(house: House, smtp: Server) -> None:
    async def queue(tx: Any) -> None:
        await enqueue(tx, kind="test", recipient="bob@example.com\r\nBcc: evil@x.example",
                      subject="s", body="b", now=house.clock())

    await house.store.transaction(queue)
    assert await house.outbox.drain() == 0
    row = (await outbox_rows(house.store))[0]
    assert row["attempts"] == 1 and "control characters" in row["last_error"]
    assert smtp.inbox.received == []
    with pytest.raises(MailError):
        build_message("cti@example.com", "a@b.example\nBcc: c@d.example", "s", "b")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_login_when_a_user_is_set() -> None:
    def check(server: Any, session: Any, envelope: Any, mechanism: str,
              data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"cti", b"s3cret")
        return AuthResult(success=ok)

    with Server(authenticator=check, auth_require_tls=False, auth_required=True) as smtp:
        msg = build_message("cti@example.com", "bob@example.com", "Über", "Grüße")
        await send(settings_for(smtp.port, user="cti", password="s3cret"), msg)
        assert smtp.inbox.to() == ["bob@example.com"]
        assert str(smtp.inbox.received[0].message["Subject"]) == "Über"
        assert smtp.inbox.received[0].message.get_content().strip() == "Grüße"
        with pytest.raises(MailError) as refused:
            await send(settings_for(smtp.port, user="cti", password="wrong"), msg)
        assert refused.value.server_down


def test_smtp_settings_from_config() -> None:
    plain = SmtpSettings.from_config(load_config(env={}))
    assert not plain.enabled and plain.retry_max == 10 and plain.security == "none"
    ours = SmtpSettings.from_config(load_config(env={}, overrides={
        "mail.smtp_host": "mx.example", "mail.smtp_port": 587, "mail.security": "STARTTLS"}))
    assert ours.enabled and (ours.host, ours.port, ours.security) == ("mx.example", 587,
                                                                      "starttls")
    with pytest.raises(ConfigError, match=r"mail\.security"):
        SmtpSettings.from_config(load_config(env={}, overrides={"mail.security": "ssl"}))
    with pytest.raises(ConfigError, match=r"mail\.sender"):
        SmtpSettings.from_config(load_config(env={}, overrides={"mail.sender": "a@b\r\nX: y"}))


# --------------------------------------------------------------------------- admins
async def test_api_mail_lists_pending_and_failed_for_admins_only(store: Store) -> None:
    users = UserService(store)
    await seed_users(users)
    now = time.time()

    async def queue(tx: Any) -> None:
        await enqueue(tx, kind="ticket_assigned", recipient="a@example.com", subject="one",
                      body="secret body", now=now)
        mid = await enqueue(tx, kind="ticket_status", recipient="b@example.com",
                            subject="two", body="b", now=now)
        await tx.execute("UPDATE mail_outbox SET attempts = 10, last_error = 'timed out' "
                         "WHERE id = ?", (mid,))

    await store.transaction(queue)
    async with serve_app(store, users=users) as client:
        await login(client, "agent1")
        assert (await client.get("/api/mail")).status == 403
        await login(client, "root")
        resp = await client.get("/api/mail")
        assert resp.status == 200
        data = await resp.json()
    assert data["sending"] is False
    assert [m["subject"] for m in data["pending"]] == ["one"]
    assert [(m["subject"], m["last_error"]) for m in data["failed"]] == [("two", "timed out")]
    assert "secret body" not in str(data)


# --------------------------------------------------------------------------- users' addresses
async def test_user_email_is_stored_validated_and_changed(store: Store) -> None:
    users = UserService(store)
    amy = await users.create("amy", "amy-secret!", "agent", ["1001"], email=" amy@example.com ")
    assert amy.email == "amy@example.com" and amy.to_json()["email"] == "amy@example.com"
    for bad in ("amy", "amy@localhost", "a@b.example\r\nBcc: x@y.example", "a b@c.example",
                "x" * 250 + "@example.com", "<amy@example.com>"):
        with pytest.raises(ValidationError) as err:
            await users.create("amy2", "amy-secret!", "agent", ["1001"], email=bad)
        assert err.value.field == "email"
        with pytest.raises(ValidationError):
            await users.update(amy.id, email=bad)
    assert (await users.update(amy.id, display_name="Amy")).email == "amy@example.com"
    assert (await users.update(amy.id, email="")).email == ""


async def test_admin_form_sets_the_email(store: Store) -> None:
    users = UserService(store)
    people = await seed_users(users)
    agent = people["agent1"]
    async with serve_app(store, users=users) as client:
        await login(client, "root")
        page = await client.get(f"/admin/users/{agent.id}")
        html = await page.text()
        assert 'name="email"' in html and "Adresse e-mail" in html
        token = html.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "display_name": "Agent One", "role": "agent",
                "extensions": "1001", "language": "", "timezone": "", "active": "1"}
        bad = await client.post(f"/admin/users/{agent.id}", allow_redirects=False,
                                data={**form, "email": "not an address"})
        assert bad.status == 400
        assert "adresse e-mail" in await bad.text() and 'value="not an address"' in \
            await bad.text()
        ok = await client.post(f"/admin/users/{agent.id}", allow_redirects=False,
                               data={**form, "email": "agent1@example.com"})
        assert ok.status == 303
    saved = await users.get(agent.id)
    assert saved is not None and saved.email == "agent1@example.com"


def test_cli_user_add_with_email(tmp_path: Path) -> None:
    db = str(tmp_path / "users.db")

    def cti(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cti", *args], input="marie-password\n",
                              capture_output=True, text=True, timeout=60, check=False)

    ok = cti("user", "add", "marie", "--ext", "1001", "--email", "marie@example.com",
             "--password-stdin", "--db", db)
    assert ok.returncode == 0, ok.stderr
    bad = cti("user", "add", "paul", "--ext", "1002", "--email", "paul", "--password-stdin",
              "--db", db)
    assert bad.returncode == 1 and "email" in bad.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT username, email FROM users").fetchall()
    assert rows == [("marie", "marie@example.com")]
