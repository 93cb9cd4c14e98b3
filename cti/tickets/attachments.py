"""Ticket attachments: the files people add to a request (a photo of the faulty equipment, the
client's invoice, a log), kept on disk and described by a ``ticket_attachments`` row.

Why it is built this way:

* **The uploaded name is never a path.** A file is stored as ``<2 hex>/<32 hex>`` under
  ``tickets.attachments_dir`` (random, from :mod:`secrets`); the name the person gave is only
  shown and offered back on download, cut to its last path part (``../../etc/passwd`` is kept
  as ``passwd``) and cleaned of control characters.
* **Streamed, never whole in memory.** :meth:`AttachmentService.save` takes the bytes as an
  async iterable of chunks and writes them as they come, hashing (SHA-256) on the way; it stops
  at the first byte over ``tickets.max_attachment_mb`` and removes what it wrote.
* **The type is checked twice, cheaply.** The declared content type must be in
  ``tickets.attachment_types``; then the first bytes must not contradict it: a PDF starts with
  ``%PDF-``, a PNG with its signature, a ZIP-based document with ``PK``…, text has no NUL byte,
  and a program (Windows ``MZ``, ELF, Mach-O) is refused whatever it claims to be, as is a name
  ending in a program's extension (``.exe``, ``.bat``…). This is no antivirus: it stops the
  mistakes and the lazy tricks, and downloads are served as attachments with ``nosniff``.
* **The timeline says it.** Each file gets an ``attachment`` entry through
  :meth:`TicketService.add_event`, so hooks and listeners (mail, counts) see it like any change.
  The row is written first; if the timeline entry fails, the row and the file are removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import unicodedata
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cti.calls.model import iso_utc
from cti.config import Config
from cti.errors import NotFound, ValidationError
from cti.store.sqlite import Store
from cti.store.tx import Tx
from cti.tickets.service import TicketService

#: Bytes looked at to check a file's content against its declared type.
SNIFF_BYTES = 4096
MAX_NAME = 200

#: Declared type → the signatures its content may start with.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation":
        (b"PK\x03\x04",),
    "application/vnd.oasis.opendocument.text": (b"PK\x03\x04",),
    "application/vnd.oasis.opendocument.spreadsheet": (b"PK\x03\x04",),
    "audio/wav": (b"RIFF",),
    "audio/x-wav": (b"RIFF",),
    "audio/mpeg": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"),
    "audio/ogg": (b"OggS",),
}
#: Programs, whatever type they claim (``MZ`` is checked with a NUL byte after it).
EXECUTABLE_MAGIC: tuple[bytes, ...] = (b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xce",
                                       b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                                       b"\xcf\xfa\xed\xfe")
EXECUTABLE_EXTENSIONS: frozenset[str] = frozenset({
    "exe", "com", "bat", "cmd", "scr", "msi", "msp", "dll", "cpl", "ps1", "psm1", "vbs", "vbe",
    "js", "jse", "wsf", "wsh", "hta", "jar", "lnk", "pif", "reg", "sh", "app", "apk", "elf",
})


class AttachmentRefused(ValidationError):
    """A file that is not accepted. ``code`` says why (``too_large``, ``type``, ``mismatch``,
    ``executable``, ``empty``) and ``values`` fill the message, so the web layer can show it
    in the viewer's language."""

    def __init__(self, code: str, message: str, **values: Any) -> None:
        super().__init__("file", message.format(**values))
        self.code = code
        self.values = values


class FileMissing(NotFound):
    """The row exists but its file is gone from the disk (a restore without the folder…)."""


@dataclass(frozen=True, slots=True)
class AttachmentSettings:
    directory: Path
    max_bytes: int
    types: tuple[str, ...]

    @property
    def max_mb(self) -> float:
        return self.max_bytes / (1024 * 1024)

    @classmethod
    def from_config(cls, config: Config) -> AttachmentSettings:
        raw = config.get("tickets.attachment_types") or ()
        types = tuple(base_type(str(t)) for t in raw) if isinstance(raw, list | tuple) else ()
        mb = float(config.get("tickets.max_attachment_mb"))
        return cls(directory=Path(str(config.get("tickets.attachments_dir"))),
                   max_bytes=max(1, int(mb * 1024 * 1024)), types=types)


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    ticket_id: int
    name: str
    stored: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ticket_id": self.ticket_id, "name": self.name,
                "content_type": self.content_type, "size": self.size, "sha256": self.sha256,
                "uploaded_by": self.uploaded_by, "uploaded_at": iso_utc(self.uploaded_at),
                "url": f"/tickets/{self.ticket_id}/attachments/{self.id}"}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Attachment:
        return cls(row["id"], row["ticket_id"], row["name"], row["stored"],
                   row["content_type"], int(row["size"]), row["sha256"], row["uploaded_by"],
                   float(row["uploaded_at"]))


def base_type(declared: str | None) -> str:
    """``Text/Plain; charset=utf-8`` → ``text/plain``."""
    return (declared or "").split(";", 1)[0].strip().lower()


def safe_name(raw: str | None) -> str:
    """The name to show and offer back: its last path part, printable, at most 200
    characters (the extension kept), never empty, never starting with a dot."""
    text = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip().lstrip(".").strip()
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        text = (stem[:MAX_NAME - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 \
            else text[:MAX_NAME]
    return text or "file"


def extension(name: str) -> str:
    return name.rpartition(".")[2].lower() if "." in name else ""


def is_executable(head: bytes) -> bool:
    return head.startswith(EXECUTABLE_MAGIC) or (head.startswith(b"MZ") and b"\x00" in head[:64])


def sniff(head: bytes, content_type: str) -> str | None:
    """Why these first bytes cannot be a file of ``content_type`` (a refusal code), or None."""
    if is_executable(head):
        return "executable"
    signatures = SIGNATURES.get(content_type)
    if signatures is not None:
        if not head.startswith(signatures):
            return "mismatch"
        if content_type in ("audio/wav", "audio/x-wav") and head[8:12] != b"WAVE":
            return "mismatch"
        if content_type == "image/webp" and head[8:12] != b"WEBP":
            return "mismatch"
    elif (content_type.startswith("text/") or content_type == "message/rfc822") \
            and b"\x00" in head:
        return "mismatch"
    return None


class AttachmentService:
    def __init__(self, store: Store, tickets: TicketService, settings: AttachmentSettings, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.tickets = tickets
        self.settings = settings
        self.clock = clock

    # ------------------------------------------------------------------ reading
    async def list(self, ticket_id: int) -> list[Attachment]:
        rows = await self.store.query(
            "SELECT * FROM ticket_attachments WHERE ticket_id = ? ORDER BY uploaded_at, id",
            (ticket_id,))
        return [Attachment.from_row(r) for r in rows]

    async def get(self, ticket_id: int, attachment_id: int) -> Attachment:
        row = await self.store.query_one(
            "SELECT * FROM ticket_attachments WHERE id = ? AND ticket_id = ?",
            (attachment_id, ticket_id))
        if row is None:
            raise NotFound(f"no attachment {attachment_id} on ticket {ticket_id}")
        return Attachment.from_row(row)

    def path_of(self, attachment: Attachment) -> Path:
        """The file on disk; :class:`FileMissing` when it is not there (or the stored name is
        not one this service writes, which would be a tampered row)."""
        stored = attachment.stored
        parts = stored.split("/")
        if len(parts) != 2 or not all(p and all(c in "0123456789abcdef" for c in p)
                                      for p in parts):
            raise FileMissing(f"attachment {attachment.id} has no file")
        path = self.settings.directory / parts[0] / parts[1]
        if not path.is_file():
            raise FileMissing(f"the file of attachment {attachment.id} is missing")
        return path

    # ------------------------------------------------------------------ writing
    def check_declared(self, name: str, content_type: str) -> None:
        """Refuse by name and declared type before reading any byte."""
        if extension(name) in EXECUTABLE_EXTENSIONS:
            raise AttachmentRefused("executable", "Programs cannot be attached.")
        if content_type not in self.settings.types:
            raise AttachmentRefused("type", "Files of type {type} are not accepted.",
                                    type=content_type or "?")

    async def save(self, ticket_id: int, actor: str, name: str | None,
                   content_type: str | None, chunks: AsyncIterable[bytes]) -> Attachment:
        """Write the file as it arrives, then its row and its timeline entry."""
        await self.tickets.get(ticket_id)  # a missing ticket: NotFound before any write
        shown = safe_name(name)
        ctype = base_type(content_type)
        self.check_declared(shown, ctype)
        token = secrets.token_hex(16)
        stored = f"{token[:2]}/{token}"
        path = self.settings.directory / token[:2] / token
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        size, digest = await self._write(path, ctype, chunks)
        now = self.clock()

        async def work(tx: Tx) -> int:
            return await tx.execute(
                "INSERT INTO ticket_attachments (ticket_id, name, stored, content_type, size, "
                "sha256, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket_id, shown, stored, ctype, size, digest, actor, now))

        try:
            aid = await self.store.transaction(work)
        except BaseException:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        attachment = Attachment(aid, ticket_id, shown, stored, ctype, size, digest, actor, now)
        try:
            await self.tickets.add_event(ticket_id, actor, "attachment", {
                "id": aid, "name": shown, "size": size, "content_type": ctype,
                "sha256": digest})
        except BaseException:
            await self.store.transaction(lambda tx: tx.execute(
                "DELETE FROM ticket_attachments WHERE id = ?", (aid,)))
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        return attachment

    async def _write(self, path: Path, ctype: str,
                     chunks: AsyncIterable[bytes]) -> tuple[int, str]:
        limit = self.settings.max_bytes
        digest = hashlib.sha256()
        size = 0
        head = b""
        sniffed = False
        fh: BinaryIO = await asyncio.to_thread(path.open, "xb")
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise AttachmentRefused("too_large", "The file is larger than the {mb} MB "
                                            "limit.", mb=mb_text(self.settings.max_mb))
                digest.update(chunk)
                if not sniffed:
                    head += chunk
                    if len(head) < SNIFF_BYTES:
                        continue
                    self._check_head(head, ctype)
                    sniffed = True
                    chunk, head = head, b""
                await asyncio.to_thread(fh.write, chunk)
            if size == 0:
                raise AttachmentRefused("empty", "The file is empty.")
            if not sniffed:
                self._check_head(head, ctype)
                await asyncio.to_thread(fh.write, head)
            await asyncio.to_thread(fh.close)
        except BaseException:
            await asyncio.to_thread(fh.close)
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        return size, digest.hexdigest()

    @staticmethod
    def _check_head(head: bytes, ctype: str) -> None:
        reason = sniff(head, ctype)
        if reason == "executable":
            raise AttachmentRefused("executable", "Programs cannot be attached.")
        if reason is not None:
            raise AttachmentRefused("mismatch", "The file's content does not match its type "
                                    "({type}).", type=ctype)


def mb_text(value: float) -> str:
    """``10.0`` → ``10``, ``0.5`` → ``0.5``: the limit as people write it."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


__all__ = ["Attachment", "AttachmentRefused", "AttachmentService", "AttachmentSettings",
           "FileMissing", "mb_text", "safe_name", "sniff"]
