"""The audit log of commands sent to the PBX for people (table ``audit_log``, migration 5).

Writes go through ``Store.transaction`` (the store's single writer), reads through
``Store.query``; the table is described in :mod:`cti.store.audit_schema`. A failure to write
the audit row is logged and does not stop the command's answer: the person must learn whether
their phone is about to ring even if the disk is full.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cti.store.sqlite import Store
from cti.store.tx import Tx

log = logging.getLogger(__name__)

_INSERT = """
INSERT INTO audit_log (at, user_id, username, action, target, extension, pbx, result,
                       request_id, ip, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One attempt: who (``user_id``, ``username``, ``ip``), what (``action`` on ``target``
    from ``extension`` on ``pbx``) and the answer (``result``)."""

    username: str
    action: str
    target: str
    result: str
    user_id: int | None = None
    extension: str | None = None
    pbx: str | None = None
    request_id: str | None = None
    ip: str = ""
    detail: dict[str, Any] | None = None


class AuditLog:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.errors = 0

    async def record(self, entry: AuditEntry) -> None:
        row = (self.clock(), entry.user_id, entry.username, entry.action, entry.target[:100],
               entry.extension, entry.pbx, entry.result, entry.request_id, entry.ip,
               json.dumps(entry.detail or {}, ensure_ascii=False, sort_keys=True))

        async def work(tx: Tx) -> None:
            await tx.execute(_INSERT, row)

        try:
            await self.store.transaction(work)
        except Exception:
            self.errors += 1
            log.exception("audit: cannot record %s %s by %s", entry.action, entry.target,
                          entry.username)

    async def set_outcome(self, request_id: str, outcome: str) -> None:
        """What the PBX reported later about the request (``answered``, ``busy``…)."""

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE audit_log SET outcome = ? WHERE request_id = ?",
                             (outcome, request_id))

        try:
            await self.store.transaction(work)
        except Exception:
            self.errors += 1
            log.exception("audit: cannot record outcome %s of %s", outcome, request_id)

    async def recent(self, *, limit: int = 100, username: str | None = None,
                     action: str | None = None) -> list[dict[str, Any]]:
        """Newest first (supervisors' audit page and the tests)."""
        where, params = [], []
        if username is not None:
            where.append("username = ?")
            params.append(username)
        if action is not None:
            where.append("action = ?")
            params.append(action)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.store.query(sql + " ORDER BY at DESC, id DESC LIMIT ?",
                                      (*params, limit))
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows
