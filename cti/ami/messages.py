"""AMI wire format: bytes in, whole messages out (pure, no I/O).

Asterisk's manager interface sends a one-line banner (``Asterisk Call Manager/11.0.0\\r\\n``) and
then messages made of ``Key: Value\\r\\n`` lines, each message ended by an empty line. TCP delivers
that stream in arbitrary chunks, so a message (and a UTF-8 character inside a caller name) can be
split across two reads. The parser therefore buffers *bytes* and decodes only whole messages:
panoramisk 1.4 decodes each chunk on its own with ``errors='ignore'`` and turns ``José`` into
``Jos`` when the ``é`` straddles two reads.

Bad input never raises. Garbage glued in front of a message is cut off (the message is
recovered from its ``Event:``/``Response:`` line), messages with neither key are dropped, and a
buffer that grows past ``max_message`` bytes without a terminator is discarded. Each anomaly is
counted in :class:`ParserStats` so the daemon can expose it.

Messages are plain ``dict[str, str]`` with the keys spelled as Asterisk sends them: the tracker
reads a handful of fields from tens of thousands of events per second, and dict lookups are the
cheapest thing Python has. A repeated key (``ChanVariable`` lines) keeps every value, joined by
``\\n``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

BANNER_PREFIX = b"Asterisk Call Manager/"
TERMINATOR = b"\r\n\r\n"
DEFAULT_MAX_MESSAGE = 1 << 20  # 1 MiB: far above any real event (CoreShowChannel ~1.5 KiB)

AmiMessage = dict[str, str]


@dataclass(slots=True)
class ParserStats:
    messages: int = 0
    skipped: int = 0  # well-formed events the caller asked not to parse
    malformed: int = 0  # dropped or repaired messages
    garbage_bytes: int = 0
    oversized: int = 0


class AmiParser:
    """Incremental parser. ``feed(chunk)`` returns ``[(stream_offset, message), …]``.

    ``wanted``: when given, events whose name is not in it are recognised from their first line
    and skipped without being split into fields (responses are always parsed). This is where the
    live path saves most of its time: a stock Asterisk sends CEL, VarSet, Newexten and RTCP
    events by the thousand, and the tracker needs few of them.
    """

    __slots__ = ("_banner_done", "_base", "_buf", "_wanted", "banner", "max_message", "stats")

    def __init__(
        self,
        wanted: Collection[str] | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        expect_banner: bool = True,
    ) -> None:
        self._buf = b""
        self._base = 0  # stream offset of _buf[0]
        self._banner_done = not expect_banner
        self._wanted: frozenset[bytes] | None = (
            frozenset(b"Event: " + w.encode() + b"\r" for w in wanted) if wanted else None
        )
        self.banner: str | None = None
        self.max_message = max_message
        self.stats = ParserStats()

    def feed(self, data: bytes) -> list[tuple[int, AmiMessage]]:
        buf = self._buf + data if self._buf else data
        base = self._base
        pos = 0
        if not self._banner_done:
            pos = self._take_banner(buf)
            if pos < 0:  # banner line not complete yet
                self._buf = buf
                return []
        out: list[tuple[int, AmiMessage]] = []
        wanted = self._wanted
        stats = self.stats
        find = buf.find
        while True:
            end = find(TERMINATOR, pos)
            if end < 0:
                break
            if end > pos:
                if wanted is not None and buf.startswith(b"Event: ", pos):
                    eol = find(b"\n", pos, end + 2)
                    if buf[pos:eol] not in wanted:
                        stats.skipped += 1
                        pos = end + 4
                        continue
                msg = self._parse(buf[pos:end])
                if msg is not None:
                    stats.messages += 1
                    out.append((base + pos, msg))
            pos = end + 4
        rest = buf[pos:]
        if len(rest) > self.max_message:
            stats.oversized += 1
            stats.garbage_bytes += len(rest)
            pos += len(rest)
            rest = b""
        self._buf = rest
        self._base = base + pos
        return out

    def _take_banner(self, buf: bytes) -> int:
        eol = buf.find(b"\r\n")
        if eol < 0:
            if len(buf) > 256 or not BANNER_PREFIX.startswith(buf[: len(BANNER_PREFIX)]):
                self._banner_done = True  # no banner (a capture cut mid-stream): parse as is
                return 0
            return -1
        self._banner_done = True
        line = buf[:eol]
        if line.startswith(BANNER_PREFIX):
            self.banner = line.decode("utf-8", "replace")
            return eol + 2
        return 0

    def _parse(self, raw: bytes) -> AmiMessage | None:
        text = raw.decode("utf-8", "replace")
        if text.find("Event: ", 1) > 0 or text.find("Response: ", 1) > 0:
            text = self._cut_glued(text)
        msg: AmiMessage = {}
        for line in text.split("\r\n"):
            key, sep, value = line.partition(": ")
            if not sep:
                key, sep, value = line.partition(":")
                if not sep:
                    continue  # a bare line (legacy Command output): nothing to keep
            if key in msg:
                msg[key] = msg[key] + "\n" + value
            else:
                msg[key] = value
        if "Event" in msg or "Response" in msg:
            return msg
        self.stats.malformed += 1
        self.stats.garbage_bytes += len(raw)
        return None

    def _cut_glued(self, text: str) -> str:
        """A message truncated (or garbage) without its empty line swallows the next message:
        keep the last ``Event:``/``Response:`` header and what follows, count the rest.

        ``UserEvent: `` headers are the one legitimate place where ``Event: `` appears inside
        a message, and ``OriginateResponse`` events carry a ``Response:`` *line*; so an
        ``Event:`` counts anywhere but after ``User``, a ``Response:`` only when glued mid-line.
        """
        best = 0
        for marker in ("Event: ", "Response: "):
            idx = text.find(marker, 1)
            while idx > 0:
                if marker == "Event: ":
                    ok = text[max(0, idx - 4):idx] != "User"
                else:
                    ok = text[idx - 1] != "\n"
                if ok:
                    best = max(best, idx)
                idx = text.find(marker, idx + 1)
        if best == 0:
            return text
        self.stats.malformed += 1
        self.stats.garbage_bytes += len(text[:best].encode("utf-8", "replace"))
        return text[best:]


def parse_stream(
    data: bytes, wanted: Collection[str] | None = None
) -> list[tuple[int, AmiMessage]]:
    """Parse a whole captured stream (banner optional)."""
    parser = AmiParser(wanted=wanted)
    return parser.feed(data)


def encode_action(fields: dict[str, str] | list[tuple[str, str]]) -> bytes:
    """Serialise an action, refusing CR/LF in keys or values (AMI header injection).

    A value such as ``"1001\\r\\nAction: Hangup"`` would otherwise smuggle a second action onto
    the wire; we raise instead of cleaning, so the caller reports a clear error.
    """
    items = fields.items() if isinstance(fields, dict) else fields
    lines = []
    for key, value in items:
        value = str(value)
        if any(c in key or c in value for c in "\r\n") or ":" in key:
            raise ValueError(f"AMI field {key!r}: CR, LF (or ':' in the name) are not allowed")
        lines.append(f"{key}: {value}\r\n")
    return ("".join(lines) + "\r\n").encode("utf-8")
