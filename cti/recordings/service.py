"""The recordings service: links audio files to calls, checks them, serves what the UI needs.

Why it is built this way:

* **Linked at the start, checked at the end.** Asterisk names the file when recording starts
  (``MIXMONITOR_FILENAME``), long before the file is complete; :meth:`link` records it then
  (status ``pending``), :meth:`finish_call` probes it once the call has ended. The link is keyed
  by ``(pbx, pbx_path)``, so the same file reported twice (the variable, the record, a replay)
  is one row.
* **The call's end is authoritative.** ``CallEnded.record.recordings`` lists every file of the
  call as the tracker finally sees it (after transfers merged calls), so it re-attaches each of
  them to that call.
* **A bad file is a status, never an exception.** ``missing`` (no file), ``corrupt``
  (unreadable, truncated), ``dropped`` (an unanswered call's partial recording, unless
  ``recordings.keep_unanswered``): the UI shows each; the linker never stops on one.
* **Blocking work runs in a thread** (probing, hashing, waveform, deleting): the event loop
  carries the AMI stream and the web UI.
* **Peaks are computed once** at :data:`PEAKS_CACHED` points and kept in the row; smaller
  requests are pooled from them (a waveform must still draw after the file was deleted).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cti import audio
from cti.calls.model import CallRecord
from cti.errors import Conflict, NotFound
from cti.recordings.model import COLUMNS, FINAL, ON_DISK, SOURCES, Recording
from cti.recordings.naming import LEGS, leg_of
from cti.recordings.settings import RecordingSettings
from cti.store.sqlite import Store
from cti.store.tx import Tx

__all__ = ["PEAKS_CACHED", "Probe", "Recording", "RecordingService"]

log = logging.getLogger(__name__)

#: Points of the cached waveform (a wide screen's worth).
PEAKS_CACHED = 800
_MAX_PEAKS = 20_000


@dataclass(frozen=True, slots=True)
class Probe:
    """What looking at a file found: the status it earns and its figures."""

    status: str  # ok, missing, corrupt
    info: audio.AudioInfo | None = None
    size: int | None = None
    sha256: str = ""
    error: str = ""


def examine(path: Path) -> Probe:
    """Probe and hash one file (blocking). Never raises for a bad or absent file."""
    try:
        info = audio.probe(path)
    except FileNotFoundError:
        return Probe("missing")
    except (audio.AudioError, OSError) as exc:
        try:
            size, digest = path.stat().st_size, sha256_of(path)
        except OSError:
            return Probe("missing" if not path.exists() else "corrupt", error=str(exc))
        return Probe("corrupt", size=size, sha256=digest, error=str(exc))
    try:
        digest = sha256_of(path)
    except OSError as exc:
        return Probe("corrupt", info=info, size=info.size, error=str(exc))
    return Probe("ok", info, info.size, digest)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class RecordingService:
    """Owns the ``recordings`` table (migration 10). ``clock`` stamps rows."""

    def __init__(self, store: Store, settings: RecordingSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings or RecordingSettings()
        self.clock = clock

    # ------------------------------------------------------------------ paths
    def path(self, recording: Recording) -> Path:
        """Where the recording's file is (or was) on this server: for the player's download."""
        return self.settings.dir / recording.file

    # ------------------------------------------------------------------ linking
    async def link(self, pbx: str, call_id: str | None, pbx_path: str, source: str,
                   started_at: float | None = None, leg: str = "mixed") -> Recording:
        """The row of the file ``pbx_path`` on ``pbx``, created if new (status ``pending``).

        Idempotent on ``(pbx, pbx_path)``: linking again fills in what was unknown (the call
        of a file found by the scan, the start time) and changes nothing else. A row the scan
        made for the same file (under a guessed path) becomes this one."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        if leg not in LEGS:
            raise ValueError(f"leg must be one of {LEGS}, not {leg!r}")
        if not pbx_path.strip():
            raise ValueError("a recording needs the path the PBX reported")
        file = self.settings.local_file(pbx_path)
        now = self.clock()

        async def work(tx: Tx) -> int:
            rows = await tx.fetch(
                "SELECT id FROM recordings WHERE pbx = ?1 AND pbx_path = ?2 "
                "OR file = ?3 AND source = 'scan' ORDER BY pbx = ?1 AND pbx_path = ?2 DESC, id "
                "LIMIT 1", (pbx, pbx_path, file))
            if not rows:
                return await tx.execute(
                    "INSERT INTO recordings (pbx, call_id, pbx_path, file, leg, source, "
                    "started_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (pbx, call_id, pbx_path, file, leg, source, started_at, now, now))
            rid = int(rows[0]["id"])
            await tx.execute(
                "UPDATE recordings SET pbx = ?1, pbx_path = ?2, call_id = COALESCE(call_id, ?3), "
                "started_at = COALESCE(started_at, ?4), updated_at = ?5 WHERE id = ?6 AND "
                "(pbx IS NOT ?1 OR pbx_path IS NOT ?2 OR call_id IS NULL AND ?3 IS NOT NULL "
                "OR started_at IS NULL AND ?4 IS NOT NULL)",
                (pbx, pbx_path, call_id, started_at, now, rid))
            return rid

        return await self.get(await self.store.transaction(work))

    async def attach(self, recording_id: int, pbx: str, call_id: str) -> Recording:
        """Give a recording to a call (the scan's match, the record of a merged call)."""
        now = self.clock()
        await self.store.transaction(lambda tx: tx.execute(
            "UPDATE recordings SET pbx = ?1, call_id = ?2, updated_at = ?3 WHERE id = ?4 AND "
            "(pbx IS NOT ?1 OR call_id IS NOT ?2)", (pbx, call_id, now, recording_id)))
        return await self.get(recording_id)

    async def finish_call(self, record: CallRecord) -> list[Recording]:
        """The call has ended: link any of its files not seen yet, then probe each (status
        ``ok``/``missing``/``corrupt``), or drop them if the call was never answered (unless
        ``recordings.keep_unanswered``). Returns the call's recordings."""
        for pbx_path in record.recordings:
            if not pbx_path.strip():
                continue
            rec = await self.link(record.pbx, record.call_id, pbx_path, "event",
                                  record.answered_at or record.started_at, leg_of(pbx_path))
            if rec.call_id != record.call_id:
                await self.attach(rec.id, record.pbx, record.call_id)
        keep = record.answered or self.settings.keep_unanswered
        out = []
        for rec in await self.for_call(record.pbx, record.call_id):
            if rec.status in FINAL:
                out.append(rec)
            elif keep:
                out.append(await self.check(rec))
            else:
                out.append(await self.drop(rec))
        return out

    # ------------------------------------------------------------------ checking
    async def check(self, recording: Recording) -> Recording:
        """Probe the file now and store what was found (a changed file loses its peaks)."""
        found = await asyncio.to_thread(examine, self.path(recording))
        if found.status == "corrupt":
            log.warning("recording %d (%s) is corrupt: %s", recording.id, recording.name,
                        found.error)
        info = found.info
        fmt = info.format if info else (recording.format or Path(recording.file).suffix
                                        .lower().lstrip("."))
        if found.status == "missing":  # keep the last known figures: they say what was lost
            values: tuple[Any, ...] = (recording.format, recording.channels,
                                       recording.sample_rate, recording.duration,
                                       recording.size, recording.sha256)
        else:
            values = (fmt, info.channels if info else None, info.sample_rate if info else None,
                      info.duration if info else None, found.size, found.sha256)
        now = self.clock()
        await self.store.transaction(lambda tx: tx.execute(
            "UPDATE recordings SET status = ?1, format = ?2, channels = ?3, sample_rate = ?4, "
            "duration = ?5, size = ?6, peaks = CASE WHEN sha256 = ?7 THEN peaks END, "
            "sha256 = ?7, checked_at = ?8, updated_at = ?8 WHERE id = ?9",
            (found.status, *values, now, recording.id)))
        return await self.get(recording.id)

    async def drop(self, recording: Recording) -> Recording:
        """An unanswered call's partial recording: delete the file, mark the row."""
        await asyncio.to_thread(self.path(recording).unlink, missing_ok=True)
        return await self.set_status(recording.id, "dropped")

    async def set_status(self, recording_id: int, status: str, **changes: Any) -> Recording:
        """Write a status (and other columns, for the scan and hygiene) and stamp the row."""
        allowed = {"file", "format", "channels", "sample_rate", "duration", "size", "sha256",
                   "transcoded_from", "checked_at", "peaks"}
        if not set(changes) <= allowed:
            raise ValueError(f"cannot set {sorted(set(changes) - allowed)}")
        now = self.clock()
        sets = ", ".join(f"{k} = ?" for k in changes)
        await self.store.transaction(lambda tx: tx.execute(
            f"UPDATE recordings SET status = ?, {sets + ', ' if sets else ''}updated_at = ? "
            "WHERE id = ?", (status, *changes.values(), now, recording_id)))
        return await self.get(recording_id)

    # ------------------------------------------------------------------ reading
    async def get(self, recording_id: int) -> Recording:
        row = await self.store.query_one(f"SELECT {COLUMNS} FROM recordings WHERE id = ?",
                                         (recording_id,))
        if row is None:
            raise NotFound(f"no recording {recording_id}")
        return Recording.from_row(row)

    async def for_call(self, pbx: str, call_id: str) -> list[Recording]:
        """The call's recordings, in the order they started."""
        rows = await self.store.query(
            f"SELECT {COLUMNS} FROM recordings WHERE pbx = ? AND call_id = ? "
            "ORDER BY COALESCE(started_at, created_at), id", (pbx, call_id))
        return [Recording.from_row(r) for r in rows]

    async def peaks(self, recording_id: int, n: int = PEAKS_CACHED) -> list[float]:
        """The waveform at ``n`` points (0..1). Computed from the file the first time, then
        read from the row; a finer request than the cache is computed again if the file is
        still there. Raises :class:`NotFound` when there is neither a cache nor a file, and
        :class:`Conflict` when the file cannot be read as audio."""
        if not 1 <= n <= _MAX_PEAKS:
            raise ValueError(f"n must be between 1 and {_MAX_PEAKS}")
        rec = await self.get(recording_id)
        row = await self.store.query_one("SELECT peaks FROM recordings WHERE id = ?",
                                         (recording_id,))
        cached: list[float] | None = json.loads(row["peaks"]) if row and row["peaks"] else None
        if cached is not None and (n <= len(cached) or len(cached) < PEAKS_CACHED):
            return pool(cached, n)  # a short file's cache holds every sample already
        path = self.path(rec)
        if rec.status in FINAL or not await asyncio.to_thread(path.is_file):
            if cached is not None:
                return cached
            raise NotFound(f"recording {recording_id}: the audio file is gone")
        try:
            values = await asyncio.to_thread(audio.peaks, path, max(n, PEAKS_CACHED))
        except audio.AudioError as exc:
            raise Conflict(f"recording {recording_id}: {exc}") from exc
        if cached is None:
            text = json.dumps(values, separators=(",", ":"))
            await self.store.transaction(lambda tx: tx.execute(
                "UPDATE recordings SET peaks = ? WHERE id = ?", (text, recording_id)))
        return pool(values, n)

    async def mark_listened(self, recording_id: int, username: str) -> Recording:
        """The first listen of the recording (who, when): the supervisors' "listened" flag.
        Later plays change nothing here (the audit log has every one)."""
        await self.get(recording_id)
        now = self.clock()
        await self.store.transaction(lambda tx: tx.execute(
            "UPDATE recordings SET listened_at = ?, listened_by = ?, updated_at = ? "
            "WHERE id = ? AND listened_at IS NULL", (now, username, now, recording_id)))
        return await self.get(recording_id)

    async def disk_usage(self) -> dict[str, Any]:
        """``{files, bytes, by_status: {status: {files, bytes}}}``; ``files``/``bytes`` count
        what is on disk (pending, ok, corrupt), ``bytes`` as last probed."""
        rows = await self.store.query(
            "SELECT status, COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes "
            "FROM recordings GROUP BY status ORDER BY status")
        by_status = {r["status"]: {"files": int(r["files"]), "bytes": int(r["bytes"])}
                     for r in rows}
        on_disk = [v for k, v in by_status.items() if k in ON_DISK]
        return {"files": sum(v["files"] for v in on_disk),
                "bytes": sum(v["bytes"] for v in on_disk), "by_status": by_status}


def pool(values: list[float], n: int) -> list[float]:
    """``values`` brought down to ``n`` points, keeping each slice's loudest (unchanged when
    there are ``n`` or fewer)."""
    size = len(values)
    if n >= size:
        return list(values)
    return [max(values[i * size // n:max((i + 1) * size // n, i * size // n + 1)])
            for i in range(n)]
