"""Per-profile limits: at most N values of an identifier type in one profile.

Hub detection judges one value at a time; a chain can still glue two accounts together —
user `u1` shares an email with a record that shares a phone with user `u2` — without any
single value looking shared. A limit (`identity.profile_limits`, e.g. one user id, five
emails, or at most three new phones within 30 days) is checked the way CDPs that enforce
limits do it, replaying the component's records in time order:

- a record joins the profiles its identifiers are already in, unless the merged profile would
  hold more values of a limited type than the limit (and more than any part held alone);
- then its lowest-priority joining identifier is dropped — the link, not the value: the value
  stays on the record and in the other profile — and the merge tried again; every dropped
  link is written to `identity_conflicts` with the limit that forced it.

Only components that exceed a limit at all (counted in SQL, a necessary condition even for
windowed limits) are replayed, in Python: they are few and small, and the replay is
order-dependent logic that SQL expresses badly. The replay depends only on the component's own
records, so an incremental run that holds the whole component decides exactly as a full run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from onefold.config.settings import IdentitySettings, ProfileLimit
from onefold.engine.base import Engine
from onefold.engine.sql import literal, literal_list

DAY = 86_400.0

CONFLICTS_TABLE = """
    CREATE {replace} TABLE {name} (
        rid BIGINT, node_key VARCHAR, id_type VARCHAR, limit_type VARCHAR,
        max_values INTEGER, window_days DOUBLE, would_hold INTEGER)
"""


@dataclass(frozen=True)
class Node:
    node_id: int
    node_key: str
    id_type: str


@dataclass(frozen=True)
class Conflict:
    """A record's link through `node` that was dropped because of the limit on `limit_type`."""

    rid: int
    node: Node
    limit_type: str
    limit: ProfileLimit
    would_hold: int


@dataclass
class _Group:
    #: id_type → node_key → when the group first held it (epoch seconds)
    values: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Split:
    """A component replayed under the limits: each record's group and each value's owner."""

    group_of: dict[int, int]  # rid → group (the rid that started it)
    owner: dict[int, int]  # node_id → group
    conflicts: list[Conflict]


def _count(values: dict[str, float] | None, limit: ProfileLimit, ts: float) -> int:
    if not values:
        return 0
    if limit.window_days is None:
        return len(values)
    since = ts - limit.window_days * DAY
    return sum(1 for first in values.values() if first >= since)


def _merged(parts: Sequence[_Group]) -> _Group:
    out = _Group()
    for part in parts:
        for t, values in part.values.items():
            into = out.values.setdefault(t, {})
            for key, first in values.items():
                if key not in into or first < into[key]:
                    into[key] = first
    return out


def _violation(
    parts: Sequence[_Group], limits: dict[str, ProfileLimit], ts: float
) -> tuple[str, int] | None:
    """The first limit the union of `parts` breaks and by how much, if any.

    A merge may not take a type above its limit *and* above what some part already held
    (a single record can carry two user ids; that is its own evidence, not a merge's).
    """
    whole = _merged(parts)
    for t, limit in limits.items():
        n = _count(whole.values.get(t), limit, ts)
        if n > limit.max and n > max(_count(p.values.get(t), limit, ts) for p in parts):
            return t, n
    return None


def split_component(
    records: Sequence[tuple[int, float, Sequence[Node]]],
    limits: dict[str, ProfileLimit],
    rank: Callable[[str], int],
) -> Split:
    """Replay `(rid, time, linking nodes)` in time order, dropping links that break limits."""
    parent: dict[int, int] = {}
    groups: dict[int, _Group] = {}
    owner: dict[int, int] = {}
    conflicts: list[Conflict] = []

    def find(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for rid, ts, nodes in sorted(records, key=lambda r: (r[1], r[0])):
        fresh = [n for n in nodes if n.node_id not in owner]
        # strongest first; the weakest joining identifier is the one given up
        joining = sorted(
            (n for n in nodes if n.node_id in owner),
            key=lambda n: (rank(n.id_type), n.id_type, n.node_key),
        )
        alone = _Group()
        for n in fresh:
            alone.values.setdefault(n.id_type, {})[n.node_key] = ts
        while joining:
            roots = sorted({find(owner[n.node_id]) for n in joining})
            parts = [groups[r] for r in roots]
            held = _Group()
            for n in joining:  # a value already held keeps its first time in the merge
                held.values.setdefault(n.id_type, {}).setdefault(n.node_key, ts)
            broken = _violation([*parts, _merged([alone, held])], limits, ts)
            if broken is None:
                break
            dropped = joining.pop()
            conflicts.append(Conflict(rid, dropped, broken[0], limits[broken[0]], broken[1]))
        parent[rid] = rid
        roots = sorted({find(owner[n.node_id]) for n in joining})
        groups[rid] = _merged([alone, *(groups.pop(r) for r in roots)])
        for r in roots:
            parent[r] = rid
        for n in fresh:
            owner[n.node_id] = rid
    group_of = {rid: find(rid) for rid, _, _ in records}
    return Split(group_of, {n: find(g) for n, g in owner.items()}, conflicts)


@dataclass(frozen=True)
class LimitResult:
    components: int  # components that broke a limit and were replayed
    conflicts: int  # links dropped


def _limit_case(limits: dict[str, ProfileLimit]) -> str:
    whens = " ".join(f"WHEN {literal(t)} THEN {lim.max}" for t, lim in sorted(limits.items()))
    return f"CASE n.id_type {whens} END"


def enforce_profile_limits(engine: Engine, settings: IdentitySettings) -> LimitResult:
    """Split the components in `_record_comp`/`_members` that break a profile limit.

    Needs `_rn_link` (the graph's linking record→node pairs); writes `identity_conflicts`.
    """
    step = "identity: profile limits"
    engine.execute(CONFLICTS_TABLE.format(replace="OR REPLACE", name="identity_conflicts"))
    limits = settings.limits
    if not limits:
        return LimitResult(0, 0)
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _over AS
        SELECT DISTINCT comp FROM (
            SELECT c.comp FROM _record_comp c JOIN _rn_link k USING (rid)
            JOIN identity_nodes n USING (node_id)
            WHERE n.id_type IN {literal_list(limits)}
            GROUP BY c.comp, n.id_type
            HAVING count(DISTINCT k.node_id) > any_value({_limit_case(limits)}))
    """,
        step=step,
    )
    rows = engine.fetchall(
        """
        SELECT c.comp, c.rid, epoch(coalesce(r.event_time, r.loaded_at)) AS ts,
               list(struct_pack(node_id := n.node_id, node_key := n.node_key,
                                id_type := n.id_type) ORDER BY n.node_id) AS nodes
        FROM _record_comp c JOIN records r USING (rid) JOIN _rn_link k USING (rid)
        JOIN identity_nodes n USING (node_id)
        WHERE c.comp IN (SELECT comp FROM _over)
        GROUP BY ALL ORDER BY c.comp, ts, c.rid
    """
    )
    by_comp: dict[str, list[tuple[int, float, list[Node]]]] = {}
    for comp, rid, ts, nodes in rows:
        by_comp.setdefault(str(comp), []).append(
            (
                int(rid),
                float(ts),
                [Node(int(n["node_id"]), n["node_key"], n["id_type"]) for n in nodes],
            )
        )
    assigned: list[tuple[int, str]] = []
    members: list[tuple[str, str]] = []
    conflicts: list[Conflict] = []
    for records in by_comp.values():
        split = split_component(records, limits, settings.rank)
        assigned_here, members_here = _labels(split, records)
        assigned += assigned_here
        members += members_here
        conflicts += split.conflicts
    if by_comp:
        _rewrite(engine, assigned, members, conflicts)
    engine.execute("DROP TABLE _over")
    return LimitResult(len(by_comp), len(conflicts))


def _labels(
    split: Split, records: Iterable[tuple[int, float, Sequence[Node]]]
) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    """Component labels like the graph's own: `n` + the group's smallest node id."""
    keys = {n.node_id: n.node_key for _, _, nodes in records for n in nodes}
    smallest: dict[int, int] = {}
    for node_id, g in split.owner.items():
        smallest[g] = min(node_id, smallest.get(g, node_id))
    label = {g: f"n{n}" for g, n in smallest.items()}
    assigned = [(rid, label.get(g, f"r{rid}")) for rid, g in split.group_of.items()]
    members = [(label[g], keys[n]) for n, g in split.owner.items()]
    return assigned, members


def _rewrite(
    engine: Engine,
    assigned: list[tuple[int, str]],
    members: list[tuple[str, str]],
    conflicts: list[Conflict],
) -> None:
    step = "identity: profile limits"
    engine.register(
        "_limit_comp",
        pa.table({"rid": [a[0] for a in assigned], "comp": [a[1] for a in assigned]}),
    )
    engine.register(
        "_limit_members",
        pa.table({"comp": [m[0] for m in members], "member_key": [m[1] for m in members]}),
    )
    engine.register(
        "_limit_conflicts",
        pa.table(
            {
                "rid": pa.array([c.rid for c in conflicts], pa.int64()),
                "node_key": pa.array([c.node.node_key for c in conflicts], pa.string()),
                "id_type": pa.array([c.node.id_type for c in conflicts], pa.string()),
                "limit_type": pa.array([c.limit_type for c in conflicts], pa.string()),
                "max_values": pa.array([c.limit.max for c in conflicts], pa.int32()),
                "window_days": pa.array([c.limit.window_days for c in conflicts], pa.float64()),
                "would_hold": pa.array([c.would_hold for c in conflicts], pa.int32()),
            }
        ),
    )
    for sql in (
        """UPDATE _record_comp SET comp = l.comp FROM _limit_comp l
           WHERE _record_comp.rid = l.rid""",
        "DELETE FROM _members WHERE comp IN (SELECT comp FROM _over)",
        "INSERT INTO _members SELECT comp, member_key FROM _limit_members",
        # records left without any joining value are a profile of their own
        """INSERT INTO _members
           SELECT l.comp, 'record:' || c.source || '/' || c.record_key
           FROM _limit_comp l JOIN _record_comp c USING (rid) WHERE l.comp LIKE 'r%'""",
        "INSERT INTO identity_conflicts SELECT * FROM _limit_conflicts",
    ):
        engine.execute(sql, step=step)
    for name in ("_limit_comp", "_limit_members", "_limit_conflicts"):
        engine.unregister(name)
