"""Phone normaliser: formats, regions, masks, extensions, invalid numbers and junk."""

from __future__ import annotations

import phonenumbers
import pytest

from onefold.clean.phones import normalise_phone

CN_MOBILE = "+8613800138000"
US_NUMBER = "+14155550100"


def test_us_test_numbers_are_valid_in_phonenumbers_metadata() -> None:
    """555-01xx is fictional, but phonenumbers' metadata accepts it, so the tests may use it."""
    for e164 in (US_NUMBER, "+14155552671"):
        assert phonenumbers.is_valid_number(phonenumbers.parse(e164))


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+86 138 0013 8000", "US"),
        ("+86 138 0013 8000", "CN"),
        ("+86-138-0013-8000", "CN"),
        ("0086-13800138000", "CN"),
        ("0086 138 0013 8000", "US"),
        ("86 13800138000", "CN"),
        ("13800138000", "CN"),
        ("138 0013 8000", "CN"),
        ("138-0013-8000", "CN"),
        ("(+86) 138 0013 8000", "US"),
        ("１３８００１３８０００", "CN"),
        ("＋８６ １３８ ００１３ ８０００", "US"),
        ("tel:+8613800138000", "US"),
    ],
)
def test_chinese_mobile_in_every_format(raw: str, region: str) -> None:
    result = normalise_phone(raw, region)
    assert result.status == "valid", result
    assert result.value == CN_MOBILE
    assert result.key == "13800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-0100",
        "415.555.0100",
        "415-555-0100",
        "4155550100",
        "1-415-555-0100",
        "+1 415 555 0100",
        "+1 (415) 555-0100",
        "001 415 555 0100",
        "４１５５５５０１００",
    ],
)
def test_us_formats(raw: str) -> None:
    result = normalise_phone(raw, "US")
    assert result.status == "valid", result
    assert result.value == US_NUMBER
    assert result.key == "4155550100"


def test_default_region_is_us() -> None:
    assert normalise_phone("(415) 555-2671").value == "+14155552671"


def test_country_code_without_plus_outside_its_region_is_suspicious() -> None:
    result = normalise_phone("86 13800138000", "US")
    assert result.status == "suspicious"
    assert result.value == CN_MOBILE


@pytest.mark.parametrize(
    "raw", ["+1 415 555 0100 ext. 12", "415-555-0100 x12", "(415) 555-0100 extension 12"]
)
def test_extension_is_dropped_and_flagged(raw: str) -> None:
    result = normalise_phone(raw, "US")
    assert result.status == "suspicious"
    assert result.value == US_NUMBER
    assert result.reason is not None and "12" in result.reason


@pytest.mark.parametrize(
    ("raw", "region", "key"),
    [
        ("138****8000", "CN", "138****8000"),
        ("138xxxx8000", "CN", "138****8000"),
        ("138XXXX8000", "CN", "138****8000"),
        ("138 **** 8000", "CN", "138****8000"),
        ("+86 138****8000", "CN", "138****8000"),
        ("138••••8000", "CN", "138****8000"),
        ("***-***-0100", "US", "******0100"),
        ("****8000", "CN", "****8000"),
    ],
)
def test_masked_numbers_are_partial_never_valid(raw: str, region: str, key: str) -> None:
    result = normalise_phone(raw, region)
    assert result.status == "partial"
    assert result.value is None
    assert result.key == key


def test_fully_masked_number_is_invalid() -> None:
    assert normalise_phone("***-***-****", "US").status == "invalid"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("1380013800", "CN", "not a valid CN number"),
        ("138001380001234567", "CN", "too long"),
        ("12", "CN", "too short"),
        ("555-0100", "US", "not a valid US number"),
        ("+1 415 555 01", "US", "too short"),
        ("call me", "US", "not a phone number"),
        ("138-0013-8000 ask for li", "CN", "not a phone number"),
    ],
)
def test_invalid_numbers_have_reasons(raw: str, region: str, reason: str) -> None:
    result = normalise_phone(raw, region)
    assert result.status == "invalid"
    assert result.value is None
    assert result.reason is not None and reason in result.reason


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("13800000000", "CN"),
        ("138 0000 0000", "CN"),
        ("+86 138 0000 0000", "US"),
        ("00000000000", "CN"),
        ("11111111111", "CN"),
        ("1234567890", "US"),
        ("+1 000 000 0000", "US"),
        ("+1 (987) 654-3210", "US"),
        ("0000", "US"),
        ("N/A", "US"),
    ],
)
def test_placeholders_are_junk(raw: str, region: str) -> None:
    result = normalise_phone(raw, region)
    assert result.status == "junk"
    assert result.value is None


def test_real_sample_number_is_not_junk() -> None:
    assert normalise_phone("13800138000", "CN").status == "valid"


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_blank_is_empty(raw: str | None) -> None:
    assert normalise_phone(raw).status == "empty"
