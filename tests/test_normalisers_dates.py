"""Date and timestamp normalisers: declared formats, impossible, ambiguous and swapped values."""

from __future__ import annotations

import datetime as dt

import pytest

from onefold.clean.dates import normalise_date, normalise_timestamp

MAX = dt.date(2024, 6, 30)


@pytest.mark.parametrize(
    ("raw", "formats", "value"),
    [
        ("1990-03-04", ("%Y-%m-%d",), "1990-03-04"),
        (" 1990-03-04 ", ("%Y-%m-%d",), "1990-03-04"),
        ("2021-03-04T10:00:00Z", ("%Y-%m-%d",), "2021-03-04"),
        ("2021-03-04 23:30:00+08:00", ("%Y-%m-%d",), "2021-03-04"),
        ("04/03/1990", ("%d/%m/%Y",), "1990-03-04"),
        ("03/04/1990", ("%m/%d/%Y",), "1990-03-04"),
        ("1990年3月4日", ("%Y年%m月%d日",), "1990-03-04"),
        ("19900304", ("%Y%m%d",), "1990-03-04"),
        ("04.03.1990", ("%Y-%m-%d", "%d.%m.%Y"), "1990-03-04"),
        ("04/04/1990", ("%m/%d/%Y", "%d/%m/%Y"), "1990-04-04"),
        ("13/04/1990", ("%m/%d/%Y", "%d/%m/%Y"), "1990-04-13"),
        ("１９９０-０３-０４", ("%Y-%m-%d",), "1990-03-04"),
    ],
)
def test_declared_formats(raw: str, formats: tuple[str, ...], value: str) -> None:
    result = normalise_date(raw, formats, max_date=MAX)
    assert result.status == "valid", result
    assert result.value == value


@pytest.mark.parametrize(
    ("raw", "formats"),
    [
        ("1990-02-30", ("%Y-%m-%d",)),
        ("1990-13-04", ("%Y-%m-%d",)),
        ("2023-02-29", ("%Y-%m-%d",)),
        ("31/04/1990", ("%d/%m/%Y",)),
        ("yesterday", ("%Y-%m-%d",)),
        ("1990-03-04", ("%d/%m/%Y",)),
    ],
)
def test_impossible_or_unparseable_dates_are_invalid(raw: str, formats: tuple[str, ...]) -> None:
    result = normalise_date(raw, formats, max_date=MAX)
    assert result.status == "invalid"
    assert result.value is None
    assert result.reason is not None
    assert raw in result.reason
    assert formats[0] in result.reason


def test_leap_day_in_leap_year_is_valid() -> None:
    assert normalise_date("2020-02-29", max_date=MAX).value == "2020-02-29"


def test_before_min_year_is_invalid() -> None:
    result = normalise_date("1850-01-01", max_date=MAX)
    assert result.status == "invalid"
    assert result.reason is not None and "1900" in result.reason
    assert normalise_date("1850-01-01", min_year=1800, max_date=MAX).status == "valid"


def test_future_dates_are_invalid() -> None:
    result = normalise_date("2024-07-01", max_date=MAX)
    assert result.status == "invalid"
    assert result.reason is not None and "after 2024-06-30" in result.reason
    assert normalise_date("2024-06-30", max_date=MAX).status == "valid"


def test_default_max_date_is_today() -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert normalise_date(tomorrow.isoformat()).status == "invalid"
    assert normalise_date(dt.date.today().isoformat()).status == "valid"


def test_ambiguous_formats_are_suspicious() -> None:
    result = normalise_date("03/04/1990", ("%m/%d/%Y", "%d/%m/%Y"), max_date=MAX)
    assert result.status == "suspicious"
    assert result.value == "1990-03-04"
    assert result.reason == "ambiguous: 1990-03-04 or 1990-04-03"


def test_ambiguity_follows_declared_order() -> None:
    result = normalise_date("03/04/1990", ("%d/%m/%Y", "%m/%d/%Y"), max_date=MAX)
    assert result.value == "1990-04-03"
    assert result.reason == "ambiguous: 1990-04-03 or 1990-03-04"


@pytest.mark.parametrize(
    ("raw", "formats", "value"),
    [
        ("13/04/1990", ("%m/%d/%Y",), "1990-04-13"),
        ("04/13/1990", ("%d/%m/%Y",), "1990-04-13"),
        ("13.04.1990", ("%m.%d.%Y",), "1990-04-13"),
    ],
)
def test_day_and_month_swapped(raw: str, formats: tuple[str, ...], value: str) -> None:
    result = normalise_date(raw, formats, max_date=MAX)
    assert result.status == "suspicious"
    assert result.value == value
    assert result.reason == "day and month swapped"


def test_year_first_formats_are_not_swapped() -> None:
    assert normalise_date("1990-13-04", ("%Y-%m-%d",), max_date=MAX).status == "invalid"


def test_out_of_range_reading_is_ignored_when_another_fits() -> None:
    result = normalise_date("01/02/2025", ("%m/%d/%Y", "%d/%m/%Y"), max_date=dt.date(2025, 1, 15))
    assert result.status == "valid"
    assert result.value == "2025-01-02"


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_blank_dates_are_empty(raw: str | None) -> None:
    assert normalise_date(raw).status == "empty"
    assert normalise_timestamp(raw).status == "empty"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2021-03-04T10:00:00Z", "2021-03-04T10:00:00Z"),
        ("2021-03-04T10:00:00z", "2021-03-04T10:00:00Z"),
        ("2021-03-04T18:00:00+08:00", "2021-03-04T10:00:00Z"),
        ("2021-03-04T05:00:00-05:00", "2021-03-04T10:00:00Z"),
        ("2021-03-04T02:00:00.250-08:00", "2021-03-04T10:00:00.250000Z"),
        ("2021-03-04 10:00:00", "2021-03-04T10:00:00Z"),
        ("2021-03-04", "2021-03-04T00:00:00Z"),
        ("1614852000", "2021-03-04T10:00:00Z"),
        ("1614852000123", "2021-03-04T10:00:00.123000Z"),
        ("1614852000.5", "2021-03-04T10:00:00.500000Z"),
        ("  1614852000  ", "2021-03-04T10:00:00Z"),
    ],
)
def test_timestamps_normalise_to_utc(raw: str, value: str) -> None:
    result = normalise_timestamp(raw)
    assert result.status == "valid", result
    assert result.value == value


def test_timestamp_declared_format_wins() -> None:
    result = normalise_timestamp("04/03/2021 10:00", ["%d/%m/%Y %H:%M"])
    assert result.value == "2021-03-04T10:00:00Z"
    offset = normalise_timestamp("04/03/2021 18:00 +0800", ["%d/%m/%Y %H:%M %z"])
    assert offset.value == "2021-03-04T10:00:00Z"


@pytest.mark.parametrize("raw", ["tomorrow", "2021-13-01T00:00:00Z", "99999999999999999", "12:00"])
def test_invalid_timestamps(raw: str) -> None:
    result = normalise_timestamp(raw)
    assert result.status == "invalid"
    assert result.reason is not None and raw in result.reason
