"""Cleaning a handful of collected messages in Python, for the express path.

The batch cleaning stage (`clean.stage`) runs about twenty statements per source, and for
one message nearly all of their cost is DuckDB *binding and optimising* them — 1–15 ms each
whatever the row count, and a prepared statement is re-optimised at every execution. Here
one plain read fetches the landed messages, and Python does what those statements do to
them: the collector's envelope laid over each message, the mapped paths read as
`json_extract_string` reads them, each value through the same normaliser function the
value cache is filled from (the identifier rules SQL applies to plain ids are the Python
normaliser's, `test_fast_identifiers` keeps them equal), blanks skipped, free text trimmed
and junk-checked. The result is the `records` and `record_values` rows a batch run writes.

Whatever the two could read differently is declined rather than guessed — a number with a
fraction (JSON number formatting), a nested object, a time not in ISO-8601 or with a mapping's
own formats, a number or consent field, a non-ASCII currency — as is anything that needs a
reject the batch stage writes in its own way (a blocked identifier, an unparseable time, an
order amount, which it checks and sums). An invalid or junk value is kept on its record and
listed in the rejects, as the batch stage lists it. A declined batch goes through the batch
stage, which handles all of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from onefold.clean.blocked import blocked_reason_sql
from onefold.clean.junk import BUILTIN_JUNK, JunkFilter
from onefold.clean.result import REJECTED, USABLE, Normalised
from onefold.clean.source_sql import MappedField, mapped_fields
from onefold.clean.value_cache import CleaningContext, normaliser_function
from onefold.config.mappings import SourceMapping
from onefold.config.settings import ProjectConfig
from onefold.engine.base import Engine
from onefold.engine.sql import literal

#: The collector's clock-corrected `timestamp` (`collect.messages._iso`) and the ISO-8601
#: forms DuckDB's TIMESTAMPTZ cast reads the same way.
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
#: `source_sql.normalisation_key` for phones: separators the phone normaliser drops anyway.
_PHONE_SEPARATORS = re.compile(r"[ \t.()-]+")
_PATH_PART = re.compile(r"^(.*?)((?:\[\d+\])*)$")
_MISSING = object()


class _Unsure(Exception):
    """The batch stage and this module could disagree on a value: decline the batch."""


class RecordRow(NamedTuple):
    """A `records` row, column for column."""

    rid: int
    source: str
    record_key: str
    channel: str
    load_id: int
    file: str
    row_number: int
    loaded_at: datetime
    event_time_raw: str | None
    event_time: datetime | None
    event_type: str | None
    amount: float | None
    currency: str | None

    @property
    def observed(self) -> datetime:
        """coalesce(event_time, loaded_at): when the record was observed."""
        return self.loaded_at if self.event_time is None else self.event_time


class ValueRow(NamedTuple):
    """A `record_values` row, column for column."""

    rid: int
    role: str
    name: str
    field: str
    raw: str
    value: str | None
    status: str
    reason: str | None
    key: str | None
    script: str | None

    @property
    def usable(self) -> bool:
        return self.status in USABLE


@dataclass
class CleanRecord:
    """One cleaned record: its `records` row and its `record_values` rows."""

    row: RecordRow
    values: list[ValueRow] = field(default_factory=list)
    #: `rejects` rows for its invalid and junk values, but for `detected_at`
    rejects: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def rid(self) -> int:
        return self.row.rid


@lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[str | int, ...]:
    """`a.b[0]` → (a, b, 0), as `FieldSpec.json_path` addresses it (parsed once a path)."""
    steps: list[str | int] = []
    for part in path.split("."):
        m = _PATH_PART.match(part)
        assert m is not None
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return tuple(steps)


def _read(doc: Any, steps: tuple[str | int, ...]) -> str | None:
    """`json_extract_string(doc, path)`: a string as is, an integer or boolean as its JSON
    text, NULL when absent or null."""
    node = doc
    for step in steps:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and step < len(node) else _MISSING
        else:
            node = node.get(step, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING or node is None:
            return None
    if isinstance(node, str):
        return node
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int):
        return str(node)
    raise _Unsure  # a fraction, an object or an array: its text is the engine's to write


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object hook refusing a key given twice: DuckDB's JSON functions read the first of
    them, orjson the last."""
    out = dict(pairs)
    if len(out) < len(pairs):
        raise _Unsure
    return out


def _load(payload: str | bytes) -> Any:
    """The stored message (the bytes received, so possibly with a key given twice)."""
    doc = orjson.loads(payload)
    try:
        json.loads(payload, object_pairs_hook=_unique_keys)  # ~10 µs a message
    except (ValueError, RecursionError) as exc:  # nested deeper than `json` goes: unsure
        raise _Unsure from exc
    return doc


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396, as `json_merge_patch` applies the collector's envelope."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _present(x: str | None) -> str | None:
    """nullif(trim(x), '')."""
    if x is None:
        return None
    x = x.strip(" ")
    return x or None


def _event_time(text: str | None, formats: tuple[str, ...]) -> datetime | None:
    if text is None:
        return None
    if formats or not _ISO_TIME.fullmatch(text):
        raise _Unsure
    return datetime.fromisoformat(text).astimezone(UTC)


class ExpressCleaner:
    """Cleans the collected messages of a load range in-process.

    Built for one set of mappings and dropped with it (a changed mapping makes the next run
    a full one anyway).
    """

    def __init__(self, config: ProjectConfig, mappings: dict[str, SourceMapping]) -> None:
        self.config = config
        self.mappings = mappings
        self.ctx = CleaningContext(config.junk_values, config.identity.canonicalise_email_providers)
        self._junk = frozenset(
            {v.casefold() for v in BUILTIN_JUNK} | {v.casefold() for v in config.junk_values}
        )
        self._junk_ascii = all(v.isascii() for v in self._junk)
        self._junk_filter = JunkFilter(self.ctx.junk_values)
        self._fields: dict[str, list[tuple[MappedField, tuple[str | int, ...]]]] = {}
        self._functions: dict[tuple[str, str], Callable[[str], Normalised]] = {}
        self._blocked = blocked_reason_sql(config.identity, "n", "v")

    def _mapped(self, source: str) -> list[tuple[MappedField, tuple[str | int, ...]]]:
        got = self._fields.get(source)
        if got is None:
            mapping = self.mappings[source]
            got = [(f, _steps(f.spec.field)) for f in mapped_fields(mapping, self.config, self.ctx)]
            self._fields[source] = got
        return got

    def clean(
        self, engine: Engine, sources: list[str], after: int, until: int, base: int
    ) -> list[CleanRecord] | None:
        """The records of `sources` landed in (after, until], rids from base + 1 in landing
        order; None when the batch stage should clean them instead."""
        rows = engine.fetchall(
            "SELECT source, record_key, load_id, file, row_number, loaded_at, payload, meta, "
            "parse_error FROM landed_records WHERE load_id > ? AND load_id <= ? "
            "ORDER BY source, load_id, row_number",
            [after, until],
            step="express: landed",
        )
        keys = [(r[0], r[1]) for r in rows]
        if len(set(keys)) < len(keys) or any(r[0] not in sources for r in rows):
            return None  # two versions of a record: the batch stage keeps the latest
        out: list[CleanRecord] = []
        try:
            for source, key, load_id, file, row_number, loaded_at, payload, meta, err in rows:
                if err is not None or key is None or not key.strip(" "):
                    return None  # a landing reject
                mapping = self.mappings[source]
                doc = _load(payload)
                if meta is not None:
                    doc = _merge_patch(doc, orjson.loads(meta))
                rec = self._record(
                    mapping, doc, base + len(out) + 1, (key, load_id, file, row_number, loaded_at)
                )
                if rec is None:
                    return None
                out.append(rec)
        except _Unsure:
            return None
        if self._blocked and self._any_blocked(engine, out):
            return None
        return out

    def _record(
        self, mapping: SourceMapping, doc: Any, rid: int, landed: tuple[Any, ...]
    ) -> CleanRecord | None:
        key_, load_id, file, row_number, loaded_at = landed

        def text(path: str) -> str | None:
            return _present(_read(doc, _steps(path)))

        formats: tuple[str, ...] = ()
        event_time_raw = None
        if mapping.event_time:
            formats = mapping.event_time.formats
            event_time_raw = text(mapping.event_time.field)
        event_type: str | None = mapping.event_type
        if not event_type:
            event_type = next(
                (t for p in mapping.event_type_field if (t := text(p)) is not None), None
            )
        currency = None
        if mapping.order:
            if text(mapping.order.amount) is not None:
                return None  # an order: its amount is checked and summed by the batch stages
            if mapping.order.currency and (currency := text(mapping.order.currency)):
                if not currency.isascii():
                    raise _Unsure
                currency = currency.upper()
        row = RecordRow(
            rid,
            mapping.name,
            key_,
            mapping.channel,
            load_id,
            file,
            row_number,
            loaded_at,
            event_time_raw,
            _event_time(event_time_raw, formats),
            event_type,
            None,
            currency,
        )
        rec = CleanRecord(row)
        for mf, steps in self._mapped(mapping.name):
            x = _read(doc, steps)
            if x is None or not x.strip(" "):
                continue
            value, status, reason, key, script = self._value(mf, x)
            if status in REJECTED:  # kept on the record and listed, as `clean.stage` does
                why = f"{mf.role} {mf.name}: {status if reason is None else reason}"
                rec.rejects.append(
                    ("clean", mapping.name, key_, load_id, file, row_number, mf.spec.field, x)
                    + (status, why)
                )
            rec.values.append(
                ValueRow(
                    rid, mf.role, mf.name, mf.spec.field, x, value, status, reason, key, script
                )
            )
        return rec

    def _value(self, mf: MappedField, x: str) -> Normalised:
        """`source_sql._sql_value` for free text, the Python normaliser for the rest."""
        if mf.normaliser in ("number", "consent"):
            raise _Unsure
        if mf.normaliser == "text":
            trimmed = x.strip(" ")
            low = trimmed.lower()
            if not trimmed.isascii() and (low.isascii() or not self._junk_ascii):
                raise _Unsure  # DuckDB's and Python's case rules could part here
            if low in self._junk:
                return Normalised(None, "junk", "junk value")
            return Normalised(trimmed, "valid")
        nkey = _PHONE_SEPARATORS.sub("", x) if mf.normaliser.endswith("phone") else x
        fn = self._functions.get((mf.normaliser, mf.param))
        if fn is None:
            fn = normaliser_function(mf.normaliser, mf.param, self.ctx, self._junk_filter)
            self._functions[(mf.normaliser, mf.param)] = fn
        return fn(nkey)

    def _any_blocked(self, engine: Engine, records: Iterable[CleanRecord]) -> bool:
        """Whether a usable identifier is one the workspace blocks (it would be a reject)."""
        pairs = sorted(
            {
                (v.name, str(v.value))
                for r in records
                for v in r.values
                if v.role == "identifier" and v.usable
            }
        )
        if not pairs:
            return False
        rows = ", ".join(f"({literal(n)}, {literal(v)})" for n, v in pairs)
        found = engine.fetchone(
            f"SELECT count({self._blocked}) FROM (VALUES {rows}) t(n, v)", step="express: blocked"
        )
        return bool(found)
