"""Email normalisation: one canonical lowercase address per mailbox, or a reason why not.

Syntax is judged by `email-validator` (no DNS: cleaning must be pure and offline). Because it
costs ~25 µs per call, plain ASCII addresses that a strict regex accepts skip it; the regex is a
subset of what email-validator accepts (tests check the two agree), so the fast path never
accepts anything the library would reject. Results are also cached because customer data repeats
the same addresses many times.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from onefold.clean.junk import DEFAULT_JUNK, JunkFilter
from onefold.clean.result import Normalised

#: Characters stripped from both ends besides `str.strip()`'s whitespace: zero-width space,
#: zero-width no-break space (BOM) and word joiner, which survive NFKC and copy-paste.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"

# dot-atom local part and LDH hostname labels; TLD letters only. Anything unusual (quotes, IDN,
# punycode, `--`) falls through to email-validator, which is authoritative.
_ATEXT = r"a-z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_RE = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+[a-z]{{2,63}}")
#: email-validator rejects these TLDs as special-use (RFC 6761 etc.).
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})

#: Providers where dots in the local part are ignored and `+tag` is an alias of the mailbox.
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
#: Providers documented to deliver `user+tag@` to `user@`. Yahoo is absent on purpose: its
#: `-` aliases are separately chosen names, not derivable from the base address.
_PLUS_TAG_DOMAINS = frozenset(
    {
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "protonmail.com",
        "proton.me",
    }
)
#: Frequent domain typos: kept (the address may really exist) but flagged.
_DOMAIN_TYPOS: dict[str, str] = {
    "gmial.com": "gmail.com",
    "gmai.com": "gmail.com",
    "gamil.com": "gmail.com",
    "gnail.com": "gmail.com",
    "gmail.co": "gmail.com",
    "gmail.con": "gmail.com",
    "hotmial.com": "hotmail.com",
    "hotmal.com": "hotmail.com",
    "yahooo.com": "yahoo.com",
    "yaho.com": "yahoo.com",
    "outlok.com": "outlook.com",
    "qq.co": "qq.com",
    "163.co": "163.com",
}


def _clean(raw: str) -> str:
    """Whitespace/NFKC/`mailto:`/`<>` stripping and lowercasing; no validation."""
    s = raw.strip() if raw.isascii() else unicodedata.normalize("NFKC", raw).strip()
    s = s.strip(_INVISIBLE).strip()
    if s.startswith("<") and s.endswith(">"):
        s = s[1:-1].strip()
    if s[:7].lower() == "mailto:":
        s = s[7:].strip()
    return s.lower()


def _is_fast_valid(s: str) -> bool:
    """Cheap acceptance for plain ASCII addresses; False means "ask email-validator"."""
    if len(s) > 254 or not _FAST_RE.fullmatch(s):
        return False
    local, _, domain = s.rpartition("@")
    return (
        len(local) <= 64
        and "--" not in domain
        and domain.rpartition(".")[2] not in _SPECIAL_TLDS
        and len(domain) <= 253
    )


def _canonicalise(local: str, domain: str) -> tuple[str, str]:
    if domain in _GMAIL_DOMAINS:
        return local.partition("+")[0].replace(".", ""), "gmail.com"
    if domain in _PLUS_TAG_DOMAINS:
        return local.partition("+")[0], domain
    return local, domain


@lru_cache(maxsize=1 << 20)
def _normalise_cleaned(s: str, canonicalise_provider: bool) -> Normalised:
    """Validate and canonicalise an already cleaned address (junk is judged by the caller)."""
    if not s:
        return Normalised(None, "empty")
    if not _is_fast_valid(s):
        if "@" not in s:
            return Normalised(None, "invalid", "not a valid email: missing @")
        try:
            info = validate_email(s, check_deliverability=False)
        except EmailNotValidError as exc:
            return Normalised(None, "invalid", f"not a valid email: {exc}")
        s = info.normalized.lower()
    local, _, domain = s.rpartition("@")
    if canonicalise_provider:
        local, domain = _canonicalise(local, domain)
        if not local:
            return Normalised(None, "invalid", "not a valid email: nothing before +tag")
    value = f"{local}@{domain}"
    typo = _DOMAIN_TYPOS.get(domain)
    if typo is not None:
        return Normalised(value, "suspicious", f"domain looks like a typo of {typo}", local)
    return Normalised(value, "valid", None, local)


def normalise_email(
    raw: str | None,
    *,
    canonicalise_provider: bool = False,
    junk: JunkFilter | None = None,
) -> Normalised:
    """Normalise one email address; `key` is the local part of the canonical address.

    With `canonicalise_provider`, mailboxes that providers treat as identical are folded
    together (gmail: dots and `+tag` ignored, googlemail.com -> gmail.com; outlook/hotmail/
    live/msn/icloud/me/mac/fastmail/proton: `+tag` dropped) so one person's aliases merge.
    """
    if raw is None:
        return Normalised(None, "empty")
    jf = junk if junk is not None else DEFAULT_JUNK
    s = _clean(raw)
    if not s:
        return Normalised(None, "empty")
    if jf.is_junk_raw(s):
        return Normalised(None, "junk", f"placeholder email {s!r}")
    result = _normalise_cleaned(s, canonicalise_provider)
    if result.value is not None and jf.is_junk_value("email", result.value):
        return Normalised(None, "junk", f"placeholder email {result.value!r}")
    return result
