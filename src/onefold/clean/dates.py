"""Date and timestamp normalisation against the formats a source declares.

A source declares its formats instead of us guessing, because `03/04/1990` cannot be resolved
from the value alone. When several declared formats read a value differently the result is
`suspicious` (usable, but someone should look); a value that only makes sense with day and month
swapped is repaired and flagged, since that is the most common data-entry slip.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence

from onefold.clean.result import Normalised

_ISO_DATE = "%Y-%m-%d"
#: Epoch digits: at least 9 (from 1973 on), so `20210304` stays a basic-format ISO date.
_EPOCH_RE = re.compile(r"\d{9,16}(?:\.\d{1,9})?")
#: Epoch values at or above this are milliseconds (1e11 s would be the year 5138).
_MILLIS_FROM = 100_000_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _clean(raw: str) -> str:
    return (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()


def _parse_date(s: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(s, fmt).date()
    except ValueError:
        pass
    if fmt == _ISO_DATE and len(s) > 10 and s[10] in "Tt ":
        # `2021-03-04T10:00:00Z`: the calendar date as written, not shifted to UTC.
        t = _fromiso(s)
        return t.date() if t is not None else None
    return None


def _fromiso(s: str) -> dt.datetime | None:
    """`datetime.fromisoformat`, also accepting a lower-case `z` suffix."""
    if s.endswith("z"):
        s = s[:-1] + "Z"
    try:
        return dt.datetime.fromisoformat(s)
    except ValueError:
        return None


def _swapped(fmt: str) -> str | None:
    """`%m/%d/%Y` <-> `%d/%m/%Y`; None for year-first formats, where nobody writes Y-D-M."""
    if fmt.startswith("%Y") or "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def normalise_date(
    raw: str | None,
    formats: Sequence[str] = (_ISO_DATE,),
    *,
    min_year: int = 1900,
    max_date: dt.date | None = None,
) -> Normalised:
    """Normalise a calendar date to `YYYY-MM-DD` using the declared strptime `formats`.

    Readings before `min_year` or after `max_date` (default: today) are impossible, e.g. a
    birth date in the future. Several distinct readings -> `suspicious` with the first format's
    reading; no reading but a day/month-swapped one -> `suspicious` with the swapped reading.
    """
    if raw is None:
        return Normalised(None, "empty")
    s = _clean(raw)
    if not s:
        return Normalised(None, "empty")
    latest = max_date if max_date is not None else dt.date.today()

    def bounded(d: dt.date) -> str | None:
        """None when `d` is in range, else why not."""
        if d.year < min_year:
            return f"{d.isoformat()} is before {min_year}"
        if d > latest:
            return f"{d.isoformat()} is after {latest.isoformat()}"
        return None

    readings: list[dt.date] = []
    out_of_range: list[str] = []
    for fmt in formats:
        d = _parse_date(s, fmt)
        if d is None:
            continue
        problem = bounded(d)
        if problem is None:
            if d not in readings:
                readings.append(d)
        else:
            out_of_range.append(problem)
    if len(readings) > 1:
        alternatives = " or ".join(d.isoformat() for d in readings)
        return Normalised(readings[0].isoformat(), "suspicious", f"ambiguous: {alternatives}")
    if readings:
        return Normalised(readings[0].isoformat(), "valid")
    if out_of_range:
        return Normalised(None, "invalid", f"impossible date {s!r}: {out_of_range[0]}")
    for fmt in formats:
        swapped = _swapped(fmt)
        d = _parse_date(s, swapped) if swapped is not None else None
        if d is not None and bounded(d) is None:
            return Normalised(d.isoformat(), "suspicious", "day and month swapped")
    tried = ", ".join(formats)
    return Normalised(None, "invalid", f"not a valid date: {s!r} does not match {tried}")


def _format_utc(t: dt.datetime) -> str:
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}"
    return text + "Z"


def _parse_timestamp(s: str, formats: Sequence[str]) -> dt.datetime | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
    if _EPOCH_RE.fullmatch(s):
        whole, _, frac = s.partition(".")
        n = int(whole)
        micros = int((frac + "000000")[:6]) if frac else 0
        try:
            if n >= _MILLIS_FROM:
                return _EPOCH + dt.timedelta(milliseconds=n)
            return _EPOCH + dt.timedelta(seconds=n, microseconds=micros)
        except OverflowError:
            return None
    return _fromiso(s)


def normalise_timestamp(raw: str | None, formats: Sequence[str] = ()) -> Normalised:
    """Normalise an instant to ISO-8601 UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.

    Tried in order: the declared strptime `formats`, epoch seconds or milliseconds (9-16
    digits; values >= 1e11 are milliseconds), then ISO 8601 with `Z` or an offset. Naive values are
    taken as UTC, since sources that omit the zone almost always log in UTC.
    """
    if raw is None:
        return Normalised(None, "empty")
    s = _clean(raw)
    if not s:
        return Normalised(None, "empty")
    t = _parse_timestamp(s, formats)
    if t is None:
        tried = ", ".join(["ISO 8601", "epoch seconds/millis", *formats])
        return Normalised(None, "invalid", f"not a valid timestamp: {s!r} (tried {tried})")
    try:
        return Normalised(_format_utc(t), "valid")
    except (OverflowError, ValueError):
        return Normalised(None, "invalid", f"timestamp {s!r} is out of range")
