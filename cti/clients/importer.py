"""Importing a client CSV into a directory: duplicates, dry runs, all-or-nothing, progress.

The parsing and validation are :mod:`cti.clients.csv_io`'s; this module decides what each valid
row does to the directory, which it sees only through :class:`ClientSink` (a test gives it an
in-memory fake; :class:`cti.clients.bulk.DirectorySink` adapts the real
:class:`~cti.clients.directory.ClientDirectory`).

Why these options:

* ``dry_run`` — people import a spreadsheet once, and want to see beforehand what it will do
  ("9,700 new, 250 duplicates, 50 rows with errors, line 312: invalid e-mail…"). A dry run goes
  through exactly the same steps, duplicate look-ups included, and writes nothing.
* ``all_or_nothing`` — a half-imported file is the worst outcome for someone who means to fix
  the file and import it again: the second run would meet the first run's rows as duplicates.
  So every row is validated before anything is written, and the writes run inside the sink's
  ``transaction()``, which undoes them if the directory refuses a row.
* ``on_duplicate`` — a row whose phone number (E.164) or e-mail is already known is ``skip``-ped
  (the default: re-importing the same export is harmless), ``update``-s the client it matches,
  or ``create``-s a new client anyway. A row repeating an earlier row of the same file counts as
  a duplicate of the client that earlier row became.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

from cti.clients.csv_io import (
    DEFAULT_TYPES,
    CsvFormatError,
    CsvImport,
    Duplicate,
    DuplicateFinder,
    ImportRow,
    RowError,
)
from cti.errors import ValidationError
from cti.phone import DEFAULT_EXTENSION_PATTERN
from cti.progress import Progress

__all__ = [
    "ON_DUPLICATE",
    "ClientSink",
    "DuplicateRow",
    "ImportReport",
    "import_clients",
    "parse_mapping",
    "run_import_cli",
]

log = logging.getLogger(__name__)

OnDuplicate = Literal["skip", "update", "create"]
ON_DUPLICATE: tuple[str, ...] = ("skip", "update", "create")
ProgressCallback = Callable[[int, int], None]


class ClientSink(Protocol):
    """What the importer needs from a client directory."""

    async def find_by_phone_or_email(self, e164s: Sequence[str],
                                     emails: Sequence[str]) -> Any | None:
        """The id of a client having any of these numbers or e-mails, or None."""
        ...

    async def create(self, draft: Mapping[str, Any]) -> Any:
        """Create a client from an :class:`ImportRow` draft; returns its id. Raises
        :class:`~cti.errors.ValidationError` for a draft the directory refuses."""
        ...

    async def update(self, client_id: Any, draft: Mapping[str, Any]) -> None:
        """Complete client ``client_id`` with the draft (see :class:`DirectorySink`)."""
        ...

    def validate(self, draft: Mapping[str, Any]) -> None:
        """Raise :class:`~cti.errors.ValidationError` for a draft ``create`` would refuse,
        without writing: lets dry runs and all-or-nothing imports see every error up front."""
        ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Writes made inside are undone if the block raises (all-or-nothing imports)."""
        ...


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """A row found to repeat a client; ``action`` is what was done (skipped, updated, created).
    ``existing_id`` is the client it matched (None in a dry run when the match is an earlier
    row, whose client was never created); ``of_line`` that earlier row."""

    line: int
    key: str
    existing_id: Any
    of_line: int | None
    action: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "key": self.key, "existing_id": self.existing_id,
                "of_line": self.of_line, "action": self.action}


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do). ``rolled_back``: an all-or-nothing
    import that wrote nothing because of ``errors``."""

    total: int = 0
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False
    rolled_back: bool = False
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total, "imported": self.imported, "updated": self.updated,
            "skipped": self.skipped, "dry_run": self.dry_run, "rolled_back": self.rolled_back,
            "errors": [{"line": e.line, "field": e.field, "reason": e.reason}
                       for e in self.errors],
            "duplicates": [d.to_json() for d in self.duplicates],
            "warnings": [{"line": line, "warning": w} for line, w in self.warnings],
            "delimiter": self.delimiter, "encoding": self.encoding, "columns": self.columns,
            "ignored_columns": self.ignored_columns,
        }

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ("was" if self.imported == 1 else "were")
        head = (f"{self.total:,} rows: {self.imported:,} {verb} imported, {self.updated:,} "
                f"updated, {self.skipped:,} skipped as duplicates, {len(self.errors):,} with "
                "errors")
        if self.rolled_back:
            head += " — nothing was imported (all-or-nothing)"
        return head


class _Rollback(Exception):
    """Raised inside the sink's transaction to undo an all-or-nothing import."""


async def import_clients(
    source: CsvImport,
    sink: ClientSink,
    *,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    on_duplicate: OnDuplicate = "skip",
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import every valid row of ``source`` into ``sink`` and report what happened.
    ``progress(rows done, total)`` is called after each row (the CLI draws its bar from it)."""
    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}")
    report = ImportReport(
        total=source.total, dry_run=dry_run, delimiter=source.delimiter,
        encoding=source.encoding, ignored_columns=list(source.ignored),
        columns={source.header[i]: f for i, f in source.columns.items()},
    )
    rows = [_validated(r, sink) for r in source.rows()]
    if all_or_nothing and any(isinstance(r, RowError) for r in rows):
        # Nothing is written, but the duplicate look-ups still run so the report says how the
        # corrected file would go.
        dry_run = report.rolled_back = True
    runner = _Run(sink, report, dry_run, on_duplicate, progress)
    if dry_run or not all_or_nothing:
        await runner.run(rows)
    else:
        try:
            async with sink.transaction():
                await runner.run(rows, rollback=True)
        except _Rollback:
            report.rolled_back = True
    if report.rolled_back:
        report.imported = report.updated = 0
        report.skipped = 0
    return report


def _validated(row: ImportRow | RowError, sink: ClientSink) -> ImportRow | RowError:
    if isinstance(row, ImportRow):
        try:
            sink.validate(row.draft)
        except ValidationError as exc:
            return RowError(row.line, exc.field, exc.message)
    return row


class _Run:
    def __init__(self, sink: ClientSink, report: ImportReport, dry_run: bool,
                 on_duplicate: OnDuplicate, progress: ProgressCallback | None) -> None:
        self.sink = sink
        self.report = report
        self.dry_run = dry_run
        self.on_duplicate = on_duplicate
        self.progress = progress
        self.finder = DuplicateFinder(sink.find_by_phone_or_email)

    async def run(self, rows: Sequence[ImportRow | RowError], rollback: bool = False) -> None:
        """Every row in order; with ``rollback``, raise :class:`_Rollback` at the end if the
        directory refused any row (all rows are still tried, so the report lists them all)."""
        for done, row in enumerate(rows, 1):
            if isinstance(row, RowError):
                self.report.errors.append(row)
            else:
                self.report.warnings.extend((row.line, w) for w in row.warnings)
                try:
                    await self._one(row)
                except ValidationError as exc:
                    self.report.errors.append(RowError(row.line, exc.field, exc.message))
            if self.progress is not None:
                self.progress(done, len(rows))
        if rollback and self.report.errors:
            raise _Rollback

    async def _one(self, row: ImportRow) -> None:
        dup = await self.finder.check(row)
        if dup is None:
            await self._create(row)
            return
        action = {"skip": "skipped", "update": "updated", "create": "created"}[self.on_duplicate]
        self.report.duplicates.append(
            DuplicateRow(row.line, dup.key, dup.existing_id, dup.of_line, action))
        if self.on_duplicate == "create":
            await self._create(row)
            return
        # The row's other numbers and e-mails now belong to that client too (even in a dry
        # run, where the store never sees them): a later row repeating them is the same client.
        self.finder.remember(row, dup.existing_id)
        if self.on_duplicate == "skip":
            self.report.skipped += 1
        else:
            await self._update(row, dup)

    async def _create(self, row: ImportRow) -> None:
        client_id = None if self.dry_run else await self.sink.create(row.draft)
        self.finder.remember(row, client_id)
        self.report.imported += 1

    async def _update(self, row: ImportRow, dup: Duplicate) -> None:
        if not self.dry_run and dup.existing_id is not None:
            await self.sink.update(dup.existing_id, row.draft)
        self.report.updated += 1


# ---------------------------------------------------------------------------------- CLI
def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``["Tél=phone_mobile", "Col 3=ignore"]`` (the CLI's ``--map``) → a column mapping.
    The last ``=`` splits, so a column name may itself contain one."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip():
            raise ValueError(f"--map {item!r}: expected COLUMN=FIELD")
        mapping[column.strip()] = target.strip()
    return mapping


async def run_import_cli(
    path: Path,
    sink: ClientSink,
    *,
    mapping: Sequence[str] = (),
    dry_run: bool = False,
    all_or_nothing: bool = False,
    on_duplicate: OnDuplicate = "skip",
    region: str = "FR",
    types: Sequence[str] = DEFAULT_TYPES,
    delimiter: str | None = None,
    encoding: str | None = None,
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN,
    out: TextIO | None = None,
    err: TextIO | None = None,
    progress: bool = True,
    max_errors_shown: int = 50,
) -> int:
    """``cti clients import FILE``: import, draw a progress bar on stderr, print the summary
    and the bad rows (line and reason) on ``out``. Returns the exit status: 0 when every row
    went in, 1 when some rows had errors, 2 when the file or the options are unusable."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        source = CsvImport(path.read_bytes(), mapping=parse_mapping(mapping), region=region,
                           types=types, delimiter=delimiter, encoding=encoding,
                           extension_pattern=extension_pattern)
    except (OSError, ValueError, LookupError) as exc:  # CsvFormatError is a ValueError;
        # LookupError: an unknown --encoding name.
        kind = "file" if isinstance(exc, OSError | CsvFormatError) else "option"
        print(f"cti clients import: {kind} error: {exc}", file=err)
        return 2
    bar = Progress(source.total, "import", enabled=progress)
    report = await import_clients(source, sink, dry_run=dry_run, all_or_nothing=all_or_nothing,
                                  on_duplicate=on_duplicate, progress=lambda d, _t: bar.update(d))
    bar.done(source.total)
    cols = ", ".join(f"{c} → {f}" for c, f in report.columns.items())
    print(f"{path}: {report.encoding}, delimiter {report.delimiter!r}; columns: {cols}",
          file=out)
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}", file=out)
    for error in report.errors[:max_errors_shown]:
        print(f"  {error}", file=out)
    if len(report.errors) > max_errors_shown:
        print(f"  … and {len(report.errors) - max_errors_shown:,} more errors", file=out)
    print(("dry run: " if dry_run else "") + report.summary(), file=out)
    return 0 if report.ok else 1

