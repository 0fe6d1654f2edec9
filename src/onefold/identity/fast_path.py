"""The fast path of incremental resolution: new records that join a known profile, merge
several, or start their own, without changing anyone else's.

Most of what a live CDP receives is of that kind — another page view from a known cookie, an
order from a known account, a first visit — and for it the region run (copy the touched
profiles into memory, rebuild their graph, write them back) is a long way to a foregone
result: the record joins the profile its values are in, or a new one, and that profile's rows
absorb it. This module checks the conditions under which that result is exactly what the
region run, and so a full run, gives; applies it with a few indexed reads and writes; and
leaves every other new record to the region run.

New records are grouped into components (records joined through shared values, and through
the profiles their known values are in). A component takes the fast path when:

- no new record replaces an older version (the caller checks), and no override acts on
  the component: none names its records or values, none holds the profiles it joins
  (`identity.override_hold`);
- the profiles it touches have no recorded limit conflict (one is replayed with its
  neighbours), and when it touches several, none of their trait or consent winners tie on
  rank and time (only the records' rids, which the profile rows do not keep, break that);
- every known linking value on its records is a non-shared value of one profile, so no hub
  is involved and every value keeps linking what it linked;
- for every type with a profile limit, the profiles' values of that type plus the
  component's new ones stay within it, so no limit replay starts;
- no value on the new records can become a hub by count: the values a known value will have
  shared a record with are at most its profile's plus those beside it on the new records (a
  new value: only the latter), and for each type its hub rule judges it by, they stay within
  the hub limit (so an account id takes a third phone here, a cookie does not);
- a record that carries a name holds no known value of a non-unique type and shares no new
  one with another named record, so no value can become a hub by name evidence.

Then no hub and no edge outside the component changes; the profile (kept; for several, the
survivor `stable_ids` would choose, the others recorded as merged into it; or a new one,
minted from the smallest member key as `stable_ids` mints it) gains the records' rows:
identifiers summed, trait and consent winners compared with the new candidates, the golden
record recomputed from them. Components that fail any test go to the region run unchanged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from onefold.config.settings import IdentitySettings
from onefold.engine.base import Engine
from onefold.engine.sql import literal_list
from onefold.identity.graph import hub_exempt
from onefold.identity.incremental import conflict_pairs
from onefold.identity.override_hold import NO_HOLD, OverrideHold
from onefold.identity.union_find import UnionFind
from onefold.profiles.build import (
    PROFILE_ROW,
    TRAIT_COLUMNS,
    USABLE,
    profile_docs_sql,
    source_rank,
)

NAME_TRAITS = ("full_name", "first_name", "last_name")
#: The records the fast path did not take: the region run's new records.
FRESH = "_fresh"
STAGED = ("_fast_records", "_fast_nodes", "_fast_keys", "_fast_rec", "_fast_merge") + tuple(
    f"_fast_{t}" for t in ("pi", "pt", "pc", "p", "v", "k", "touched")
)


@dataclass(frozen=True)
class FastResult:
    """What the fast path did: records placed, profiles they joined or started."""

    records: int
    joined: int
    created: int
    new_nodes: int
    left_to_region: int
    #: seconds deciding (reads, checks) and writing the profiles' rows
    deciding: float = 0.0
    writing: float = 0.0
    #: profiles merged into another (each recorded in profile_history)
    merged: int = 0


@dataclass
class NewRecord:
    rid: int
    source: str
    key: str
    named: bool = False
    values: list[tuple[str, str]] = field(default_factory=list)  # (id_type, value)


@dataclass(frozen=True)
class _Rules:
    """The identity settings the checks read, computed once per run."""

    linking: set[str]
    profile_limits: dict[str, int]  # type → most values of it in one profile
    hub_limits: dict[str, int]  # type → most co-occurring values of it before a value is a hub
    exempt: dict[str, tuple[str, ...]]  # hub-limited type → types its count never judges
    unique: tuple[str, ...] | None  # None: name evidence is off


@dataclass
class FastPlan:
    """The fast path's decision for a set of new records, before anything is written."""

    #: each qualifying component: its records and the profiles it joins (none: a new one)
    fast: list[tuple[list[NewRecord], tuple[str, ...]]]
    #: rids of the records left to the region run
    rest: list[int]
    merges: dict[tuple[str, ...], _Merge]
    #: each fast component's profile id (joined, surviving or minted), in `fast`'s order
    ids: list[str]
    nodes: dict[tuple[str, str], tuple[int, bool]]
    new_nodes: dict[tuple[str, str], tuple[int, bool]]
    #: (rid, profile_id) of every placed record
    placed: list[tuple[int, str]]
    #: (rid, node_id, id_type, value, is_new) of the placed records' identifiers
    node_rows: list[tuple[int, int, str, str, bool]]
    #: (member_key, profile_id) new to `profile_keys`
    keys: list[tuple[str, str]]
    #: the identifier rows of every profile the records join
    id_rows: IdRows
    deciding: float = 0.0
    #: their `profile_docs` rows, when the plan was made from them (`documents=True`)
    documents: Documents | None = None

    @property
    def existing(self) -> list[str]:
        return sorted({p for _, ps in self.fast for p in ps})

    @property
    def created(self) -> list[str]:
        return [pid for (_, ps), pid in zip(self.fast, self.ids, strict=True) if not ps]

    @property
    def absorbed(self) -> list[tuple[str, str]]:
        """(merged profile, its survivor) pairs."""
        return [(a, m.survivor) for m in self.merges.values() for a in m.absorbed]

    def result(self, writing: float) -> FastResult:
        return FastResult(
            len(self.placed),
            sum(1 for _, ps in self.fast if ps),
            len(self.created),
            len(self.new_nodes),
            len(self.rest),
            self.deciding,
            writing,
            len(self.absorbed),
        )


def plan_fast(
    engine: Engine,
    records: dict[int, NewRecord],
    settings: IdentitySettings,
    source_priority: tuple[str, ...],
    run_id: int,
    conflicts: ConflictCache,
    *,
    graph_run: int | None = None,
    top_node: int | None = None,
    documents: bool = False,
    held: OverrideHold = NO_HOLD,
) -> FastPlan:
    """Which of `records` take the fast path, into which profiles, under which ids: the
    reads and checks of the module docstring, shared by the SQL write (`resolve_fast`) and
    the express path (`identity.express`). `graph_run` (`LAST_GRAPH_RUN`) and `top_node`
    (the largest node id) save their reads when the caller knows them. With `documents`,
    the joined profiles' rows are read from their documents, one index probe for all four
    tables, and kept in the plan (the express path writes their next versions from them).
    `held`: what the overrides act on, left to the region run."""
    t0 = time.perf_counter()
    values = sorted({v for r in records.values() for v in r.values})
    linking = set(settings.linking_types)
    nodes, holders = _known_values(engine, values, linking)

    uf: UnionFind[object] = UnionFind()
    for r in records.values():
        uf.find(("r", r.rid))
        for t, v in r.values:
            if t not in linking:
                continue
            uf.union(("r", r.rid), ("v", t, v))
            for pid, _shared in holders.get((t, v), ()):
                uf.union(("v", t, v), ("p", pid))
    comps: dict[object, list[NewRecord]] = {}
    for r in records.values():
        comps.setdefault(uf.find(("r", r.rid)), []).append(r)

    claimed = {pid for hs in holders.values() for pid, _ in hs}
    rules = _Rules(
        linking,
        {t: limit.max for t, limit in settings.limits.items()},
        dict(settings.hub_limits),
        {t: hub_exempt(settings, t) for t in settings.hub_limits},
        settings.unique_types if settings.name_conflict_similarity is not None else None,
    )
    docs = _documents(engine, claimed) if documents else None
    id_rows = _identifier_rows(engine, claimed) if docs is None else _document_ids(docs)
    counts = _type_counts(id_rows, rules.profile_limits)
    held_values: dict[str, set[tuple[str, str]]] = {}
    for pid, t, v, *_ in id_rows:
        if t in linking:
            held_values.setdefault(pid, set()).add((t, v))
    blocked = (conflicts.get(engine, graph_run) | held.profiles) & claimed if claimed else set()
    named: set[str] = set()
    if rules.unique is not None:
        named = _named_profiles(engine, claimed) if docs is None else _named_in(docs)
    fast: list[tuple[list[NewRecord], tuple[str, ...]]] = []
    rest: list[int] = []
    for members in comps.values():
        profiles = None
        if not any(held.holds(r.source, r.key, r.values) for r in members):
            profiles = _qualifies(
                members, rules, nodes, holders, counts, held_values, named, blocked
            )
        if profiles is None:
            rest.extend(r.rid for r in members)
        else:
            fast.append((members, profiles))
    merges = _plan_merges(engine, fast, holders, id_rows, source_priority, linking, docs)
    kept = [(m, p) for m, p in fast if len(p) < 2 or p in merges]
    rest.extend(r.rid for m, p in fast if len(p) >= 2 and p not in merges for r in m)
    fast = kept
    plan = FastPlan(fast, rest, merges, [], nodes, {}, [], [], [], id_rows, documents=docs)
    if not fast:
        plan.deciding = time.perf_counter() - t0
        return plan

    plan.ids = _mint_ids(engine, fast, linking, run_id, merges)
    plan.new_nodes = _number_new_nodes(
        engine, {v for m, _ in fast for r in m for v in r.values if v not in nodes}, top_node
    )
    nodes.update(plan.new_nodes)
    for (members, _), pid in zip(fast, plan.ids, strict=True):
        for r in members:
            plan.placed.append((r.rid, pid))
            plan.node_rows.extend(
                (r.rid, nodes[(t, v)][0], t, v, (t, v) in plan.new_nodes) for t, v in r.values
            )
        new_linking = sorted(
            {
                (t, v)
                for r in members
                for t, v in r.values
                if t in linking and (t, v) in plan.new_nodes
            }
        )
        plan.keys.extend((f"{t}:{v}", pid) for t, v in new_linking)
        if not any(t in linking for r in members for t, _ in r.values):
            plan.keys.extend((f"record:{r.source}/{r.key}", pid) for r in members)
    plan.deciding = time.perf_counter() - t0
    return plan


def resolve_fast(
    engine: Engine,
    settings: IdentitySettings,
    source_priority: tuple[str, ...],
    base: int,
    run_id: int,
    conflicts: ConflictCache,
    graph_run: int | None = None,
    held: OverrideHold = NO_HOLD,
) -> FastResult:
    """Place the new records (rid > base) that qualify; write `_fresh(rid)` with the rest.

    Writes inside the caller's transaction.
    """
    records = _new_records(engine, base)
    plan = plan_fast(
        engine,
        records,
        settings,
        source_priority,
        run_id,
        conflicts,
        graph_run=graph_run,
        held=held,
    )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {FRESH} (rid BIGINT)")
    if plan.rest:
        _insert(engine, FRESH, {"rid": pa.array(plan.rest, pa.int64())})
    if not plan.fast:
        return plan.result(0.0)
    _insert(
        engine,
        "_fast_records",
        {
            "rid": pa.array([r for r, _ in plan.placed], pa.int64()),
            "profile_id": pa.array([p for _, p in plan.placed], pa.string()),
        },
    )
    _insert(
        engine,
        "_fast_nodes",
        {
            "rid": pa.array([n[0] for n in plan.node_rows], pa.int64()),
            "node_id": pa.array([n[1] for n in plan.node_rows], pa.int64()),
            "id_type": pa.array([n[2] for n in plan.node_rows], pa.string()),
            "value": pa.array([n[3] for n in plan.node_rows], pa.string()),
            "is_new": pa.array([n[4] for n in plan.node_rows], pa.bool_()),
        },
    )
    _insert(
        engine,
        "_fast_keys",
        {
            "member_key": pa.array([k for k, _ in plan.keys], pa.string()),
            "profile_id": pa.array([p for _, p in plan.keys], pa.string()),
        },
    )
    _insert(
        engine,
        "_fast_merge",
        {
            "absorbed": pa.array([a for a, _ in plan.absorbed], pa.string()),
            "survivor": pa.array([s for _, s in plan.absorbed], pa.string()),
        },
    )
    t1 = time.perf_counter()
    _write(
        engine,
        base,
        run_id,
        plan.existing + plan.created,
        plan.created,
        settings,
        source_priority,
    )
    if plan.merges:
        _write_merges(engine, run_id, list(plan.merges.values()))
    for t in STAGED:
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return plan.result(time.perf_counter() - t1)


#: Up to this many keys a probe lists them as constants, which DuckDB answers from the ART
#: index in well under a millisecond; a real-time batch of thousands of events joins a table
#: of them instead (planning an IN list of 50,000 constants takes seconds).
INLINE_KEYS = 256


def _among(engine: Engine, keys: Iterable[str], name: str) -> str:
    """`(…)` for `column IN …`: the keys as constants, or a staged table `name` of them."""
    keys = sorted(set(keys))
    if len(keys) <= INLINE_KEYS:
        return literal_list(keys)
    _insert(engine, name, {"k": pa.array(keys, pa.string())})
    return f"(SELECT k FROM {name})"


def _insert(engine: Engine, table: str, columns: dict[str, pa.Array]) -> None:
    """A temp table `table` holding `columns` (handed over as Arrow, not as SQL text)."""
    engine.register("_fast_in", pa.table(columns))
    try:
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _fast_in")
    finally:
        engine.unregister("_fast_in")


def _new_records(engine: Engine, base: int) -> dict[int, NewRecord]:
    out = {
        int(rid): NewRecord(int(rid), str(src), str(key))
        for rid, src, key in engine.fetchall(
            f"SELECT rid, source, record_key FROM records WHERE rid > {int(base)}",
            step="fast path: new records",
        )
    }
    rows = engine.fetchall(
        f"""
        SELECT DISTINCT rid, role, name, value FROM record_values
        WHERE rid > {int(base)} AND status IN {USABLE}
          AND (role = 'identifier'
               OR (role = 'trait' AND name IN {literal_list(NAME_TRAITS)} AND key IS NOT NULL))
        ORDER BY ALL
    """,
        step="fast path: new values",
    )
    for rid, role, name, value in rows:
        rec = out[int(rid)]
        if role == "identifier":
            rec.values.append((str(name), str(value)))
        else:
            rec.named = True
    return out


def _known_values(
    engine: Engine, values: list[tuple[str, str]], linking: set[str]
) -> tuple[dict[tuple[str, str], tuple[int, bool]], dict[tuple[str, str], list[tuple[str, bool]]]]:
    """For the values the graph already holds: (id_type, value) → (node_id, is_hub), and for
    the linking ones → the profiles holding it now and whether it is shared there. One
    statement, each half answered from its own ART index."""
    if not values:
        return {}, {}
    among = _among(engine, (v for _, v in values), "_fast_v")
    rows = engine.fetchall(
        f"""
        SELECT 'node', id_type, value, node_id, NULL, is_hub FROM identity_nodes
        WHERE value IN {among}
        UNION ALL
        SELECT 'holder', id_type, value, NULL, profile_id, shared FROM profile_identifiers
        WHERE value IN {among}
        """,
        step="fast path: known values",
    )
    wanted = set(values)
    nodes = {
        (str(t), str(v)): (int(n), bool(flag))
        for kind, t, v, n, _, flag in rows
        if kind == "node" and (str(t), str(v)) in wanted
    }
    holders: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for kind, t, v, _, pid, flag in rows:
        tv = (str(t), str(v))
        if kind == "holder" and tv in nodes and tv[0] in linking:
            holders.setdefault(tv, []).append((str(pid), bool(flag)))
    return nodes, holders


#: Rows of `profile_identifiers` (profile_id, id_type, value, shared, records, first_seen,
#: last_seen, sources) of the profiles the new records join: the checks read the first four,
#: the express path's profile rows (`identity.express`) all of them.
IdRows = list[tuple[Any, ...]]


def _identifier_rows(engine: Engine, profiles: Iterable[str]) -> IdRows:
    """The identifier rows of `profiles`, filtered by nothing else in SQL: beside any other
    predicate DuckDB scans the table instead of using the index (120 ms at 1M persons)."""
    pids = sorted(profiles)
    if not pids:
        return []
    return engine.fetchall(
        "SELECT profile_id, id_type, value, shared, records, first_seen, last_seen, sources "
        f"FROM profile_identifiers WHERE profile_id IN {_among(engine, pids, '_fast_k')}",
        step="fast path: profile identifiers",
    )


def _named_profiles(engine: Engine, profiles: Iterable[str]) -> set[str]:
    """Those of `profiles` with a name trait: some record of theirs carries a name."""
    pids = sorted(profiles)
    if not pids:
        return set()
    rows = engine.fetchall(
        "SELECT profile_id, trait FROM profile_traits "
        f"WHERE profile_id IN {_among(engine, pids, '_fast_k')}",
        step="fast path: named profiles",
    )
    return {str(p) for p, t in rows if t in NAME_TRAITS}


#: profile_id → (its `profiles` row as a dict; its identifier rows (id_type, value, records,
#: first_seen, last_seen, sources, shared); its trait rows (trait, value, source,
#: observed_at); its consent rows (purpose, status, source, observed_at)), from
#: `profile_docs`, which hold each profile's rows of those four tables.
Documents = dict[
    str,
    tuple[dict[str, Any], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]],
]


def _documents(engine: Engine, profiles: Iterable[str]) -> Documents:
    pids = sorted(profiles)
    if not pids:
        return {}
    rows = engine.fetchall(
        "SELECT profile_id, profile, identifiers, traits, consents FROM profile_docs "
        f"WHERE profile_id IN {_among(engine, pids, '_fast_k')}",
        step="fast path: profile documents",
    )
    return {
        str(pid): (
            profile,
            [tuple(i.values()) for i in identifiers or ()],
            [tuple(t.values()) for t in traits or ()],
            [tuple(c.values()) for c in consents or ()],
        )
        for pid, profile, identifiers, traits, consents in rows
    }


def _document_ids(docs: Documents) -> IdRows:
    """`_identifier_rows` from the documents."""
    return [
        (pid, t, v, shared, records, first, last, sources)
        for pid, (_, ids, _, _) in sorted(docs.items())
        for t, v, records, first, last, sources, shared in ids
    ]


def _named_in(docs: Documents) -> set[str]:
    """`_named_profiles` from the documents."""
    return {
        pid for pid, (_, _, traits, _) in docs.items() if any(t[0] in NAME_TRAITS for t in traits)
    }


def _type_counts(rows: IdRows, limited: dict[str, int]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for pid, t, *_ in rows:
        if t in limited:
            out[(pid, t)] = out.get((pid, t), 0) + 1
    return out


def _qualifies(
    members: list[NewRecord],
    rules: _Rules,
    nodes: dict[tuple[str, str], tuple[int, bool]],
    holders: dict[tuple[str, str], list[tuple[str, bool]]],
    counts: dict[tuple[str, str], int],
    held_values: dict[str, set[tuple[str, str]]],
    named: set[str],
    blocked: set[str],
) -> tuple[str, ...] | None:
    """The profiles the component joins (none: it starts one), None for the region run."""
    profiles: set[str] = set()
    new_linking: set[tuple[str, str]] = set()
    for r in members:
        for t, v in r.values:
            if t not in rules.linking:
                continue
            if (t, v) not in nodes:
                new_linking.add((t, v))
                continue
            hs = holders.get((t, v), [])
            if nodes[(t, v)][1] or len(hs) != 1 or hs[0][1]:
                return None  # a hub, or a value the graph holds oddly: the region decides
            profiles.add(hs[0][0])
    if profiles & blocked:
        return None
    for t, limit in rules.profile_limits.items():
        held = sum(counts.get((p, t), 0) for p in profiles)
        if held + sum(1 for nt, _ in new_linking if nt == t) > limit:
            return None
    if not _hub_counts_safe(members, rules, holders, held_values):
        return None
    if rules.unique is not None and not _names_safe(members, rules, holders, named):
        return None
    return tuple(sorted(profiles))


def _hub_counts_safe(
    members: list[NewRecord],
    rules: _Rules,
    holders: dict[tuple[str, str], list[tuple[str, bool]]],
    held_values: dict[str, set[tuple[str, str]]],
) -> bool:
    """No value on these records can become a hub by count: the values a known value will
    have shared a record with are at most its profile's and those beside it on the new
    records (a new value: only the latter), counted per type as the graph's hub rule counts
    them (a user id is never judged by how many phones it was seen with)."""
    beside: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for r in members:
        linked = [tv for tv in r.values if tv[0] in rules.linking]
        for tv in linked:
            beside.setdefault(tv, set()).update(linked)
    for node, near in beside.items():
        hs = holders.get(node)
        seen = (held_values.get(hs[0][0], set()) | near if hs else near) - {node}
        for t, limit in rules.hub_limits.items():
            if node[0] not in rules.exempt[t] and sum(1 for x in seen if x[0] == t) > limit:
                return False
    return True


def _names_safe(
    members: list[NewRecord],
    rules: _Rules,
    holders: dict[tuple[str, str], list[tuple[str, bool]]],
    named: set[str],
) -> bool:
    """No value of a non-unique type can gain a second name from these records: each one a
    named record holds is held by no other named record here, and is new or in a profile
    none of whose records carries a name (`named`: the profiles with a name trait)."""
    assert rules.unique is not None
    seen: set[tuple[str, str]] = set()
    for r in members:
        if not r.named:
            continue
        for tv in r.values:
            if tv[0] not in rules.linking or tv[0] in rules.unique:
                continue
            hs = holders.get(tv)
            if tv in seen or (hs and hs[0][0] in named):
                return False
            seen.add(tv)
    return True


@dataclass(frozen=True)
class _Merge:
    """Profiles one component joins: the one that keeps its id, those merged into it, and
    per merged profile its member-key count and the two records `unmerge` separates."""

    survivor: str
    absorbed: tuple[str, ...]
    members: tuple[int, ...]
    evidence: tuple[str, ...]


def _plan_merges(
    engine: Engine,
    fast: list[tuple[list[NewRecord], tuple[str, ...]]],
    holders: dict[tuple[str, str], list[tuple[str, bool]]],
    id_rows: IdRows,
    source_priority: tuple[str, ...],
    linking: set[str],
    docs: Documents | None = None,
) -> dict[tuple[str, ...], _Merge]:
    """Each component joining several profiles, as `stable_ids` merges them: the oldest id
    survives (then the one with most member keys, then the smallest), and each merge records
    one record from either side. A component whose profiles' trait or consent winners tie on
    rank and time is left out: only the records' rids break that tie, and the profile rows do
    not keep them."""
    groups = [ps for _, ps in fast if len(ps) > 1]
    if not groups:
        return {}
    among = _among(engine, {p for ps in groups for p in ps}, "_fast_k")
    # each profile's first run and smallest record reference, in one statement
    born: dict[str, int] = {}
    first_ref: dict[str, str] = {}
    for kind, pid, value in engine.fetchall(
        f"""SELECT 'born', profile_id, CAST(min(run_id) AS VARCHAR) FROM profile_history
            WHERE profile_id IN {among} GROUP BY ALL
            UNION ALL
            SELECT 'first', profile_id, min(source || '/' || record_key) FROM record_profiles
            WHERE profile_id IN {among} GROUP BY ALL""",
        step="fast path: merges",
    ):
        if kind == "born":
            born[str(pid)] = int(value)
        else:
            first_ref[str(pid)] = str(value)
    keys: dict[str, int] = {}  # member keys: the profile's non-shared linking values
    for pid, t, _, shared, *_ in id_rows:
        if t in linking and not shared:
            keys[pid] = keys.get(pid, 0) + 1
    winners: dict[tuple[str, str, str], list[tuple[tuple[int, float], object]]] = {}
    rank = {s: i for i, s in enumerate(source_priority)}
    if docs is None:
        rows = engine.fetchall(
            f"""
            SELECT 'trait', profile_id, trait, value, source, epoch(observed_at)
            FROM profile_traits WHERE profile_id IN {among}
            UNION ALL
            SELECT 'consent', profile_id, purpose, status, source, epoch(observed_at)
            FROM profile_consents WHERE profile_id IN {among}
        """,
            step="fast path: merges",
        )
    else:
        merging = {p for ps in groups for p in ps}
        rows = [
            (kind, pid, *row[:3], row[3].timestamp())
            for pid, (_, _, traits, consents) in docs.items()
            if pid in merging
            for kind, rows_ in (("trait", traits), ("consent", consents))
            for row in rows_
        ]
    for kind, pid, name, value, source, observed in rows:
        order = (rank.get(source, len(source_priority)) if kind == "trait" else 0, -observed)
        winners.setdefault((kind, str(pid), str(name)), []).append((order, (value, source)))
    out: dict[tuple[str, ...], _Merge] = {}
    for members, profiles in fast:
        if len(profiles) < 2 or _winners_tie(profiles, winners):
            continue
        survivor = min(
            profiles,
            key=lambda p: (born.get(p) is None, born.get(p, 0), -keys.get(p, 0), p),
        )
        absorbed = tuple(p for p in profiles if p != survivor)
        held = [(f"{r.source}/{r.key}", _profiles_of(r, holders)) for r in members]
        out[profiles] = _Merge(
            survivor,
            absorbed,
            tuple(int(keys.get(a, 0)) for a in absorbed),
            tuple(
                f"{_side(held, first_ref, a, survivor)}\n{_side(held, first_ref, survivor, a)}"
                for a in absorbed
            ),
        )
    return out


def _profiles_of(r: NewRecord, holders: dict[tuple[str, str], list[tuple[str, bool]]]) -> set[str]:
    return {hs[0][0] for tv in r.values if (hs := holders.get(tv))}


def _side(held: list[tuple[str, set[str]]], first_ref: dict[str, str], p: str, other: str) -> str:
    """`stable_ids.MERGES`' record for side `p` of a merge with `other`: the smallest
    reference among the records holding p's keys and none of other's."""
    return min([str(first_ref[p]), *(ref for ref, ps in held if p in ps and other not in ps)])


def _winners_tie(
    profiles: tuple[str, ...],
    winners: dict[tuple[str, str, str], list[tuple[tuple[int, float], object]]],
) -> bool:
    best: dict[tuple[str, str], list[tuple[tuple[int, float], object]]] = {}
    for (kind, pid, name), rows in winners.items():
        if pid in profiles:
            best.setdefault((kind, name), []).extend(rows)
    for rows in best.values():
        top = min(order for order, _ in rows)
        if len({what for order, what in rows if order == top}) > 1:
            return True
    return False


def _write_merges(engine: Engine, run_id: int, merges: list[_Merge]) -> None:
    """Merged profiles' records and keys to their survivor, and the merges into history."""
    step = "fast path: merges"
    absorbed = _among(engine, [a for m in merges for a in m.absorbed], "_fast_k")
    for table in ("record_profiles", "profile_keys"):
        engine.execute(
            f"UPDATE {table} SET profile_id = m.survivor FROM _fast_merge m "
            f"WHERE {table}.profile_id = m.absorbed AND {table}.profile_id IN {absorbed}",
            step=step,
        )
    engine.execute(
        "INSERT INTO profile_history (run_id, happened_at, profile_id, event, other_profile_id, "
        f"members, evidence) SELECT {int(run_id)}, now(), unnest(?::VARCHAR[]), 'merged', "
        "unnest(?::VARCHAR[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[])",
        [
            [a for m in merges for a in m.absorbed],
            [m.survivor for m in merges for _ in m.absorbed],
            [n for m in merges for n in m.members],
            [e for m in merges for e in m.evidence],
        ],
        step=step,
    )


def _mint_ids(
    engine: Engine,
    fast: list[tuple[list[NewRecord], tuple[str, ...]]],
    linking: set[str],
    run_id: int,
    merges: dict[tuple[str, ...], _Merge],
) -> list[str]:
    """Each component's profile id: the one it joins (a merge's survivor), or one minted as
    `stable_ids` mints it (from the smallest member key, salted with the run when that id
    was ever used)."""
    firsts: dict[int, str] = {}
    for i, (members, profiles) in enumerate(fast):
        if not profiles:
            keys = [f"{t}:{v}" for r in members for t, v in r.values if t in linking]
            firsts[i] = min(keys or [f"record:{r.source}/{r.key}" for r in members])
    plain = {i: "p_" + hashlib.md5(k.encode()).hexdigest()[:16] for i, k in firsts.items()}
    used: set[str] = set()
    if plain:
        used = {
            str(r[0])
            for r in engine.fetchall(
                "SELECT DISTINCT profile_id FROM profile_history "
                f"WHERE profile_id IN {_among(engine, plain.values(), '_fast_k')}",
                step="fast path: minted ids",
            )
        }
    out: list[str] = []
    for i, (_, profiles) in enumerate(fast):
        if len(profiles) > 1:
            out.append(merges[profiles].survivor)
        elif profiles:
            out.append(profiles[0])
        elif plain[i] in used:
            out.append("p_" + hashlib.md5(f"{firsts[i]}:{run_id}".encode()).hexdigest()[:16])
        else:
            out.append(plain[i])
    return out


def _number_new_nodes(
    engine: Engine, values: set[tuple[str, str]], top: int | None
) -> dict[tuple[str, str], tuple[int, bool]]:
    """Ids for values never seen, after the largest, in node-key order (as the region does)."""
    if not values:
        return {}
    if top is None:
        top = int(engine.fetchone("SELECT coalesce(max(node_id), 0) FROM identity_nodes"))
    ordered = sorted(values, key=lambda tv: f"{tv[0]}:{tv[1]}")
    return {tv: (top + i, False) for i, tv in enumerate(ordered, start=1)}


#: The last run that was not the fast path alone: only such a run (a region or a full one)
#: rewrites `identity_conflicts` or moves the records of the profiles it involves.
GRAPH_RUN = """(kind = 'resolve'
       OR coalesce(TRY_CAST(stats->>'fast_records' AS BIGINT), 0)
          < coalesce(TRY_CAST(stats->>'records' AS BIGINT), 0))"""
LAST_GRAPH_RUN = f"SELECT coalesce(max(run_id), 0) FROM runs WHERE {GRAPH_RUN}"


def conflicted_profiles(engine: Engine, tables: str = "") -> set[str]:
    """Profiles a recorded limit conflict involves, by its record or its value: the region
    run replays them with their neighbours. The record probe scans `record_profiles` (no
    index on rid: ~0.2 s at 1M persons); the values — a few hundred — are looked up through
    the index on `profile_identifiers.value` (matched on `id_type || ':' || value` in SQL,
    that was a 1 s scan). `ConflictCache` keeps the answer until a run that could change it.
    `tables` is a prefix for the three tables: a region's (`"_region.next_"`, whose conflicts
    table has no prefix but the database's) after its run.
    """
    conflicts_table = tables.split("next_")[0] + "identity_conflicts"
    if not tables and not engine.table_exists("identity_conflicts"):
        return set()
    conflicts = engine.fetchall(
        f"SELECT DISTINCT id_type, substr(node_key, length(id_type) + 2) FROM {conflicts_table}",
        step="fast path: conflicts",
    )
    if not conflicts:
        return set()
    wanted = {(str(t), str(v)) for t, v in conflicts}
    by_value = engine.fetchall(
        f"SELECT profile_id, id_type, value FROM {tables}profile_identifiers "
        f"WHERE value IN {_among(engine, (v for _, v in wanted), '_fast_v')}",
        step="fast path: conflicts",
    )
    by_record = engine.fetchall(
        f"SELECT profile_id FROM {tables}record_profiles "
        f"WHERE rid IN (SELECT rid FROM {conflicts_table})",
        step="fast path: conflicts",
    )
    return {str(p) for p, t, v in by_value if (t, v) in wanted} | {str(p) for (p,) in by_record}


class ConflictCache:
    """`conflicted_profiles`, recomputed only after a region or full run — or, after a region
    run of this workspace's own, updated from the region alone (`after_region`)."""

    def __init__(self) -> None:
        self._key: int | None = None
        self._profiles: set[str] = set()
        self._pairs: set[tuple[str, str]] = set()

    def _refresh(self, engine: Engine, key: int | None) -> None:
        if key is None:
            key = int(engine.fetchone(LAST_GRAPH_RUN))
        if key != self._key:
            self._profiles = conflicted_profiles(engine)
            self._pairs = conflict_pairs(engine)
            self._key = key

    def get(self, engine: Engine, key: int | None = None) -> set[str]:
        """The conflicted profiles; `key` is `LAST_GRAPH_RUN`'s answer if already read."""
        self._refresh(engine, key)
        return self._profiles

    def pairs(self, engine: Engine, key: int | None = None) -> set[tuple[str, str]]:
        """`incremental.CONFLICT_PAIRS`' rows: the profiles a dropped link separates."""
        self._refresh(engine, key)
        return self._pairs

    def after_region(self, engine: Engine, previous: int, run_id: int, region: str) -> None:
        """A region run (`run_id`) replaced the profiles in `_affected` by its region's: the
        conflicted ones among those go, the region's come in — a few small reads where
        recomputing scans the workspace (0.2 s at 1M persons, in the next real-time event).
        Only when the cache held the answer up to the run before (`previous`, the last graph
        run when this one started); otherwise the next `get` recomputes it."""
        if self._key != previous:
            return
        gone = {str(r[0]) for r in engine.fetchall("SELECT profile_id FROM _affected")}
        self._profiles = (self._profiles - gone) | conflicted_profiles(engine, f"{region}.next_")
        self._pairs = {p for p in self._pairs if p[0] not in gone and p[1] not in gone}
        self._pairs |= conflict_pairs(engine, f"{region}.next_")
        self._key = run_id


def _write(
    engine: Engine,
    base: int,
    run_id: int,
    pids: list[str],
    created: list[str],
    settings: IdentitySettings,
    source_priority: tuple[str, ...],
) -> None:
    """The staged records' nodes, keys, history and profile rows, each profile rewritten."""
    step = "fast path: write"
    touched = _among(engine, pids, "_fast_touched")
    rank = source_rank(source_priority)
    statements = [
        f"""INSERT INTO identity_nodes
            SELECT DISTINCT node_id, id_type, value, id_type || ':' || value,
                   id_type IN {literal_list(settings.linking_types)}, false
            FROM _fast_nodes WHERE is_new""",
        "INSERT INTO record_nodes SELECT DISTINCT rid, node_id FROM _fast_nodes",
        "INSERT INTO profile_keys SELECT member_key, profile_id FROM _fast_keys",
        f"""CREATE OR REPLACE TEMP TABLE _fast_rec AS
            SELECT r.rid, r.source, r.record_key, r.channel,
                   coalesce(r.event_time, r.loaded_at) AS t, r.amount, r.currency, f.profile_id,
                   {rank} AS rank
            FROM records r JOIN _fast_records f USING (rid) WHERE r.rid > {int(base)}""",
        "INSERT INTO record_profiles SELECT rid, source, record_key, profile_id FROM _fast_rec",
        FAST_IDENTIFIERS.format(touched=touched),
        FAST_TRAITS.format(
            touched=touched, base=int(base), usable=USABLE, rank=rank.replace("r.", "o.")
        ),
        FAST_CONSENTS.format(touched=touched, base=int(base)),
        FAST_PROFILES.replace("{touched}", touched),  # not format: the row's regex has braces
    ]
    for table, staged in (
        ("profile_identifiers", "_fast_pi"),
        ("profile_traits", "_fast_pt"),
        ("profile_consents", "_fast_pc"),
        ("profiles", "_fast_p"),
    ):
        statements.append(f"DELETE FROM {table} WHERE profile_id IN {touched}")
        statements.append(f"INSERT INTO {table} BY NAME SELECT * FROM {staged}")
    statements.append(f"DELETE FROM profile_docs WHERE profile_id IN {touched}")
    statements.append(
        "INSERT INTO profile_docs BY NAME "
        + profile_docs_sql("_fast_p", "_fast_pi", "_fast_pt", "_fast_pc")
    )
    for sql in statements:
        engine.execute(sql, step=step)
    if created:
        engine.execute(
            "INSERT INTO profile_history (run_id, happened_at, profile_id, event) "
            f"SELECT {int(run_id)}, now(), unnest(?::VARCHAR[]), 'created'",
            [created],
            step=step,
        )


#: A profile's identifier rows: the old ones, and the new records' values summed into them.
FAST_IDENTIFIERS = """
    CREATE OR REPLACE TEMP TABLE _fast_pi AS
    WITH per_source AS (
        SELECT f.profile_id, n.id_type, n.value, f.source, count(*) AS records,
               min(f.t) AS first_seen, max(f.t) AS last_seen
        FROM (SELECT DISTINCT rid, id_type, value FROM _fast_nodes) n JOIN _fast_rec f USING (rid)
        GROUP BY ALL
    ), delta AS (
        SELECT profile_id, id_type, value, sum(records)::BIGINT AS records,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               list(source ORDER BY source) AS sources
        FROM per_source GROUP BY ALL
    ), old AS (  -- a merged profile's rows under its survivor's id, one per value
        SELECT coalesce(m.survivor, o.profile_id) AS profile_id, o.id_type, o.value,
               sum(o.records)::BIGINT AS records, min(o.first_seen) AS first_seen,
               max(o.last_seen) AS last_seen,
               list_sort(list_distinct(flatten(list(o.sources)))) AS sources,
               bool_or(o.shared) AS shared
        FROM profile_identifiers o LEFT JOIN _fast_merge m ON m.absorbed = o.profile_id
        WHERE o.profile_id IN {touched}
        GROUP BY ALL
    )
    SELECT coalesce(o.profile_id, d.profile_id) AS profile_id,
           coalesce(o.id_type, d.id_type) AS id_type, coalesce(o.value, d.value) AS value,
           (coalesce(o.records, 0) + coalesce(d.records, 0))::BIGINT AS records,
           least(o.first_seen, d.first_seen) AS first_seen,
           greatest(o.last_seen, d.last_seen) AS last_seen,
           CASE WHEN d.sources IS NULL THEN o.sources WHEN o.sources IS NULL THEN d.sources
                ELSE list_sort(list_distinct(list_concat(o.sources, d.sources))) END AS sources,
           coalesce(o.shared, false) AS shared
    FROM old o FULL JOIN delta d
      ON o.profile_id = d.profile_id AND o.id_type = d.id_type AND o.value = d.value
"""

#: Trait winners: the old winner against the new candidates, by the build's own order (an
#: old winner has the smaller rid, so it loses a tie on rank and time, as it does there).
FAST_TRAITS = """
    CREATE OR REPLACE TEMP TABLE _fast_pt AS
    SELECT profile_id, trait, value, source, observed_at FROM (
        SELECT f.profile_id, v.name AS trait, v.value, f.source, f.t AS observed_at, f.rank,
               v.rid
        FROM record_values v JOIN _fast_rec f USING (rid)
        WHERE v.rid > {base} AND v.role = 'trait' AND v.status IN {usable}
        UNION ALL
        SELECT coalesce(m.survivor, o.profile_id), o.trait, o.value, o.source, o.observed_at,
               {rank}, -1
        FROM profile_traits o LEFT JOIN _fast_merge m ON m.absorbed = o.profile_id
        WHERE o.profile_id IN {touched}
    )
    QUALIFY row_number() OVER (PARTITION BY profile_id, trait
                               ORDER BY rank, observed_at DESC NULLS LAST, rid DESC) = 1
"""

FAST_CONSENTS = """
    CREATE OR REPLACE TEMP TABLE _fast_pc AS
    SELECT profile_id, purpose, status, source, observed_at FROM (
        SELECT f.profile_id, v.name AS purpose, v.value AS status, f.source,
               f.t AS observed_at, v.rid
        FROM record_values v JOIN _fast_rec f USING (rid)
        WHERE v.rid > {base} AND v.role = 'consent' AND v.status = 'valid'
        UNION ALL
        SELECT coalesce(m.survivor, o.profile_id), o.purpose, o.status, o.source,
               o.observed_at, -1
        FROM profile_consents o LEFT JOIN _fast_merge m ON m.absorbed = o.profile_id
        WHERE o.profile_id IN {touched}
    )
    QUALIFY row_number() OVER (PARTITION BY profile_id, purpose
                               ORDER BY observed_at DESC NULLS LAST, rid DESC) = 1
"""

#: The golden record from the new trait and identifier rows; activity and revenue are the old
#: row's plus the new records'.
FAST_PROFILES = f"""
    CREATE OR REPLACE TEMP TABLE _fast_p AS
    WITH {TRAIT_COLUMNS.format(traits="_fast_pt", identifiers="_fast_pi")},
    per_source AS (
        SELECT profile_id, source, any_value(channel) AS channel, count(*) AS records,
               min(t) AS first_seen, max(t) AS last_seen, count(amount) AS orders
        FROM _fast_rec GROUP BY ALL
    ), merged AS (
        SELECT coalesce(m.survivor, o.profile_id) AS profile_id, o.*
               EXCLUDE (profile_id)
        FROM profiles o LEFT JOIN _fast_merge m ON m.absorbed = o.profile_id
        WHERE o.profile_id IN {{touched}}
    ), old AS (
        SELECT profile_id, sum(records) AS records, sum(orders) AS orders,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               list_sort(list_distinct(flatten(list(channels)))) AS channels,
               list_sort(list_distinct(flatten(list(sources)))) AS sources
        FROM merged GROUP BY profile_id
    ), new_acts AS (
        SELECT profile_id, sum(records) AS records, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen, list(channel) AS channels, list(source) AS sources,
               sum(orders) AS orders
        FROM per_source GROUP BY profile_id
    ), acts AS (
        SELECT n.profile_id, (n.records + coalesce(o.records, 0))::BIGINT AS records,
               least(n.first_seen, o.first_seen) AS first_seen,
               greatest(n.last_seen, o.last_seen) AS last_seen,
               list_sort(list_distinct(list_concat(coalesce(o.channels, []::VARCHAR[]),
                                                   n.channels))) AS channels,
               list_sort(list_distinct(list_concat(coalesce(o.sources, []::VARCHAR[]),
                                                   n.sources))) AS sources,
               (n.orders + coalesce(o.orders, 0))::BIGINT AS orders
        FROM new_acts n LEFT JOIN old o USING (profile_id)
    ), rev AS (
        SELECT profile_id, map_from_entries(list((currency, total) ORDER BY currency))
                   AS revenue
        FROM (SELECT profile_id, currency, round(sum(total), 2) AS total FROM (
                  SELECT profile_id, coalesce(currency, '?') AS currency, sum(amount) AS total
                  FROM _fast_rec WHERE amount IS NOT NULL GROUP BY ALL
                  UNION ALL
                  SELECT profile_id, e.key, e.value FROM (
                      SELECT profile_id, unnest(map_entries(revenue)) AS e FROM merged
                      WHERE revenue IS NOT NULL))
              GROUP BY ALL)
        GROUP BY profile_id
    )
    {PROFILE_ROW}
"""
