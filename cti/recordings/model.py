"""A recording as the rest of the program sees it: one row of ``recordings``, frozen."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any

from cti.calls.model import iso_utc

#: Statuses whose file is (or should be) on disk.
ON_DISK: tuple[str, ...] = ("pending", "ok", "corrupt")
#: Statuses nothing changes any more: the file is gone on purpose.
FINAL: tuple[str, ...] = ("deleted", "dropped")
SOURCES: tuple[str, ...] = ("variable", "event", "scan")

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav", "wav49": "audio/wav", "mp3": "audio/mpeg", "opus": "audio/ogg",
    "ogg": "audio/ogg", "flac": "audio/flac", "gsm": "audio/x-gsm", "m4a": "audio/mp4",
}

#: The columns a :class:`Recording` is read from (``peaks`` only says whether they are cached).
COLUMNS = ("id, pbx, call_id, pbx_path, file, leg, source, status, format, channels, "
           "sample_rate, duration, size, sha256, started_at, checked_at, transcoded_from, "
           "listened_at, listened_by, created_at, updated_at, peaks IS NOT NULL AS has_peaks")


@dataclass(frozen=True, slots=True)
class Recording:
    """``file`` is relative to ``recordings.dir``; ``pbx_path`` is as Asterisk reported it.
    Neither leaves the server: :meth:`to_json` gives the file's name only."""

    id: int
    pbx: str
    call_id: str | None
    pbx_path: str
    file: str
    leg: str
    source: str
    status: str
    format: str
    channels: int | None
    sample_rate: int | None
    duration: float | None
    size: int | None
    sha256: str
    started_at: float | None
    checked_at: float | None
    transcoded_from: str | None
    listened_at: float | None
    listened_by: str | None
    created_at: float
    updated_at: float
    has_peaks: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Recording:
        values = {f.name: row[f.name] for f in fields(cls) if f.name != "has_peaks"}
        return cls(**values, has_peaks=bool(row.get("has_peaks")))

    @property
    def name(self) -> str:
        return PurePosixPath(self.file).name

    @property
    def playable(self) -> bool:
        return self.status == "ok"

    @property
    def media_type(self) -> str:
        """Content type to serve the file with."""
        ext = PurePosixPath(self.file).suffix.lower().lstrip(".")
        return MEDIA_TYPES.get(self.format or ext, MEDIA_TYPES.get(ext,
                                                                   "application/octet-stream"))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pbx": self.pbx,
            "call_id": self.call_id,
            "name": self.name,
            "leg": self.leg,
            "source": self.source,
            "status": self.status,
            "playable": self.playable,
            "media_type": self.media_type,
            "format": self.format,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "duration": self.duration,
            "size": self.size,
            "sha256": self.sha256,
            "started_at": iso_utc(self.started_at),
            "checked_at": iso_utc(self.checked_at),
            "transcoded_from": self.transcoded_from,
            "listened_at": iso_utc(self.listened_at),
            "listened_by": self.listened_by,
            "has_peaks": self.has_peaks,
        }
