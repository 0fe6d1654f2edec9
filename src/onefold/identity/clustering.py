"""Clustering that doesn't chain: merging deterministic components with probabilistic links.

Connected components over every pair above a threshold (what batch linkers do) let a chain of
individually plausible links — Zhang Wei to Zhang Wei to Zhang Wei — glue hundreds of people
together. Here components merge best-first, strongest evidence first, and a merge happens
only when
- it would not put two different values of a unique identifier type (two user ids, two
  loyalty cards) into one profile, and
- the two sides are *coherent*: of all the candidate pairs scored between their records, at
  least `min_agreement` are above the threshold, or their mean match probability is — a
  single strong link between two groups that otherwise disagree is not enough.
The work is over component pairs that have at least one link above the threshold, a small
fraction of all records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from onefold.engine.base import Engine

MIN_AGREEMENT = 0.5


@dataclass(frozen=True)
class ClusterResult:
    candidate_links: int
    merges: int
    refused_conflict: int
    refused_incoherent: int


class _Clusters:
    """Union–find whose roots carry unique identifiers and pair counts to other roots."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.unique: dict[str, dict[str, str]] = {}
        self.adj: dict[str, dict[str, list[float]]] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def conflict(self, a: str, b: str) -> bool:
        ua, ub = self.unique.get(a, {}), self.unique.get(b, {})
        return any(t in ub and ub[t] != v for t, v in ua.items())

    def union(self, a: str, b: str) -> None:
        if len(self.adj.get(a, {})) < len(self.adj.get(b, {})):
            a, b = b, a
        self.parent[b] = a
        merged = self.unique.setdefault(a, {})
        for t, v in self.unique.pop(b, {}).items():
            merged.setdefault(t, v)
        adj_a = self.adj.setdefault(a, {})
        for other, counts in self.adj.pop(b, {}).items():
            if other == a:
                continue
            acc = adj_a.setdefault(other, [0.0, 0.0, 0.0])
            for i in range(3):
                acc[i] += counts[i]
            back = self.adj[other]
            back.pop(b, None)
            back[a] = acc
        adj_a.pop(b, None)


def cluster_components(
    engine: Engine,
    threshold: float,
    unique_types: tuple[str, ...],
    min_agreement: float = MIN_AGREEMENT,
    cannot_link: Sequence[tuple[str, str]] = (),
) -> ClusterResult:
    """Merge `_record_comp` components along `match_pairs`; rewrites comp labels in place."""
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _comp_edges AS
        WITH e AS (
            SELECT least(a.comp, b.comp) AS ca, greatest(a.comp, b.comp) AS cb,
                   p.match_probability AS prob
            FROM match_pairs p JOIN _record_comp a ON a.rid = p.rid_l
            JOIN _record_comp b ON b.rid = p.rid_r
            WHERE a.comp <> b.comp
        ), g AS (
            SELECT ca, cb, max(prob) AS best, count(*) FILTER (WHERE prob >= {threshold!r})
                   AS above, count(*) AS scored, sum(prob) AS prob_sum
            FROM e GROUP BY ALL
        ), active AS (
            SELECT ca AS comp FROM g WHERE above > 0 UNION SELECT cb FROM g WHERE above > 0
        )
        SELECT * FROM g WHERE ca IN (SELECT comp FROM active) AND cb IN (SELECT comp FROM active)
    """,
        step="clustering: component links",
    )
    edges = engine.fetch_arrow(
        "SELECT ca, cb, best, above, scored, prob_sum FROM _comp_edges"
    ).to_pylist()
    uniq_in = "(" + ", ".join(f"'{t}'" for t in unique_types) + ")" if unique_types else "(NULL)"
    uniques = engine.fetchall(
        f"""
        SELECT DISTINCT c.comp, n.id_type, n.value
        FROM _record_comp c JOIN record_nodes rn USING (rid)
        JOIN identity_nodes n USING (node_id)
        WHERE n.id_type IN {uniq_in} AND NOT n.is_hub
          AND c.comp IN (SELECT ca FROM _comp_edges UNION SELECT cb FROM _comp_edges)
    """
    )
    cl = _Clusters()
    for comp, id_type, value in uniques:
        cl.unique.setdefault(comp, {}).setdefault(id_type, value)
    for e in edges:
        counts = [float(e["above"]), float(e["scored"]), float(e["prob_sum"])]
        cl.adj.setdefault(e["ca"], {})[e["cb"]] = counts
        cl.adj.setdefault(e["cb"], {})[e["ca"]] = counts
    merges = conflicts = incoherent = 0
    accepted: list[tuple[str, str, float]] = []
    for e in sorted(
        (e for e in edges if e["above"] > 0), key=lambda e: (-e["best"], e["ca"], e["cb"])
    ):
        ra, rb = cl.find(e["ca"]), cl.find(e["cb"])
        if ra == rb:
            continue
        if cl.conflict(ra, rb) or any({cl.find(x), cl.find(y)} == {ra, rb} for x, y in cannot_link):
            conflicts += 1
            continue
        above, scored, prob_sum = cl.adj.get(ra, {}).get(rb, [0.0, 1.0, 0.0])
        if above < min_agreement * scored and prob_sum < min_agreement * scored:
            incoherent += 1
            continue
        cl.union(ra, rb)
        accepted.append((e["ca"], e["cb"], e["best"]))
        merges += 1
    mapping = {c: cl.find(c) for c in list(cl.parent)}
    _keep_evidence(engine, accepted)
    relabel_components(engine, mapping)
    return ClusterResult(len(edges), merges, conflicts, incoherent)


def _keep_evidence(engine: Engine, accepted: list[tuple[str, str, float]]) -> None:
    """`match_links`: for every accepted merge, the record pair that carried it (for
    `explain`). Written before relabelling, while components still have their own labels."""
    engine.register(
        "_accepted",
        pa.table(
            {
                "ca": pa.array([a for a, _, _ in accepted], pa.string()),
                "cb": pa.array([b for _, b, _ in accepted], pa.string()),
            }
        ),
    )
    try:
        engine.execute(
            """
            CREATE OR REPLACE TABLE match_links AS
            SELECT p.rid_l, p.rid_r, p.match_probability, p.match_weight
            FROM match_pairs p
            JOIN _record_comp a ON a.rid = p.rid_l JOIN _record_comp b ON b.rid = p.rid_r
            JOIN _accepted x ON least(a.comp, b.comp) = x.ca AND greatest(a.comp, b.comp) = x.cb
            QUALIFY row_number() OVER (PARTITION BY x.ca, x.cb
                                       ORDER BY p.match_probability DESC, p.rid_l, p.rid_r) = 1
        """,
            step="clustering: evidence",
        )
    finally:
        engine.unregister("_accepted")


def relabel_components(engine: Engine, mapping: dict[str, str]) -> None:
    """Relabel merged components in `_record_comp` and `_members`."""
    table = pa.table({"comp": list(mapping), "root": list(mapping.values())})
    engine.register("_merge_map", table)
    try:
        engine.execute("CREATE OR REPLACE TEMP TABLE _mm AS SELECT * FROM _merge_map")
    finally:
        engine.unregister("_merge_map")
    for t in ("_record_comp", "_members"):
        engine.execute(
            f"UPDATE {t} SET comp = m.root FROM _mm m WHERE {t}.comp = m.comp",
            step="clustering: relabel",
        )
    engine.execute("DROP TABLE _mm")
