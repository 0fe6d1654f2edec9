"""Incremental cleaning numbers new records after the largest rid, found without a scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from onefold.clean.stage import largest_rid
from onefold.engine import DuckDBEngine


@pytest.mark.parametrize(
    ("rids", "deleted"),
    [
        ([], []),
        ([1, 2, 3], []),
        ([1, 2, 3, 4, 5], [2, 3]),  # corrected records leave gaps below the largest
        ([1, 2, 3, 4, 5], [5]),  # …or remove the largest itself
        ([7, 900, 901], [900]),  # sparse rids, far above the row count
    ],
)
def test_largest_rid_is_the_max_after_deletions(
    tmp_path: Path, rids: list[int], deleted: list[int]
) -> None:
    engine = DuckDBEngine(tmp_path / "rids.duckdb")
    try:
        engine.execute("CREATE TABLE records (rid BIGINT)")
        for rid in rids:
            engine.execute("INSERT INTO records VALUES (?)", [rid])
        for rid in deleted:
            engine.execute("DELETE FROM records WHERE rid = ?", [rid])
        expected = max(set(rids) - set(deleted), default=0)
        assert largest_rid(engine) == expected
    finally:
        engine.close()
