"""Unified profiles: golden record, identifiers, computed traits and the timeline.

Survivorship (documented in the README): for each trait the value from the source listed
first in `source_priority` wins; among equally ranked sources the most recently observed
non-null value wins (event time, else load time). Identifiers are all kept; the primary
email/phone is the most recently seen one.
"""

from __future__ import annotations

from onefold.engine.base import Engine

USABLE = "('valid', 'suspicious')"


def _source_rank(source_priority: tuple[str, ...]) -> str:
    if not source_priority:
        return "0"
    whens = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(source_priority))
    return f"CASE r.source {whens} ELSE {len(source_priority)} END"


def build_profiles(engine: Engine, source_priority: tuple[str, ...]) -> int:
    """Rebuild record_profiles, profile_identifiers, profile_traits, profile_consents, profiles."""
    step = "profiles"
    engine.execute(
        """
        CREATE OR REPLACE TABLE record_profiles AS
        SELECT c.rid, c.source, c.record_key, cp.profile_id
        FROM _record_comp c JOIN _comp_profile cp USING (comp)
    """,
        step=step,
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE profile_identifiers AS
        SELECT p.profile_id, v.name AS id_type, v.value, count(*) AS records,
               min(coalesce(r.event_time, r.loaded_at)) AS first_seen,
               max(coalesce(r.event_time, r.loaded_at)) AS last_seen,
               list(DISTINCT r.source ORDER BY r.source) AS sources,
               bool_or(n.is_hub) AS shared
        FROM record_values v JOIN records r USING (rid) JOIN record_profiles p USING (rid)
        LEFT JOIN identity_nodes n ON n.id_type = v.name AND n.value = v.value
        WHERE v.role = 'identifier' AND v.status IN {USABLE}
        GROUP BY ALL
    """,
        step=step,
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE profile_traits AS
        SELECT profile_id, trait, value, source, observed_at FROM (
            SELECT p.profile_id, v.name AS trait, v.value, r.source,
                   coalesce(r.event_time, r.loaded_at) AS observed_at,
                   row_number() OVER (
                       PARTITION BY p.profile_id, v.name
                       ORDER BY {_source_rank(source_priority)},
                                coalesce(r.event_time, r.loaded_at) DESC NULLS LAST,
                                r.rid DESC) AS rn
            FROM record_values v JOIN records r USING (rid) JOIN record_profiles p USING (rid)
            WHERE v.role = 'trait' AND v.status IN {USABLE}
        ) WHERE rn = 1
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TABLE profile_consents AS
        SELECT profile_id, purpose, status, source, observed_at FROM (
            SELECT p.profile_id, v.name AS purpose, v.value AS status, r.source,
                   coalesce(r.event_time, r.loaded_at) AS observed_at,
                   row_number() OVER (PARTITION BY p.profile_id, v.name
                                      ORDER BY coalesce(r.event_time, r.loaded_at) DESC NULLS LAST,
                                               r.rid DESC) AS rn
            FROM record_values v JOIN records r USING (rid) JOIN record_profiles p USING (rid)
            WHERE v.role = 'consent' AND v.status = 'valid'
        ) WHERE rn = 1
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TABLE profiles AS
        WITH t AS (
            SELECT profile_id,
                   any_value(value) FILTER (WHERE trait = 'full_name') AS full_name,
                   any_value(value) FILTER (WHERE trait = 'first_name') AS first_name,
                   any_value(value) FILTER (WHERE trait = 'last_name') AS last_name,
                   any_value(value) FILTER (WHERE trait = 'birth_date') AS birth_date,
                   any_value(value) FILTER (WHERE trait = 'gender') AS gender,
                   any_value(value) FILTER (WHERE trait = 'country') AS country,
                   any_value(value) FILTER (WHERE trait = 'city') AS city
            FROM profile_traits GROUP BY profile_id
        ), ids AS (
            SELECT profile_id,
                   arg_max(value, last_seen) FILTER (WHERE id_type = 'email' AND NOT shared)
                       AS email,
                   arg_max(value, last_seen) FILTER (WHERE id_type = 'phone' AND NOT shared)
                       AS phone,
                   arg_max(value, last_seen) FILTER (WHERE id_type = 'user_id') AS user_id,
                   count(*) AS identifiers
            FROM profile_identifiers GROUP BY profile_id
        ), acts AS (
            SELECT p.profile_id, count(*) AS records,
                   min(coalesce(r.event_time, r.loaded_at)) AS first_seen,
                   max(coalesce(r.event_time, r.loaded_at)) AS last_seen,
                   list(DISTINCT r.channel ORDER BY r.channel) AS channels,
                   list(DISTINCT r.source ORDER BY r.source) AS sources,
                   count(r.amount) AS orders
            FROM record_profiles p JOIN records r USING (rid) GROUP BY p.profile_id
        ), rev AS (
            SELECT profile_id, map_from_entries(list((currency, total) ORDER BY currency))
                       AS revenue
            FROM (SELECT p.profile_id, coalesce(r.currency, '?') AS currency,
                         round(sum(r.amount), 2) AS total
                  FROM record_profiles p JOIN records r USING (rid)
                  WHERE r.amount IS NOT NULL GROUP BY ALL)
            GROUP BY profile_id
        )
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
    """,
        step=step,
    )
    return int(engine.fetchone("SELECT count(*) FROM profiles"))
