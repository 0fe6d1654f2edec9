"""Probabilistic matching in an incremental run: new records scored with the stored model.

A full run scores every candidate pair (records sharing a blocking key) with the stored model
(`match_model`) and keeps three tables: `match_records` (each record's comparable values),
`match_blocks` (each record's key under each blocking rule: the blocking index) and
`match_pairs` (every candidate pair with its levels, weights and probability). An incremental
run keeps them equal to what a full re-run with the same model would write:

- the new records' match rows are built with the model's term frequencies, their blocking
  keys looked up in `match_blocks`, and only the pairs with at least one new record are
  compared and scored — with the same SQL as a full run (`matching.compare_pairs`,
  `add_tf_terms`, `score_pairs`), so a pair scores the same whichever run scored it;
- pairs of a corrected record's old version go, as its rows do;
- a block that crosses `max_block_size` (pairs of old records appear or vanish) is answered
  with a full run, as a corrected record that held a hub is.

Clustering needs more than the new pairs: a full run clusters each *piece* — deterministic
components joined by links above the threshold — as a whole, best-first, counting every
scored pair between two sides. So the region (see `incremental`) is widened along links above
the threshold, the new ones and those stored from earlier runs, until no such link leaves it:
then it holds whole pieces, and clustering inside it, over the stored and new pairs among its
records, decides what the full run decides.
"""

from __future__ import annotations

from onefold.config.settings import MatchingSettings
from onefold.engine.base import Engine
from onefold.identity.comparisons import build_comparisons
from onefold.identity.matching import (
    MatchResult,
    Model,
    add_tf_terms,
    blocks_sql,
    build_match_records,
    compare_pairs,
    score_pairs,
)

NEW_ROWS = "_new_match"
NEW_BLOCKS = "_new_blocks"
NEW_PAIRS = "_new_pairs"
#: links above the threshold between records, both ways (`a` → `b`)
STRONG = "_strong"
REPLACED = "rid IN (SELECT rid FROM _replaced)"

#: Per blocking key the new records hold or a replaced record held: its block's size before
#: this run and after it.
BLOCK_SIZES = f"""
    CREATE OR REPLACE TEMP TABLE _block_sizes AS
    WITH keys AS (
        SELECT rule, bk FROM {NEW_BLOCKS}
        UNION
        SELECT rule, bk FROM match_blocks WHERE {REPLACED}
    ), old AS (
        SELECT m.rule, m.bk, count(*) AS n, count(*) FILTER (WHERE m.{REPLACED}) AS gone
        FROM match_blocks m JOIN keys USING (rule, bk) GROUP BY ALL
    ), new AS (SELECT rule, bk, count(*) AS n FROM {NEW_BLOCKS} GROUP BY ALL)
    SELECT k.rule, k.bk, coalesce(o.n, 0) AS before,
           coalesce(o.n, 0) - coalesce(o.gone, 0) + coalesce(n.n, 0) AS after
    FROM keys k LEFT JOIN old o USING (rule, bk) LEFT JOIN new n USING (rule, bk)
"""

#: Candidate pairs with at least one new record: the new records' blocks (not skipped as too
#: large) joined with the records already in them and with each other.
NEW_PAIR_IDS = """
    CREATE OR REPLACE TEMP TABLE _new_pair_ids AS
    WITH live AS (SELECT rule, bk FROM _block_sizes WHERE after <= {max_block}),
    members AS (
        SELECT m.rule, m.bk, m.rid, m.src FROM match_blocks m JOIN live USING (rule, bk)
        WHERE NOT m.{replaced}
        UNION ALL
        SELECT n.rule, n.bk, n.rid, n.src FROM {new_blocks} n JOIN live USING (rule, bk)
    )
    SELECT least(n.rid, m.rid) AS rid_l, greatest(n.rid, m.rid) AS rid_r,
           bit_or((1::BIGINT) << n.rule) AS rules
    FROM {new_blocks} n JOIN live USING (rule, bk)
    JOIN members m ON m.rule = n.rule AND m.bk = n.bk AND m.rid <> n.rid{cross}
    GROUP BY ALL
"""


def score_new_records(
    engine: Engine, settings: MatchingSettings, model: Model, base: int
) -> str | None:
    """`_new_match`, `_new_blocks`, `_new_pairs` for the records with rid > `base`; a reason
    for a full run instead when a block crosses `max_block_size`. Runs on the workspace
    database, before the region is chosen (the new links widen it)."""
    step = "incremental: matching"
    build_match_records(engine, settings, model=model, rids=f"rid > {int(base)}", table=NEW_ROWS)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {NEW_BLOCKS} AS {blocks_sql(settings, NEW_ROWS)}",
        step=step,
    )
    engine.execute(BLOCK_SIZES, step=step)
    limit = int(settings.max_block_size)
    crossed = int(
        engine.fetchone(
            f"SELECT count(*) FROM _block_sizes WHERE (before <= {limit}) <> (after <= {limit})"
        )
    )
    if crossed:
        return (
            f"{crossed} blocking key(s) crossed max_block_size ({limit}): pairs of earlier "
            "records appear or vanish"
        )
    cross = " AND m.src <> n.src" if settings.link_only else ""
    engine.execute(
        NEW_PAIR_IDS.format(max_block=limit, replaced=REPLACED, new_blocks=NEW_BLOCKS, cross=cross),
        step=step,
    )
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _pair_rows AS
            SELECT * FROM match_records
            WHERE rid IN (SELECT rid_l FROM _new_pair_ids) AND NOT {REPLACED}
            UNION ALL
            SELECT * FROM {NEW_ROWS}""",
        step=step,
    )
    comparisons = build_comparisons(settings.comparisons)
    compare_pairs(engine, comparisons, "_new_pair_ids", "_pair_rows")
    add_tf_terms(engine, comparisons, model)
    score_pairs(engine, comparisons, model, NEW_PAIRS, temp=True)
    for t in ("_pair_rows", "_new_pair_ids", "_gamma", "_block_sizes"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return None


def strong_links(engine: Engine, threshold: float) -> None:
    """`_strong(a, b)`: record pairs linked above the threshold, stored and new, both ways."""
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {STRONG} AS
        WITH s AS (
            SELECT rid_l, rid_r FROM match_pairs
            WHERE match_probability >= {threshold!r} AND rid_l NOT IN (SELECT rid FROM _replaced)
              AND rid_r NOT IN (SELECT rid FROM _replaced)
            UNION ALL
            SELECT rid_l, rid_r FROM {NEW_PAIRS} WHERE match_probability >= {threshold!r})
        SELECT rid_l AS a, rid_r AS b FROM s UNION ALL SELECT rid_r, rid_l FROM s
    """,
        step="incremental: matching links",
    )


#: Profiles linked above the threshold to a record of `_frontier` that are not in the region.
LINKED_PROFILES = f"""
    CREATE OR REPLACE TEMP TABLE _reached AS
    SELECT DISTINCT rp.profile_id FROM {STRONG} s JOIN record_profiles rp ON rp.rid = s.b
    WHERE s.a IN (SELECT rid FROM _frontier)
      AND rp.profile_id NOT IN (SELECT profile_id FROM _affected)
"""

#: A long chain of refused links (many people of one common name) is one piece, so the
#: region may take many hops to close; each hop reads only what the last one added.
MAX_HOPS = 100_000


def widen_by_match_links(engine: Engine) -> None:
    """Add to `_affected` every profile that links above the threshold reach from the region
    (its records and the new ones), hop by hop until none is left."""
    step = "incremental: region"
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _frontier AS SELECT rid FROM _fresh UNION ALL "
        "SELECT rid FROM record_profiles WHERE profile_id IN (SELECT profile_id FROM _affected)",
        step=step,
    )
    for _ in range(MAX_HOPS):
        engine.execute(LINKED_PROFILES, step=step)
        if not int(engine.fetchone("SELECT count(*) FROM _reached")):
            break
        engine.execute("INSERT INTO _affected SELECT profile_id FROM _reached", step=step)
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _frontier AS SELECT rid FROM record_profiles "
            "WHERE profile_id IN (SELECT profile_id FROM _reached)",
            step=step,
        )
    else:
        raise RuntimeError(f"the region did not close in {MAX_HOPS} hops")
    for t in ("_frontier", "_reached"):
        engine.execute(f"DROP TABLE {t}")


def copy_region_pairs(engine: Engine, main: str, region: str) -> None:
    """The region's `match_pairs`: every scored pair, stored or new, between its records."""
    inside = "rid_l IN (SELECT rid FROM _region_rids) AND rid_r IN (SELECT rid FROM _region_rids)"
    engine.execute(
        f"""CREATE TABLE {region}.match_pairs AS
            SELECT * FROM {main}.match_pairs
            WHERE {inside} AND rid_l NOT IN (SELECT rid FROM _replaced)
              AND rid_r NOT IN (SELECT rid FROM _replaced)
            UNION ALL
            SELECT * FROM {NEW_PAIRS} WHERE {inside}""",
        step="incremental: copy region",
    )


def region_match_result(engine: Engine, model: Model, threshold: float) -> MatchResult:
    """What matching did in this run: the new records, their scored pairs, none trained."""
    records, pairs, above = engine.fetchall(
        f"SELECT (SELECT count(*) FROM {NEW_ROWS}), (SELECT count(*) FROM {NEW_PAIRS}), "
        f"(SELECT count(*) FROM {NEW_PAIRS} WHERE match_probability >= {threshold!r})"
    )[0]
    return MatchResult(int(records), int(pairs), model, int(above), trained=False)


def write_back_matches(engine: Engine, main: str, region: str) -> None:
    """Inside the caller's transaction: the new match rows, blocking keys and pairs join the
    workspace's, a corrected record's old ones go, and the region's merge evidence replaces
    the evidence of the merges it recomputed."""
    step = "incremental: write matching"
    gone = "rid IN (SELECT rid FROM _replaced)"
    pair_gone = "rid_l IN (SELECT rid FROM _replaced) OR rid_r IN (SELECT rid FROM _replaced)"
    redone = (
        "rid_l IN (SELECT rid FROM _region_rids) OR rid_r IN (SELECT rid FROM _region_rids) "
        f"OR {pair_gone}"
    )
    for sql in (
        f"DELETE FROM {main}.match_records WHERE {gone}",
        f"INSERT INTO {main}.match_records SELECT * FROM {NEW_ROWS}",
        f"DELETE FROM {main}.match_blocks WHERE {gone}",
        f"INSERT INTO {main}.match_blocks SELECT * FROM {NEW_BLOCKS}",
        f"DELETE FROM {main}.match_pairs WHERE {pair_gone}",
        f"INSERT INTO {main}.match_pairs SELECT * FROM {NEW_PAIRS}",
        f"DELETE FROM {main}.match_links WHERE {redone}",
        f"INSERT INTO {main}.match_links SELECT * FROM {region}.match_links",
    ):
        engine.execute(sql, step=step)


TEMP_TABLES = (NEW_ROWS, NEW_BLOCKS, NEW_PAIRS, STRONG, "_comp_edges")
