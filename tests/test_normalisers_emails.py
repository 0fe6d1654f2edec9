"""Email normaliser: cleaning, syntax reasons, provider canonicalisation, junk, fast path."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from onefold.clean.emails import _is_fast_valid, normalise_email
from onefold.clean.junk import JunkFilter


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("John.Doe@Company.COM", "john.doe@company.com"),
        ("  john.doe@company.com\t", "john.doe@company.com"),
        ("\u00a0john.doe@company.com\u3000", "john.doe@company.com"),
        ("\u200bjohn.doe@company.com\ufeff", "john.doe@company.com"),
        ("<john.doe@company.com>", "john.doe@company.com"),
        ("mailto:john.doe@company.com", "john.doe@company.com"),
        ("MAILTO:John.Doe@company.com", "john.doe@company.com"),
        ("<mailto:john.doe@company.com>", "john.doe@company.com"),
        ("ｊｏｈｎ．ｄｏｅ＠ｃｏｍｐａｎｙ．ｃｏｍ", "john.doe@company.com"),
        ("li.wei+news@qq.com", "li.wei+news@qq.com"),
        ("o'neil@company.co.uk", "o'neil@company.co.uk"),
        ("用户@例子.广告", "用户@例子.广告"),
    ],
)
def test_valid_emails_are_cleaned_and_lowercased(raw: str, value: str) -> None:
    result = normalise_email(raw)
    assert result.status == "valid"
    assert result.value == value
    assert result.key == value.rpartition("@")[0]


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("john.doe.company.com", "missing @"),
        ("john..doe@company.com", "two periods in a row"),
        ("john doe@company.com", "SPACE"),
        ("john@company", "should have a period"),
        ("john@localhost", "should have a period"),
        ("john@company.test", "special-use"),
        ("@company.com", "something before the @-sign"),
        ("john@@company.com", "not a valid email"),
        ("john@exa_mple.com", "invalid characters"),
    ],
)
def test_invalid_emails_carry_the_reason(raw: str, reason_part: str) -> None:
    result = normalise_email(raw)
    assert result.status == "invalid"
    assert result.value is None
    assert result.reason is not None
    assert result.reason.startswith("not a valid email")
    assert reason_part in result.reason


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("J.o.h.n.Doe+promo@gmail.com", "johndoe@gmail.com"),
        ("john.doe@googlemail.com", "johndoe@gmail.com"),
        ("john.doe+x+y@GMAIL.com", "johndoe@gmail.com"),
        ("john.doe+shop@outlook.com", "john.doe@outlook.com"),
        ("john.doe+shop@hotmail.com", "john.doe@hotmail.com"),
        ("john.doe+shop@icloud.com", "john.doe@icloud.com"),
        ("john.doe-shop@yahoo.com", "john.doe-shop@yahoo.com"),
        ("john.doe+shop@company.com", "john.doe+shop@company.com"),
    ],
)
def test_provider_canonicalisation(raw: str, canonical: str) -> None:
    on = normalise_email(raw, canonicalise_provider=True)
    assert on.status == "valid"
    assert on.value == canonical
    assert on.key == canonical.rpartition("@")[0]
    off = normalise_email(raw)
    assert off.value == raw.lower()


def test_canonicalisation_of_bare_tag_is_invalid() -> None:
    assert normalise_email("+promo@gmail.com", canonicalise_provider=True).status == "invalid"
    assert normalise_email("+promo@gmail.com").status == "valid"


@pytest.mark.parametrize(
    "raw",
    [
        "test@test.com",
        "TEST@TEST.COM",
        "test@example.com",
        "noemail@noemail.com",
        "none@none.com",
        "asdf@asdf.com",
        "test@gmail.com",
        "noemail@qq.com",
        "anyone@example.com",
        "xxx@qq.com",
        "N/A",
        "null",
    ],
)
def test_placeholders_are_junk(raw: str) -> None:
    result = normalise_email(raw)
    assert result.status == "junk"
    assert result.value is None
    assert result.reason


def test_extra_junk_is_site_specific() -> None:
    jf = JunkFilter(extra=["noone@shop.cn"])
    assert normalise_email("NoOne@shop.cn", junk=jf).status == "junk"
    assert normalise_email("noone@shop.cn").status == "valid"


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "<>", "mailto:"])
def test_blank_is_empty(raw: str | None) -> None:
    assert normalise_email(raw).status == "empty"


def test_domain_typo_is_suspicious_but_kept() -> None:
    result = normalise_email("li.wei@gmial.com")
    assert result.status == "suspicious"
    assert result.value == "li.wei@gmial.com"
    assert result.reason is not None and "gmail.com" in result.reason


@pytest.mark.parametrize(
    "addr",
    [
        "a@b.co",
        "john.doe@company.com",
        "x@a--b.com",
        "ab--c@xn--fsq.com",
        "a@b.c",
        "a@1.2.3.4",
        "a@b.onion",
        "a@b.invalid",
        "a@b.local",
        "a@sub.example.arpa",
        "a.@b.com",
        ".a@b.com",
        "a@-b.com",
        "a@b-.com",
        "a@b.c0m",
        "a@b.123",
        "a" * 65 + "@b.com",
        "a@" + "b" * 64 + ".com",
        "a@" + ("b" * 60 + ".") * 5 + "com",
        "first.last+tag@sub.domain.co.uk",
        "!#$%&'*+/=?^_`{|}~-@x.io",
    ],
)
def test_fast_path_never_accepts_what_email_validator_rejects(addr: str) -> None:
    """The regex shortcut must be a subset of email-validator's acceptance."""
    if _is_fast_valid(addr):
        try:
            validate_email(addr, check_deliverability=False)
        except EmailNotValidError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"fast path accepted {addr!r} but email-validator says: {exc}")


def test_fast_path_covers_the_common_case() -> None:
    assert _is_fast_valid("john.doe@company.com")
    assert _is_fast_valid("li.wei2024@qq.com")
