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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from onefold.engine.base import Engine

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


def ref_rids(engine: Engine, ref: str) -> list[int]:
    """The current records a reference points at (an identifier may be on several)."""
    if is_record_ref(ref):
        source, key = ref.split("/", 1)
        rows = engine.fetchall(
            "SELECT rid FROM records WHERE source = ? AND record_key = ?", [source, key]
        )
    else:
        rows = engine.fetchall(
            "SELECT rn.rid FROM record_nodes rn JOIN identity_nodes n USING (node_id) "
            "WHERE n.node_key = ?",
            [ref],
        )
    return [int(r[0]) for r in rows]


def _comp_of(engine: Engine, rids: list[int]) -> dict[int, str]:
    if not rids:
        return {}
    marks = ", ".join("?" for _ in rids)
    return {
        int(r): str(c)
        for r, c in engine.fetchall(
            f"SELECT rid, comp FROM _record_comp WHERE rid IN ({marks})", list(rids)
        )
    }


def cut_cannot_links(
    engine: Engine, pairs: Sequence[tuple[str, str]], rank: Callable[[str], int]
) -> int:
    """Set aside identifier values until each cannot-link pair is in different components.

    Works on the local graph of the one component both sides fall in (records and their
    linking values), so the cost is that component's size, not the workspace's.
    """
    cut: dict[int, tuple[str, str]] = {}
    for a, b in pairs:
        side_a, side_b = ref_rids(engine, a), ref_rids(engine, b)
        comps = _comp_of(engine, side_a + side_b)
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

    for a, b in pairs:
        comps = _comp_of(engine, ref_rids(engine, a) + ref_rids(engine, b))
        labels = sorted(set(comps.values()))
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
    for a, b in pairs:
        ca = set(_comp_of(engine, ref_rids(engine, a)).values())
        cb = set(_comp_of(engine, ref_rids(engine, b)).values())
        out += [(x, y) for x in ca for y in cb if x != y]
    return out
