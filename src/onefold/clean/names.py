"""Person-name normalisation: a display form, a script, and a matching key.

Names are not identifiers, but identity resolution compares them, so each name gets a `key`
that survives case, accents, spacing and script: Han names are keyed by toneless pinyin (with
surname readings such as 单 = shan, 曾 = zeng), Latin names by their case-folded ASCII skeleton.
`name_key_sorted` makes family-first and given-first orders compare equal.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from onefold.clean.junk import DEFAULT_JUNK
from onefold.clean.result import Normalised

#: Two-character surnames: the family name is both characters, not just the first.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "令狐",
        "夏侯",
        "端木",
        "万俟",
        "单于",
        "澹台",
        "南宫",
    }
)

#: Surname readings that differ from the character's everyday reading. pypinyin 0.55 has no
#: surname mode (checked in its source), so the family name is looked up here first.
_SURNAME_PINYIN: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "区": "ou",
    "查": "zha",
    "乐": "yue",
    "覃": "qin",
    "盖": "ge",
    "缪": "miao",
    "秘": "bi",
    "翟": "zhai",
    "召": "shao",
    "种": "chong",
    "黑": "he",
    "重": "chong",
    "尉迟": "yu chi",
    "长孙": "zhang sun",
    "万俟": "mo qi",
    "单于": "chan yu",
}

_LATIN_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof"})
_HAN_HONORIFICS = ("先生", "女士", "小姐")
#: Lower-case particles inside Latin names ("Ludwig van Beethoven").
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "da", "di", "del", "du", "la", "le"})
#: Letters NFKD does not decompose into base + combining mark.
_ASCII_FOLD = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae", "Æ": "AE"}
    | {"œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ı": "i"}
)
_WS_RE = re.compile(r"\s+")
_KEY_DROP_RE = re.compile(r"['’`.]")
_KEY_SPLIT_RE = re.compile(r"[\s\-,]+")


def _is_han(c: str) -> bool:
    o = ord(c)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3134F
        or o == 0x3007  # 〇
    )


def _is_latin(c: str) -> bool:
    return c.isascii() or unicodedata.name(c, "").startswith("LATIN")


def detect_script(s: str) -> str:
    """ "han" / "latin" when every letter is of that script, "mixed" for both, else "other"."""
    han = latin = other = False
    for c in s:
        if not c.isalpha():
            continue
        if _is_han(c):
            han = True
        elif _is_latin(c):
            latin = True
        else:
            other = True
    if other or not (han or latin):
        return "other"
    if han and latin:
        return "mixed"
    return "han" if han else "latin"


def _strip_honorifics(s: str) -> str:
    """Drop leading Latin titles (`Mr.`, `Dr`) and trailing Han ones (`张先生` -> `张`)."""
    tokens = s.split(" ")
    while len(tokens) > 1 and tokens[0].rstrip(".").casefold() in _LATIN_HONORIFICS:
        tokens = tokens[1:]
    s = " ".join(tokens)
    for h in _HAN_HONORIFICS:
        if s.endswith(h) and len(s) > len(h):
            return s[: -len(h)].rstrip()
    return s


def _title_part(part: str) -> str:
    if not part:
        return part
    t = part[0].upper() + part[1:].lower()
    if t.startswith("Mc") and len(t) > 2:
        t = "Mc" + t[2].upper() + t[3:]
    return t


def _title_token(token: str, first: bool, last: bool) -> str:
    """Title-case an all-upper or all-lower token; keep deliberate mixed case (`McDonald`)."""
    if token != token.lower() and token != token.upper():
        return token
    if not first and not last and token.lower() in _PARTICLES:
        return token.lower()
    return "-".join("'".join(_title_part(q) for q in p.split("'")) for p in token.split("-"))


def _latin_display(s: str) -> str:
    tokens = s.split(" ")
    n = len(tokens)
    return " ".join(_title_token(t, i == 0, i == n - 1) for i, t in enumerate(tokens))


def _fold_key(s: str) -> str:
    """Case-folded, accent-free key: `José Núñez` -> `jose nunez`, `O'Brien` -> `obrien`."""
    decomposed = unicodedata.normalize("NFKD", s.translate(_ASCII_FOLD))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    bare = _KEY_DROP_RE.sub("", bare)
    return " ".join(t for t in _KEY_SPLIT_RE.split(bare) if t)


def _pinyin(s: str) -> list[str]:
    return [p.lower() for p in lazy_pinyin(s, style=Style.NORMAL, errors="default")]


def _han_key(value: str) -> str:
    family, given = split_name(value, "han")
    parts: list[str] = []
    if family:
        reading = _SURNAME_PINYIN.get(family)
        parts.extend(reading.split() if reading else _pinyin(family))
    if given:
        parts.extend(_pinyin(given))
    return " ".join(parts)


def _mixed_key(value: str) -> str:
    """Pinyin for Han runs, folded Latin for the rest."""
    return _fold_key(" ".join(_pinyin(value)))


@lru_cache(maxsize=1 << 20)
def normalise_name(raw: str | None) -> Normalised:
    """Normalise a full person name; see the module docstring for `value`, `key`, `script`.

    Digits or `@` (an email pasted into the name field) keep the name usable but flag it
    `suspicious`; placeholders (N/A, test, 未知) are `junk`.
    """
    if raw is None:
        return Normalised(None, "empty")
    s = _WS_RE.sub(" ", unicodedata.normalize("NFKC", raw)).strip()
    if not s:
        return Normalised(None, "empty")
    if DEFAULT_JUNK.is_junk_raw(s):
        return Normalised(None, "junk", f"placeholder name {s!r}")
    s = _strip_honorifics(s)
    script = detect_script(s)
    if script == "han":
        value = s.replace(" ", "")
        key = _han_key(value)
    elif script == "latin":
        value = _latin_display(s)
        key = _fold_key(value)
    elif script == "mixed":
        value = s
        key = _mixed_key(value)
    else:
        value = s
        key = _fold_key(value)
    reasons = []
    if any(c.isdigit() for c in s):
        reasons.append("name contains digits")
    if "@" in s:
        reasons.append("name contains @")
    if script == "mixed":
        reasons.append("name mixes Han and Latin script")
    if reasons:
        return Normalised(value, "suspicious", "; ".join(reasons), key, script)
    return Normalised(value, "valid", None, key, script)


def name_key_sorted(key: str) -> str:
    """Key tokens in sorted order, so `wei zhang` and `zhang wei` (swapped names) compare equal."""
    return " ".join(sorted(key.split()))


def split_name(value: str, script: str) -> tuple[str | None, str | None]:
    """(family, given) of a normalised name.

    Han: the first character is the family name unless the first two form a compound surname
    (欧阳娜娜 -> 欧阳, 娜娜). Latin (Western order): last token is the family name. Other
    scripts: split like Latin when spaced, else unknown.
    """
    value = value.strip()
    if not value:
        return None, None
    if script == "han":
        value = value.replace(" ", "")
        n = 2 if len(value) > 2 and value[:2] in COMPOUND_SURNAMES else 1
        return value[:n], value[n:] or None
    tokens = value.split()
    if script != "latin" and len(tokens) < 2:
        return None, None
    return tokens[-1], " ".join(tokens[:-1]) or None
