"""Phone numbers: what a caller id or a typed number *is*, in one canonical form (layer 0, pure).

Everything that compares numbers (client matching, de-duplication, search) goes through
:func:`normalize`, so that ``06 12 34 56 78``, ``+33612345678`` and ``0033 6 12 34 56 78`` are one
key: the E.164 string ``+33612345678``. This is the only module that imports ``phonenumbers``
(Google's libphonenumber metadata), so a change of library is a change of this file.

Why the five statuses, rather than "parsed or not":

* ``valid`` — libphonenumber knows the number range: stored as E.164.
* ``unverified`` — the number has a plausible length for its country but falls in a range the
  metadata does not list (the seed's Belgian example ``+32 72 84 43 18``; new ranges, some VoIP
  blocks). Rejecting it would lose a real customer's number, so it is stored in E.164 and flagged
  for a human to check.
* ``invalid`` — garbage (letters, too short or too long). It is *kept raw* and flagged: a number an
  agent typed is never silently dropped, it just cannot be matched by E.164.
* ``extension`` — an internal extension (``1001``): it matches the PBX's extension pattern and is
  never turned into E.164, or ``1001`` would become ``+331001`` and match strangers.
* ``anonymous`` — no number at all (empty, ``anonymous``, ``<unknown>``, ``Restricted``…), as
  Asterisk presents withheld caller ids. Such a "number" must never match or create a client:
  every withheld call would otherwise land on one "Anonymous" card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

PhoneStatus = Literal["valid", "unverified", "invalid", "extension", "anonymous"]
PHONE_STATUSES: tuple[str, ...] = ("valid", "unverified", "invalid", "extension", "anonymous")

DEFAULT_EXTENSION_PATTERN = r"^\d{2,6}$"

#: Caller ids Asterisk and SIP trunks use for a withheld or absent number (compared lowercased,
#: without spaces). ``<unknown>`` is chan_pjsip's CALLERID(num) when the From header has none.
ANONYMOUS_NAMES: frozenset[str] = frozenset({
    "", "anonymous", "restricted", "unknown", "<unknown>", "withheld", "private", "unavailable",
    "blocked", "anonyme", "masque", "masqué", "privat", "privé", "prive", "necunoscut",
})

# Characters people and PBXes put around digits: spaces, dots, dashes, brackets, slashes.
_SEPARATORS = re.compile(r"[\s.\-()/\[\]]+")
_NON_DIGITS = re.compile(r"\D+")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number as given (``raw``) and what it is. ``e164`` is set for valid and unverified ones.

    ``region`` is the ISO 3166 region the number belongs to when known (``FR`` for
    ``+33612345678``), else the region it was read in."""

    raw: str
    e164: str | None
    status: PhoneStatus
    region: str

    @property
    def matchable(self) -> bool:
        """True when this number may be looked up in (or create) the client directory."""
        return self.status in ("valid", "unverified", "invalid") and bool(digits(self.raw))


def is_anonymous(raw: str) -> bool:
    """True for an absent or withheld caller id (see :data:`ANONYMOUS_NAMES`)."""
    return _SEPARATORS.sub("", raw.strip()).lower() in ANONYMOUS_NAMES


def digits(text: str) -> str:
    """Only the digits of ``text`` (``"+33 6 12"`` → ``"33612"``)."""
    return _NON_DIGITS.sub("", text)


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def normalize(
    raw: str, region: str, extension_pattern: str = DEFAULT_EXTENSION_PATTERN
) -> PhoneNumber:
    """Classify and normalise ``raw`` read in ``region`` (the country assumed for numbers written
    without a country code, e.g. ``FR``: ``06…`` is then ``+336…``).

    ``00`` and other international prefixes of ``region`` are understood (``0033 6…``), as are
    numbers given with their country code but without ``+`` (``33612345678``, as some trunks
    present them) when the national reading is not a valid number."""
    text = raw.strip()
    region = region.upper()
    if is_anonymous(text):
        return PhoneNumber(raw, None, "anonymous", region)
    # The pattern is tried on the text as given: a caller id "1001" is an extension, while
    # "06 12 34" typed in a form is a truncated number (kept raw), not extension 061234.
    if _compiled(extension_pattern).search(text):
        return PhoneNumber(raw, None, "extension", region)
    compact = _SEPARATORS.sub("", text)
    parsed = _parse(compact, region)
    if parsed is None:
        return PhoneNumber(raw, None, "invalid", region)
    if not phonenumbers.is_valid_number(parsed) and compact.isdigit() and compact[0] != "0":
        # "32471234567" from a trunk: try it as international before calling it unverified.
        alt = _parse("+" + compact, region)
        if alt is not None and phonenumbers.is_valid_number(alt):
            parsed = alt
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    own = phonenumbers.region_code_for_number(parsed) or region
    if phonenumbers.is_valid_number(parsed):
        return PhoneNumber(raw, e164, "valid", own)
    if phonenumbers.is_possible_number(parsed):
        return PhoneNumber(raw, e164, "unverified", own)
    return PhoneNumber(raw, None, "invalid", region)


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def last_digits(e164_or_raw: str, n: int) -> str:
    """The last ``n`` digits: the fallback key when a number was stored in another shape (a
    foreign number typed without its country code, a trunk adding a prefix). All digits when
    there are fewer than ``n``; empty when ``n`` <= 0."""
    if n <= 0:
        return ""
    return digits(e164_or_raw)[-n:]


def _from_e164(e164: str) -> phonenumbers.PhoneNumber | None:
    return _parse(e164, "ZZ") if e164.startswith("+") else None


def format_international(e164: str) -> str:
    """``+33612345678`` → ``+33 6 12 34 56 78`` (the name given to auto-created clients).
    Anything that is not E.164 is returned unchanged."""
    parsed = _from_e164(e164)
    if parsed is None:
        return e164
    return phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)


def format_national(e164: str) -> str:
    """``+33612345678`` → ``06 12 34 56 78``, as people of that country write it.
    Anything that is not E.164 is returned unchanged."""
    parsed = _from_e164(e164)
    if parsed is None:
        return e164
    return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)


def national_significant(e164: str) -> str:
    """The national significant number (``+33612345678`` → ``612345678``): the digits shared by
    every way of writing the number, with or without country code or trunk ``0``. The digits
    of the input when it is not E.164."""
    parsed = _from_e164(e164)
    if parsed is None:
        return digits(e164)
    return phonenumbers.national_significant_number(parsed)


def is_mobile(e164: str) -> bool:
    """True when the metadata says the number is a mobile (used to label a phone by default)."""
    parsed = _from_e164(e164)
    if parsed is None:
        return False
    return phonenumbers.number_type(parsed) in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def is_region(code: str) -> bool:
    """True for a region libphonenumber knows (``FR``, ``BE``, ``RO``…): settings check."""
    return code.upper() in phonenumbers.SUPPORTED_REGIONS
