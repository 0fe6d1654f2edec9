"""Country normalisation to ISO 3166-1 alpha-2 codes via `pycountry`.

Sources write countries as codes, English names and native names (中国, 美國); profiles need one
code so that traits and phone regions agree. Fuzzy search is a last resort and is flagged
`suspicious`, because it happily maps a US state to the US.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pycountry

from onefold.clean.junk import DEFAULT_JUNK
from onefold.clean.result import Normalised

#: Casefolded forms pycountry does not know (non-English names, informal abbreviations).
COUNTRY_ALIASES: dict[str, str] = {
    "中国": "CN",
    "中华人民共和国": "CN",
    "中國": "CN",
    "中華人民共和國": "CN",
    "中國大陸": "CN",
    "中国大陆": "CN",
    "prc": "CN",
    "p.r.c.": "CN",
    "p.r. china": "CN",
    "mainland china": "CN",
    "美国": "US",
    "美國": "US",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "us": "US",
    "america": "US",
    "united states of america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "英国": "GB",
    "英國": "GB",
    "香港": "HK",
    "中国香港": "HK",
    "澳门": "MO",
    "澳門": "MO",
    "台湾": "TW",
    "台灣": "TW",
    "中国台湾": "TW",
    "日本": "JP",
    "韩国": "KR",
    "韓國": "KR",
    "south korea": "KR",
    "korea": "KR",
    "新加坡": "SG",
    "德国": "DE",
    "deutschland": "DE",
    "法国": "FR",
    "加拿大": "CA",
    "澳大利亚": "AU",
    "russia": "RU",
    "ivory coast": "CI",
}


@lru_cache(maxsize=4096)
def normalise_country(raw: str | None) -> Normalised:
    """Normalise a country code or name to ISO 3166-1 alpha-2; `key` is the English name."""
    if raw is None:
        return Normalised(None, "empty")
    s = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not s:
        return Normalised(None, "empty")
    folded = s.casefold()
    alias = COUNTRY_ALIASES.get(folded)
    if alias is not None:
        return _found(alias, "valid")
    if DEFAULT_JUNK.is_junk_raw(s):
        return Normalised(None, "junk", f"placeholder country {s!r}")
    try:
        return _found(pycountry.countries.lookup(s).alpha_2, "valid")
    except LookupError:
        pass
    if len(s) >= 4:
        try:
            match = pycountry.countries.search_fuzzy(s)[0]
        except LookupError:
            pass
        else:
            code = str(match.alpha_2)
            return _found(code, "suspicious", f"fuzzy match: {s!r} read as {code}")
    return Normalised(None, "invalid", f"unknown country {s!r}")


def _found(code: str, status: str, reason: str | None = None) -> Normalised:
    country = pycountry.countries.get(alpha_2=code)
    name = str(country.name) if country is not None else None
    return Normalised(code, "suspicious" if status == "suspicious" else "valid", reason, name)
