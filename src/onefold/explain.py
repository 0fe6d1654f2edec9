"""`explain`: why records share a profile, and why two records do (or do not).

A profile is whatever the identity stage glued together, and a glued profile is only
trustworthy when someone can see the glue. This module rebuilds the *evidence graph* of a
profile from the tables `Workspace.resolve()` leaves behind — it never re-runs resolution, so
what it shows is exactly what the last run did:

- records are the vertices;
- a linking, non-hub identifier value joins every record holding it (the deterministic graph);
- records whose only linking values are hubs are kept together by their smallest hub value
  (that is how `identity.graph` groups them: a shared value joins nothing *else*);
- an accepted probabilistic merge joins the record pair that carried it (`match_links`);
- a record's link that a profile limit dropped (`identity_conflicts`) joins nothing.

Hub values present on the profile's records but not used, the per-comparison weights of each
probabilistic link and the profile's history complete the picture. The dataclasses live in
`explain_model`; rendering for the terminal lives in `cli/explain_render`, so this API stays
usable from notebooks and, later, the server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from onefold.errors import NotFoundError, TerminalError, did_you_mean
from onefold.explain_model import (
    ComparisonTerm,
    DroppedLink,
    HistoryEvent,
    Hop,
    HopKind,
    IdentifierTie,
    MatchEvidence,
    PathExplanation,
    ProfileExplanation,
    RecordRef,
    SharedIdentifier,
    UnusedValue,
)
from onefold.workspace import Workspace

#: Paths are found in Python over the profile's records; past this size a profile is almost
#: certainly an over-merge, and `onefold quality` (hub values, profile sizes) is the better tool.
MAX_PATH_RECORDS = 5_000


# -- helpers -----------------------------------------------------------------------------------
def _hub_reason(rows: Sequence[dict[str, Any]]) -> str:
    """`hub_values` rows of one value → why it is shared (several reasons may apply)."""
    parts = []
    for r in sorted(rows, key=lambda r: (r["shared_with_type"] == "name", r["shared_with_type"])):
        if r["shared_with_type"] == "name":
            parts.append(f"its records name {r['distinct_values']} different people")
        else:
            parts.append(
                f"seen with {r['distinct_values']} {r['shared_with_type']} values "
                f"(at most {r['max_allowed']} allowed)"
            )
    return "; ".join(parts) or "a shared value"


def _hub_reasons(ws: Workspace, node_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(node_ids))
    if not ids:
        return {}
    rows = ws.engine.fetch_dicts(
        "SELECT node_id, shared_with_type, distinct_values, max_allowed FROM hub_values "
        "WHERE list_contains(?, node_id)",
        [ids],
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(int(r["node_id"]), []).append(r)
    return {n: _hub_reason(grouped.get(n, [])) for n in ids}


def _limit_reason(r: dict[str, Any]) -> str:
    window = f" first seen within {r['window_days']:g} days" if r["window_days"] else ""
    return (
        f"link dropped by the profile limit on {r['limit_type']}: at most {r['max_values']}"
        f"{window}, the merge would have held {r['would_hold']}"
    )


def _dropped_links(ws: Workspace, rids: Iterable[int]) -> dict[tuple[int, str], str]:
    """(rid, node_key) → why that record's link through the value was dropped."""
    ids = sorted(set(rids))
    if not ids or not ws.engine.table_exists("identity_conflicts"):
        return {}
    rows = ws.engine.fetch_dicts(
        "SELECT * FROM identity_conflicts WHERE list_contains(?, rid)", [ids]
    )
    return {(int(r["rid"]), str(r["node_key"])): _limit_reason(r) for r in rows}


def _matching_tables(ws: Workspace) -> bool:
    """Matching evidence is only trusted when matching is on: rids are regenerated every run,
    so tables left over from a run with matching enabled would point at the wrong records."""
    return ws.config.matching.enabled and all(
        ws.engine.table_exists(t) for t in ("match_pairs", "match_weights", "match_links")
    )


class _Scorer:
    """Turns `match_pairs` rows into `MatchEvidence`, with labels from `match_weights`."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.labels: dict[tuple[str, int], str] = {}
        self.prior = 0.0
        for r in ws.engine.fetch_dicts("SELECT field, level, label, weight FROM match_weights"):
            if r["field"] == "(prior)":
                self.prior = float(r["weight"])
            else:
                self.labels[(str(r["field"]), int(r["level"]))] = str(r["label"])
        self.fields = [c.field for c in ws.config.matching.comparisons]
        self.threshold = ws.config.matching.threshold

    def evidence(self, row: dict[str, Any], a: RecordRef, b: RecordRef) -> MatchEvidence:
        terms = []
        for f in self.fields:
            if f"w_{f}" not in row:
                continue
            level = int(row.get(f"g_{f}") or 0)
            tf = row.get(f"tfa_{f}")
            terms.append(
                ComparisonTerm(
                    field=f,
                    level=level,
                    label="missing"
                    if level == 0
                    else self.labels.get((f, level), f"level {level}"),
                    weight=float(row[f"w_{f}"] or 0.0),
                    tf_adjustment=float(tf) if tf is not None and level == 1 else None,
                )
            )
        return MatchEvidence(
            a=a,
            b=b,
            probability=float(row["match_probability"]),
            match_weight=float(row["match_weight"]),
            prior=self.prior,
            comparisons=tuple(terms),
            threshold=self.threshold,
        )

    def pair(self, a: RecordRef, b: RecordRef) -> MatchEvidence | None:
        lo, hi = (a, b) if a.rid < b.rid else (b, a)
        rows = self.ws.engine.fetch_dicts(
            "SELECT * FROM match_pairs WHERE rid_l = ? AND rid_r = ?", [lo.rid, hi.rid]
        )
        return self.evidence(rows[0], lo, hi) if rows else None


def _profile_row(ws: Workspace, profile_id: str) -> dict[str, Any]:
    """The profile, or a NotFoundError that says where the id went."""
    ws.require_resolved()
    rows = ws.engine.fetch_dicts(
        "SELECT profile_id, name, sources, records FROM profiles WHERE profile_id = ?",
        [profile_id],
    )
    if rows:
        return rows[0]
    current, seen = profile_id, {profile_id}
    while True:  # follow merges: p1 → p2 → p3 (a chain of runs)
        nxt = ws.engine.fetchone(
            "SELECT other_profile_id FROM profile_history WHERE profile_id = ? "
            "AND event = 'merged' ORDER BY run_id DESC LIMIT 1",
            [current],
        )
        if nxt is None or nxt in seen:
            break
        current = str(nxt)
        seen.add(current)
    if current != profile_id:
        alive = ws.engine.fetchone("SELECT count(*) FROM profiles WHERE profile_id = ?", [current])
        hint = f"; explain that one: `onefold explain {current}`" if alive else ""
        raise NotFoundError(f"profile {profile_id!r} was merged into {current}{hint}")
    if ws.engine.fetchone(
        "SELECT count(*) FROM profile_history WHERE profile_id = ?", [profile_id]
    ):
        raise NotFoundError(
            f"profile {profile_id!r} no longer exists (its records now belong to other "
            f"profiles); find them with `onefold profiles search`"
        )
    raise NotFoundError(
        f"no profile {profile_id!r}; profile ids look like p_5e4fb1ed89516a53 — find one with "
        f"`onefold profiles search QUERY`"
    )


def _record(ws: Workspace, ref: str) -> tuple[RecordRef, str]:
    """`source/record_key` (split on the first '/') → the record and its profile id."""
    ws.require_resolved()
    source, sep, key = ref.partition("/")
    if not sep or not source or not key:
        raise NotFoundError(
            f"{ref!r} is not a record reference: expected SOURCE/RECORD_KEY, e.g. "
            f"shop_orders/SO-000000001"
        )
    rows = ws.engine.fetchall(
        "SELECT rid, profile_id FROM record_profiles WHERE source = ? AND record_key = ?",
        [source, key],
    )
    if not rows:
        sources = [
            str(r[0]) for r in ws.engine.fetchall("SELECT DISTINCT source FROM record_profiles")
        ]
        hint = (
            f" Unknown source {source!r}." + did_you_mean(source, sources)
            if source not in sources
            else f" Source {source!r} has no record with key {key!r}."
        )
        raise NotFoundError(
            f"no record {ref!r} (expected SOURCE/RECORD_KEY, split at the first '/').{hint}"
        )
    rid, profile_id = rows[0]
    return RecordRef(int(rid), source, key), str(profile_id)


@dataclass
class _Graph:
    """The evidence graph of one profile, bipartite: records ↔ joining values, plus links."""

    records: dict[int, RecordRef]
    #: node_id → (id_type, value, kind) for every value that joins records here
    values: dict[int, tuple[str, str, HopKind]]
    members: dict[int, list[int]]  # node_id → rids
    holds: dict[int, list[int]]  # rid → node_ids (joining values only)
    links: dict[int, list[tuple[int, MatchEvidence]]]  # rid → (other rid, evidence)
    unused: dict[int, tuple[str, str, list[int], bool]]  # node_id → type, value, rids, is_hub
    dropped: list[DroppedLink]


def _load_graph(ws: Workspace, profile_id: str, limit: int | None = None) -> _Graph:
    """Everything the evidence graph of `profile_id` needs, in three queries."""
    if limit is not None:
        n = int(
            ws.engine.fetchone(
                "SELECT count(*) FROM record_profiles WHERE profile_id = ?", [profile_id]
            )
        )
        if n > limit:
            raise TerminalError(
                f"profile {profile_id} has {n:,} records: paths are searched in profiles of at "
                f"most {limit:,}; a profile this large is usually glued by a shared value — "
                f"see `onefold explain {profile_id}` and `onefold quality`"
            )
    records = {
        int(r[0]): RecordRef(int(r[0]), str(r[1]), str(r[2]))
        for r in ws.engine.fetchall(
            "SELECT rid, source, record_key FROM record_profiles WHERE profile_id = ? "
            "ORDER BY source, record_key",
            [profile_id],
        )
    }
    held = ws.engine.fetchall(
        """
        SELECT rn.rid, n.node_id, n.id_type, n.value, n.links, n.is_hub, n.node_key
        FROM record_profiles p JOIN record_nodes rn USING (rid)
        JOIN identity_nodes n USING (node_id)
        WHERE p.profile_id = ?
        ORDER BY n.node_id, rn.rid
    """,
        [profile_id],
    )
    limited = _dropped_links(ws, records)
    dropped: list[DroppedLink] = []
    info: dict[int, tuple[str, str, bool, bool]] = {}
    by_node: dict[int, list[int]] = {}
    for rid, node_id, id_type, value, links, is_hub, node_key in held:
        if (int(rid), node_key) in limited:
            why = limited[(int(rid), node_key)]
            dropped.append(DroppedLink(records[int(rid)], str(id_type), str(value), why))
            continue
        info[int(node_id)] = (str(id_type), str(value), bool(links), bool(is_hub))
        by_node.setdefault(int(node_id), []).append(int(rid))
    joining = {n for n, (_, _, links, hub) in info.items() if links and not hub}
    rids_joined = {r for n in joining for r in by_node[n]}
    # records with no joining value are grouped by their smallest linking hub value
    anchors: dict[int, list[int]] = {}
    anchored: set[int] = set()
    for n in sorted(by_node):
        _, _, links, hub = info[n]
        if links and hub:
            for rid in by_node[n]:
                if rid not in rids_joined and rid not in anchored:
                    anchored.add(rid)
                    anchors.setdefault(n, []).append(rid)
    values: dict[int, tuple[str, str, HopKind]] = {}
    members: dict[int, list[int]] = {}
    holds: dict[int, list[int]] = {}
    rank = ws.config.identity.rank
    # stronger types first, so among equally short paths the one through an account id or
    # an email wins over one through a cookie
    for n in sorted(joining | set(anchors), key=lambda n: (rank(info[n][0]), n)):
        t, v, _, _ = info[n]
        kind: HopKind = "identifier" if n in joining else "shared_value"
        values[n] = (t, v, kind)
        members[n] = by_node[n] if n in joining else anchors[n]
        for rid in members[n]:
            holds.setdefault(rid, []).append(n)
    unused = {
        n: (t, v, by_node[n], hub)
        for n, (t, v, links, hub) in info.items()
        if n not in values and (hub or not links) and len(by_node[n]) >= 1
    }
    links_by: dict[int, list[tuple[int, MatchEvidence]]] = {}
    if _matching_tables(ws):
        scorer = _Scorer(ws)
        rows = ws.engine.fetch_dicts(
            """
            SELECT p.* FROM match_links l JOIN match_pairs p USING (rid_l, rid_r)
            WHERE l.rid_l IN (SELECT rid FROM record_profiles WHERE profile_id = ?)
              AND l.rid_r IN (SELECT rid FROM record_profiles WHERE profile_id = ?)
            ORDER BY p.match_probability DESC, p.rid_l, p.rid_r
        """,
            [profile_id, profile_id],
        )
        for row in rows:
            lo, hi = int(row["rid_l"]), int(row["rid_r"])
            ev = scorer.evidence(row, records[lo], records[hi])
            links_by.setdefault(lo, []).append((hi, ev))
            links_by.setdefault(hi, []).append((lo, ev))
    return _Graph(records, values, members, holds, links_by, unused, dropped)


def _history(ws: Workspace, profile_id: str) -> tuple[HistoryEvent, ...]:
    rows = ws.engine.fetch_dicts(
        """
        SELECT run_id, happened_at, event, profile_id, other_profile_id, members
        FROM profile_history
        WHERE profile_id = ? OR (other_profile_id = ? AND event IN ('merged', 'split'))
        ORDER BY run_id, happened_at, event, profile_id
    """,
        [profile_id, profile_id],
    )
    return tuple(
        HistoryEvent(
            run_id=int(r["run_id"]),
            happened_at=r["happened_at"],
            event=str(r["event"]),
            profile_id=str(r["profile_id"]),
            other_profile_id=r["other_profile_id"],
            members=None if r["members"] is None else int(r["members"]),
        )
        for r in rows
    )


def _unused_values(
    ws: Workspace, g: _Graph, node_rids: dict[int, tuple[str, str, list[int], bool]]
) -> tuple[UnusedValue, ...]:
    reasons = _hub_reasons(ws, [n for n, (_, _, _, hub) in node_rids.items() if hub])
    out = []
    for n, (t, v, rids, hub) in node_rids.items():
        if not hub:
            continue
        out.append(
            UnusedValue(
                id_type=t,
                value=v,
                records=len(rids),
                sources=tuple(sorted({g.records[r].source for r in rids})),
                reason=reasons.get(n, "a shared value"),
            )
        )
    rank = ws.config.identity.rank
    return tuple(sorted(out, key=lambda u: (rank(u.id_type), u.id_type, u.value)))


# -- API ---------------------------------------------------------------------------------------
def explain_profile(ws: Workspace, profile_id: str) -> ProfileExplanation:
    """The identifier values that tie the profile's records, the probabilistic links inside
    it, the shared values its records hold that were not allowed to join anything, and its
    history."""
    profile_id = profile_id.strip()
    p = _profile_row(ws, profile_id)
    g = _load_graph(ws, profile_id)
    rank = ws.config.identity.rank
    ties = [
        IdentifierTie(
            id_type=t,
            value=v,
            records=tuple(g.records[r] for r in g.members[n]),
            sources=tuple(sorted({g.records[r].source for r in g.members[n]})),
            kind=kind,
        )
        for n, (t, v, kind) in g.values.items()
        if len(g.members[n]) >= 2
    ]
    ties.sort(key=lambda t: (-len(t.records), rank(t.id_type), t.id_type, t.value))
    seen: set[tuple[int, int]] = set()
    links = []
    for rid in sorted(g.links):
        for _, ev in g.links[rid]:
            key = (ev.a.rid, ev.b.rid)
            if key not in seen:
                seen.add(key)
                links.append(ev)
    links.sort(key=lambda e: (-e.probability, e.a.ref, e.b.ref))
    tied = {r.rid for t in ties for r in t.records} | {r.rid for e in links for r in (e.a, e.b)}
    return ProfileExplanation(
        profile_id=profile_id,
        name=p["name"],
        records=len(g.records),
        sources=tuple(p["sources"] or ()),
        ties=tuple(ties),
        links=tuple(links),
        unused=_unused_values(ws, g, g.unused),
        history=_history(ws, profile_id),
        loose=tuple(r for rid, r in g.records.items() if rid not in tied),
        matching_enabled=_matching_tables(ws),
        dropped=tuple(g.dropped),
    )


def _shortest_path(g: _Graph, start: int, goal: int) -> list[Hop] | None:
    """Breadth-first over records; a value is expanded once (it reaches all its records)."""
    if start == goal:
        return []
    prev: dict[int, tuple[int, SharedIdentifier | MatchEvidence]] = {}
    done_values: set[int] = set()
    queue = deque([start])
    seen = {start}
    while queue:
        rid = queue.popleft()
        steps: list[tuple[int, SharedIdentifier | MatchEvidence]] = []
        for n in g.holds.get(rid, []):
            if n in done_values:
                continue
            done_values.add(n)
            t, v, kind = g.values[n]
            via = SharedIdentifier(t, v, kind)
            steps += [(other, via) for other in g.members[n] if other != rid]
        steps += [(other, ev) for other, ev in g.links.get(rid, [])]
        for other, via_ in steps:
            if other in seen:
                continue
            seen.add(other)
            prev[other] = (rid, via_)
            if other == goal:
                hops: list[Hop] = []
                cur = goal
                while cur != start:
                    before, how = prev[cur]
                    hops.append(Hop(g.records[before], g.records[cur], how))
                    cur = before
                return hops[::-1]
            queue.append(other)
    return None


def explain_records(ws: Workspace, a: str, b: str) -> PathExplanation:
    """The path of evidence between two records `source/record_key`, or why there is none."""
    ra, pa = _record(ws, a.strip())
    rb, pb = _record(ws, b.strip())
    enabled = _matching_tables(ws)
    if pa == pb:
        g = _load_graph(ws, pa, MAX_PATH_RECORDS)
        hops = _shortest_path(g, ra.rid, rb.rid)
        notes: tuple[str, ...] = ()
        if hops is None:  # only if tables from different runs are mixed
            hops = []
            notes = (
                "no path found in the evidence graph: the matching tables may be from another "
                "run; run `onefold resolve` again",
            )
        elif not hops:
            notes = ("the same record",)
        return PathExplanation(ra, rb, pa, pb, tuple(hops), matching_enabled=enabled, notes=notes)
    shared_rows = ws.engine.fetch_dicts(
        """
        SELECT n.node_id, n.id_type, n.value, n.links, n.is_hub, n.node_key
        FROM record_nodes x JOIN record_nodes y USING (node_id)
        JOIN identity_nodes n USING (node_id)
        WHERE x.rid = ? AND y.rid = ?
        ORDER BY n.id_type, n.value
    """,
        [ra.rid, rb.rid],
    )
    reasons = _hub_reasons(ws, [int(r["node_id"]) for r in shared_rows if r["is_hub"]])
    sources = tuple(sorted({ra.source, rb.source}))
    limited = _dropped_links(ws, [ra.rid, rb.rid])
    shared = []
    for r in shared_rows:
        cut = limited.get((ra.rid, r["node_key"])) or limited.get((rb.rid, r["node_key"]))
        if cut:
            why = cut
        elif r["is_hub"]:
            why = reasons[int(r["node_id"])]
        elif not r["links"]:
            why = f"{r['id_type']} values never join records (not a linking type)"
        else:
            why = "a joining value, yet the records are apart: run `onefold resolve` again"
        shared.append(UnusedValue(str(r["id_type"]), str(r["value"]), 2, sources, why))
    candidate = _Scorer(ws).pair(ra, rb) if enabled else None
    notes_ = []
    if not enabled:
        notes_.append("probabilistic matching is off (matching.enabled in onefold.yml)")
    elif candidate is None:
        notes_.append(
            "no candidate pair: the blocking rules never put these two records side by side"
        )
    elif candidate.above_threshold:
        notes_.append(
            "scored above the threshold, but the merge was refused: it would join two different "
            "values of a unique identifier, or the two groups' other record pairs disagree"
        )
    if not shared and candidate is None:
        notes_.insert(0, "they share no identifier value")
    return PathExplanation(
        ra,
        rb,
        pa,
        pb,
        shared=tuple(shared),
        candidate=candidate,
        matching_enabled=enabled,
        notes=tuple(notes_),
    )


__all__ = [
    "ComparisonTerm",
    "DroppedLink",
    "HistoryEvent",
    "Hop",
    "IdentifierTie",
    "MatchEvidence",
    "PathExplanation",
    "ProfileExplanation",
    "RecordRef",
    "SharedIdentifier",
    "UnusedValue",
    "explain_profile",
    "explain_records",
]
