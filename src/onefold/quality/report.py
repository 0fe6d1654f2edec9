"""The quality report: where the data is weak, in numbers a data engineer can act on."""

from __future__ import annotations

from typing import Any

from onefold.engine.base import Engine


def quality_report(engine: Engine) -> dict[str, Any]:
    """Rejects by reason, identifier coverage, shared (hub) values and profile sizes."""
    report: dict[str, Any] = {}
    report["rejects_by_reason"] = engine.fetch_dicts("""
        SELECT source, field, status, regexp_replace(reason, '''.*''', '''…''') AS reason,
               count(*) AS rows
        FROM rejects GROUP BY ALL ORDER BY rows DESC LIMIT 25
    """)
    if not engine.table_exists("record_values"):
        return report
    report["identifier_coverage"] = engine.fetch_dicts("""
        SELECT r.source, count(*) AS records,
               round(100.0 * count(v.rid) / count(*), 1) AS pct_with_identifier
        FROM records r LEFT JOIN (
            SELECT DISTINCT rid FROM record_values
            WHERE role = 'identifier' AND status IN ('valid', 'suspicious')) v USING (rid)
        GROUP BY ALL ORDER BY 1
    """)
    report["suspicious_values"] = engine.fetch_dicts("""
        SELECT name, reason, count(*) AS values FROM record_values
        WHERE status = 'suspicious' GROUP BY ALL ORDER BY values DESC LIMIT 10
    """)
    report["partial_values"] = engine.fetch_dicts("""
        SELECT name, count(*) AS values FROM record_values
        WHERE status = 'partial' GROUP BY ALL ORDER BY values DESC
    """)
    if engine.table_exists("hub_values"):
        report["hub_values"] = engine.fetch_dicts("""
            SELECT id_type, value, shared_with_type, distinct_values FROM hub_values
            ORDER BY distinct_values DESC, id_type, value LIMIT 15
        """)
        report["hubs_by_type"] = engine.fetch_dicts("""
            SELECT id_type, count(DISTINCT value) AS values
            FROM hub_values GROUP BY 1 ORDER BY 2 DESC
        """)
    if engine.table_exists("identity_conflicts"):
        report["links_dropped_by_profile_limits"] = engine.fetch_dicts("""
            SELECT limit_type, id_type AS dropped_link_type, count(*) AS links,
                   count(DISTINCT rid) AS records
            FROM identity_conflicts GROUP BY ALL ORDER BY links DESC
        """)
    if engine.table_exists("profiles"):
        report["profile_sizes"] = engine.fetch_dicts("""
            SELECT count(*) AS profiles, sum(records) AS records,
                   round(avg(records), 2) AS avg_records, max(records) AS max_records,
                   max(identifiers) AS max_identifiers,
                   count(*) FILTER (WHERE source_count >= 4) AS profiles_4plus_sources
            FROM profiles
        """)[0]
    return report
