"""The peer benchmarks' cluster scoring, on cases small enough to count pairs by hand.

Truth in every case: persons A = {a1, a2, a3}, B = {b1, b2}, C = {c1}; 6 records and
3 + 1 = 4 true pairs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_bench_scoring", Path(__file__).resolve().parents[1] / "benchmarks" / "_scoring.py"
)
assert _spec is not None and _spec.loader is not None
_scoring = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_scoring)
pairwise_scores = _scoring.pairwise_scores

TRUTH = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}


def exact(x: float) -> object:
    return pytest.approx(x, rel=0, abs=1e-12)


def test_perfect_clusters_score_one_everywhere() -> None:
    pred = {r: f"p{t}" for r, t in TRUTH.items()}
    s = pairwise_scores(pred, TRUTH)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    assert (s["bcubed_precision"], s["bcubed_recall"], s["bcubed_f1"]) == (1.0, 1.0, 1.0)
    assert (s["records"], s["clusters"], s["persons"], s["largest_cluster"]) == (6, 3, 3, 3)


def test_everything_merged() -> None:
    # 15 predicted pairs, the 4 true ones among them.
    s = pairwise_scores(dict.fromkeys(TRUTH, "X"), TRUTH)
    assert s["precision"] == exact(4 / 15)
    assert s["recall"] == 1.0
    assert s["f1"] == exact(8 / 19)
    # B-cubed precision: (3·3/6 + 2·2/6 + 1·1/6) / 6 = 7/18.
    assert s["bcubed_precision"] == exact(7 / 18)
    assert s["bcubed_recall"] == 1.0
    assert s["bcubed_f1"] == exact(14 / 25)
    assert (s["clusters"], s["largest_cluster"]) == (1, 6)


def test_all_singletons() -> None:
    # No predicted pair: precision is vacuously 1, recall 0.
    s = pairwise_scores({r: r for r in TRUTH}, TRUTH)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 0.0, 0.0)
    # B-cubed recall: (3·1/3 + 2·1/2 + 1) / 6 = 1/2.
    assert s["bcubed_precision"] == 1.0
    assert s["bcubed_recall"] == exact(0.5)
    assert s["bcubed_f1"] == exact(2 / 3)
    assert (s["clusters"], s["largest_cluster"]) == (6, 1)


def test_one_wrong_merge() -> None:
    # C's only record is merged into B: predicted pairs 3 + 3 = 6, true positives 3 + 1.
    pred = {"a1": "X", "a2": "X", "a3": "X", "b1": "Y", "b2": "Y", "c1": "Y"}
    s = pairwise_scores(pred, TRUTH)
    assert s["precision"] == exact(2 / 3)
    assert s["recall"] == 1.0
    assert s["f1"] == exact(4 / 5)
    # B-cubed precision: (3·3/3 + 2·2/3 + 1·1/3) / 6 = 7/9.
    assert s["bcubed_precision"] == exact(7 / 9)
    assert s["bcubed_f1"] == exact(7 / 8)
    assert (s["clusters"], s["largest_cluster"]) == (2, 3)


def test_missing_records_are_singletons_and_extras_are_ignored() -> None:
    pred = {"a1": "X", "a2": "X", "a3": "X", "b1": "Y", "b2": "Y", "zz": "Y"}
    s = pairwise_scores(pred, TRUTH)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    assert (s["records"], s["clusters"]) == (6, 3)
