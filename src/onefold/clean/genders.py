"""Gender normalisation to "female" | "male" | "other".

Sources encode gender as letters, words, salutations, Chinese characters or ISO/IEC 5218 codes
(0 = not known, 1 = male, 2 = female, 9 = not applicable). "Not known" answers are `empty`, not
invalid: the customer gave no gender, the source is not broken.
"""

from __future__ import annotations

import unicodedata

from onefold.clean.result import Normalised

_GENDERS: dict[str, str] = {
    "f": "female",
    "female": "female",
    "woman": "female",
    "women": "female",
    "w": "female",  # German "weiblich"
    "girl": "female",
    "mrs": "female",
    "ms": "female",
    "miss": "female",
    "女": "female",
    "女性": "female",
    "女士": "female",
    "小姐": "female",
    "2": "female",  # ISO/IEC 5218
    "m": "male",
    "male": "male",
    "man": "male",
    "men": "male",
    "boy": "male",
    "mr": "male",
    "男": "male",
    "男性": "male",
    "先生": "male",
    "1": "male",  # ISO/IEC 5218
    "x": "other",
    "d": "other",  # German "divers"
    "o": "other",
    "other": "other",
    "diverse": "other",
    "divers": "other",
    "non-binary": "other",
    "nonbinary": "other",
    "non binary": "other",
    "nb": "other",
    "enby": "other",
    "其他": "other",
}

#: Answers meaning "not known/not given" (ISO/IEC 5218 0 and 9 included).
_NOT_KNOWN = frozenset(
    {"0", "9", "u", "unknown", "n/a", "na", "none", "null", "prefer not to say", "未知", "保密"}
)


def normalise_gender(raw: str | None) -> Normalised:
    """Normalise one gender value; unrecognised values are `invalid` with the value as reason."""
    if raw is None:
        return Normalised(None, "empty")
    s = " ".join(unicodedata.normalize("NFKC", raw).split()).casefold().rstrip(".")
    if not s:
        return Normalised(None, "empty")
    gender = _GENDERS.get(s)
    if gender is not None:
        return Normalised(gender, "valid")
    if s in _NOT_KNOWN:
        return Normalised(None, "empty", f"gender not known ({raw.strip()!r})")
    return Normalised(None, "invalid", f"not a recognised gender: {raw.strip()!r}")
