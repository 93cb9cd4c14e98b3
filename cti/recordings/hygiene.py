"""Recordings grow old: re-encoded after ``recordings.transcode_after_days``, deleted after
``recordings.retention_days``.

* **Retention keeps what someone still needs.** A recording whose call was flagged overlong
  (supervisors review those) or is linked to a ticket that is still open (the evidence of a
  complaint) is kept past the limit, and counted, so the summary says why the disk did not
  shrink. The row stays, status ``deleted``: the call log still shows there was a recording.
* **Transcoding keeps the original's name** (``transcoded_from``) and the cached waveform (same
  audio); the new file is written aside and renamed before the row points at it, and the
  original is deleted last, so a crash leaves at worst an extra file, never a row without one.
  Without ffmpeg the step is skipped and counted (WAV stays playable).
* Ages count from the recording's start (else from when cti saw it), by the service's clock.
* Progress: ``run(progress=…)`` calls ``progress(done, total)`` after each file (fits
  :class:`cti.progress.Progress.update`); :class:`HygieneResult` sums it up in one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import PurePosixPath

from cti import audio
from cti.recordings.model import COLUMNS, Recording
from cti.recordings.service import RecordingService, sha256_of
from cti.tickets.workflow import OPEN

log = logging.getLogger(__name__)

DAY = 86400.0
#: Formats not worth re-encoding (already compressed), besides the target itself.
_COMPRESSED = ("opus", "mp3", "ogg", "m4a", "")

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class HygieneResult:
    deleted: int = 0
    kept_open_ticket: int = 0
    kept_overlong: int = 0
    transcoded: int = 0
    transcode_skipped: int = 0  # due, but no ffmpeg here
    freed_bytes: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return (f"deleted {self.deleted}, kept {self.kept_open_ticket + self.kept_overlong} "
                f"(open ticket {self.kept_open_ticket}, overlong {self.kept_overlong}), "
                f"transcoded {self.transcoded}"
                + (f" ({self.transcode_skipped} waiting for ffmpeg)"
                   if self.transcode_skipped else "")
                + f", freed {self.freed_bytes / 1e6:.1f} MB, errors {self.errors}")


class RecordingHygiene:
    def __init__(self, service: RecordingService) -> None:
        self.service = service
        self.settings = service.settings
        self.last: HygieneResult | None = None

    async def run(self, progress: Progress | None = None) -> HygieneResult:
        """Retention first (nothing is re-encoded only to be deleted), then transcoding."""
        result = HygieneResult()
        if self.settings.retention_days > 0:
            result = await self.retention(result, progress)
        if self.settings.transcode_after_days > 0:
            result = await self.transcode(result, progress)
        self.last = result
        if result != HygieneResult():
            log.info("recordings hygiene: %s", result.summary())
        return result

    # ------------------------------------------------------------------ retention
    async def retention(self, result: HygieneResult | None = None,
                        progress: Progress | None = None) -> HygieneResult:
        result = result or HygieneResult()
        cutoff = self.service.clock() - self.settings.retention_days * DAY
        marks = ", ".join(f"'{s}'" for s in OPEN)
        rows = await self.service.store.query(
            f"SELECT {COLUMNS}, "
            "EXISTS (SELECT 1 FROM calls c WHERE c.pbx = r.pbx AND c.call_id = r.call_id "
            "        AND c.overlong = 1) AS overlong, "
            "EXISTS (SELECT 1 FROM ticket_calls tc JOIN tickets t ON t.id = tc.ticket_id "
            f"        WHERE tc.pbx = r.pbx AND tc.call_id = r.call_id AND t.status IN ({marks}))"
            " AS open_ticket "
            "FROM recordings r WHERE status IN ('pending', 'ok', 'corrupt', 'missing') "
            "AND COALESCE(started_at, created_at) < ? ORDER BY id", (cutoff,))
        for done, row in enumerate(rows, 1):
            if row["open_ticket"]:
                result = replace(result, kept_open_ticket=result.kept_open_ticket + 1)
            elif row["overlong"]:
                result = replace(result, kept_overlong=result.kept_overlong + 1)
            else:
                result = await self._delete(Recording.from_row(row), result)
            if progress is not None:
                progress(done, len(rows))
        return result

    async def _delete(self, rec: Recording, result: HygieneResult) -> HygieneResult:
        path = self.service.path(rec)
        try:
            existed = await asyncio.to_thread(path.exists)
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            log.warning("recording %d: cannot delete %s: %s", rec.id, rec.name, exc)
            return replace(result, errors=result.errors + 1)
        await self.service.set_status(rec.id, "deleted", checked_at=self.service.clock())
        freed = (rec.size or 0) if existed else 0
        return replace(result, deleted=result.deleted + 1,
                       freed_bytes=result.freed_bytes + freed)

    # ------------------------------------------------------------------ transcoding
    async def transcode(self, result: HygieneResult | None = None,
                        progress: Progress | None = None) -> HygieneResult:
        result = result or HygieneResult()
        fmt = self.settings.transcode_format
        cutoff = self.service.clock() - self.settings.transcode_after_days * DAY
        skip = ", ".join(f"'{f}'" for f in (*_COMPRESSED, fmt))
        rows = await self.service.store.query(
            f"SELECT {COLUMNS} FROM recordings WHERE status = 'ok' AND transcoded_from IS NULL "
            f"AND format NOT IN ({skip}) AND COALESCE(started_at, created_at) < ? ORDER BY id",
            (cutoff,))
        if rows and not audio.ffmpeg_available():
            log.warning("recordings: %d file(s) due for transcoding, but ffmpeg is not "
                        "installed", len(rows))
            return replace(result, transcode_skipped=result.transcode_skipped + len(rows))
        for done, row in enumerate(rows, 1):
            rec = Recording.from_row(row)
            try:
                freed = await self.transcode_one(rec, fmt)
            except (audio.AudioError, OSError) as exc:
                log.warning("recording %d: cannot transcode %s: %s", rec.id, rec.name, exc)
                result = replace(result, errors=result.errors + 1)
            else:
                result = replace(result, transcoded=result.transcoded + 1,
                                 freed_bytes=result.freed_bytes + freed)
            if progress is not None:
                progress(done, len(rows))
        return result

    async def transcode_one(self, rec: Recording, fmt: str) -> int:
        """Re-encode one recording; returns the bytes saved."""
        old = PurePosixPath(rec.file)
        new = old.with_suffix(f".{fmt}").as_posix()
        src, dst = self.service.path(rec), self.service.settings.dir / new
        if await asyncio.to_thread(dst.exists):
            raise FileExistsError(f"{new} exists already")
        info = await asyncio.to_thread(audio.transcode, src, dst, fmt)
        digest = await asyncio.to_thread(sha256_of, dst)
        await self.service.set_status(
            rec.id, "ok", file=new, format=info.format, channels=info.channels,
            sample_rate=info.sample_rate, duration=info.duration, size=info.size,
            sha256=digest, transcoded_from=old.name, checked_at=self.service.clock())
        await asyncio.to_thread(src.unlink, missing_ok=True)
        return max(0, (rec.size or 0) - info.size)
