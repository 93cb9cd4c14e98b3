"""The ``recordings.*`` settings as one small value (``RecordingSettings()`` are the documented
defaults, so a test builds the service without a configuration file), and the one rule that
maps a path Asterisk reports onto a file cti can open."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cti.config import Config

TRANSCODE_FORMATS: tuple[str, ...] = ("opus", "mp3")


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """``dir``: where cti reads recordings. ``pbx_dir``: the folder Asterisk writes under,
    mapped onto ``dir`` (empty: only the file name is kept). ``keep_unanswered``: keep the
    partial recording of an unanswered call. ``scan_interval``: seconds between folder scans
    (0: at start-up only). ``transcode_after_days`` / ``retention_days``: 0 is off."""

    dir: Path = Path("recordings")
    pbx_dir: str = ""
    keep_unanswered: bool = False
    scan_interval: float = 600.0
    transcode_after_days: float = 0.0
    transcode_format: str = "opus"
    retention_days: float = 0.0

    def __post_init__(self) -> None:
        # Bad settings are caller bugs caught at start-up, not per recording.
        if self.transcode_format not in TRANSCODE_FORMATS:
            raise ValueError(f"recordings.transcode_format must be one of {TRANSCODE_FORMATS}, "
                             f"not {self.transcode_format!r}")
        for name in ("scan_interval", "transcode_after_days", "retention_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"recordings.{name} must be >= 0")

    @classmethod
    def from_config(cls, config: Config) -> RecordingSettings:
        return cls(
            dir=Path(str(config.get("recordings.dir"))),
            pbx_dir=str(config.get("recordings.pbx_dir")),
            keep_unanswered=bool(config.get("recordings.keep_unanswered")),
            scan_interval=float(config.get("recordings.scan_interval")),
            transcode_after_days=float(config.get("recordings.transcode_after_days")),
            transcode_format=str(config.get("recordings.transcode_format")),
            retention_days=float(config.get("recordings.retention_days")),
        )

    def local_file(self, pbx_path: str) -> str:
        """Where cti finds a file Asterisk reported, *relative to* :attr:`dir` (what the
        ``file`` column keeps, so moving the folder is one setting).

        Under ``pbx_dir`` the sub-folders are kept (``…/monitor/2026/11/x.wav`` →
        ``2026/11/x.wav``); so does a relative path (MixMonitor writes those under its
        monitor folder). Anything else (no ``pbx_dir``, a path outside it, a path climbing out
        with ``..``) keeps only the file name."""
        path = PurePosixPath(pbx_path.replace("\\", "/"))
        if not path.is_absolute() and path.parts and ".." not in path.parts:
            return path.as_posix()
        if self.pbx_dir:
            base = PurePosixPath(self.pbx_dir.replace("\\", "/"))
            try:
                rel = path.relative_to(base)
            except ValueError:
                rel = None
            if rel is not None and rel.parts and ".." not in rel.parts:
                return rel.as_posix()
        return path.name

    def pbx_path_for(self, file: str) -> str:
        """The path Asterisk would have reported for a file found in :attr:`dir` (a scan's
        guess, corrected when the PBX reports the file)."""
        if self.pbx_dir:
            return (PurePosixPath(self.pbx_dir.replace("\\", "/")) / file).as_posix()
        return file
