"""Who gets an e-mail about a ticket change, and what it says.

:meth:`Notifier.on_change` is a :class:`~cti.tickets.service.TicketService` hook: it runs inside
the change's transaction and queues ``mail_outbox`` rows there (:func:`enqueue`), so a change
and its mail are committed together; :class:`~cti.tickets.outbox.MailOutbox` sends them later.

The rules (each address gets at most one mail per change):

* **assignment** (a ticket created with an assignee, or ``assigned``): the new assignee. A
  ticket given to a *group* with nobody holding it: every active member, and the group's shared
  mailbox. A ticket given to a person *and* a group: the person, who now holds it.
* **status change or reopening**: the assignee.
* **the client** (the ticket's ``contact_email``, else the client card's first address): on
  creation, on resolution and for comments marked *not internal* — only when the ticket's
  ``notify_client`` switch is on. Internal comments never go to the client, and client mails
  carry neither the internal link nor internal notes.
* **nobody is mailed about their own action** (assigning a ticket to oneself, changing the
  status of one's own ticket), nor when disabled. Someone without an address is skipped,
  counted in :attr:`Notifier.skipped` and logged.

Each mail is in its recipient's language (the user's ``language``, else ``web.language``; the
client and group mailboxes get ``web.language``), from plain-text Jinja2 templates in
``web/templates/mail/`` — one file per mail and language, whose first line is the subject.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from cti.config import Config, ConfigError
from cti.mail import one_line
from cti.resources import web_dir
from cti.store.tx import Tx
from cti.tickets.model import Ticket
from cti.tickets.outbox import enqueue
from cti.tickets.service import TicketChange, TicketService

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("fr", "en")
#: Top-level ``web/templates/mail/`` beside the package (as the web pages' templates).
MAIL_TEMPLATES = web_dir() / "templates" / "mail"


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    language: str
    username: str | None = None  # None: a client or a group mailbox
    name: str = ""


@dataclass(frozen=True, slots=True)
class Mail:
    """One planned mail: the template (also the outbox ``kind``), to whom, and its values."""

    template: str
    to: Recipient
    values: dict[str, Any]


class Notifier:
    def __init__(self, *, base_url: str, language: str = "fr",
                 template_dir: Path = MAIL_TEMPLATES, clock: Callable[[], float] = time.time,
                 wake: Callable[[], None] | None = None) -> None:
        if language not in LANGUAGES:
            raise ConfigError(f"setting 'web.language': one of {', '.join(LANGUAGES)}, "
                              f"not {language!r}")
        self.base_url = base_url.rstrip("/")
        self.language = language
        self.clock = clock
        self.wake = wake
        self.queued = 0
        self.skipped = 0  # recipients without an address
        self._fresh = False  # rows queued since the last commit
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_dir)),
            autoescape=False,  # plain text: escaping would print &amp; in people's mail
            undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

    @classmethod
    def from_config(cls, config: Config, *,
                    wake: Callable[[], None] | None = None) -> Notifier:
        return cls(base_url=str(config.get("mail.base_url")),
                   language=str(config.get("web.language")), wake=wake)

    def attach(self, tickets: TicketService) -> None:
        """Queue mail inside every change's transaction; wake the sender after the commit
        (earlier, it could look before the rows are visible)."""
        tickets.hooks.append(self.on_change)
        tickets.listeners.append(self.after_commit)

    def after_commit(self, change: TicketChange) -> None:
        if self._fresh:
            self._fresh = False
            if self.wake is not None:
                self.wake()

    # ------------------------------------------------------------------ the hook
    async def on_change(self, tx: Tx, change: TicketChange) -> None:
        mails = await self.plan(tx, change)
        if not mails:
            return
        who = await self._who(tx, change.actor)
        now = self.clock()
        for mail in mails:
            subject, body = self.render(mail, change.ticket, who)
            await enqueue(tx, kind=mail.template, recipient=mail.to.address, subject=subject,
                          body=body, now=now, ticket_id=change.ticket.id)
            self.queued += 1
        self._fresh = True

    def render(self, mail: Mail, ticket: Ticket, who: str) -> tuple[str, str]:
        """Subject (the template's first line, made one header-safe line) and body."""
        template = self.env.get_template(f"{mail.template}.{mail.to.language}.txt")
        text = template.render(t=ticket, who=who, name=mail.to.name,
                               link=f"{self.base_url}/tickets/{ticket.id}", **mail.values)
        first, _, body = text.lstrip("\n").partition("\n")
        return one_line(first), body.lstrip("\n")

    async def plan(self, tx: Tx, change: TicketChange) -> list[Mail]:
        """The mails ``change`` calls for (one per address at most)."""
        t, data = change.ticket, change.data
        mails: list[Mail] = []
        if change.kind in ("created", "assigned"):
            before = change.before
            new_person = t.assignee is not None and (
                before is None or t.assignee != before.assignee)
            new_group = t.assignee is None and t.group_id is not None and (
                before is None or t.group_id != before.group_id or before.assignee is not None)
            values = {"note": str(data.get("note") or ""), "group": ""}
            if new_person and t.assignee is not None:
                if t.group_id is not None:
                    values["group"] = await self._group_name(tx, t.group_id)
                mails += [Mail("ticket_assigned", r, values)
                          for r in await self._people(tx, [t.assignee], change.actor)]
            elif new_group and t.group_id is not None:
                mails += await self._group_mails(tx, t.group_id, change.actor, values)
        if change.kind in ("status", "reopened") and t.assignee:
            status: dict[str, Any] = {"old": str(data.get("old") or ""),
                                      "note": str(data.get("note") or ""),
                                      "reopened": change.kind == "reopened"}
            mails += [Mail("ticket_status", r, status)
                      for r in await self._people(tx, [t.assignee], change.actor)]
        if t.notify_client:
            client_mail = _client_template(change)
            if client_mail is not None:
                to = await self._client(tx, t)
                if to is not None:
                    mails.append(Mail(client_mail[0], to, client_mail[1]))
        return _one_per_address(mails)

    # ------------------------------------------------------------------ recipients
    async def _people(self, tx: Tx, usernames: list[str], actor: str) -> list[Recipient]:
        out = []
        for username in usernames:
            if username.lower() == actor.lower():
                continue  # nobody needs a mail about their own action
            rows = await tx.fetch("SELECT username, display_name, email, language, active "
                                  "FROM users WHERE username = ?", (username,))
            if rows and rows[0]["active"]:
                person = self._person(rows[0])
                if person is not None:
                    out.append(person)
        return out

    def _person(self, row: dict[str, Any]) -> Recipient | None:
        if not row["email"]:
            self.skipped += 1
            log.info("mail: %s has no e-mail address; not notified", row["username"])
            return None
        language = row["language"] if row["language"] in LANGUAGES else self.language
        return Recipient(row["email"], language, row["username"],
                         row["display_name"] or row["username"])

    async def _group_mails(self, tx: Tx, group_id: int, actor: str,
                           values: dict[str, Any]) -> list[Mail]:
        groups = await tx.fetch("SELECT name, email FROM groups WHERE id = ?", (group_id,))
        if not groups:
            return []
        values = {**values, "group": groups[0]["name"]}
        members = await tx.fetch(
            "SELECT u.username, u.display_name, u.email, u.language, u.active "
            "FROM group_members m JOIN users u ON u.username = m.username "
            "WHERE m.group_id = ? ORDER BY u.username", (group_id,))
        out = []
        for row in members:
            if row["active"] and row["username"].lower() != actor.lower():
                person = self._person(row)
                if person is not None:
                    out.append(Mail("ticket_group", person, values))
        if groups[0]["email"]:
            out.append(Mail("ticket_group", Recipient(groups[0]["email"], self.language,
                                                      name=groups[0]["name"]), values))
        return out

    async def _group_name(self, tx: Tx, group_id: int) -> str:
        rows = await tx.fetch("SELECT name FROM groups WHERE id = ?", (group_id,))
        return str(rows[0]["name"]) if rows else ""

    async def _client(self, tx: Tx, ticket: Ticket) -> Recipient | None:
        address, name = ticket.contact_email, ticket.contact
        if not address and ticket.client_id is not None:
            rows = await tx.fetch("SELECT name, emails FROM clients WHERE id = ?",
                                  (ticket.client_id,))
            if rows:
                name = name or rows[0]["name"]
                emails = _json_list(rows[0]["emails"])
                address = emails[0] if emails else ""
        if not address:
            self.skipped += 1
            log.info("mail: ticket %s has no client address; client not notified",
                     ticket.number)
            return None
        return Recipient(address, self.language, None, name)

    async def _who(self, tx: Tx, actor: str) -> str:
        rows = await tx.fetch("SELECT display_name FROM users WHERE username = ?", (actor,))
        return str(rows[0]["display_name"] or actor) if rows else actor


def _client_template(change: TicketChange) -> tuple[str, dict[str, Any]] | None:
    """The client's mail for this change, if any: creation, resolution, a public comment."""
    if change.kind == "created":
        return "client_created", {}
    if change.kind == "status" and change.data.get("new") == "resolved":
        return "client_resolved", {}
    if change.kind == "comment":
        event = change.data.get("event") or {}
        if event.get("internal") is False:  # internal notes never leave the house
            return "client_comment", {"text": str((event.get("data") or {}).get("text", ""))}
    return None


def _one_per_address(mails: list[Mail]) -> list[Mail]:
    seen: set[str] = set()
    out = []
    for mail in mails:
        key = mail.to.address.strip().lower()
        if key not in seen:
            seen.add(key)
            out.append(mail)
    return out


def _json_list(raw: Any) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


__all__ = ["MAIL_TEMPLATES", "Mail", "Notifier", "Recipient"]
