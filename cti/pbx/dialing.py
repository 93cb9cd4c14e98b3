"""What may be dialled: number validation, blocked prefixes, the caller id shown on the agent's
phone, and the per-user rate limit. Pure rules, no I/O: :mod:`cti.pbx.actions` applies them.

Why so strict: the number ends up in an AMI ``Originate`` (``Exten: <number>``) and from there
in the dialplan, often straight into ``Dial(PJSIP/${EXTEN}@trunk)``. A CR/LF would inject AMI
headers (a second action in the same packet); ``&`` makes ``Dial`` call several destinations at
once (``0612&PJSIP/666``), ``,`` adds Dial options, ``/`` and ``@`` pick another technology or
trunk, letters reach pattern-less extensions (``s``, ``i``, ``h``, ``hangup``). So the rule is
an allow-list, not a deny-list: an optional leading ``+``, then digits, ``*`` and ``#``
(feature codes, voicemail), 2 to 20 of them, after removing the separators people type or
paste (spaces, dots, dashes, brackets). Anything else is refused before an action is built.

Blocked prefixes (premium-rate numbers, ``pbx.blocked_prefixes``) are compared with every way
the same number can be written: as typed, in E.164 (``+3389…``, so ``0033 89…`` is caught
too), and in the national form of the default region (``089…`` for a ``+33 89…`` number):
listing ``089`` and ``+3389`` then covers all spellings of a French premium number.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cti.phone import digits, format_national, normalize

MIN_DIGITS, MAX_DIGITS = 2, 20
NAME_MAX = 40

_SEPARATORS = re.compile(r"[ .\-()\u00a0]+")
_ALLOWED = re.compile(r"^\+?[0-9*#]+$")
_PREFIX = re.compile(r"^\+?[0-9*#]+$")
# Characters of a caller-id name that would break ``"Name" <number>`` or the AMI line.
_NAME_BAD = re.compile(r'["<>\\\x00-\x1f\x7f]+')


class DialRefused(Exception):
    """A click-to-dial the service will not send. ``status`` is the HTTP status the web layer
    answers with (400 invalid, 403 blocked/not yours, 409 no extension, 429 too many, 502/503
    PBX trouble), ``code`` the machine-readable reason (also written to the audit log)."""

    def __init__(self, status: int, code: str, message: str, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class DialRules:
    """``context``: where the number is dialled (``pbx.dial_context``); ``blocked_prefixes``;
    ``region`` and ``extension_pattern`` to read numbers as the client directory does."""

    context: str = "from-internal"
    blocked_prefixes: tuple[str, ...] = ()
    region: str = "FR"
    extension_pattern: str = r"^\d{2,6}$"
    timeout_ms: int = 30000

    def __post_init__(self) -> None:
        for prefix in self.blocked_prefixes:
            if not _PREFIX.match(prefix):
                raise ValueError(f"pbx.blocked_prefixes: {prefix!r} is not a number prefix "
                                 "(digits, optional leading +)")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,80}", self.context):
            raise ValueError(f"pbx.dial_context: {self.context!r} is not a dialplan context")


def clean_number(raw: object) -> str:
    """The number to dial, or :class:`DialRefused` (400 ``invalid_number``).

    Control characters are refused *before* separators are removed: ``"0612\\r\\n…"`` must
    not become a valid number by losing its line break."""
    if not isinstance(raw, str):
        raise DialRefused(400, "invalid_number", "The number must be text.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise DialRefused(400, "invalid_number", "The number contains control characters.")
    number = _SEPARATORS.sub("", raw.strip())
    if not _ALLOWED.match(number):
        raise DialRefused(400, "invalid_number",
                          "A number holds digits, an optional leading + and * or # only.")
    count = len(number.lstrip("+"))
    if not MIN_DIGITS <= count <= MAX_DIGITS:
        raise DialRefused(400, "invalid_number",
                          f"A number has {MIN_DIGITS} to {MAX_DIGITS} digits.")
    return number


def is_dialable(raw: str) -> bool:
    """True when :func:`clean_number` accepts ``raw`` (pages show a call button then)."""
    try:
        clean_number(raw)
    except DialRefused:
        return False
    return True


def spellings(number: str, rules: DialRules) -> list[str]:
    """The number as typed, in E.164, and in the default region's national form (digits)."""
    out = [number]
    if number.startswith("00"):
        out.append("+" + number[2:])
    parsed = normalize(number, rules.region, rules.extension_pattern)
    if parsed.e164:
        out.append(parsed.e164)
        if parsed.region == rules.region:
            out.append(digits(format_national(parsed.e164)))
    return list(dict.fromkeys(out))


def blocked_by(number: str, rules: DialRules) -> str | None:
    """The blocked prefix ``number`` starts with (in any spelling), or None."""
    for spelling in spellings(number, rules):
        for prefix in rules.blocked_prefixes:
            if spelling.startswith(prefix):
                return prefix
    return None


def caller_id(name: str | None, number: str) -> str:
    """``"Marie Dupont" <0612345678>``: what the agent's phone shows while it rings, so the
    agent knows who they are about to call. Quotes, angle brackets and control characters are
    dropped from the name (it comes from the client directory, i.e. from people)."""
    label = _NAME_BAD.sub(" ", name or "").strip()
    label = " ".join(label.split())[:NAME_MAX] or number
    return f'"{label}" <{number}>'


class RateLimit:
    """At most ``limit`` requests per ``window`` seconds per key (a sliding window)."""

    def __init__(self, limit: int, window: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("dial.max_per_minute must be at least 1")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float:
        """0 and counts the hit when allowed; else the seconds until the oldest hit expires."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        if len(self._hits) > self.max_keys:
            self._forget(k for k in list(self._hits) if k != key)
        return 0.0

    def _forget(self, keys: Iterable[str]) -> None:
        horizon = self.clock() - self.window
        for k in keys:
            hits = self._hits[k]
            if not hits or hits[-1] <= horizon:
                del self._hits[k]
