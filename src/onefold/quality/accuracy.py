"""Accuracy of the resolved profiles against a ground truth of record → true person.

Pairwise scores count record pairs: a pair is predicted when both records share a profile and
true when both belong to the same person. B-cubed scores average per record, so one giant
wrong profile cannot hide behind many correct singletons.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from onefold.engine.base import Engine
from onefold.engine.sql import literal


@dataclass(frozen=True)
class Accuracy:
    records: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    profiles: int
    persons: int
    largest_profile: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score_against_truth(engine: Engine, truth_csv: Path) -> Accuracy:
    """Compare `record_profiles` with a `source,record_key,person_id` CSV."""
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _eval AS
        SELECT p.profile_id AS c, t.person_id AS g
        FROM record_profiles p
        JOIN read_csv({literal(str(truth_csv))}, header = true, all_varchar = true) t
          ON t.source = p.source AND t.record_key = p.record_key
    """,
        step="evaluate",
    )
    row = engine.fetchall("""
        WITH cg AS (SELECT c, g, count(*) AS n FROM _eval GROUP BY c, g),
             cs AS (SELECT c, count(*) AS n FROM _eval GROUP BY c),
             gs AS (SELECT g, count(*) AS n FROM _eval GROUP BY g)
        SELECT (SELECT count(*) FROM _eval),
               (SELECT sum(n * (n - 1) / 2) FROM cg),
               (SELECT sum(n * (n - 1) / 2) FROM cs),
               (SELECT sum(n * (n - 1) / 2) FROM gs),
               (SELECT sum(cg.n * cg.n / cs.n) FROM cg JOIN cs USING (c)),
               (SELECT sum(cg.n * cg.n / gs.n) FROM cg JOIN gs USING (g)),
               (SELECT count(*) FROM cs), (SELECT count(*) FROM gs),
               (SELECT max(n) FROM cs)
    """)[0]
    engine.execute("DROP TABLE _eval")
    n, tp, pred, true, bp, br, nc, ng, largest = (float(x or 0) for x in row)
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    b_p, b_r = (bp / n, br / n) if n else (1.0, 1.0)
    return Accuracy(
        int(n),
        precision,
        recall,
        _f1(precision, recall),
        b_p,
        b_r,
        _f1(b_p, b_r),
        int(nc),
        int(ng),
        int(largest),
    )
