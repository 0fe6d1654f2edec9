"""Cleaning a handful of collected messages in-process, for the express path.

The batch cleaning stage (`clean.stage`) runs about twenty statements per source, and for
one message nearly all of their cost is DuckDB *planning* them — 1–12 ms each, whatever the
row count. Here the same SELECTs (`source_sql.express_sql`, built from the same pieces as
the batch statements) are prepared once per connection and executed with the load range as
arguments; the values SQL leaves to Python go straight through the same normaliser functions
the value cache is filled from, without the cache round trip. The result is the records and
record values a batch run would write, as Python rows.

A batch of messages that would need anything else — a reject (an invalid value, a junk or
blocked identifier, an unparseable time or amount) — is declined: the caller runs the batch
stage, which writes the rejects, instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from onefold.clean.blocked import blocked_reason_sql
from onefold.clean.junk import BUILTIN_JUNK, JunkFilter
from onefold.clean.result import REJECTED, Normalised
from onefold.clean.source_sql import express_sql, mapped_fields
from onefold.clean.value_cache import CleaningContext, normaliser_function
from onefold.config.mappings import SourceMapping
from onefold.config.settings import ProjectConfig
from onefold.engine.base import Engine
from onefold.engine.sql import literal

#: Columns of a `records` row, then of a `record_values` row, as the batch stage writes them.
RECORD_COLUMNS = 13
VALUE_COLUMNS = 10
_names = itertools.count()


@dataclass
class CleanRecord:
    """One cleaned record: its `records` row and its `record_values` rows."""

    row: tuple[Any, ...]
    values: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def rid(self) -> int:
        return int(self.row[0])


class ExpressCleaner:
    """Cleans the collected messages of a load range with prepared statements.

    One per workspace connection: prepared statements belong to the connection, and a
    cleaner built for one configuration is dropped with it (a changed mapping makes the next
    run a full one anyway).
    """

    def __init__(self, config: ProjectConfig, mappings: dict[str, SourceMapping]) -> None:
        self.config = config
        self.mappings = mappings
        self.ctx = CleaningContext(config.junk_values, config.identity.canonicalise_email_providers)
        self.junk = tuple(
            sorted(
                {v.casefold() for v in BUILTIN_JUNK} | {v.casefold() for v in config.junk_values}
            )
        )
        self._junk_filter = JunkFilter(self.ctx.junk_values)
        self._prepared: dict[str, tuple[str, str]] = {}
        self._functions: dict[tuple[str, str], Callable[[str], Normalised]] = {}
        self._blocked = blocked_reason_sql(config.identity, "n", "v")

    def _statements(self, engine: Engine, source: str) -> tuple[str, str]:
        names = self._prepared.get(source)
        if names is None:
            mapping = self.mappings[source]
            sql = express_sql(mapping, mapped_fields(mapping, self.config, self.ctx), self.junk)
            n = next(_names)
            names = (f"_express_records_{n}", f"_express_values_{n}")
            engine.execute(f"PREPARE {names[0]} AS {sql.records}", step="express: prepare")
            engine.execute(f"PREPARE {names[1]} AS {sql.field_values}", step="express: prepare")
            self._prepared[source] = names
        return names

    def _normalise(self, normaliser: str, param: str, nkey: str) -> Normalised:
        fn = self._functions.get((normaliser, param))
        if fn is None:
            fn = normaliser_function(normaliser, param, self.ctx, self._junk_filter)
            self._functions[(normaliser, param)] = fn
        return fn(nkey)

    def clean(
        self, engine: Engine, source: str, after: int, until: int, base: int
    ) -> list[CleanRecord] | None:
        """`source`'s records landed in (after, until], rids from base + 1; None when one of
        them needs a reject (the batch stage writes those)."""
        records_stmt, values_stmt = self._statements(engine, source)
        args = f"({int(after)}, {int(until)}, {int(base)})"
        out: dict[int, CleanRecord] = {}
        for row in engine.fetchall(f"EXECUTE {records_stmt}{args}", step="express: records"):
            *columns, amount_text = row
            event_time_raw, event_time, amount = columns[8], columns[9], columns[11]
            if (event_time_raw is not None and event_time is None) or (
                amount_text is not None and amount is None
            ):
                return None
            out[int(columns[0])] = CleanRecord(tuple(columns))
        if not out:
            return []
        for (
            rid,
            role,
            name,
            fld,
            raw,
            nkey,
            normaliser,
            param,
            value,
            status,
            reason,
        ) in engine.fetchall(f"EXECUTE {values_stmt}{args}", step="express: values"):
            key = script = None
            if status is None:  # what SQL leaves to Python (names, emails, phones, dates…)
                result = self._normalise(str(normaliser), str(param), str(nkey))
                value, status, reason, key, script = result
            if status in REJECTED:
                return None
            out[int(rid)].values.append(
                (int(rid), role, name, fld, raw, value, status, reason, key, script)
            )
        if self._blocked and self._any_blocked(engine, out.values()):
            return None
        return [out[rid] for rid in sorted(out)]

    def _any_blocked(self, engine: Engine, records: Any) -> bool:
        """Whether a usable identifier is one the workspace blocks (it would be a reject)."""
        pairs = sorted(
            {
                (v[2], v[5])
                for r in records
                for v in r.values
                if v[1] == "identifier" and v[6] in ("valid", "suspicious")
            }
        )
        if not pairs:
            return False
        rows = ", ".join(f"({literal(n)}, {literal(v)})" for n, v in pairs)
        found = engine.fetchone(
            f"SELECT count({self._blocked}) FROM (VALUES {rows}) t(n, v)", step="express: blocked"
        )
        return bool(found)
