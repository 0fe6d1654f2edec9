"""The SQL fast path for plain identifiers must agree with the Python normaliser exactly."""

from __future__ import annotations

import pytest

from onefold.clean.identifiers import normalise_identifier
from onefold.clean.junk import BUILTIN_JUNK
from onefold.clean.source_sql import fast_identifier_sql, prepared_select
from onefold.engine import DuckDBEngine

CORPUS = [
    "u-0012345",
    "SO-000000001",
    "oW-zcILyy8otMJ6fhGbhmTgQ0rsY",
    "uucbwMfJTmF1JhCckWddZy2VNUS0",
    "4CAF004B-A088-4901-BD2F-1975B6E216B3",
    "c7e3f41e-cdec-4013-a9c3-df1b90ce6886",
    "LC0297603060",
    "lc-1234.5678.90",
    "null",
    "NULL",
    "undefined",
    "0",
    "-1",
    "test",
    "Test",
    "anonymous",
    "xxx",
    "XXXX",
    "000",
    "111111",
    "ab",
    "aa",
    "--",
    "...",
    "-.-",
    "a",
    "x" * 256,
    "x" * 257 + "y",
    "N/A",
    "n/a",
    "user 42",
    "José",
    "ｕ－１２",
    "a'b",
    "tab\there",
    "@@@",
    "1.0",
    "none",
    "None",
    "nil",
    "ID:42",
    "a+b=c#d",
]


@pytest.mark.parametrize("normaliser", ["exact", "lower", "compact_upper"])
def test_sql_fast_path_matches_python(normaliser: str) -> None:
    engine = DuckDBEngine(":memory:")
    junk = tuple(sorted(BUILTIN_JUNK))
    v = fast_identifier_sql(f"id.{normaliser}", junk)
    engine.execute("CREATE TABLE t (raw VARCHAR)")
    for raw in CORPUS:
        engine.execute("INSERT INTO t VALUES (?)", [raw])
    rows = engine.fetchall(
        f"SELECT x, {v.value}, {v.status}, {v.reason} "
        f"FROM ({prepared_select(v, 'SELECT raw AS x FROM t')})"
    )
    fast = 0
    for raw, v, st, why in rows:
        if st is None:  # not eligible: the Python normaliser handles it
            continue
        fast += 1
        expected = normalise_identifier(raw, normaliser)
        assert (v, st, why) == (expected.value, expected.status, expected.reason), raw
    assert fast >= 25  # the fast path really covers the common identifiers
