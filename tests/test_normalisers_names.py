"""Name normaliser: display form, script, pinyin/folded keys, honorifics, splitting, junk."""

from __future__ import annotations

import pytest

from onefold.clean.names import detect_script, name_key_sorted, normalise_name, split_name


@pytest.mark.parametrize(
    ("raw", "value", "key"),
    [
        ("张伟", "张伟", "zhang wei"),
        ("张 伟", "张伟", "zhang wei"),
        (" 张\u3000伟 ", "张伟", "zhang wei"),
        ("王小明", "王小明", "wang xiao ming"),
        ("欧阳娜娜", "欧阳娜娜", "ou yang na na"),
        ("单雄信", "单雄信", "shan xiong xin"),
        ("曾国藩", "曾国藩", "zeng guo fan"),
        ("解缙", "解缙", "xie jin"),
        ("尉迟恭", "尉迟恭", "yu chi gong"),
        ("吕布", "吕布", "lv bu"),
    ],
)
def test_han_names_get_pinyin_keys(raw: str, value: str, key: str) -> None:
    result = normalise_name(raw)
    assert result.status == "valid"
    assert result.script == "han"
    assert result.value == value
    assert result.key == key


@pytest.mark.parametrize(
    ("raw", "value", "key"),
    [
        ("JOHN  smith", "John Smith", "john smith"),
        ("john smith", "John Smith", "john smith"),
        ("mcdonald", "McDonald", "mcdonald"),
        ("Ronald McDonald", "Ronald McDonald", "ronald mcdonald"),
        ("o'brien", "O'Brien", "obrien"),
        ("MARY-JANE O'NEIL", "Mary-Jane O'Neil", "mary jane oneil"),
        ("José Núñez", "José Núñez", "jose nunez"),
        ("JOSÉ NÚÑEZ", "José Núñez", "jose nunez"),
        ("Søren Kierkegaard", "Søren Kierkegaard", "soren kierkegaard"),
        ("ludwig VAN beethoven", "Ludwig van Beethoven", "ludwig van beethoven"),
        ("Ｊｏｈｎ Ｓｍｉｔｈ", "John Smith", "john smith"),
    ],
)
def test_latin_names_title_case_and_fold(raw: str, value: str, key: str) -> None:
    result = normalise_name(raw)
    assert result.status == "valid"
    assert result.script == "latin"
    assert result.value == value
    assert result.key == key


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("Mr. John Smith", "John Smith"),
        ("mrs jane doe", "Jane Doe"),
        ("Ms Jane Doe", "Jane Doe"),
        ("Dr. Wei Zhang", "Wei Zhang"),
        ("张先生", "张"),
        ("李女士", "李"),
        ("王小姐", "王"),
    ],
)
def test_honorifics_are_removed(raw: str, value: str) -> None:
    assert normalise_name(raw).value == value


def test_honorific_alone_is_kept_not_emptied() -> None:
    assert normalise_name("先生").value == "先生"


def test_swapped_order_matches_with_sorted_key() -> None:
    a = normalise_name("Wei Zhang").key
    b = normalise_name("ZHANG wei").key
    c = normalise_name("张伟").key
    assert a is not None and b is not None and c is not None
    assert a != b
    assert name_key_sorted(a) == name_key_sorted(b) == name_key_sorted(c) == "wei zhang"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("John Smith 2", "digits"), ("john@shop.com", "@"), ("张Wei", "mixes")],
)
def test_suspicious_names_are_kept_with_reason(raw: str, reason: str) -> None:
    result = normalise_name(raw)
    assert result.status == "suspicious"
    assert result.value is not None
    assert result.reason is not None and reason in result.reason


def test_mixed_script_key_uses_pinyin() -> None:
    result = normalise_name("张Wei")
    assert result.script == "mixed"
    assert result.key == "zhang wei"


@pytest.mark.parametrize("raw", ["N/A", "n/a", "test", "Unknown", "未知", "无", "xxx", "-"])
def test_junk_names(raw: str) -> None:
    result = normalise_name(raw)
    assert result.status == "junk"
    assert result.value is None


@pytest.mark.parametrize("raw", [None, "", "  \t "])
def test_blank_is_empty(raw: str | None) -> None:
    assert normalise_name(raw).status == "empty"


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("张伟", "han"),
        ("John Smith", "latin"),
        ("José", "latin"),
        ("张Wei", "mixed"),
        ("Иван", "other"),
        ("김민수", "other"),
        ("123", "other"),
    ],
)
def test_detect_script(text: str, script: str) -> None:
    assert detect_script(text) == script


def test_other_script_name_is_valid_and_folded() -> None:
    result = normalise_name("Иван ПЕТРОВ")
    assert result.status == "valid"
    assert result.script == "other"
    assert result.key == "иван петров"


@pytest.mark.parametrize(
    ("value", "script", "expected"),
    [
        ("张伟", "han", ("张", "伟")),
        ("王小明", "han", ("王", "小明")),
        ("欧阳娜娜", "han", ("欧阳", "娜娜")),
        ("司马光", "han", ("司马", "光")),
        ("诸葛亮", "han", ("诸葛", "亮")),
        ("令狐冲", "han", ("令狐", "冲")),
        ("张", "han", ("张", None)),
        ("John Smith", "latin", ("Smith", "John")),
        ("Mary Jane Watson", "latin", ("Watson", "Mary Jane")),
        ("Madonna", "latin", ("Madonna", None)),
        ("", "latin", (None, None)),
    ],
)
def test_split_name(value: str, script: str, expected: tuple[str | None, str | None]) -> None:
    assert split_name(value, script) == expected
