"""The writer connection as services see it inside ``Store.transaction``.

Services (clients, users, tickets…) keep their SQL next to their logic but must not import the
database driver: they get this small facade. ``sqlite3.Row`` is what aiosqlite's rows are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol


class _Cursor(Protocol):
    lastrowid: int | None

    async def close(self) -> None: ...


class _Connection(Protocol):
    row_factory: Any

    async def execute(self, sql: str, parameters: Iterable[Any] = ...) -> Any: ...

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Any: ...

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ...) -> Any: ...


class Tx:
    def __init__(self, db: _Connection) -> None:
        self._db = db

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the last inserted rowid (0 if none)."""
        cursor = await self._db.execute(sql, tuple(params))
        rowid: int = cursor.lastrowid or 0
        await cursor.close()
        return rowid

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        await self._db.executemany(sql, [tuple(r) for r in rows])

    async def fetch(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        self._db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in await self._db.execute_fetchall(sql, tuple(params))]
        finally:
            self._db.row_factory = None

    async def changes(self) -> int:
        """Rows changed by the last statement."""
        rows = await self._db.execute_fetchall("SELECT changes()", ())
        return int(next(iter(rows))[0])
