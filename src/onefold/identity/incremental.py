"""Incremental resolution: new records are resolved against the existing graph, not the world.

A full run rebuilds every component. An incremental run finds the *region* the new records can
touch — the profiles that hold any of their identifier values (or an older version of one of
them), widened along what the overrides act on (see `override_hold`) and, with probabilistic
matching, along links above the threshold (see `incremental_matching`) — copies just that
region into an in-memory database attached beside the workspace, runs the very same graph,
stable-id and profile SQL there, and writes the region's result back over the profiles it
replaces, in one transaction.

Why the region is enough to give what a full re-run gives:
- a value that is not a hub links all its records, so they are all in one profile, and that
  profile is in the region as soon as one new record holds the value;
- hub status only grows as records are added (more distinct values, more names), so a value
  that was a hub stays one — it is handed to the region as a known hub — and a value that
  becomes one has all its records in the region, where the count or name rule sees them;
- records that carry only hubs form the profile of their smallest hub: a new record's is
  found the same way, and so is the one a region record joins when a value beside its hubs
  becomes a hub in this run (the region takes the profiles keyed by its profiles' hubs);
- what an override acts on comes into the region whole (see `override_hold`), so that the
  region replays it as a full run does.
A newer version of a known record can *remove* values, which could turn a hub back into a
linking value and join profiles outside the region; that case (rare: a corrected export row
that held a shared value) is detected and answered with a full run instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from onefold.engine.base import Engine
from onefold.engine.sql import literal, literal_list, replace_rows_sql
from onefold.identity.incremental_matching import TEMP_TABLES as MATCH_TEMP_TABLES
from onefold.identity.incremental_matching import widen_by_match_links
from onefold.identity.limits import CONFLICTS_TABLE
from onefold.identity.override_hold import NO_HOLD, OverrideHold

REGION = "_region"
#: Up to this many values a lookup names them as constants (answered from the ART index).
INLINE_VALUES = 256
MAX_WIDENING_ROUNDS = 64
#: Region size (records) from which the write-back writes only the rows that changed. A
#: resolver run over thousands of new events recomputes profiles whose rows mostly stay as
#: they were, and re-merging them into the indexed tables made its commit — which the
#: collector's commits wait behind — twice as long; for one event's few rows the comparison
#: costs more than it saves.
WRITE_CHANGES_FROM = 1000

#: The new records the region resolves (`fast_path.FRESH`): those with rid > base that the
#: fast path did not place. `rid > base` stays beside it for the scans' zone maps.
FRESH_RIDS = "rid > {base} AND rid IN (SELECT rid FROM _fresh)"

#: Identifier values (as profile member keys) of the records written by this run.
NEW_KEYS = f"""
    CREATE OR REPLACE TEMP TABLE _new_keys AS
    SELECT DISTINCT name || ':' || value AS member_key FROM record_values
    WHERE {FRESH_RIDS} AND role = 'identifier' AND status IN ('valid', 'suspicious')
    UNION
    SELECT 'record:' || source || '/' || record_key FROM records WHERE {FRESH_RIDS}
"""

AFFECTED = """
    CREATE OR REPLACE TEMP TABLE _affected AS
    SELECT DISTINCT profile_id FROM profile_keys
    WHERE member_key IN (SELECT member_key FROM _new_keys)
    UNION
    SELECT profile_id FROM record_profiles WHERE rid IN (SELECT rid FROM _replaced)
"""

REGION_RIDS = """
    CREATE OR REPLACE TEMP TABLE _region_rids AS
    SELECT rid FROM record_profiles WHERE profile_id IN (SELECT profile_id FROM _affected)
    UNION
    SELECT rid FROM _fresh
"""


@dataclass(frozen=True)
class Region:
    """The part of the workspace an incremental run recomputes."""

    profiles: int
    records: int
    new_records: int


def replaced_hubs(engine: Engine) -> int:
    """Hub values on records that a newer version replaces (these need a full run)."""
    return int(
        engine.fetchone(
            "SELECT count(*) FROM record_nodes rn JOIN hub_values h USING (node_id) "
            "WHERE rn.rid IN (SELECT rid FROM _replaced)"
        )
    )


def select_region(
    engine: Engine,
    base: int,
    *,
    match_links: bool = False,
    conflict_pairs: set[tuple[str, str]] | None = None,
    held: OverrideHold = NO_HOLD,
) -> Region:
    """Write `_affected(profile_id)` and `_region_rids(rid)` for the records in `_fresh`.

    With `match_links` (probabilistic matching on: `incremental_matching.strong_links` wrote
    `_strong`), the region also grows along links above the threshold. The widenings repeat
    until none adds a profile: a profile one rule brings in may reach another through a
    different rule. `conflict_pairs` (`CONFLICT_PAIRS`' rows, when the caller keeps them:
    `fast_path.ConflictCache`) saves the scans that find them.

    Overrides (`held`, see `override_hold`) widen it like a dropped link: a region holding
    one profile an override acts on holds them all, so that it can replay the override;
    and a new record that carries a value an override names or set aside brings them in
    too (no profile's member key may hold such a value).
    """
    step = "incremental: region"
    engine.execute(NEW_KEYS.format(base=int(base)), step=step)
    engine.execute(AFFECTED, step=step)
    if held.reach:
        _seed_override_reach(engine, held.reach)
    hub_keys_seen: set[str] = set()
    paired = _stage_pairs(engine, conflict_pairs, held.pairs)
    for _ in range(MAX_WIDENING_ROUNDS):
        before = int(engine.fetchone("SELECT count(*) FROM _affected"))
        if paired:
            _widen_along_pairs(engine)
        _widen_by_hub_profiles(engine, hub_keys_seen)
        if match_links:
            widen_by_match_links(engine)
        if int(engine.fetchone("SELECT count(*) FROM _affected")) == before:
            break
    else:
        raise RuntimeError(f"region did not stop growing in {MAX_WIDENING_ROUNDS} rounds")
    if paired:
        engine.execute("DROP TABLE _conflict_pairs")
    engine.execute(REGION_RIDS, step=step)
    counts = engine.fetchall(
        "SELECT (SELECT count(*) FROM _affected), (SELECT count(*) FROM _region_rids), "
        "(SELECT count(*) FROM _fresh)"
    )[0]
    return Region(int(counts[0]), int(counts[1]), int(counts[2]))


def _widen_by_hub_profiles(engine: Engine, seen: set[str]) -> None:
    """Bring in the profiles of the hubs the region's profiles hold. A record whose linking
    values all turn out to be hubs forms, in a full run, one profile with every other such
    record whose smallest hub is the same: the profile keyed by that hub. When a value on a
    region record becomes a hub in this run, a record that held it beside a known hub joins
    the known hub's profile, which the region must hold to give it the same id and rows.
    (Found by a randomised stream of events: the record got a profile of its own.) `seen`:
    the hub keys looked up in earlier rounds (each lookup scans `profile_keys`: ~0.1 s at
    1M persons), grown here."""
    affected = [str(r[0]) for r in engine.fetchall("SELECT profile_id FROM _affected")]
    if not affected:
        return
    among = (
        literal_list(affected)
        if len(affected) <= INLINE_VALUES
        else "(SELECT profile_id FROM _affected)"
    )
    # the filter on `shared` is applied here: beside it DuckDB scans instead of probing the
    # index on profile_id (0.25 s against 2 ms at 1M persons)
    keys = sorted(
        {
            f"{t}:{v}"
            for t, v, shared in engine.fetchall(
                "SELECT id_type, value, shared FROM profile_identifiers "
                f"WHERE profile_id IN {among}",
                step="incremental: region",
            )
            if shared
        }
        - seen
    )
    if not keys:
        return
    seen.update(keys)
    listed = literal_list(keys) if len(keys) <= INLINE_VALUES else None
    if listed is None:
        engine.register("_hub_keys", pa.table({"member_key": pa.array(keys, pa.string())}))
    try:
        engine.execute(
            "INSERT INTO _affected SELECT DISTINCT profile_id FROM profile_keys "
            f"WHERE member_key IN {listed or '(SELECT member_key FROM _hub_keys)'} "
            "AND profile_id NOT IN (SELECT profile_id FROM _affected)",
            step="incremental: region",
        )
    finally:
        if listed is None:
            engine.unregister("_hub_keys")


def _seed_override_reach(engine: Engine, reach: Mapping[str, frozenset[str]]) -> None:
    new_keys = {str(r[0]) for r in engine.fetchall("SELECT member_key FROM _new_keys")}
    seeds = set().union(*(reach[k] for k in new_keys & reach.keys()))
    seeds -= {str(r[0]) for r in engine.fetchall("SELECT profile_id FROM _affected")}
    if seeds:
        values = ", ".join(f"({literal(p)})" for p in sorted(seeds))
        engine.execute(f"INSERT INTO _affected VALUES {values}")


#: Profiles on the other side of a link a profile limit dropped: in a full run they are one
#: component with the region's profiles, replayed together, so the region must hold them too.
#: The profile pairs a dropped link separates, both ways (`{tables}`: a prefix for the
#: record and key tables, a region's after its run). The join scans `record_profiles` and
#: `profile_keys` (~0.3 s at 1M persons), so `fast_path.ConflictCache` keeps its answer.
CONFLICT_PAIRS = """
    WITH p AS (
        SELECT rp.profile_id AS a, pk.profile_id AS b
        FROM {conflicts} c JOIN {tables}record_profiles rp USING (rid)
        JOIN {tables}profile_keys pk ON pk.member_key = c.node_key)
    SELECT a AS here, b AS other FROM p UNION SELECT b, a FROM p
"""


def conflict_pairs(engine: Engine, tables: str = "") -> set[tuple[str, str]]:
    """`CONFLICT_PAIRS`' rows; `tables` as in `fast_path.conflicted_profiles`."""
    conflicts = tables.split("next_")[0] + "identity_conflicts"
    if not tables and not engine.table_exists("identity_conflicts"):
        return set()
    rows = engine.fetchall(
        CONFLICT_PAIRS.format(conflicts=conflicts, tables=tables), step="incremental: region"
    )
    return {(str(a), str(b)) for a, b in rows}


CONFLICT_NEIGHBOURS = """
    INSERT INTO _affected
    SELECT DISTINCT other FROM _conflict_pairs
    WHERE here IN (SELECT profile_id FROM _affected)
      AND other NOT IN (SELECT profile_id FROM _affected)
"""


def _stage_pairs(
    engine: Engine, pairs: set[tuple[str, str]] | None, more: frozenset[tuple[str, str]]
) -> bool:
    """`_conflict_pairs(here, other)`: `pairs` (scanned for when None) and `more` (the
    overrides' reach), staged once for every widening round; False when there are none."""
    if pairs is None:
        pairs = conflict_pairs(engine)
    pairs = pairs | more
    if not pairs:
        return False
    engine.register(
        "_conflict_pairs_in",
        pa.table(
            {
                "here": pa.array([a for a, _ in pairs], pa.string()),
                "other": pa.array([b for _, b in pairs], pa.string()),
            }
        ),
    )
    try:
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _conflict_pairs AS SELECT * FROM _conflict_pairs_in",
            step="incremental: region",
        )
    finally:
        engine.unregister("_conflict_pairs_in")
    return True


def _widen_along_pairs(engine: Engine) -> None:
    """Along `_conflict_pairs`, until closed."""
    for _ in range(MAX_WIDENING_ROUNDS):
        before = int(engine.fetchone("SELECT count(*) FROM _affected"))
        engine.execute(CONFLICT_NEIGHBOURS, step="incremental: region")
        if int(engine.fetchone("SELECT count(*) FROM _affected")) == before:
            return
    raise RuntimeError(f"region did not stop growing in {MAX_WIDENING_ROUNDS} rounds")


def open_region(engine: Engine, main: str) -> None:
    """Attach a fresh in-memory database holding the region's inputs, and switch to it."""
    engine.execute(f"DETACH DATABASE IF EXISTS {REGION}")
    engine.execute(f"ATTACH ':memory:' AS {REGION}")
    step = "incremental: copy region"
    rids = "rid IN (SELECT rid FROM _region_rids)"
    affected = "profile_id IN (SELECT profile_id FROM _affected)"
    for sql in (
        f"CREATE TABLE {REGION}.records AS SELECT * FROM {main}.records WHERE {rids}",
        f"CREATE TABLE {REGION}.record_values AS SELECT * FROM {main}.record_values WHERE {rids}",
        f"CREATE TABLE {REGION}.profile_keys AS SELECT * FROM {main}.profile_keys WHERE {affected}",
        f"CREATE TABLE {REGION}.profile_history AS "
        f"SELECT * FROM {main}.profile_history WHERE {affected}",
        f"CREATE TABLE {REGION}.overrides AS SELECT * FROM {main}.overrides",
        # hubs on the region's values that the last run saw (override cuts are redone): the
        # region's records' usable identifiers are their nodes, and matching them against the
        # hubs (few) spares a scan of every record's nodes (~0.1 s at 1M persons)
        f"""CREATE TABLE {REGION}.known_hubs AS
            SELECT h.id_type, h.value, h.shared_with_type, h.distinct_values, h.max_allowed
            FROM {main}.hub_values h
            WHERE h.shared_with_type <> 'override' AND EXISTS (
                SELECT 1 FROM {REGION}.record_values v
                WHERE v.role = 'identifier' AND v.status IN ('valid', 'suspicious')
                  AND v.name = h.id_type AND v.value = h.value)""",
    ):
        engine.execute(sql, step=step)
    engine.execute(f"USE {REGION}")


def add_minted_history(engine: Engine, main: str) -> None:
    """Copy the history of ids the region would mint, so a retired id is never reused."""
    engine.execute(
        f"""
        INSERT INTO {REGION}.profile_history
        SELECT * FROM {main}.profile_history
        WHERE profile_id IN (SELECT 'p_' || left(md5(min(member_key)), 16) FROM _members
                             GROUP BY comp)
          AND profile_id NOT IN (SELECT profile_id FROM _affected)
    """,
        step="incremental: minted ids",
    )


def write_back_identity(engine: Engine, main: str, *, only_changes: bool) -> None:
    """Inside the caller's transaction: the region's nodes, hubs, record nodes and ids."""
    step = "incremental: write identity"
    r = REGION
    # main's nodes for the region's values, through the index on value when they are few
    # (a join on node_key scans every node: ~0.1 s at 1M persons)
    values = [str(v[0]) for v in engine.fetchall(f"SELECT DISTINCT value FROM {r}.identity_nodes")]
    if values and len(values) <= INLINE_VALUES:
        main_nodes = (
            f"(SELECT node_id, node_key FROM {main}.identity_nodes "
            f"WHERE value IN {literal_list(values)})"
        )
    else:
        main_nodes = f"{main}.identity_nodes"
    for sql in (
        # main's node ids for the region's nodes; new values get ids after the largest
        f"""CREATE OR REPLACE TEMP TABLE _node_map AS
            SELECT x.node_id AS region_id, x.node_key, x.id_type, x.value, x.links, x.is_hub,
                   m.node_id AS main_id, m.node_id IS NULL AS is_new
            FROM {r}.identity_nodes x LEFT JOIN {main_nodes} m USING (node_key)""",
        f"""UPDATE _node_map SET main_id = n.new_id FROM (
                SELECT region_id, (SELECT coalesce(max(node_id), 0) FROM {main}.identity_nodes)
                       + row_number() OVER (ORDER BY node_key) AS new_id
                FROM _node_map WHERE main_id IS NULL) n
            WHERE _node_map.region_id = n.region_id""",
        f"""INSERT INTO {main}.identity_nodes
            SELECT main_id, id_type, value, node_key, links, false FROM _node_map
            WHERE is_new""",
        f"""DELETE FROM {main}.hub_values
            WHERE node_id IN (SELECT main_id FROM _node_map)""",
        f"""INSERT INTO {main}.hub_values
            SELECT m.main_id, h.id_type, h.value, h.shared_with_type, h.distinct_values,
                   h.max_allowed
            FROM {r}.hub_values h JOIN _node_map m ON m.region_id = h.node_id""",
        f"""UPDATE {main}.identity_nodes SET is_hub = m.is_hub FROM _node_map m
            WHERE identity_nodes.node_id = m.main_id AND identity_nodes.is_hub <> m.is_hub""",
        f"DELETE FROM {main}.record_nodes WHERE rid IN (SELECT rid FROM _replaced)",
        f"""INSERT INTO {main}.record_nodes
            SELECT rn.rid, m.main_id FROM {r}.record_nodes rn
            JOIN _node_map m ON m.region_id = rn.node_id
            WHERE rn.rid IN (SELECT rid FROM _fresh)""",
        *replace_rows_sql(
            f"{main}.profile_keys",
            f"{r}.next_profile_keys",
            "profile_id IN (SELECT profile_id FROM _affected)",
            ("member_key", "profile_id") if only_changes else None,
        ),
        f"INSERT INTO {main}.profile_history SELECT * FROM _history",
        CONFLICTS_TABLE.format(replace="", name=f"IF NOT EXISTS {main}.identity_conflicts"),
        f"""DELETE FROM {main}.identity_conflicts
            WHERE rid IN (SELECT rid FROM _region_rids) OR rid IN (SELECT rid FROM _replaced)""",
        f"INSERT INTO {main}.identity_conflicts SELECT * FROM {r}.identity_conflicts",
    ):
        engine.execute(sql, step=step)


def close_region(engine: Engine, main: str) -> None:
    engine.execute(f"USE {main}")
    for t in (
        "_new_keys",
        "_affected",
        "_region_rids",
        "_node_map",
        "_history",
        "_merges",
        "_fresh",
        *MATCH_TEMP_TABLES,
    ):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    engine.execute(f"DETACH DATABASE IF EXISTS {REGION}")
