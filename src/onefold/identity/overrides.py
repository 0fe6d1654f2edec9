"""Manual overrides: must-link and cannot-link, respected by every later run.

A reference is a record (`source/record_key`) or an identifier value (`type:value`, as the
pipeline normalised it). Overrides live in the `overrides` table and are re-applied on every
run, so a correction survives new data and rule changes:

- **cannot-link** inside one deterministic component cuts it: along the shortest chain of
  shared identifiers between the two sides, the lowest-priority value is set aside (as a hub
  with reason `override`) until the sides fall apart; later, probabilistic clustering may not
  join them either;
- **must-link** joins the two sides' components before probabilistic clustering, even across
  a unique-identifier conflict: an explicit override is the one thing allowed to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from onefold.engine.base import Engine
from onefold.engine.sql import literal_list

MAX_CUTS_PER_OVERRIDE = 50


@dataclass(frozen=True)
class Override:
    override_id: int
    kind: str  # must_link | cannot_link
    a: str
    b: str
    note: str | None


def load_overrides(engine: Engine) -> list[Override]:
    rows = engine.fetchall("SELECT override_id, kind, a, b, note FROM overrides ORDER BY 1")
    return [Override(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def is_record_ref(ref: str) -> bool:
    """`crm/003…` is a record; `email:ann@x.com` an identifier (a ':' before any '/')."""
    colon, slash = ref.find(":"), ref.find("/")
    return slash > 0 and (colon < 0 or slash < colon)


def rids_by_ref(engine: Engine, refs: Iterable[str]) -> dict[str, list[int]]:
    """The current records each reference points at (an identifier may be on several): two
    reads for all of them, where one read per reference made a region run replaying a
    hundred overrides spend 0.3 s on them."""
    wanted = set(refs)
    records = {r for r in wanted if is_record_ref(r)}
    values = wanted - records
    found: dict[str, list[int]] = {r: [] for r in wanted}
    if records:
        keys = literal_list(sorted({r.split("/", 1)[1] for r in records}))
        for ref, rid in engine.fetchall(
            f"SELECT source || '/' || record_key, rid FROM records WHERE record_key IN {keys}"
        ):
            if ref in records:
                found[ref].append(int(rid))
    if values:
        vals = literal_list(sorted({r.split(":", 1)[1] for r in values}))
        for ref, rid in engine.fetchall(
            "SELECT n.node_key, rn.rid FROM identity_nodes n JOIN record_nodes rn "
            f"USING (node_id) WHERE n.value IN {vals}"
        ):
            if ref in values:
                found[ref].append(int(rid))
    return found


def _comp_of(engine: Engine, rids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(rids))
    if not wanted:
        return {}
    engine.register("_override_rids", pa.table({"rid": pa.array(wanted, pa.int64())}))
    try:
        rows = engine.fetchall(
            "SELECT rid, comp FROM _record_comp WHERE rid IN (SELECT rid FROM _override_rids)"
        )
    finally:
        engine.unregister("_override_rids")
    return {int(r): str(c) for r, c in rows}


def cut_cannot_links(
    engine: Engine, pairs: Sequence[tuple[str, str]], rank: Callable[[str], int]
) -> int:
    """Set aside identifier values until each cannot-link pair is in different components.

    Works on the local graph of the one component both sides fall in (records and their
    linking values), so the cost is that component's size, not the workspace's.
    """
    cut: dict[int, tuple[str, str]] = {}
    rids = rids_by_ref(engine, (ref for pair in pairs for ref in pair))
    comps = _comp_of(engine, (r for found in rids.values() for r in found))
    for a, b in pairs:
        side_a, side_b = rids[a], rids[b]
        shared = {comps[r] for r in side_a if r in comps} & {comps[r] for r in side_b if r in comps}
        for comp in shared:
            rows = engine.fetchall(
                "SELECT k.rid, k.node_id, n.id_type, n.value FROM _rn_link k "
                "JOIN _record_comp c USING (rid) JOIN identity_nodes n USING (node_id) "
                "WHERE c.comp = ?",
                [comp],
            )
            by_rid: dict[int, set[int]] = {}
            by_node: dict[int, set[int]] = {}
            info: dict[int, tuple[str, str]] = {}
            for rid, node, id_type, value in rows:
                by_rid.setdefault(int(rid), set()).add(int(node))
                by_node.setdefault(int(node), set()).add(int(rid))
                info[int(node)] = (str(id_type), str(value))
            starts = {r for r in side_a if comps.get(r) == comp}
            goals = {r for r in side_b if comps.get(r) == comp}
            for _ in range(MAX_CUTS_PER_OVERRIDE):
                path = _shortest_path(starts, goals, by_rid, by_node, set(cut))
                if path is None:
                    break
                weakest = max(path, key=lambda n: (rank(info[n][0]), len(by_node[n]), n))
                cut[weakest] = info[weakest]
    if cut:
        table = pa.table(
            {
                "node_id": pa.array(list(cut), pa.int64()),
                "id_type": [t for t, _ in cut.values()],
                "value": [v for _, v in cut.values()],
            }
        )
        engine.register("_cut", table)
        try:
            engine.execute(
                "INSERT INTO hub_values SELECT node_id, id_type, value, 'override', 0, 0 "
                "FROM _cut WHERE node_id NOT IN (SELECT node_id FROM hub_values)",
                step="identity: cannot-link overrides",
            )
        finally:
            engine.unregister("_cut")
    return len(cut)


def _shortest_path(
    starts: set[int],
    goals: set[int],
    by_rid: dict[int, set[int]],
    by_node: dict[int, set[int]],
    removed: set[int],
) -> list[int] | None:
    """Identifier nodes on a shortest record–value–record path from starts to goals."""
    if starts & goals:
        return None  # the same record on both sides: nothing to cut
    seen: dict[int, tuple[int, int] | None] = {r: None for r in starts}  # rid → (prev, node)
    queue = deque(starts)
    while queue:
        rid = queue.popleft()
        for node in by_rid.get(rid, ()):
            if node in removed:
                continue
            for nxt in by_node[node]:
                if nxt in seen:
                    continue
                seen[nxt] = (rid, node)
                if nxt in goals:
                    nodes = []
                    cur: int = nxt
                    while seen[cur] is not None:
                        prev, via = seen[cur]  # type: ignore[misc]
                        nodes.append(via)
                        cur = prev
                    return nodes
                queue.append(nxt)
    return None


def must_link_mapping(engine: Engine, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Component relabelling that joins each must-link pair's sides (union–find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    rids = rids_by_ref(engine, (ref for pair in pairs for ref in pair))
    comps = _comp_of(engine, (r for found in rids.values() for r in found))
    for a, b in pairs:
        labels = sorted({comps[r] for r in rids[a] + rids[b] if r in comps})
        for other in labels[1:]:
            ra, rb = find(labels[0]), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {c: find(c) for c in parent}


def cannot_link_components(
    engine: Engine, pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The component pairs that clustering must keep apart."""
    out = []
    rids = rids_by_ref(engine, (ref for pair in pairs for ref in pair))
    comps = _comp_of(engine, (r for found in rids.values() for r in found))
    for a, b in pairs:
        ca = {comps[r] for r in rids[a] if r in comps}
        cb = {comps[r] for r in rids[b] if r in comps}
        out += [(x, y) for x in ca for y in cb if x != y]
    return out
