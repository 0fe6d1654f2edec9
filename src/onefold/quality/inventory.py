"""The data inventory: what each source holds, how complete and valid it is, how fresh.

Computed from the tables the stages wrote; nothing here changes state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from onefold.config.mappings import SourceMapping
from onefold.engine.base import Engine


@dataclass(frozen=True)
class FieldQuality:
    role: str
    name: str
    field: str
    present: int
    null_rate: float
    validity: float
    rejected: int
    suspicious: int


@dataclass(frozen=True)
class SourceInventory:
    name: str
    system: str
    format: str
    channel: str
    update_frequency: str
    files: int
    loads: int
    landed_rows: int
    records: int
    rejects: int
    last_loaded_at: datetime | None
    newest_event: datetime | None
    fresh: bool | None  # None: never loaded
    fields: list[FieldQuality]

    @property
    def freshness(self) -> str:
        if self.fresh is None:
            return "never loaded"
        return "fresh" if self.fresh else "stale"


def source_inventory(
    engine: Engine, mappings: dict[str, SourceMapping], now: datetime | None = None
) -> list[SourceInventory]:
    now = now or datetime.now(UTC)
    loads = {
        r[0]: r[1:]
        for r in engine.fetchall("""
        SELECT source, count(DISTINCT file), count(*), max(finished_at) FROM loads GROUP BY 1
    """)
    }
    landed = dict(engine.fetchall("SELECT source, count(*) FROM landed_records GROUP BY 1"))
    rejects = dict(engine.fetchall("SELECT source, count(*) FROM rejects GROUP BY 1"))
    has_records = engine.table_exists("records")
    records: dict[str, tuple[int, datetime | None]] = {}
    fields: dict[str, list[FieldQuality]] = {}
    if has_records and engine.table_exists("record_values"):
        records = {
            r[0]: (int(r[1]), r[2])
            for r in engine.fetchall(
                "SELECT source, count(*), max(event_time) FROM records GROUP BY 1"
            )
        }
        for row in engine.fetchall("""
            SELECT r.source, v.role, v.name, v.field, count(*),
                   count(*) FILTER (WHERE v.status IN ('valid', 'suspicious')),
                   count(*) FILTER (WHERE v.status IN ('invalid', 'junk')),
                   count(*) FILTER (WHERE v.status = 'suspicious')
            FROM record_values v JOIN records r USING (rid) GROUP BY ALL ORDER BY ALL
        """):
            source, role, name, field, present, usable, rejected, suspicious = row
            total = records.get(source, (0, None))[0] or 1
            fields.setdefault(source, []).append(
                FieldQuality(
                    role,
                    name,
                    field,
                    int(present),
                    1 - present / total,
                    usable / present if present else 0.0,
                    int(rejected),
                    int(suspicious),
                )
            )
    out = []
    for name, m in sorted(mappings.items()):
        nfiles, nloads, last = loads.get(name, (0, 0, None))
        fresh = None if last is None else (now - last).total_seconds() <= m.freshness_seconds
        nrec, newest = records.get(name, (0, None))
        out.append(
            SourceInventory(
                name,
                m.system,
                m.format,
                m.channel,
                m.update_frequency,
                int(nfiles),
                int(nloads),
                int(landed.get(name, 0)),
                nrec,
                int(rejects.get(name, 0)),
                last,
                newest,
                fresh,
                _with_missing_fields(m, fields.get(name, []), nrec),
            )
        )
    return out


def _with_missing_fields(
    m: SourceMapping, seen: list[FieldQuality], records: int
) -> list[FieldQuality]:
    """Mapped fields that never had a value still show up, at 100 % null."""
    have = {(f.role, f.name, f.field) for f in seen}
    wanted = [("identifier", k, s.field) for k, specs in m.identifiers.items() for s in specs]
    wanted += [("trait", k, s.field) for k, s in m.traits.items()]
    wanted += [("consent", k, s.field) for k, s in m.consent.items()]
    missing = [
        FieldQuality(r, n, f, 0, 1.0, 0.0, 0, 0)
        for r, n, f in wanted
        if (r, n, f) not in have and records
    ]
    return seen + missing
