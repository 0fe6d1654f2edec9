"""Clustering that doesn't chain: merging deterministic components with probabilistic links.

Connected components over every pair above a threshold (what batch linkers do) let a chain of
individually plausible links — Zhang Wei to Zhang Wei to Zhang Wei — glue hundreds of people
together. Here components merge best-first, strongest evidence first, and a merge happens
only when
- it would not put two different values of a unique identifier type (two user ids, two
  loyalty cards) into one profile, and
- the two sides are *coherent*: of all the candidate pairs scored between their records, at
  least `min_agreement` are above the threshold, or their mean match probability is — a
  single strong link between two groups that otherwise disagree is not enough; or
- the merged profile is a *star*: every scored pair between the two sides that disagrees
  joins two records that each link above the threshold to one common centre record. That is
  what duplicates of one original look like — each copy resembles the original, but copies
  damaged in different fields need not resemble each other — while a chain of strangers
  (a ~ b ~ c ~ d) has no record that all of its disagreeing ends resemble.
The work is over component pairs inside the same *piece* — the components connected by links
above the threshold — a small fraction of all records: merges only ever happen within a piece,
so pairs scored between two pieces can never enter a coherence test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from onefold.engine.base import Engine
from onefold.identity.union_find import UnionFind

MIN_AGREEMENT = 0.5
#: A record by its name, `source/record_key` (from `_record_comp` as `t`): the same in every run.
REF = "({t}.source || '/' || {t}.record_key)"


@dataclass(frozen=True)
class ClusterResult:
    candidate_links: int
    merges: int
    refused_conflict: int
    refused_incoherent: int
    #: merges accepted by the star rule alone (the pair counts would have refused them)
    stars: int = 0


class _Clusters:
    """Union–find whose roots carry unique identifiers, member components and pair counts to
    other roots; records keep their scored pairs for the star test."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.unique: dict[str, dict[str, str]] = {}
        self.adj: dict[str, dict[str, list[float]]] = {}
        self.members: dict[str, list[str]] = {}
        #: component → its records that have scored pairs to other components
        self.records: dict[str, list[int]] = {}
        self.comp_of: dict[int, str] = {}
        #: record → (other record, match probability) for every scored cross-component pair
        self.pairs: dict[int, list[tuple[int, float]]] = {}
        #: record → the records it links to above the threshold (in other components)
        self.strong: dict[int, set[int]] = {}

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

    def add_pair(self, rid_l: int, rid_r: int, comp_l: str, comp_r: str, prob: float) -> None:
        for rid, comp in ((rid_l, comp_l), (rid_r, comp_r)):
            if rid not in self.comp_of:
                self.comp_of[rid] = comp
                self.records.setdefault(comp, []).append(rid)
                self.members.setdefault(comp, [comp])
        self.pairs.setdefault(rid_l, []).append((rid_r, prob))
        self.pairs.setdefault(rid_r, []).append((rid_l, prob))

    def star(self, a: str, b: str, threshold: float) -> bool:
        """Whether every disagreeing pair scored between roots `a` and `b` joins two leaves
        of one centre: a record of either side that links above the threshold to both ends
        of every such pair (so to all of them)."""
        if len(self.members[a]) > len(self.members[b]):
            a, b = b, a
        ends: set[int] = set()
        for comp in self.members[a]:
            for rid in self.records.get(comp, ()):
                for other, prob in self.pairs.get(rid, ()):
                    if prob < threshold and self.find(self.comp_of[other]) == b:
                        ends.update((rid, other))
        centres: set[int] | None = None
        for rid in ends:
            linked = self.strong.get(rid, set())
            centres = set(linked) if centres is None else centres & linked
            if not centres:
                return False
        return centres is None or any(self.find(self.comp_of[c]) in (a, b) for c in centres)

    def union(self, a: str, b: str) -> None:
        if len(self.adj.get(a, {})) < len(self.adj.get(b, {})):
            a, b = b, a
        self.parent[b] = a
        merged = self.unique.setdefault(a, {})
        for t, v in self.unique.pop(b, {}).items():
            merged.setdefault(t, v)
        self.members.setdefault(a, [a]).extend(self.members.pop(b, [b]))
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


def _pieces(strong_pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Component → a label of its piece: the components connected by links above the
    threshold."""
    pieces: UnionFind[str] = UnionFind()
    for a, b in strong_pairs:
        pieces.union(a, b)
    return pieces.groups()


def cluster_components(
    engine: Engine,
    threshold: float,
    unique_types: tuple[str, ...],
    min_agreement: float = MIN_AGREEMENT,
    cannot_link: Sequence[tuple[str, str]] = (),
) -> ClusterResult:
    """Merge `_record_comp` components along `match_pairs`; rewrites comp labels in place."""
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _comp_edges AS
        SELECT p.rid_l, p.rid_r, a.comp AS comp_l, b.comp AS comp_r, p.match_probability AS prob
        FROM match_pairs p JOIN _record_comp a ON a.rid = p.rid_l
        JOIN _record_comp b ON b.rid = p.rid_r
        WHERE a.comp <> b.comp
    """,
        step="clustering: component links",
    )
    strong_pairs = [
        (str(a), str(b))
        for a, b in engine.fetchall(
            "SELECT DISTINCT least(comp_l, comp_r), greatest(comp_l, comp_r) FROM _comp_edges "
            "WHERE prob >= ?",
            [threshold],
        )
    ]
    piece = _pieces(strong_pairs)
    engine.register(
        "_piece_of",
        pa.table(
            {"comp": pa.array(list(piece), pa.string()), "piece": pa.array(list(piece.values()))}
        ),
    )
    try:
        edges = engine.fetch_arrow(
            """
            SELECT e.rid_l, e.rid_r, e.comp_l, e.comp_r, e.prob,
                   least(REF_A, REF_B) AS ref_lo, greatest(REF_A, REF_B) AS ref_hi
            FROM _comp_edges e JOIN _piece_of a ON a.comp = e.comp_l
            JOIN _piece_of b ON b.comp = e.comp_r
            JOIN _record_comp ra ON ra.rid = e.rid_l JOIN _record_comp rb ON rb.rid = e.rid_r
            WHERE a.piece = b.piece
            ORDER BY ref_lo, ref_hi
        """.replace("REF_A", REF.format(t="ra")).replace("REF_B", REF.format(t="rb"))
        )
    finally:
        engine.unregister("_piece_of")
    uniq_in = "(" + ", ".join(f"'{t}'" for t in unique_types) + ")" if unique_types else "(NULL)"
    cl = _Clusters()
    #: per component pair, its strongest link and the first record pair carrying it
    best: dict[tuple[str, str], tuple[float, str, str]] = {}
    columns = [edges.column(i).to_pylist() for i in range(7)]
    for rid_l, rid_r, comp_l, comp_r, prob, ref_lo, ref_hi in zip(*columns, strict=True):
        cl.add_pair(rid_l, rid_r, comp_l, comp_r, prob)
        ca, cb = (comp_l, comp_r) if comp_l < comp_r else (comp_r, comp_l)
        counts = cl.adj.setdefault(ca, {}).get(cb)
        if counts is None:
            counts = [0.0, 0.0, 0.0]
            cl.adj[ca][cb] = counts
            cl.adj.setdefault(cb, {})[ca] = counts
        counts[1] += 1
        counts[2] += prob
        if prob >= threshold:
            counts[0] += 1
            cl.strong.setdefault(rid_l, set()).add(rid_r)
            cl.strong.setdefault(rid_r, set()).add(rid_l)
            link = (prob, ref_lo, ref_hi)
            held = best.get((ca, cb))
            if held is None or (-link[0], link[1], link[2]) < (-held[0], held[1], held[2]):
                best[(ca, cb)] = link
    if piece:
        for comp, id_type, value in engine.fetchall(
            f"""
            SELECT DISTINCT c.comp, n.id_type, n.value
            FROM _record_comp c JOIN record_nodes rn USING (rid)
            JOIN identity_nodes n USING (node_id)
            WHERE n.id_type IN {uniq_in} AND NOT n.is_hub
              AND c.comp IN (SELECT comp_l FROM _comp_edges UNION SELECT comp_r FROM _comp_edges)
            ORDER BY ALL
        """
        ):
            if comp in piece:
                cl.unique.setdefault(comp, {}).setdefault(id_type, value)
    merges = conflicts = incoherent = stars = 0
    accepted: list[tuple[str, str, float]] = []
    # strongest first; ties go by the records' names (source/key), not by component labels
    # or record ids, which depend on how a run numbered them: an incremental run numbers its
    # new records after the old ones and its region's nodes afresh, and must decide alike
    for (ca, cb), (prob, _, _) in sorted(best.items(), key=lambda e: (-e[1][0], *e[1][1:])):
        ra, rb = cl.find(ca), cl.find(cb)
        if ra == rb:
            continue
        if cl.conflict(ra, rb) or any({cl.find(x), cl.find(y)} == {ra, rb} for x, y in cannot_link):
            conflicts += 1
            continue
        above, scored, prob_sum = cl.adj.get(ra, {}).get(rb, [0.0, 1.0, 0.0])
        if above < min_agreement * scored and prob_sum < min_agreement * scored:
            if not cl.star(ra, rb, threshold):
                incoherent += 1
                continue
            stars += 1
        cl.union(ra, rb)
        accepted.append((ca, cb, prob))
        merges += 1
    mapping = {c: cl.find(c) for c in list(cl.parent)}
    _keep_evidence(engine, accepted)
    relabel_components(engine, mapping)
    return ClusterResult(len(best), merges, conflicts, incoherent, stars)


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
            QUALIFY row_number() OVER (
                PARTITION BY x.ca, x.cb
                ORDER BY p.match_probability DESC, least(REF_A, REF_B), greatest(REF_A, REF_B)
            ) = 1
        """.replace("REF_A", REF.format(t="a")).replace("REF_B", REF.format(t="b")),
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
