"""How real systems garble clean facts: format variants, typos, scripts, junk and masking.

Each channel decides *which* noise applies to it (a phone switch logs E.164, a shop form keeps
whatever the customer typed); this module only knows *how* each kind of noise looks. Rates are
passed in by the channels so the per-channel realism lives next to the channel.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from onefold.sample.people import Person, Phone

JUNK_EMAILS = ("test@test.com", "none@none.com", "N/A", "null", "noemail@example.com")
JUNK_PHONES = ("13800000000", "0000000000", "N/A", "null", "1234567890", "11111111111")
JUNK_NAMES = ("N/A", "test", "null", "TEST TEST", "Customer")

_Fmt = Callable[[str], str]

# --- phone layouts, by (kind of number) -------------------------------------------------------
# A Chinese mobile 13800138000 (3-4-4 groups).
_CN_MOBILE: tuple[_Fmt, ...] = (
    lambda n: n,
    lambda n: f"{n[:3]} {n[3:7]} {n[7:]}",
    lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}",
    lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    lambda n: f"+86{n}",
    lambda n: f"0086-{n}",
    lambda n: f"+86-{n}",
)
_CN_MOBILE_W = (40, 55, 70, 80, 90, 95, 100)
# A US number 4155552671 (3-3-4 groups).
_US: tuple[_Fmt, ...] = (
    lambda n: f"({n[:3]}) {n[3:6]}-{n[6:]}",
    lambda n: f"{n[:3]}-{n[3:6]}-{n[6:]}",
    lambda n: f"{n[:3]}.{n[3:6]}.{n[6:]}",
    lambda n: n,
    lambda n: f"+1 {n[:3]} {n[3:6]} {n[6:]}",
    lambda n: f"1-{n[:3]}-{n[3:6]}-{n[6:]}",
    lambda n: f"+1{n}",
)
_US_W = (30, 50, 60, 75, 85, 90, 100)
# The same numbers written for a system in the other country: international prefixes.
_CN_ABROAD: tuple[_Fmt, ...] = (
    lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    lambda n: f"+86{n}",
    lambda n: f"011 86 {n}",
)
_US_ABROAD: tuple[_Fmt, ...] = (
    lambda n: f"+1 {n[:3]} {n[3:6]} {n[6:]}",
    lambda n: f"+1{n}",
    lambda n: f"001 {n[:3]} {n[3:6]} {n[6:]}",
    lambda n: f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}",
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


class Noise:
    """Noise helpers sharing the generator's rng (one rng keeps the whole run reproducible)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.r = rng.random

    # -- phones ---------------------------------------------------------------------------------

    def phone(self, ph: Phone, region: str, style: str = "typed") -> str:
        """Render `ph` for a system in `region`.

        styles: `typed` (what a person types into a form: any layout), `switch` (a telephony
        switch: E.164 or bare national digits), `digits` (a till or app that strips
        punctuation). Numbers from the other country mostly carry their country code so they
        still parse, but ≈10% do not, as in real exports.
        """
        rng = self.rng
        n = ph.nsn
        home = (ph.cc == "86") == (region == "CN")
        if ph.area and ph.cc == "86":  # Chinese landline: area code + local number
            ac, rest = n[: ph.area], n[ph.area :]
            if not home and self.r() < 0.9:
                return f"+86 {ac} {rest}" if self.r() < 0.5 else f"+86{n}"
            if style == "switch" or self.r() < 0.3:
                return f"0{ac}{rest}"
            return f"0{ac}-{rest}"
        cn = ph.cc == "86"
        if not home and self.r() < 0.9:
            fmts = _CN_ABROAD if cn else _US_ABROAD
            if style == "switch":
                return f"+{ph.cc}{n}"
            return fmts[rng.randrange(len(fmts))](n)
        if style == "switch":
            r = self.r()
            if cn:
                return f"+86{n}" if r < 0.5 else n
            return n if r < 0.4 else (f"({n[:3]}) {n[3:6]}-{n[6:]}" if r < 0.7 else f"+1{n}")
        if style == "digits":
            if cn or self.r() < 0.7:
                return n
            return f"{n[:3]}-{n[3:6]}-{n[6:]}"
        if cn:
            return rng.choices(_CN_MOBILE, cum_weights=_CN_MOBILE_W)[0](n)
        return rng.choices(_US, cum_weights=_US_W)[0](n)

    @staticmethod
    def masked(ph: Phone) -> str:
        """`138****8000` / `***-***-0100`: what receipts print to protect the customer."""
        n = ph.nsn
        if ph.cc == "86":
            return f"{n[:3]}****{n[-4:]}"
        return f"***-***-{n[-4:]}"

    def junk_phone(self) -> str:
        return JUNK_PHONES[self.rng.randrange(len(JUNK_PHONES))]

    def phone_field(
        self, ph: Phone, region: str, style: str, missing: float, junk: float = 0.01
    ) -> str:
        """A phone cell as a system exports it: empty, a placeholder, or `ph` rendered."""
        x = self.r()
        if x < missing:
            return ""
        if x < missing + junk:
            return self.junk_phone()
        return self.phone(ph, region, style)

    # -- emails ---------------------------------------------------------------------------------

    def email(self, e: str, variant_p: float = 0.08) -> str:
        """Case and whitespace variants as people type them: `  Ann.Lee@Example.COM `."""
        if self.r() >= variant_p:
            return e
        local, _, domain = e.partition("@")
        k = self.rng.randrange(5)
        if k == 0:
            return f"  {e} "
        if k == 1:
            return e.upper()
        if k == 2:
            return f"{local.title()}@{domain.upper()}"
        if k == 3:
            return f"{e} "
        return f"{local.capitalize()}@{domain.capitalize()}"

    def junk_email(self) -> str:
        return JUNK_EMAILS[self.rng.randrange(len(JUNK_EMAILS))]

    # -- names ----------------------------------------------------------------------------------

    def typo(self, s: str) -> str:
        """One adjacent transposition or one substituted letter (Latin script only)."""
        if len(s) < 3 or not s.isascii():
            return s
        rng = self.rng
        i = rng.randrange(1, len(s) - 1)
        if self.r() < 0.5:
            return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
        c = _LETTERS[rng.randrange(26)]
        return s[:i] + (c.upper() if s[i].isupper() else c) + s[i + 1 :]

    def first_last(
        self, p: Person, nick_p: float = 0.0, typo_p: float = 0.05, hanzi_p: float = 0.5
    ) -> tuple[str, str]:
        """First and last name as separate fields: characters or pinyin for Chinese persons
        (≈5% with the pinyin halves in the wrong fields), nicknames and typos for US persons."""
        r = self.r()
        if p.cn:
            if r < hanzi_p:
                return p.first, p.last
            if r < hanzi_p + 0.05:
                return p.last_py, p.first_py  # entered family name first
            first, last = p.first_py, p.last_py
        else:
            first = p.nick if p.nick and r < nick_p else p.first
            last = p.last
        if self.r() < typo_p:
            if self.r() < 0.5:
                first = self.typo(first)
            else:
                last = self.typo(last)
        return first, last

    def full_name(
        self, p: Person, nick_p: float = 0.0, typo_p: float = 0.05, hanzi_p: float = 0.5
    ) -> str:
        """`张伟` / `Zhang Wei` / `Wei Zhang` / `ZHANG WEI`; `Bill Smith` / `Wiliam Smith`."""
        r = self.r()
        if p.cn:
            if r < hanzi_p:
                return p.last + p.first
            r = self.r()
            if r < 0.55:
                name = f"{p.last_py} {p.first_py}"
            elif r < 0.85:
                name = f"{p.first_py} {p.last_py}"
            else:
                return f"{p.last_py} {p.first_py}".upper()
        else:
            first = p.nick if p.nick and r < nick_p else p.first
            name = f"{first} {p.last}"
            if self.r() < 0.03:
                name = name.upper()
        if self.r() < typo_p:
            name = self.typo(name)
        return name

    def junk_name(self) -> str:
        return JUNK_NAMES[self.rng.randrange(len(JUNK_NAMES))]

    # -- dates ----------------------------------------------------------------------------------

    def birth(self, p: Person, day_first: bool, swap_p: float = 0.03) -> str:
        """`MM/DD/YYYY` or `DD/MM/YYYY`; ≈3% with day and month swapped by the data entry."""
        y, m, d = p.birth
        if self.r() < swap_p:
            m, d = d, m
        return f"{d:02d}/{m:02d}/{y}" if day_first else f"{m:02d}/{d:02d}/{y}"
