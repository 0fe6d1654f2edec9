"""Unified profiles: golden record, identifiers, computed traits and the timeline.

Survivorship (documented in the README): for each trait the value from the source listed
first in `source_priority` wins; among equally ranked sources the most recently observed
non-null value wins (event time, else load time). Identifiers are all kept; the primary
email/phone is the most recently seen one that is not a shared (hub) value.

Tables are built under `next_*` names and swapped in by `swap_profile_tables` inside one
short transaction, so a reader never sees half a run.
"""

from __future__ import annotations

from onefold.engine.base import Engine
from onefold.engine.sql import literal, replace_rows_sql

USABLE = "('valid', 'suspicious')"
TABLES = (
    "record_profiles",
    "profile_identifiers",
    "profile_traits",
    "profile_consents",
    "profiles",
    "profile_docs",  # built from the four before it
)


def source_rank(source_priority: tuple[str, ...]) -> str:
    if not source_priority:
        return "0"
    whens = " ".join(f"WHEN {literal(s)} THEN {i}" for i, s in enumerate(source_priority))
    return f"CASE r.source {whens} ELSE {len(source_priority)} END"


RECORD_PROFILES = """
    CREATE OR REPLACE TABLE next_record_profiles AS
    SELECT c.rid, c.source, c.record_key, cp.profile_id
    FROM _record_comp c JOIN _comp_profile cp USING (comp)
"""

# two-level grouping (profile, node, source) → (profile, node) keeps the aggregation on
# integer keys and avoids DISTINCT lists, which matters at tens of millions of rows
PROFILE_IDENTIFIERS = """
    CREATE OR REPLACE TABLE next_profile_identifiers AS
    WITH per_source AS (
        SELECT p.profile_id, rn.node_id, r.source, count(*) AS records,
               min(coalesce(r.event_time, r.loaded_at)) AS first_seen,
               max(coalesce(r.event_time, r.loaded_at)) AS last_seen
        FROM record_nodes rn JOIN next_record_profiles p USING (rid)
        JOIN records r USING (rid)
        GROUP BY ALL
    ), per_node AS (
        SELECT profile_id, node_id, sum(records)::BIGINT AS records,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               list(source ORDER BY source) AS sources
        FROM per_source GROUP BY ALL
    )
    SELECT pn.profile_id, n.id_type, n.value, pn.records, pn.first_seen, pn.last_seen,
           pn.sources, n.is_hub AS shared
    FROM per_node pn JOIN identity_nodes n USING (node_id)
"""

PROFILE_TRAITS = """
    CREATE OR REPLACE TABLE next_profile_traits AS
    SELECT profile_id, trait, value, source, observed_at FROM (
        SELECT p.profile_id, v.name AS trait, v.value, r.source,
               coalesce(r.event_time, r.loaded_at) AS observed_at,
               row_number() OVER (
                   PARTITION BY p.profile_id, v.name
                   ORDER BY {rank}, coalesce(r.event_time, r.loaded_at) DESC NULLS LAST,
                            r.rid DESC) AS rn
        FROM record_values v JOIN records r USING (rid) JOIN next_record_profiles p USING (rid)
        WHERE v.role = 'trait' AND v.status IN {usable}
    ) WHERE rn = 1
"""

PROFILE_CONSENTS = """
    CREATE OR REPLACE TABLE next_profile_consents AS
    SELECT profile_id, purpose, status, source, observed_at FROM (
        SELECT p.profile_id, v.name AS purpose, v.value AS status, r.source,
               coalesce(r.event_time, r.loaded_at) AS observed_at,
               row_number() OVER (PARTITION BY p.profile_id, v.name
                                  ORDER BY coalesce(r.event_time, r.loaded_at) DESC NULLS LAST,
                                           r.rid DESC) AS rn
        FROM record_values v JOIN records r USING (rid) JOIN next_record_profiles p USING (rid)
        WHERE v.role = 'consent' AND v.status = 'valid'
    ) WHERE rn = 1
"""

#: The golden-record columns, from a profile's trait winners and its identifiers: shared by
#: the full build and the fast path's in-place update (`identity.fast_path`).
TRAIT_COLUMNS = """
    t AS (
        SELECT profile_id,
               any_value(value) FILTER (WHERE trait = 'full_name') AS full_name,
               any_value(value) FILTER (WHERE trait = 'first_name') AS first_name,
               any_value(value) FILTER (WHERE trait = 'last_name') AS last_name,
               any_value(value) FILTER (WHERE trait = 'birth_date') AS birth_date,
               any_value(value) FILTER (WHERE trait = 'gender') AS gender,
               any_value(value) FILTER (WHERE trait = 'country') AS country,
               any_value(value) FILTER (WHERE trait = 'city') AS city
        FROM {traits} GROUP BY profile_id
    ), ids AS (
        SELECT profile_id,
               arg_max(value, last_seen) FILTER (WHERE id_type = 'email' AND NOT shared)
                   AS email,
               arg_max(value, last_seen) FILTER (WHERE id_type = 'phone' AND NOT shared)
                   AS phone,
               arg_max(value, last_seen) FILTER (WHERE id_type = 'user_id') AS user_id,
               count(*) AS identifiers
        FROM {identifiers} GROUP BY profile_id
    )
"""

#: A row of `profiles`, from the CTEs t and ids (above), acts and rev.
PROFILE_ROW = """
    SELECT a.profile_id,
           coalesce(t.full_name, CASE
               WHEN regexp_matches(coalesce(t.last_name, '') || coalesce(t.first_name, ''),
                                   '^\\p{Han}+$')
               THEN t.last_name || t.first_name
               ELSE nullif(trim(concat_ws(' ', t.first_name, t.last_name)), '') END)
               AS name,
           i.email, i.phone, i.user_id, t.birth_date, t.gender, t.country, t.city,
           a.first_seen, a.last_seen, a.channels, a.sources, len(a.sources) AS source_count,
           a.records, a.orders, rev.revenue, coalesce(i.identifiers, 0) AS identifiers
    FROM acts a LEFT JOIN t USING (profile_id) LEFT JOIN ids i USING (profile_id)
    LEFT JOIN rev USING (profile_id)
"""

_NEXT_TRAIT_COLUMNS = TRAIT_COLUMNS.format(
    traits="next_profile_traits", identifiers="next_profile_identifiers"
)
PROFILES = f"""
    CREATE OR REPLACE TABLE next_profiles AS
    WITH {_NEXT_TRAIT_COLUMNS},
    per_source AS (
        SELECT p.profile_id, r.source, any_value(r.channel) AS channel, count(*) AS records,
               min(coalesce(r.event_time, r.loaded_at)) AS first_seen,
               max(coalesce(r.event_time, r.loaded_at)) AS last_seen,
               count(r.amount) AS orders
        FROM next_record_profiles p JOIN records r USING (rid) GROUP BY ALL
    ), acts AS (
        SELECT profile_id, sum(records)::BIGINT AS records, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen,
               list_sort(list_distinct(list(channel))) AS channels,
               list(source ORDER BY source) AS sources, sum(orders)::BIGINT AS orders
        FROM per_source GROUP BY profile_id
    ), rev AS (
        SELECT profile_id, map_from_entries(list((currency, total) ORDER BY currency))
                   AS revenue
        FROM (SELECT p.profile_id, coalesce(r.currency, '?') AS currency,
                     round(sum(r.amount), 2) AS total
              FROM next_record_profiles p JOIN records r USING (rid)
              WHERE r.amount IS NOT NULL GROUP BY ALL)
        GROUP BY profile_id
    )
    {PROFILE_ROW}
"""


def profile_docs_sql(profiles: str, identifiers: str, traits: str, consents: str) -> str:
    """One row per profile of `profiles`: its golden record, identifiers, traits and consents
    as nested values — what the Profile API answers, read with one index probe.

    Assembled at lookup time it took five probes (~6–7 ms at 1M profiles on this machine);
    kept per profile it is one (~1 ms), at the price of being rewritten wherever its four
    sources are: the full build, an incremental run's region (as one of the `next_*`
    tables) and the fast path (from its staged rows). Lists are fully ordered so that the
    same profile gives the same document whichever way it was built.
    """
    return f"""
        WITH i AS (
            SELECT profile_id,
                   list(struct_pack(id_type, value, records, first_seen, last_seen, sources,
                                    shared) ORDER BY id_type, last_seen DESC, value)
                       AS identifiers
            FROM {identifiers} GROUP BY profile_id
        ), t AS (
            SELECT profile_id,
                   list(struct_pack(trait, value, source, observed_at) ORDER BY trait) AS traits
            FROM {traits} GROUP BY profile_id
        ), c AS (
            SELECT profile_id,
                   list(struct_pack(purpose, status, source, observed_at) ORDER BY purpose)
                       AS consents
            FROM {consents} GROUP BY profile_id
        )
        SELECT p.profile_id, p AS profile, i.identifiers, t.traits, c.consents
        FROM {profiles} p LEFT JOIN i USING (profile_id) LEFT JOIN t USING (profile_id)
        LEFT JOIN c USING (profile_id)
    """


PROFILE_DOCS = "CREATE OR REPLACE TABLE next_profile_docs AS " + profile_docs_sql(
    "next_profiles", "next_profile_identifiers", "next_profile_traits", "next_profile_consents"
)


def ensure_profile_docs(engine: Engine) -> bool:
    """Build `profile_docs` for a workspace resolved before they existed (once, on open)."""
    if engine.table_exists("profile_docs") or not engine.table_exists("profiles"):
        return False
    with engine.transaction():
        engine.execute(
            "CREATE TABLE profile_docs AS "
            + profile_docs_sql(
                "profiles", "profile_identifiers", "profile_traits", "profile_consents"
            ),
            step="profiles: documents",
        )
        engine.execute("CREATE INDEX profile_docs_by_profile_id ON profile_docs (profile_id)")
    return True


def build_profiles(engine: Engine, source_priority: tuple[str, ...]) -> int:
    """Build the next generation of every profile table (see `swap_profile_tables`)."""
    step = "profiles"
    for sql in (
        RECORD_PROFILES,
        PROFILE_IDENTIFIERS,
        PROFILE_TRAITS.format(rank=source_rank(source_priority), usable=USABLE),
        PROFILE_CONSENTS,
        PROFILES,
        PROFILE_DOCS,
    ):
        engine.execute(sql, step=step)
    return int(engine.fetchone("SELECT count(*) FROM next_profiles"))


#: ART indexes for the point lookups of the Profile API (by identifier value, by profile id)
#: and of the incremental fast path (which values it has seen before, and where).
#: Built once per full run on the new tables — a few seconds at millions of rows — and kept
#: up to date by the incremental runs' deletes and inserts. Not unique: an incremental run
#: deletes and re-inserts a profile's rows in one transaction.
LOOKUP_INDEXES = (
    ("identity_nodes", "value"),
    ("profiles", "profile_id"),
    ("profile_identifiers", "value"),
    ("profile_identifiers", "profile_id"),
    ("profile_traits", "profile_id"),
    ("profile_consents", "profile_id"),
    ("record_profiles", "profile_id"),
    ("profile_docs", "profile_id"),
)


def swap_profile_tables(engine: Engine) -> None:
    """Make the `next_*` tables current; call inside the run's final transaction."""
    for name in TABLES:
        engine.execute(f"DROP TABLE IF EXISTS {name}")
        engine.execute(f"ALTER TABLE next_{name} RENAME TO {name}")
    for table, column in LOOKUP_INDEXES:
        engine.execute(
            f"CREATE INDEX {table}_by_{column} ON {table} ({column})", step="index profiles"
        )


def merge_profile_tables(engine: Engine, region: str, main: str, *, only_changes: bool) -> None:
    """Inside the caller's transaction: replace the profiles in `_affected` (and the records
    in `_region_rids`) by the region's `next_*` tables — an incremental run's swap; with
    `only_changes`, writing only the rows that differ (see `replace_rows_sql`)."""
    step = "incremental: write profiles"
    for name in TABLES:
        scope = (
            "rid IN (SELECT rid FROM _region_rids)"
            if name == "record_profiles"
            else "profile_id IN (SELECT profile_id FROM _affected)"
        )
        columns = table_columns(engine, main, name) if only_changes else None
        for sql in replace_rows_sql(f"{main}.{name}", f"{region}.next_{name}", scope, columns):
            engine.execute(sql, step=step)


def table_columns(engine: Engine, database: str, table: str) -> list[str]:
    """`table`'s column names in `database` (quoted or not), in order."""
    rows = engine.fetchall(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [database.strip('"'), table],
    )
    return [str(r[0]) for r in rows]
