"""Fast timestamp formatting for the generator.

All times are integer seconds since the Unix epoch (UTC). `datetime.strftime` per row costs a
few microseconds, which adds up to minutes at a million persons, so the date part of every day
in the sample window is formatted once and the time of day is added with integer arithmetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

#: The sample's timeline: first and last second any record may carry.
START = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
END = int(datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC).timestamp())
#: Recycled phone numbers change hands at this moment: the old owner's records are all before
#: it, the new owner's records with that number all after it.
RECYCLE_CUTOFF = int(datetime(2022, 7, 1, tzinfo=UTC).timestamp())
DAY = 86400


class Clock:
    """Formats epoch seconds in the handful of layouts the source systems use."""

    def __init__(self) -> None:
        first = START // DAY - 2  # room for local times west of UTC
        last = END // DAY + 2
        self._first = first
        days = [date.fromordinal(date(1970, 1, 1).toordinal() + d) for d in range(first, last)]
        self._iso = [d.isoformat() for d in days]
        self._slash = [d.strftime("%Y/%m/%d") for d in days]
        self._us = [d.strftime("%m/%d/%Y") for d in days]

    def _split(self, t: int) -> tuple[int, int, int, int]:
        d, rest = divmod(t, DAY)
        h, rest = divmod(rest, 3600)
        m, s = divmod(rest, 60)
        return d - self._first, h, m, s

    def iso(self, t: int) -> str:
        """`2023-04-05T10:22:33Z`."""
        d, h, m, s = self._split(t)
        return f"{self._iso[d]}T{h:02d}:{m:02d}:{s:02d}Z"

    def iso_ms(self, t: int, ms: int) -> str:
        """`2023-04-05T10:22:33.123Z` as the Segment SDKs send it."""
        d, h, m, s = self._split(t)
        return f"{self._iso[d]}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"

    def sql(self, t: int) -> str:
        """`2023-04-05 10:22:33`."""
        d, h, m, s = self._split(t)
        return f"{self._iso[d]} {h:02d}:{m:02d}:{s:02d}"

    def slash_minute(self, t: int) -> str:
        """`2023/04/05 10:22` as store tills print it."""
        d, h, m, _ = self._split(t)
        return f"{self._slash[d]} {h:02d}:{m:02d}"

    def us_ampm(self, t: int) -> str:
        """`04/05/2023 10:22 AM` as a US CRM report exports it."""
        d, h, m, _ = self._split(t)
        half = "AM" if h < 12 else "PM"
        h12 = h % 12 or 12
        return f"{self._us[d]} {h12:02d}:{m:02d} {half}"

    def day(self, t: int) -> str:
        """`2023-04-05`."""
        return self._iso[t // DAY - self._first]
