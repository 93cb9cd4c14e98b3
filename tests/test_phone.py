"""Number normalisation: the acceptance numbers of the clients issue, as whole values."""

from __future__ import annotations

import pytest

from cti.phone import (
    PhoneNumber,
    format_international,
    format_national,
    is_anonymous,
    is_mobile,
    last_digits,
    national_significant,
    normalize,
)


@pytest.mark.parametrize("raw", ["06 12 34 56 78", "+33612345678", "0033 6 12 34 56 78",
                                 "+33 6 12 34 56 78", "06.12.34.56.78", "(0)6-12-34-56-78",
                                 "33612345678"])
def test_one_french_mobile_written_every_way_is_one_e164(raw: str) -> None:
    assert normalize(raw, "FR") == PhoneNumber(raw, "+33612345678", "valid", "FR")


def test_belgian_numbers_valid_and_unverified() -> None:
    assert normalize("+32 71 84 43 18", "BE") == PhoneNumber(
        "+32 71 84 43 18", "+3271844318", "valid", "BE")
    # The seed's example: plausible length, range unknown to the metadata: kept, flagged.
    assert normalize("+32 72 84 43 18", "BE") == PhoneNumber(
        "+32 72 84 43 18", "+3272844318", "unverified", "BE")
    # A number with its country code is read the same whatever the default region.
    assert normalize("+32 71 84 43 18", "FR").e164 == "+3271844318"
    assert normalize("0472 12 34 56", "BE") == PhoneNumber(
        "0472 12 34 56", "+32472123456", "valid", "BE")


@pytest.mark.parametrize(("raw", "e164"), [
    ("+40 21 312 34 56", "+40213123456"),    # Bucharest landline
    ("021 312 34 56", "+40213123456"),
    ("0721 234 567", "+40721234567"),        # mobile, national form
    ("0040 721 234 567", "+40721234567"),
    ("+40721234567", "+40721234567"),
])
def test_romanian_numbers_in_region_ro(raw: str, e164: str) -> None:
    assert normalize(raw, "RO") == PhoneNumber(raw, e164, "valid", "RO")


def test_region_is_the_numbers_own_country_not_the_default() -> None:
    assert normalize("+40 721 234 567", "FR").region == "RO"
    assert normalize("0721 234 567", "FR").status != "valid"  # not a French number


@pytest.mark.parametrize("raw", ["abc", "hello world", "+", "0", "++33--", "06 12 34",
                                 "+33 6 12 34 56 78 90 12 34"])
def test_garbage_is_kept_raw_and_flagged(raw: str) -> None:
    assert normalize(raw, "FR") == PhoneNumber(raw, None, "invalid", "FR")


@pytest.mark.parametrize("raw", ["1001", "42", "200", "123456"])
def test_extensions_are_never_turned_into_e164(raw: str) -> None:
    assert normalize(raw, "FR") == PhoneNumber(raw, None, "extension", "FR")


def test_extension_pattern_is_configurable() -> None:
    assert normalize("1001", "FR", r"^9\d{3}$").status == "invalid"
    assert normalize("9001", "FR", r"^9\d{3}$").status == "extension"


@pytest.mark.parametrize("raw", ["", "   ", "anonymous", "Anonymous", "Restricted", "unknown",
                                 "<unknown>", "withheld", "Private"])
def test_withheld_numbers_are_anonymous(raw: str) -> None:
    number = normalize(raw, "FR")
    assert number == PhoneNumber(raw, None, "anonymous", "FR")
    assert not number.matchable
    assert is_anonymous(raw)


def test_matchable_is_for_outside_numbers_only() -> None:
    assert normalize("+33612345678", "FR").matchable
    assert normalize("+32 72 84 43 18", "BE").matchable
    assert normalize("06 12 34", "FR").matchable  # invalid but has digits: matched raw
    assert not normalize("1001", "FR").matchable
    assert not normalize("abc", "FR").matchable


def test_last_digits() -> None:
    assert last_digits("+33612345678", 9) == "612345678"
    assert last_digits("06 12 34 56 78", 9) == "612345678"
    assert last_digits("+33612345678", 4) == "5678"
    assert last_digits("1234", 9) == "1234"
    assert last_digits("+33612345678", 0) == ""


def test_display_formats() -> None:
    assert format_international("+33612345678") == "+33 6 12 34 56 78"
    assert format_national("+33612345678") == "06 12 34 56 78"
    assert format_international("+3271844318") == "+32 71 84 43 18"
    assert format_national("+3271844318") == "071 84 43 18"
    assert format_international("+40721234567") == "+40 721 234 567"
    assert format_national("+40721234567") == "0721 234 567"
    # Not E.164: shown as it was given.
    assert format_international("abc") == "abc"
    assert format_national("1001") == "1001"


def test_national_significant_and_mobile() -> None:
    assert national_significant("+33612345678") == "612345678"
    assert national_significant("+40213123456") == "213123456"
    assert is_mobile("+33612345678")
    assert not is_mobile("+33155512345")
    assert not is_mobile("garbage")
