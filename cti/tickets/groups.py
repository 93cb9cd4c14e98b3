"""Groups of people a ticket or a callback can be given to ("Hotline", "Sales").

A group ticket is every member's business until one of them takes it (assigns it to
themselves). Members are usernames, as elsewhere in tickets, so a deleted account leaves
nothing dangling that matters; a group may also have a shared mailbox, used for notifications
besides (or instead of) its members' own addresses.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cti.errors import Conflict, NotFound, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.model import _EMAIL, clean_text


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    email: str
    members: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email,
                "members": list(self.members)}


class GroupService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, name: str, members: Iterable[str] = (), email: str = "") -> Group:
        name = clean_text("name", name, 80)
        if not name:
            raise ValidationError("name", "is required")
        email = clean_text("email", email, 254)
        if email and not _EMAIL.match(email):
            raise ValidationError("email", "is not an e-mail address")
        people = await self._check_members(members)

        async def work(tx: Tx) -> int:
            if await tx.fetch("SELECT id FROM groups WHERE name = ?", (name,)):
                raise Conflict(f"A group named {name!r} exists already.")
            gid = await tx.execute(
                "INSERT INTO groups (name, email, created_at) VALUES (?, ?, ?)",
                (name, email, time.time()))
            await tx.executemany("INSERT INTO group_members (group_id, username) VALUES (?, ?)",
                                 [(gid, u) for u in people])
            return gid

        return await self.get(await self.store.transaction(work))

    async def set_members(self, group_id: int, members: Iterable[str]) -> Group:
        await self.get(group_id)
        people = await self._check_members(members)

        async def work(tx: Tx) -> None:
            await tx.execute("DELETE FROM group_members WHERE group_id = ?", (group_id,))
            await tx.executemany("INSERT INTO group_members (group_id, username) VALUES (?, ?)",
                                 [(group_id, u) for u in people])

        await self.store.transaction(work)
        return await self.get(group_id)

    async def set_email(self, group_id: int, email: str) -> Group:
        """The group's shared mailbox ("" for none)."""
        await self.get(group_id)
        email = clean_text("email", email, 254)
        if email and not _EMAIL.match(email):
            raise ValidationError("email", "is not an e-mail address")
        await self.store.transaction(lambda tx: tx.execute(
            "UPDATE groups SET email = ? WHERE id = ?", (email, group_id)))
        return await self.get(group_id)

    async def get(self, group_id: int) -> Group:
        row = await self.store.query_one("SELECT * FROM groups WHERE id = ?", (group_id,))
        if row is None:
            raise NotFound(f"no group {group_id}")
        members = await self.store.query(
            "SELECT username FROM group_members WHERE group_id = ? ORDER BY username",
            (group_id,))
        return Group(row["id"], row["name"], row["email"],
                     tuple(m["username"] for m in members))

    async def list_all(self) -> list[Group]:
        rows = await self.store.query("SELECT id FROM groups ORDER BY name")
        return [await self.get(r["id"]) for r in rows]

    async def of_user(self, username: str) -> list[int]:
        rows = await self.store.query(
            "SELECT group_id FROM group_members WHERE username = ? ORDER BY group_id",
            (username,))
        return [int(r["group_id"]) for r in rows]

    async def _check_members(self, members: Iterable[str]) -> list[str]:
        people = sorted({m.strip() for m in members if m and m.strip()})
        if not people:
            return []
        marks = ", ".join("?" for _ in people)
        rows = await self.store.query(
            f"SELECT username FROM users WHERE username IN ({marks})", people)
        known = {r["username"].lower(): r["username"] for r in rows}
        missing = [p for p in people if p.lower() not in known]
        if missing:
            raise ValidationError("members", f"unknown user {missing[0]!r}")
        return [known[p.lower()] for p in people]
