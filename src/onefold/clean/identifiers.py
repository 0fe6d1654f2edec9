"""Normalisers for identifier types, selected by name (`IdNormaliser` in `onefold.schema`).

Identifiers join records into profiles, so every normaliser rejects placeholders (`0`, `null`,
`undefined`, `-1`, `xxxx`): one placeholder shared by thousands of rows would merge them all.
"""

from __future__ import annotations

import re
import unicodedata

from onefold.clean.emails import normalise_email
from onefold.clean.junk import DEFAULT_JUNK, JunkFilter
from onefold.clean.phones import normalise_phone
from onefold.clean.result import Normalised

#: Longer values are payloads or concatenation bugs, not identifiers.
MAX_IDENTIFIER_LENGTH = 256
_COMPACT_RE = re.compile(r"[\s\-.]+")


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad_char(s: str) -> str | None:
    if s.isascii():  # the common case, checked in C: only C0 controls and DEL can be bad
        m = _ASCII_CONTROL.search(s)
        return f"U+{ord(m.group()):04X}" if m else None
    for c in s:
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return f"U+{ord(c):04X}"
    return None


def normalise_identifier(
    raw: str | None,
    normaliser: str,
    *,
    region: str = "US",
    junk: JunkFilter | None = None,
    canonicalise_email_providers: bool = False,
) -> Normalised:
    """Normalise an identifier with the named normaliser.

    exact: NFKC + strip (case matters: user ids, WeChat openids); lower: also lowercased
    (device and cookie ids); compact_upper: spaces, dashes and dots removed, uppercased (loyalty
    cards: `lc 1234-5678 90` -> `LC1234567890`); email/phone delegate to their modules.
    """
    if normaliser == "email":
        return normalise_email(raw, canonicalise_provider=canonicalise_email_providers, junk=junk)
    if normaliser == "phone":
        return normalise_phone(raw, region, junk=junk)
    if normaliser not in ("exact", "lower", "compact_upper"):
        raise ValueError(f"unknown identifier normaliser {normaliser!r}")
    if raw is None:
        return Normalised(None, "empty")
    jf = junk if junk is not None else DEFAULT_JUNK
    s = (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()
    if not s:
        return Normalised(None, "empty")
    bad = _bad_char(s)
    if bad is not None:
        return Normalised(None, "invalid", f"identifier contains control character {bad}")
    if len(s) > MAX_IDENTIFIER_LENGTH:
        return Normalised(
            None, "invalid", f"identifier longer than {MAX_IDENTIFIER_LENGTH} characters"
        )
    if normaliser == "lower":
        s = s.lower()
    elif normaliser == "compact_upper":
        s = _COMPACT_RE.sub("", s).upper()
        if not s:
            return Normalised(None, "empty")
    if jf.is_junk_raw(raw) or jf.is_junk_value("identifier", s):
        return Normalised(None, "junk", f"placeholder identifier {s!r}")
    return Normalised(s, "valid")
