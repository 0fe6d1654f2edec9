"""Known placeholder values ("junk") that look like data but identify nobody.

Source systems fill required fields with placeholders (`N/A`, `test@test.com`, `13800000000`).
If such a value were used as an identifier, every customer who typed it would be merged into
one giant profile, so the normalisers reject it with status `junk` instead of `valid`.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Casefolded, stripped raw values that are placeholders in any field.
#: `13800138000` is deliberately absent: it is a real-looking number used as a real phone in our
#: samples, whereas `13800000000` is the classic Chinese placeholder.
BUILTIN_JUNK: frozenset[str] = frozenset(
    {
        "n/a",
        "n.a.",
        "na",
        "null",
        "none",
        "nil",
        "undefined",
        "unknown",
        "-",
        "--",
        "?",
        ".",
        "0",
        "-1",
        "test",
        "testing",
        "anonymous",
        "无",
        "未知",
        "空",
        "test@test.com",
        "test@example.com",
        "noemail@noemail.com",
        "none@none.com",
        "asdf@asdf.com",
        "no@email.com",
        "13800000000",
        "0000000000",
        "1234567890",
        "12345678901",
        "00000000000",
        "11111111111",
        "0123456789",
        "123456789",
        "9876543210",
    }
)

#: Email local parts that are placeholders whatever the domain.
JUNK_EMAIL_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        "test",
        "none",
        "noemail",
        "no-email",
        "no_email",
        "nomail",
        "null",
        "na",
        "n/a",
        "unknown",
        "asdf",
        "nobody",
        "noreply",
        "no-reply",
        "donotreply",
        "fake",
    }
)

#: Email domains reserved for documentation or used only as placeholders: every address there
#: is junk.
JUNK_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "example.com",
        "example.org",
        "example.net",
        "test.com",
        "noemail.com",
        "none.com",
        "asdf.com",
    }
)

_ASCENDING = "01234567890123456789"
_DESCENDING = "98765432109876543210"
#: A national number this long that is a straight digit run (1234567890) or all one digit is a
#: keyboard placeholder, never a subscriber.
_MIN_RUN = 7
#: `+86 138 0000 0000`: a valid-looking prefix followed by a tail of zeros is a placeholder.
_MIN_ZERO_TAIL = 7


def _all_same(s: str) -> bool:
    return len(s) >= 3 and s.count(s[0]) == len(s)


def _is_junk_phone_digits(digits: str) -> bool:
    """True for national numbers that are all one digit, a straight run, or end in 7+ zeros."""
    if not digits:
        return False
    if _all_same(digits):
        return True
    if len(digits) >= _MIN_RUN and (digits in _ASCENDING or digits in _DESCENDING):
        return True
    return digits.endswith("0" * _MIN_ZERO_TAIL)


class JunkFilter:
    """Decides whether a raw or normalised value is a placeholder.

    `extra` adds site-specific placeholders (matched casefolded and stripped) on top of
    `BUILTIN_JUNK`; a source's mapping can declare them.
    """

    __slots__ = ("_raw",)

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._raw: frozenset[str] = BUILTIN_JUNK | frozenset(e.casefold().strip() for e in extra)

    def is_junk_raw(self, raw: str) -> bool:
        """Match a raw value before normalisation: known placeholder or one repeated character."""
        key = raw.strip().casefold()
        return key in self._raw or _all_same(key)

    def is_junk_value(self, kind: str, value: str) -> bool:
        """Match a normalised value of `kind` ("email", "phone", anything else = generic).

        For "phone", `value` is either the E.164 form (`+8613800000000`) or the national
        significant number; only the national part is judged, so the country code cannot make
        a placeholder look real.
        """
        if self.is_junk_raw(value):
            return True
        if kind == "email":
            local, _, domain = value.casefold().rpartition("@")
            return (
                local in JUNK_EMAIL_LOCAL_PARTS
                or domain in JUNK_EMAIL_DOMAINS
                or _all_same(local)
                or f"{local}@{domain}" in self._raw
            )
        if kind == "phone":
            digits = value
            if value.startswith("+"):
                digits = _national_from_e164(value)
            return _is_junk_phone_digits(digits)
        return False


def _national_from_e164(value: str) -> str:
    """National significant number of an E.164 string, via phonenumbers' country-code table."""
    import phonenumbers  # local import: only phone junk checks need the metadata

    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value.lstrip("+")
    return str(phonenumbers.national_significant_number(parsed))


#: The filter used when a caller passes none.
DEFAULT_JUNK = JunkFilter()
