"""identity_scale's shared-value ceiling: what exact identifier sharing allows at best."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest

from onefold import Workspace
from shared_sources import SHOP, SHOP_HEAD

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

ROWS = (
    "o1,u-1,ann@mail.com,,,Ann Lee,2024-01-01\n"
    "o2,,ann@mail.com,+14155550100,,Ann Lee,2024-01-02\n"  # Ann again, by email
    "o3,,,+14155550100,,Ann Lee,2024-01-03\n"  # Ann again, by phone only (a chain)
    "o4,,,,dev-9,Ann Lee,2024-01-04\n"  # Ann, sharing nothing with her other records
    "o5,,ann@mail.com,,,Bob Ray,2024-01-05\n"  # Bob on Ann's email: shared, not joined
)
TRUTH = {f"shop/o{i}": "ann" for i in (1, 2, 3, 4)} | {"shop/o5": "bob"}


def test_joins_a_persons_records_through_shared_values_and_never_across_persons(
    workspace: Workspace,
    add_source: Callable[[str, str, str, str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the benchmark imports its siblings as top-level modules; the path is undone afterwards
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    shared_value_ceiling = importlib.import_module("identity_scale").shared_value_ceiling
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    workspace.load()
    workspace.resolve()
    clusters = shared_value_ceiling(workspace.root, TRUTH)
    assert clusters["shop/o1"] == clusters["shop/o2"] == clusters["shop/o3"]  # email, phone
    assert clusters["shop/o4"] not in {clusters["shop/o1"], clusters["shop/o5"]}
    assert clusters["shop/o5"] != clusters["shop/o1"]  # the labels keep Bob out
    assert set(clusters) == set(TRUTH)
