"""Junk filter and identifier normalisers (exact, lower, compact_upper, email, phone)."""

from __future__ import annotations

import pytest

from onefold.clean.identifiers import normalise_identifier
from onefold.clean.junk import BUILTIN_JUNK, JunkFilter

JF = JunkFilter()


def test_builtin_junk_is_casefolded_and_excludes_the_sample_phone() -> None:
    assert all(v == v.casefold().strip() for v in BUILTIN_JUNK)
    assert "13800000000" in BUILTIN_JUNK
    assert "13800138000" not in BUILTIN_JUNK


@pytest.mark.parametrize(
    "raw",
    [
        "N/A",
        " n/a ",
        "NULL",
        "None",
        "undefined",
        "Unknown",
        "-",
        "--",
        "0",
        "-1",
        "TEST",
        "anonymous",
        "nil",
        "无",
        "未知",
        "Test@Test.com",
        "13800000000",
        "xxxx",
        "0000",
        "1111111",
    ],
)
def test_is_junk_raw(raw: str) -> None:
    assert JF.is_junk_raw(raw)


@pytest.mark.parametrize("raw", ["13800138000", "john", "xx", "00", "abc", "张伟", "Li"])
def test_is_not_junk_raw(raw: str) -> None:
    assert not JF.is_junk_raw(raw)


def test_extra_junk_values() -> None:
    jf = JunkFilter(extra=["  Guest ", "匿名"])
    assert jf.is_junk_raw("guest")
    assert jf.is_junk_raw("匿名")
    assert not JF.is_junk_raw("guest")


@pytest.mark.parametrize(
    ("kind", "value", "junk"),
    [
        ("email", "test@gmail.com", True),
        ("email", "noemail@qq.com", True),
        ("email", "none@company.com", True),
        ("email", "li.wei@example.com", True),
        ("email", "li.wei@test.com", True),
        ("email", "aaaa@qq.com", True),
        ("email", "li.wei@qq.com", False),
        ("email", "tester@qq.com", False),
        ("phone", "+8613800000000", True),
        ("phone", "+10000000000", True),
        ("phone", "+11234567890", True),
        ("phone", "1234567890", True),
        ("phone", "9876543210", True),
        ("phone", "5555555", True),
        ("phone", "+8613800138000", False),
        ("phone", "+14155550100", False),
        ("phone", "13800138000", False),
        ("identifier", "abc123", False),
        ("identifier", "zzzz", True),
    ],
)
def test_is_junk_value(kind: str, value: str, junk: bool) -> None:
    assert JF.is_junk_value(kind, value) is junk


@pytest.mark.parametrize(
    ("raw", "normaliser", "value"),
    [
        ("  u-1029AbC ", "exact", "u-1029AbC"),
        ("oAbC_123-xyz", "exact", "oAbC_123-xyz"),
        ("ｕ１０２９", "exact", "u1029"),
        ("  D3A4-F00D-BEEF ", "lower", "d3a4-f00d-beef"),
        ("GA1.2.12345.678", "lower", "ga1.2.12345.678"),
        ("lc 1234-5678 90", "compact_upper", "LC1234567890"),
        ("LC.1234.5678.90", "compact_upper", "LC1234567890"),
        ("ｌｃ１２３４ ５６７８９０", "compact_upper", "LC1234567890"),
        (" Li.Wei@QQ.com ", "email", "li.wei@qq.com"),
        ("(415) 555-0100", "phone", "+14155550100"),
    ],
)
def test_identifier_normalisers(raw: str, normaliser: str, value: str) -> None:
    result = normalise_identifier(raw, normaliser)
    assert result.status == "valid"
    assert result.value == value


def test_identifier_options_are_passed_through() -> None:
    cn = normalise_identifier("138 0013 8000", "phone", region="CN")
    assert cn.value == "+8613800138000"
    assert normalise_identifier("138 0013 8000", "phone").status == "invalid"
    canon = normalise_identifier("a.b+x@gmail.com", "email", canonicalise_email_providers=True)
    assert canon.value == "ab@gmail.com"
    assert normalise_identifier("a.b+x@gmail.com", "email").value == "a.b+x@gmail.com"
    jf = JunkFilter(extra=["guest"])
    assert normalise_identifier("GUEST", "lower", junk=jf).status == "junk"
    assert normalise_identifier("GUEST", "lower").status == "valid"


@pytest.mark.parametrize(
    ("raw", "normaliser"),
    [
        ("0", "exact"),
        ("null", "lower"),
        ("NULL", "exact"),
        ("undefined", "exact"),
        ("anonymous", "lower"),
        ("-1", "exact"),
        ("xxxx", "exact"),
        ("0000-0000", "compact_upper"),
        ("1111 1111", "compact_upper"),
        ("test@test.com", "email"),
        ("13800000000", "phone"),
    ],
)
def test_junk_identifiers(raw: str, normaliser: str) -> None:
    result = normalise_identifier(raw, normaliser)
    assert result.status == "junk"
    assert result.value is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("abc\x00def", "U+0000"), ("abc\x07", "U+0007"), ("a\u200bb", "U+200B"), ("x" * 257, "256")],
)
def test_invalid_identifiers(raw: str, reason: str) -> None:
    result = normalise_identifier(raw, "exact")
    assert result.status == "invalid"
    assert result.reason is not None and reason in result.reason


def test_identifier_at_length_limit_is_valid() -> None:
    assert normalise_identifier("x" * 255 + "y", "exact").status == "valid"


@pytest.mark.parametrize("raw", [None, "", "   ", " - . - "])
def test_blank_identifiers_are_empty(raw: str | None) -> None:
    assert normalise_identifier(raw, "compact_upper").status == "empty"


def test_unknown_normaliser_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown identifier normaliser"):
        normalise_identifier("x", "upper")
