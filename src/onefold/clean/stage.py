"""The cleaning stage: landed rows → canonical records, normalised values and rejects.

Re-runnable from its inputs: every table it writes is rebuilt from `landed_records` with the
current mappings, so fixing a mapping and re-running replays whatever was rejected before.
Python work happens once per distinct raw value (see value_cache), never once per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from onefold.clean.blocked import blocked_reason_sql
from onefold.clean.junk import BUILTIN_JUNK
from onefold.clean.source_sql import mapped_fields, source_sql
from onefold.clean.value_cache import CleaningContext, normalise_pending
from onefold.config.mappings import SourceMapping
from onefold.config.settings import ProjectConfig
from onefold.engine.base import Engine
from onefold.engine.sql import literal, literal_list
from onefold.progress import accumulate

TABLES = (
    """CREATE OR REPLACE TABLE records (
        rid BIGINT, source VARCHAR, record_key VARCHAR, channel VARCHAR, load_id BIGINT,
        file VARCHAR, row_number BIGINT, loaded_at TIMESTAMPTZ, event_time_raw VARCHAR,
        event_time TIMESTAMPTZ, event_type VARCHAR, amount DOUBLE, currency VARCHAR)""",
    """CREATE OR REPLACE TEMP TABLE field_values (
        rid BIGINT, role VARCHAR, name VARCHAR, field VARCHAR, raw VARCHAR, nkey VARCHAR,
        normaliser VARCHAR, param VARCHAR, value VARCHAR, status VARCHAR, reason VARCHAR)""",
)

LANDING_REJECTS = """
    INSERT INTO rejects
    SELECT 'landing', source, record_key, load_id, file, row_number,
           CASE WHEN parse_error IS NOT NULL THEN '(row)' ELSE {key_field} END,
           left(payload, 2000), 'invalid',
           coalesce(parse_error, 'record key ' || {key_field} || ' is empty'), now()
    FROM landed_records
    WHERE source = {source} {only_load}
      AND (parse_error IS NOT NULL OR record_key IS NULL OR trim(record_key) = '')
"""


def landing_rejects_sql(mapping: SourceMapping, load_id: int | None = None) -> str:
    """Rows that could not be parsed or have no record key, as rejects of the landing stage."""
    only_load = f"AND load_id = {int(load_id)}" if load_id is not None else ""
    return LANDING_REJECTS.format(
        key_field=literal(mapping.record_key), source=literal(mapping.name), only_load=only_load
    )


@dataclass(frozen=True)
class CleanResult:
    records: int
    values: int
    normalised_now: int
    rejects: int
    suspicious: int
    #: rids above this one were written by this run (0 for a full run)
    first_new_rid: int = 0


#: Records a newer version replaces, collected before they are deleted so incremental
#: resolution can find the profiles they were in.
REPLACED = """
    INSERT INTO _replaced
    SELECT r.rid, r.source, r.record_key FROM records r JOIN _src s USING (record_key)
    WHERE r.source = {source}
"""


#: Up to this many distinct raw values an incremental run names them in its cache lookups.
INLINE_RAW_VALUES = 256


def largest_rid(engine: Engine) -> int:
    """max(rid) over `records`, read through the zone maps of the newest rows."""
    return largest_id(engine, "records", "rid")


def largest_id(engine: Engine, table: str, column: str) -> int:
    """max(`column`) over `table`, whose values are distinct positive integers, read through
    the zone maps of the newest rows.

    Such a maximum is at least the row count, so asking only for values from there on lets
    DuckDB skip every older row group. A plain max scans the whole column once rows have
    been deleted (corrected records): 15–19 ms at 10M records, against ~2 ms for both
    statements here.
    """
    floor = int(engine.fetchone(f"SELECT count(*) FROM {table}"))
    return int(
        engine.fetchone(
            f"SELECT coalesce(max({column}), ?) FROM {table} WHERE {column} >= ?", [floor, floor]
        )
    )


def run_clean(
    engine: Engine,
    config: ProjectConfig,
    mappings: dict[str, SourceMapping],
    progress: Callable[[str, int, int], None] | None = None,
    after_load: int | None = None,
    until_load: int | None = None,
) -> CleanResult:
    """Rebuild records, record_values and rejects from landed data.

    With `after_load`, only the records touched by later loads are cleaned and appended
    (a new version replaces its record, whose rid is kept in the temp table `_replaced`);
    everything else stays as the last run left it. progress(step, done, total) is called as
    sources are extracted and values normalised. Loads after `until_load` are left for the
    next run (see `source_sql`).
    """
    report = progress or (lambda _s, _d, _t: None)
    ctx = CleaningContext(config.junk_values, config.identity.canonicalise_email_providers)
    junk = tuple(
        sorted({v.casefold() for v in BUILTIN_JUNK} | {v.casefold() for v in config.junk_values})
    )
    incremental = after_load is not None
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _replaced (rid BIGINT, source VARCHAR, record_key VARCHAR)"
    )
    if incremental:
        engine.execute(TABLES[1], step="clean: create tables")
        rid_base = largest_rid(engine)
    else:
        engine.run_script(TABLES, step="clean: create tables")
        engine.execute("DELETE FROM rejects WHERE stage IN ('landing', 'clean')")
        rid_base = 0
    first_new_rid = rid_base if incremental else 0
    names = sorted(mappings)
    if incremental:  # only the sources that something was landed for since
        landed = {
            str(r[0])
            for r in engine.fetchall(
                "SELECT DISTINCT source FROM loads WHERE load_id > ? AND load_id <= ? "
                "AND rows_new > 0",
                [after_load or 0, until_load if until_load is not None else 2**62],
            )
        }
        names = [n for n in names if n in landed]
    for i, name in enumerate(names):
        mapping = mappings[name]
        fields = mapped_fields(mapping, config, ctx)
        sql = source_sql(mapping, fields, junk, rid_base, after_load, until_load)
        step = f"clean: extract {name}"
        engine.execute(sql.extract, step=step)
        if incremental:
            _drop_replaced(engine, name, step)
        engine.execute(sql.records, step=step)
        if sql.field_values:
            engine.execute(sql.field_values, step=step)
        engine.run_script(sql.rejects, step=step)
        if not incremental:  # an incremental run's landing rejects were written at load
            engine.execute(landing_rejects_sql(mapping), step=step)
        # the source's records took rids base + 1 … base + n (a max over all records costs
        # ~7 ms at 10M)
        rid_base += int(engine.fetchone("SELECT count(*) FROM _src"))
        report("extract", i + 1, len(names))
    engine.execute("DROP TABLE IF EXISTS _src")

    # a few new records: look up only their raw values in the cache — a handful as constants,
    # which DuckDB answers from the index on `raw` (a semi join still read all of a cache of
    # millions: 20 ms twice per event at 1M persons), more as a semi join hashing the small
    # side; a full run joins the whole cache anyway
    cache, cache_hits = "normalised_values", ""
    if incremental:
        raws = [
            str(r[0])
            for r in engine.fetchall(
                "SELECT DISTINCT nkey FROM field_values WHERE nkey IS NOT NULL LIMIT "
                f"{INLINE_RAW_VALUES + 1}"
            )
        ]
        among = (
            literal_list(raws)
            if len(raws) <= INLINE_RAW_VALUES
            else "(SELECT nkey FROM field_values)"
        )
        # its own statement: with any other predicate beside it DuckDB scans instead; made
        # again once the values new to the cache are in it
        cache_hits = (
            "CREATE OR REPLACE TEMP TABLE _cache_hits AS "
            f"SELECT * FROM normalised_values WHERE raw IN {among}"
        )
        engine.execute(cache_hits, step="clean: cached values")
        cache = "_cache_hits"
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _pending AS
        SELECT DISTINCT normaliser, param, nkey AS raw FROM field_values f
        WHERE status IS NULL  -- what SQL (text, numbers, consent, plain ids) left to Python
          AND NOT EXISTS (SELECT 1 FROM {cache} n WHERE n.normaliser = f.normaliser
                          AND n.param = f.param AND n.raw = f.nkey)
    """,
        step="clean: find new values",
    )
    total = int(engine.fetchone("SELECT count(*) FROM _pending"))
    report("normalise", 0, total)
    tick = accumulate(report, "normalise", total)
    normalised = normalise_pending(engine, "SELECT * FROM _pending", ctx, tick)
    engine.execute("DROP TABLE _pending")
    if incremental and normalised:
        engine.execute(cache_hits, step="clean: cached values")

    target = (
        "INSERT INTO record_values" if incremental else "CREATE OR REPLACE TABLE record_values AS"
    )
    blocked = blocked_reason_sql(config.identity, "name", "value")
    status, reason = ("status", "reason")
    if blocked:  # a usable identifier the workspace blocks becomes junk, with the rule why
        usable = "role = 'identifier' AND status IN ('valid', 'suspicious')"
        status = f"CASE WHEN {usable} AND ({blocked}) IS NOT NULL THEN 'junk' ELSE status END"
        reason = f"CASE WHEN {usable} THEN coalesce({blocked}, reason) ELSE reason END"
    engine.execute(
        f"""
        {target}
        SELECT rid, role, name, field, raw, value, {status} AS status, {reason} AS reason,
               key, script
        FROM (
            SELECT f.rid, f.role, f.name, f.field, f.raw,
                   CASE WHEN f.status IS NOT NULL THEN f.value ELSE n.value END AS value,
                   coalesce(f.status, n.status) AS status,
                   CASE WHEN f.status IS NOT NULL THEN f.reason ELSE n.reason END AS reason,
                   n.key, n.script
            FROM field_values f
            LEFT JOIN {cache} n
              ON n.normaliser = f.normaliser AND n.param = f.param AND n.raw = f.nkey
        )
    """,
        step="clean: join normalised values",
    )
    engine.execute("DROP TABLE field_values")
    engine.execute("DROP TABLE IF EXISTS _cache_hits")
    engine.execute(
        f"""
        INSERT INTO rejects
        SELECT 'clean', r.source, r.record_key, r.load_id, r.file, r.row_number, v.field, v.raw,
               v.status, v.role || ' ' || v.name || ': ' || coalesce(v.reason, v.status), now()
        FROM record_values v JOIN records r USING (rid)
        WHERE v.status IN ('invalid', 'junk') AND v.rid > {first_new_rid}
    """,
        step="clean: rejects",
    )
    counts = engine.fetchall(
        f"""
        SELECT (SELECT count(*) FROM records WHERE rid > {first_new_rid}), count(*),
               count(*) FILTER (WHERE status = 'suspicious'),
               (SELECT count(*) FROM rejects)
        FROM record_values WHERE rid > {first_new_rid}
    """
    )[0]
    return CleanResult(
        int(counts[0]), int(counts[1]), normalised, int(counts[3]), int(counts[2]), first_new_rid
    )


def _drop_replaced(engine: Engine, source: str, step: str) -> None:
    """Delete the current versions that `_src` replaces, and their clean-stage rejects."""
    engine.execute(REPLACED.format(source=literal(source)), step=step)
    for sql in (
        "DELETE FROM record_values WHERE rid IN (SELECT rid FROM _replaced)",
        "DELETE FROM records WHERE rid IN (SELECT rid FROM _replaced)",
        f"DELETE FROM rejects WHERE stage = 'clean' AND source = {literal(source)} "
        "AND record_key IN (SELECT record_key FROM _src)",
    ):
        engine.execute(sql, step=step)
