"""Cluster-quality scores shared by the peer benchmarks (onefold vs Splink).

Both tools are judged on their FINAL clusters, not on pairwise match scores: a pipeline
that links A–B and B–C has merged A and C as well, and that is what a user of the profiles
sees. Pairs are counted from cluster sizes (n·(n−1)/2 per cluster and per
predicted∩true cell) with a Counter, so scoring millions of records stays O(n) instead of
enumerating O(n²) pairs.

Conventions, the same as `onefold.quality.accuracy` so the figures are comparable:
- only records present in `truth` are scored; a truth record missing from `pred` counts as
  a singleton (a tool that drops records is not rewarded for it);
- with no predicted pairs precision is 1.0 (nothing claimed, nothing wrong), with no true
  pairs recall is 1.0; F1 is 0 when precision + recall is 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def pairwise_scores(pred: Mapping[str, str], truth: Mapping[str, str]) -> dict[str, float | int]:
    """Pairwise and B-cubed precision/recall/F1 of predicted clusters against true ones.

    `pred` and `truth` map record id → cluster id (predicted profile, true person). Returns
    precision, recall, f1 (pairwise), bcubed_precision, bcubed_recall, bcubed_f1, records,
    clusters (predicted, over the scored records), persons (true clusters) and
    largest_cluster (records in the biggest predicted cluster).
    """
    # A record the tool did not return is its own cluster; the tuple key cannot collide
    # with a real cluster id.
    cells: Counter[tuple[object, str]] = Counter()
    for rec, person in truth.items():
        cluster: object = pred.get(rec, ("missing", rec))
        cells[(cluster, person)] += 1
    pred_sizes: Counter[object] = Counter()
    true_sizes: Counter[str] = Counter()
    for (cluster, person), n in cells.items():
        pred_sizes[cluster] += n
        true_sizes[person] += n

    records = len(truth)
    tp = sum(_pairs(n) for n in cells.values())
    predicted = sum(_pairs(n) for n in pred_sizes.values())
    actual = sum(_pairs(n) for n in true_sizes.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0

    # B-cubed: each record's share of its predicted cluster that is the same person
    # (precision) and of its person found in its cluster (recall), averaged over records.
    b_p = sum(n * n / pred_sizes[c] for (c, _), n in cells.items())
    b_r = sum(n * n / true_sizes[g] for (_, g), n in cells.items())
    b_precision = b_p / records if records else 1.0
    b_recall = b_r / records if records else 1.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "bcubed_precision": b_precision,
        "bcubed_recall": b_recall,
        "bcubed_f1": _f1(b_precision, b_recall),
        "records": records,
        "clusters": len(pred_sizes),
        "persons": len(true_sizes),
        "largest_cluster": max(pred_sizes.values(), default=0),
    }


def run_summary(scores: Mapping[str, float | int], run: Mapping[str, Any]) -> dict[str, Any]:
    """One tool's figures as the benchmarks report them (rounded, named as the issues name them)."""
    return {
        "precision": round(float(scores["precision"]), 5),
        "recall": round(float(scores["recall"]), 5),
        "f1": round(float(scores["f1"]), 5),
        "bcubed_f1": round(float(scores["bcubed_f1"]), 5),
        "clusters": scores["clusters"],
        "largest_cluster": scores["largest_cluster"],
        "seconds": round(float(run["seconds"]), 2),
        "peak_rss_mb": round(float(run["peak_rss_mb"]), 1),
    }
