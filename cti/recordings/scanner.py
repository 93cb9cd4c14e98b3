"""The folder scan: what the bus cannot tell.

At start-up and every ``recordings.scan_interval`` seconds it walks ``recordings.dir``:

* **A file no row knows** (written while cti was down, or by a dialplan that sets no variable
  cti follows) is linked (``source = scan``) and probed; its call is found by the name rule of
  :mod:`cti.recordings.naming` — a Linkedid matched against ``calls.call_id``, else a channel's
  Uniqueid against ``call_legs.uniqueid``. A file whose call is not known yet keeps
  ``call_id`` NULL and is tried again on the next scans (for a week).
* **A row whose file vanished** becomes ``missing`` (and is probed again if it comes back).
* **A file that changed since its probe** (size or modification time) is probed again; so is a
  ``pending`` one whose call has ended (a link whose end cti missed) or is over a day old.

It never stops on an odd file (unreadable, strange name, not audio): that file is counted in
``errors`` and logged. A missing folder is logged and skipped, never read as "every file
vanished" (an unmounted share must not mark a year of recordings missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cti.audio import AUDIO_EXTENSIONS
from cti.recordings.model import COLUMNS, FINAL, Recording
from cti.recordings.naming import call_ids_in, leg_of
from cti.recordings.service import RecordingService

log = logging.getLogger(__name__)

#: How long an unmatched file's call is looked for, and a pending row waits for its call's end.
RETRY_UNMATCHED = 7 * 86400.0
PENDING_GRACE = 86400.0


@dataclass(frozen=True, slots=True)
class ScanResult:
    files: int = 0  # audio files in the folder
    linked: int = 0  # new rows for files no event told about
    matched: int = 0  # rows given to their call by the name rule
    unmatched: int = 0  # new files whose call is not known (yet)
    missing: int = 0  # rows whose file vanished
    rechecked: int = 0  # files probed again
    errors: int = 0  # odd files skipped (logged)

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def walk(root: Path) -> dict[str, tuple[int, float]]:
    """Audio files under ``root``: relative POSIX path → (size, mtime). Hidden files and
    half-written copies (``.part``, ``.tmp``) are left out; unreadable folders are logged."""
    found: dict[str, tuple[int, float]] = {}

    def problem(exc: OSError) -> None:
        log.warning("recordings scan: cannot read %s: %s", exc.filename, exc.strerror)

    for folder, dirs, names in os.walk(root, onerror=problem):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if name.startswith(".") or ext not in AUDIO_EXTENSIONS:
                continue
            path = Path(folder, name)
            try:
                st = path.stat()
            except OSError:
                continue  # vanished meanwhile, or a dangling link
            found[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime)
    return found


class RecordingScanner:
    """``pbx``: the PBX a file is filed under when its call is not found (with several PBXes,
    a matched call says which). ``after``: work to run after each scan (hygiene)."""

    def __init__(self, service: RecordingService, *, pbxes: Sequence[str] = ("default",),
                 interval: float | None = None,
                 after: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.service = service
        self.pbxes = tuple(pbxes) or ("default",)
        self.interval = service.settings.scan_interval if interval is None else interval
        self.after = after
        self.scans = 0
        self.last: ScanResult | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ one pass
    async def scan(self) -> ScanResult:
        root = self.service.settings.dir
        if not await asyncio.to_thread(root.is_dir):
            log.warning("recordings scan: folder %s does not exist; skipped", root)
            return ScanResult()
        on_disk = await asyncio.to_thread(walk, root)
        counts = dict.fromkeys(("linked", "matched", "unmatched", "missing", "rechecked",
                                "errors"), 0)
        rows = await self.service.store.query(f"SELECT {COLUMNS} FROM recordings")
        known: set[str] = set()
        for row in rows:
            rec = Recording.from_row(row)
            known.add(rec.file)
            if rec.transcoded_from:  # an original left behind by a transcode is not new
                known.add((PurePosixPath(rec.file).parent / rec.transcoded_from).as_posix())
            if rec.status in FINAL:
                continue
            try:
                await self._revisit(rec, on_disk.get(rec.file), counts)
            except Exception:
                counts["errors"] += 1
                log.exception("recordings scan: recording %d (%s) failed", rec.id, rec.name)
        for file in sorted(set(on_disk) - known):
            try:
                await self._adopt(file, counts)
            except Exception as exc:
                counts["errors"] += 1
                log.warning("recordings scan: skipped %r: %s", file, exc)
        result = ScanResult(files=len(on_disk), **counts)
        self.scans += 1
        self.last = result
        if any(counts.values()):
            log.info("recordings scan: %s", result.to_json())
        return result

    async def _revisit(self, rec: Recording, stat: tuple[int, float] | None,
                       counts: dict[str, int]) -> None:
        now = self.service.clock()
        if rec.call_id is None and now - rec.created_at < RETRY_UNMATCHED:
            call = await self.find_call(rec.file)
            if call is not None:
                rec = await self.service.attach(rec.id, *call)
                counts["matched"] += 1
        # A pending row belongs to a call in progress: its file is the PBX's business until
        # the call ends (or cti evidently missed the end).
        settled = rec.status != "pending" or (rec.call_id is None
                                              or now - rec.created_at > PENDING_GRACE
                                              or await self._call_ended(rec))
        if stat is None:
            if rec.status != "missing" and settled:
                await self.service.set_status(rec.id, "missing", checked_at=now)
                counts["missing"] += 1
            return
        size, mtime = stat
        if rec.status == "pending":
            due = settled
        else:
            due = (rec.status == "missing" or size != rec.size
                   or rec.checked_at is None or mtime > rec.checked_at)
        if due:
            await self.service.check(rec)
            counts["rechecked"] += 1

    async def _adopt(self, file: str, counts: dict[str, int]) -> None:
        settings = self.service.settings
        call = await self.find_call(file)
        pbx, call_id = call if call is not None else (self.pbxes[0], None)
        rec = await self.service.link(pbx, call_id, settings.pbx_path_for(file), "scan",
                                      None, leg_of(file))
        if rec.file != file:  # the name did not survive the round trip (odd characters)
            raise ValueError(f"cannot be filed as {rec.file!r}")
        counts["linked"] += 1
        counts["matched" if call is not None else "unmatched"] += 1
        await self.service.check(rec)

    async def _call_ended(self, rec: Recording) -> bool:
        row = await self.service.store.query_one(
            "SELECT 1 AS x FROM calls WHERE pbx = ? AND call_id = ?", (rec.pbx, rec.call_id))
        return row is not None

    async def find_call(self, file: str) -> tuple[str, str] | None:
        """``(pbx, call_id)`` of the call a file name points at, if cti knows that call."""
        store = self.service.store
        for token in call_ids_in(file):
            for pbx in self.pbxes:
                row = await store.query_one(
                    "SELECT pbx, call_id FROM calls WHERE pbx = ? AND call_id = ?", (pbx, token))
                if row is not None:
                    return str(row["pbx"]), str(row["call_id"])
            row = await store.query_one(
                "SELECT pbx, call_id FROM call_legs WHERE uniqueid = ? ORDER BY pbx LIMIT 1",
                (token,))
            if row is not None:
                return str(row["pbx"]), str(row["call_id"])
        return None

    # ------------------------------------------------------------------ periodic
    def start(self) -> None:
        """Scan now (in the background) and then every ``interval`` seconds (0: once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="recordings-scan")

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
                if self.after is not None:
                    await self.after()
            except Exception:
                log.exception("recordings scan failed")
            if self.interval <= 0:
                return
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
