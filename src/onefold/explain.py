"""`explain`: why records share a profile, and why two records do (or do not).

A profile is whatever the identity stage glued together, and a glued profile is only
trustworthy when someone can see the glue. This module rebuilds the *evidence graph* of a
profile from the tables `Workspace.resolve()` leaves behind — it never re-runs resolution, so
what it shows is exactly what the last run did:

- records are the vertices;
- a linking, non-hub identifier value joins every record holding it (the deterministic graph);
- records whose only linking values are hubs are kept together by their smallest hub value
  (that is how `identity.graph` groups them: a shared value joins nothing *else*);
- an accepted probabilistic merge joins the record pair that carried it (`match_links`).

Hub values present on the profile's records but not used, the per-comparison weights of each
probabilistic link and the profile's history complete the picture. Rendering for the terminal
(`render_profile`, `render_path`) is kept apart from the data so the API stays usable from
notebooks and, later, the server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from rich.markup import escape
from rich.tree import Tree

from onefold.errors import NotFoundError, TerminalError, did_you_mean
from onefold.workspace import Workspace

#: Paths are found in Python over the profile's records; past this size a profile is almost
#: certainly an over-merge, and `onefold quality` (hub values, profile sizes) is the better tool.
MAX_PATH_RECORDS = 5_000
#: Lines of each section shown by the renderers (the dataclasses always hold everything).
MAX_SHOWN = 30

HopKind = Literal["identifier", "shared_value", "probabilistic"]


# -- data --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordRef:
    """One source record, named the way users name it: `source/record_key`."""

    rid: int
    source: str
    record_key: str

    @property
    def ref(self) -> str:
        return f"{self.source}/{self.record_key}"


@dataclass(frozen=True)
class IdentifierTie:
    """An identifier value held by several records of the profile, which it joins.

    `kind` is 'identifier' for an ordinary linking value and 'shared_value' for a hub that
    holds together records carrying nothing else (it joins them to nothing further)."""

    id_type: str
    value: str
    records: tuple[RecordRef, ...]
    sources: tuple[str, ...]
    kind: HopKind = "identifier"


@dataclass(frozen=True)
class UnusedValue:
    """A shared (hub) value, or a value of a non-linking type, that did not join records."""

    id_type: str
    value: str
    records: int
    sources: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ComparisonTerm:
    """One comparison of a scored pair: its level, label and weight in bits.

    `weight` is the `w_<field>` column of `match_pairs`, so it already includes the
    term-frequency adjustment (`tf_adjustment`, also shown on its own when the comparison
    has one): the prior plus every `weight` is the pair's match weight."""

    field: str
    level: int
    label: str
    weight: float
    tf_adjustment: float | None = None


@dataclass(frozen=True)
class MatchEvidence:
    """The Fellegi–Sunter score of one candidate pair, term by term."""

    a: RecordRef
    b: RecordRef
    probability: float
    match_weight: float
    prior: float
    comparisons: tuple[ComparisonTerm, ...]
    threshold: float

    @property
    def above_threshold(self) -> bool:
        return self.probability >= self.threshold


@dataclass(frozen=True)
class HistoryEvent:
    """A `profile_history` row that concerns the profile (as subject or as the other side)."""

    run_id: int
    happened_at: datetime | None
    event: str
    profile_id: str
    other_profile_id: str | None
    members: int | None

    def describe(self, subject: str) -> str:
        """The event in words, from the point of view of profile `subject`."""
        other = self.other_profile_id
        if self.event == "created":
            return "created"
        if self.event == "merged":
            if self.profile_id == subject:
                return f"merged into {other}"
            n = f" ({self.members} shared keys)" if self.members else ""
            return f"absorbed {self.profile_id}{n}"
        if self.event == "split":
            if self.profile_id == subject:
                return f"split off from {other}"
            return f"{self.profile_id} split off"
        return f"{self.event} {other or ''}".strip()


@dataclass(frozen=True)
class ProfileExplanation:
    """The evidence that holds one profile together."""

    profile_id: str
    name: str | None
    records: int
    sources: tuple[str, ...]
    ties: tuple[IdentifierTie, ...]
    links: tuple[MatchEvidence, ...]
    unused: tuple[UnusedValue, ...]
    history: tuple[HistoryEvent, ...]
    #: records joined by nothing (a single-record profile has exactly one)
    loose: tuple[RecordRef, ...] = ()
    matching_enabled: bool = False


@dataclass(frozen=True)
class SharedIdentifier:
    """The identifier value a hop goes through."""

    id_type: str
    value: str
    kind: HopKind = "identifier"


@dataclass(frozen=True)
class Hop:
    """One step of a path: from one record to the next through a value or a link."""

    start: RecordRef
    end: RecordRef
    via: SharedIdentifier | MatchEvidence

    @property
    def kind(self) -> HopKind:
        return "probabilistic" if isinstance(self.via, MatchEvidence) else self.via.kind


@dataclass(frozen=True)
class PathExplanation:
    """How two records are linked, or why they are not.

    Same profile: `hops` is a shortest path over the evidence graph. Different profiles:
    `shared` lists the values they share that could not join them, and `candidate` is their
    probabilistic score when blocking generated the pair (None otherwise)."""

    a: RecordRef
    b: RecordRef
    profile_a: str
    profile_b: str
    hops: tuple[Hop, ...] = ()
    shared: tuple[UnusedValue, ...] = ()
    candidate: MatchEvidence | None = None
    matching_enabled: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def linked(self) -> bool:
        return self.profile_a == self.profile_b


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
        SELECT rn.rid, n.node_id, n.id_type, n.value, n.links, n.is_hub
        FROM record_profiles p JOIN record_nodes rn USING (rid)
        JOIN identity_nodes n USING (node_id)
        WHERE p.profile_id = ?
        ORDER BY n.node_id, rn.rid
    """,
        [profile_id],
    )
    info: dict[int, tuple[str, str, bool, bool]] = {}
    by_node: dict[int, list[int]] = {}
    for rid, node_id, id_type, value, links, is_hub in held:
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
    return _Graph(records, values, members, holds, links_by, unused)


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
        SELECT n.node_id, n.id_type, n.value, n.links, n.is_hub
        FROM record_nodes x JOIN record_nodes y USING (node_id)
        JOIN identity_nodes n USING (node_id)
        WHERE x.rid = ? AND y.rid = ?
        ORDER BY n.id_type, n.value
    """,
        [ra.rid, rb.rid],
    )
    reasons = _hub_reasons(ws, [int(r["node_id"]) for r in shared_rows if r["is_hub"]])
    sources = tuple(sorted({ra.source, rb.source}))
    shared = []
    for r in shared_rows:
        if r["is_hub"]:
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


# -- rendering ---------------------------------------------------------------------------------
def _bits(w: float, unit: bool = False) -> str:
    """+10.4 / −5.3, with a real minus sign (and no −0.0)."""
    text = "0.0" if abs(w) < 0.05 else f"{w:+.1f}".replace("-", "\u2212")
    return f"{text} bits" if unit else text


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _score_line(ev: MatchEvidence) -> str:
    """`person_name exact (+10.4 bits), phone different (−5.3); prior −13.8`."""
    parts = []
    for i, c in enumerate(ev.comparisons):
        tf = (
            f", {_bits(c.tf_adjustment)} for how common the value is"
            if c.tf_adjustment is not None and abs(c.tf_adjustment) >= 0.05
            else ""
        )
        parts.append(f"{c.field} {escape(c.label)} ({_bits(c.weight, unit=i == 0)}{tf})")
    return ", ".join(parts) + f"; prior {_bits(ev.prior)}"


def _link_line(ev: MatchEvidence) -> str:
    who = f" [dim]{escape(ev.a.ref)} ⇄ {escape(ev.b.ref)}[/]"
    return (
        f"[magenta]probabilistic link {ev.probability:.3f}[/]: {_score_line(ev)}"
        f" (weight {_bits(ev.match_weight)}){who}"
    )


def _unused_line(u: UnusedValue) -> str:
    return (
        f"shared value not used: {u.id_type} [yellow]{escape(u.value)}[/] — {escape(u.reason)} "
        f"[dim]({_plural(u.records, 'record')} here)[/]"
    )


def render_profile(expl: ProfileExplanation) -> Tree:
    """`profile p_… (Ann Lee) — 9 records from 4 sources`, then ties, links, unused, history."""
    name = f" ({escape(expl.name)})" if expl.name else ""
    tree = Tree(
        f"[bold]profile {expl.profile_id}{name}[/] — {_plural(expl.records, 'record')} from "
        f"{_plural(len(expl.sources), 'source')}"
    )
    # flat, so the tree reads as sentences: what joins, what links, what was kept out
    for t in expl.ties[:MAX_SHOWN]:
        what = "holds together" if t.kind == "shared_value" else "joins"
        extra = (
            " [dim](a shared value: these records hold no other identifier)[/]"
            if t.kind == "shared_value"
            else ""
        )
        tree.add(
            f"{t.id_type} [cyan]{escape(t.value)}[/] {what} {_plural(len(t.records), 'record')}"
            f" ({escape(', '.join(t.sources))}){extra}"
        )
    if len(expl.ties) > MAX_SHOWN:
        tree.add(f"[dim]… and {len(expl.ties) - MAX_SHOWN} more joining values[/]")
    for ev in expl.links[:MAX_SHOWN]:
        tree.add(_link_line(ev))
    if len(expl.links) > MAX_SHOWN:
        tree.add(f"[dim]… and {len(expl.links) - MAX_SHOWN} more probabilistic links[/]")
    if expl.loose:
        label = "a single record" if expl.records == 1 else "joined by nothing"
        refs = ", ".join(r.ref for r in expl.loose[:MAX_SHOWN])
        more = f" … and {len(expl.loose) - MAX_SHOWN} more" if len(expl.loose) > MAX_SHOWN else ""
        tree.add(f"{label}: {escape(refs)}{more}")
    for u in expl.unused[:MAX_SHOWN]:
        tree.add(_unused_line(u))
    if len(expl.unused) > MAX_SHOWN:
        tree.add(f"[dim]… and {len(expl.unused) - MAX_SHOWN} more shared values not used[/]")
    if expl.history:
        node = tree.add("[bold]history[/]")
        for h in expl.history:
            when = f" {h.happened_at:%Y-%m-%d %H:%M}" if h.happened_at else ""
            node.add(f"run {h.run_id}{when}: {h.describe(expl.profile_id)}")
    return tree


def _add_terms(node: Tree, ev: MatchEvidence) -> None:
    """One line per comparison, then the prior: together they sum to the match weight."""
    for c in ev.comparisons:
        tf = (
            f" [dim](incl. {_bits(c.tf_adjustment)} for how common the value is)[/]"
            if c.tf_adjustment is not None and abs(c.tf_adjustment) >= 0.05
            else ""
        )
        node.add(f"{c.field}: {escape(c.label)} {_bits(c.weight, unit=True)}{tf}")
    node.add(f"prior: {_bits(ev.prior, unit=True)}")


def render_path(expl: PathExplanation) -> Tree:
    """Hop by hop when the records share a profile; otherwise what they share and their score."""
    a, b = escape(expl.a.ref), escape(expl.b.ref)
    if expl.linked:
        tree = Tree(
            f"[bold]{a} → {b}[/]: [green]same profile[/] {expl.profile_a}, "
            f"{_plural(len(expl.hops), 'hop')}"
        )
        for i, hop in enumerate(expl.hops, start=1):
            start, end = escape(hop.start.ref), escape(hop.end.ref)
            via = hop.via
            if isinstance(via, MatchEvidence):
                node = tree.add(
                    f"{i}. {start} → {end} by [magenta]probabilistic link "
                    f"{via.probability:.3f}[/] (weight {_bits(via.match_weight, unit=True)}, "
                    f"threshold {via.threshold:g})"
                )
                _add_terms(node, via)
            else:
                shared = " (a shared value holding records with no other identifier)"
                tree.add(
                    f"{i}. {start} → {end} share {via.id_type} [cyan]{escape(via.value)}[/]"
                    + (shared if via.kind == "shared_value" else "")
                )
        for note in expl.notes:
            tree.add(f"[dim]{escape(note)}[/]")
        return tree
    tree = Tree(
        f"[bold]{a} and {b}[/] are [red]not linked[/]: profiles {expl.profile_a} and "
        f"{expl.profile_b}"
    )
    if expl.shared:
        node = tree.add(f"[bold]shared values that could not join them[/] ({len(expl.shared)})")
        for u in expl.shared:
            node.add(f"{u.id_type} [yellow]{escape(u.value)}[/] — {escape(u.reason)}")
    ev = expl.candidate
    if ev is not None:
        verdict = "above" if ev.above_threshold else "below"
        node = tree.add(
            f"[bold]probabilistic score[/] {ev.probability:.3f} (weight "
            f"{_bits(ev.match_weight, unit=True)}), {verdict} the threshold {ev.threshold:g}"
        )
        _add_terms(node, ev)
    for note in expl.notes:
        tree.add(escape(note))
    return tree


__all__ = [
    "ComparisonTerm",
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
    "render_path",
    "render_profile",
]
