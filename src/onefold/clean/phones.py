"""Phone normalisation to E.164 with `phonenumbers`, plus masked-number and placeholder handling.

Masked numbers (`138****8000`) are common in exports from Chinese platforms. They must never
become a full identifier, yet the visible digits still help probabilistic matching, so they come
back as `partial` with the canonical mask as `key`. Parsing costs ~20-40 µs, and customer data
repeats numbers heavily, so parse results are cached by (digits, region).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from onefold.clean.junk import DEFAULT_JUNK, JunkFilter
from onefold.clean.result import Normalised

#: Separators people put between digit groups; removed before parsing.
_SEPARATORS = str.maketrans("", "", " \t-.()/\u00b7\u00a0\u3000\u2010\u2011\u2012\u2013\u2014")
#: Mask characters seen in exports: asterisks, bullets and runs of x.
_MASK_RE = re.compile(r"[*•●]|[xX×]{2,}")
_MASK_CHARS = str.maketrans({c: "*" for c in "*•●xX×"})
#: Trailing extension: `ext. 12`, `extension 12`, `x12`, `#12`, `转12`, `分机12`.
_EXT_RE = re.compile(r"\s*(?:ext\.?|extension|x|#|转|分机)\s*(\d{1,7})\s*$", re.IGNORECASE)
_PLAIN_RE = re.compile(r"\+?\d+")

_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
    ValidationResult.INVALID_LENGTH: "invalid length",
}


def _clean(raw: str) -> str:
    s = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    s = s.strip()
    if s[:4].lower() == "tel:":
        s = s[4:]
    return s


def _mask_key(s: str, region: str) -> str:
    """Canonical mask: digits and `*` only, without the region's own country code."""
    body = s.translate(_MASK_CHARS)
    plus = body.lstrip().startswith("+")
    key = "".join(c for c in body if c.isdigit() or c == "*")
    cc = str(phonenumbers.country_code_for_region(region))
    if plus or key.startswith("00"):
        key = key[2:] if key.startswith("00") else key
        if key.startswith(cc) and cc != "0":
            key = key[len(cc) :]
    return key


def _is_valid(number: phonenumbers.PhoneNumber, region: str) -> bool:
    """`is_valid_number`, but checking the likely region first.

    For shared country codes (+1 has 25 regions) `is_valid_number` tries every region's
    metadata, which dominated the profile; the default region or the code's only region answers
    the common case directly, and anything else falls back to the full search.
    """
    if number.country_code is None:
        return False
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    if region in regions:
        if phonenumbers.is_valid_number_for_region(number, region):
            return True
    elif len(regions) == 1:
        return bool(phonenumbers.is_valid_number_for_region(number, regions[0]))
    return bool(phonenumbers.is_valid_number(number))


@lru_cache(maxsize=1 << 20)
def _parse(digits: str, region: str) -> Normalised:
    """Parse a `+?digits` string; cached because the same numbers recur across rows.

    `region` may list several regions (`"CN,US"`): a source that serves two countries reads a
    national number in the first region where it is valid, before any guesswork.
    """
    if "," in region:
        regions = region.split(",")
        if not digits.startswith(("+", "00")):
            for r in regions:
                first = _parse_one(digits, r, retry_plus=False)
                if first.status == "valid":
                    return first
        return _parse_one(digits, regions[0], retry_plus=True)
    return _parse_one(digits, region, retry_plus=True)


def _parse_one(digits: str, region: str, *, retry_plus: bool) -> Normalised:
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException as exc:
        return Normalised(None, "invalid", f"not a phone number: {exc}")
    nsn = phonenumbers.national_significant_number(number)
    if _is_valid(number, region):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return Normalised(e164, "valid", None, nsn)
    if retry_plus and not digits.startswith("+"):
        # `8613800138000` typed without `+` in a US file: a valid international reading is
        # usable but worth a look.
        retry = _parse_one("+" + digits, region, retry_plus=False)
        if retry.status == "valid":
            return retry._replace(status="suspicious", reason="missing + before country code")
    possible = phonenumbers.is_possible_number_with_reason(number)
    reason = _REASONS.get(possible)
    if reason is None:
        where = phonenumbers.region_code_for_number(number) or region
        reason = f"not a valid {where} number"
    return Normalised(None, "invalid", reason, nsn)


def normalise_phone(
    raw: str | None, region: str = "US", *, junk: JunkFilter | None = None
) -> Normalised:
    """Normalise one phone number; `region` is the default for numbers without `+`/`00`
    (a comma-separated list tries each region in order).

    value = E.164 (`+8613800138000`), key = national significant number. A dropped extension
    makes the result `suspicious`; masks give `partial` (value None); placeholders give `junk`
    even when phonenumbers would call them valid (`+86 138 0000 0000`).
    """
    if raw is None:
        return Normalised(None, "empty")
    if junk is None:
        return _normalise_default(raw, region)
    return _normalise(raw, region, junk)


@lru_cache(maxsize=1 << 18)
def _normalise_default(raw: str, region: str) -> Normalised:
    """Whole-call cache for the default junk filter: repeated raw strings skip the cleaning."""
    return _normalise(raw, region, DEFAULT_JUNK)


def _normalise(raw: str, region: str, jf: JunkFilter) -> Normalised:
    s = _clean(raw)
    if not s:
        return Normalised(None, "empty")
    if jf.is_junk_raw(s):
        return Normalised(None, "junk", f"placeholder phone {s!r}")
    if _MASK_RE.search(s):
        key = _mask_key(s, region.split(",")[0])
        if not any(c.isdigit() for c in key):
            return Normalised(None, "invalid", "masked phone with no visible digits")
        return Normalised(None, "partial", "masked phone", key)
    ext = _EXT_RE.search(s)
    if ext is not None:
        s = s[: ext.start()]
    digits = s.translate(_SEPARATORS)
    if not _PLAIN_RE.fullmatch(digits):
        return Normalised(None, "invalid", "not a phone number: unexpected characters")
    if jf.is_junk_value("phone", digits.lstrip("+")):
        return Normalised(None, "junk", f"placeholder phone {digits!r}")
    result = _parse(digits, region)
    if result.key is not None and jf.is_junk_value("phone", result.key):
        return Normalised(None, "junk", f"placeholder phone {result.value or digits}")
    if ext is not None and result.value is not None:
        return result._replace(status="suspicious", reason=f"extension {ext.group(1)} dropped")
    return result
