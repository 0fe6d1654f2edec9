"""Country (ISO 3166-1 alpha-2) and gender normalisers, including Chinese forms."""

from __future__ import annotations

import pytest

from onefold.clean.countries import normalise_country
from onefold.clean.genders import normalise_gender


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("CN", "CN"),
        ("cn", "CN"),
        ("CHN", "CN"),
        ("156", "CN"),
        ("China", "CN"),
        ("中国", "CN"),
        ("中华人民共和国", "CN"),
        ("中國", "CN"),
        ("中華人民共和國", "CN"),
        ("PRC", "CN"),
        ("US", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("U.S.", "US"),
        ("united states", "US"),
        ("United States of America", "US"),
        ("美国", "US"),
        ("美國", "US"),
        ("UK", "GB"),
        ("GBR", "GB"),
        ("United Kingdom", "GB"),
        ("英国", "GB"),
        ("香港", "HK"),
        ("Hong Kong", "HK"),
        ("台湾", "TW"),
        ("Taiwan", "TW"),
        ("日本", "JP"),
        ("Japan", "JP"),
        (" germany ", "DE"),
        ("Viet Nam", "VN"),
        ("ＵＳＡ", "US"),
    ],
)
def test_countries_to_alpha2(raw: str, code: str) -> None:
    result = normalise_country(raw)
    assert result.status == "valid", result
    assert result.value == code


def test_fuzzy_match_is_suspicious() -> None:
    result = normalise_country("California")
    assert result.status == "suspicious"
    assert result.value == "US"
    assert result.reason is not None and "fuzzy" in result.reason


@pytest.mark.parametrize("raw", ["Atlantis", "XX", "Untied States", "ABX"])
def test_unknown_countries_are_invalid(raw: str) -> None:
    result = normalise_country(raw)
    assert result.status == "invalid"
    assert result.value is None
    assert result.reason is not None and raw in result.reason


@pytest.mark.parametrize("raw", ["N/A", "unknown", "未知", "-"])
def test_junk_countries(raw: str) -> None:
    assert normalise_country(raw).status == "junk"


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_blank_country_is_empty(raw: str | None) -> None:
    assert normalise_country(raw).status == "empty"


@pytest.mark.parametrize(
    ("raw", "gender"),
    [
        ("F", "female"),
        ("f", "female"),
        ("Female", "female"),
        ("FEMALE", "female"),
        ("woman", "female"),
        ("w", "female"),
        ("女", "female"),
        ("Mrs", "female"),
        ("Mrs.", "female"),
        ("Ms", "female"),
        ("Miss", "female"),
        ("女士", "female"),
        ("小姐", "female"),
        ("2", "female"),
        ("M", "male"),
        ("male", "male"),
        (" Man ", "male"),
        ("男", "male"),
        ("Mr", "male"),
        ("Mr.", "male"),
        ("先生", "male"),
        ("1", "male"),
        ("Ｍ", "male"),
        ("non-binary", "other"),
        ("Non Binary", "other"),
        ("X", "other"),
        ("diverse", "other"),
    ],
)
def test_genders(raw: str, gender: str) -> None:
    result = normalise_gender(raw)
    assert result.status == "valid"
    assert result.value == gender


@pytest.mark.parametrize("raw", [None, "", "0", "9", "unknown", "未知", "U"])
def test_unknown_gender_is_empty(raw: str | None) -> None:
    result = normalise_gender(raw)
    assert result.status == "empty"
    assert result.value is None


@pytest.mark.parametrize("raw", ["banana", "3", "fm", "男女"])
def test_unrecognised_gender_is_invalid(raw: str) -> None:
    result = normalise_gender(raw)
    assert result.status == "invalid"
    assert result.reason is not None and raw in result.reason
