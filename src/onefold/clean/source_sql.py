"""SQL that turns one source's landed JSON rows into canonical records and field values.

Pure builders: they return SQL text (DuckDB dialect) and touch no database, so they can be
read and tested on their own and later transpiled for another engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from onefold.clean.value_cache import CleaningContext, cache_param
from onefold.config.mappings import FieldSpec, SourceMapping
from onefold.config.settings import ProjectConfig
from onefold.engine.sql import literal, literal_list


@dataclass(frozen=True)
class MappedField:
    """One field of a source to extract: its role, canonical name and how to normalise it."""

    role: str  # identifier | trait | consent
    name: str
    spec: FieldSpec
    normaliser: str
    param: str
    granted: tuple[str, ...] = ()
    revoked: tuple[str, ...] = ()


def mapped_fields(
    mapping: SourceMapping, config: ProjectConfig, ctx: CleaningContext
) -> list[MappedField]:
    id_types = config.identity.id_types
    out: list[MappedField] = []
    for id_type, specs in mapping.identifiers.items():
        normaliser = "id." + id_types[id_type]
        for spec in specs:
            param = cache_param(normaliser, ctx, region=",".join(mapping.phone_region))
            out.append(MappedField("identifier", id_type, spec, normaliser, param))
    for trait, spec in mapping.traits.items():
        kind = spec.kind or "text"
        param = cache_param(kind, ctx, region=",".join(mapping.phone_region), formats=spec.formats)
        out.append(MappedField("trait", trait, spec, kind, param))
    for purpose, cspec in mapping.consent.items():
        out.append(
            MappedField(
                "consent",
                purpose,
                FieldSpec(field=cspec.field),
                "consent",
                "",
                tuple(v.lower() for v in cspec.granted_values),
                tuple(v.lower() for v in cspec.revoked_values),
            )
        )
    return out


#: Opaque identifiers made only of these characters (UUIDs, `u-123`, `SO-0001`, WeChat
#: openids) are normalised in SQL: for them NFKC, stripping and casefolding are identities or
#: plain ASCII case changes, so the Python normaliser would only add a process round-trip.
#: Anything else (spaces, other scripts, quotes) still goes through Python. The length is
#: tested apart: RE2 expands a bounded repetition like `{1,256}` into 256 states, and
#: compiling that at every bind cost ~1.5 ms per use — 20 ms of planning for one event.
FAST_ID_CHARS = "[A-Za-z0-9_.:@+=#-]+"
FAST_ID_MAX_LENGTH = 256


@dataclass(frozen=True)
class ValueSQL:
    """How SQL normalises a value: expressions over the raw text `x` and `prepared` columns.

    Each prepared column is computed once, in its own nested SELECT (`prepared_select`), and
    then referred to by name: DuckDB binds every copy of a repeated expression, and with a
    35-value junk list repeated in value, status and reason, one event's cleaning spent 40 ms
    planning a statement that ran in 1 ms.
    """

    value: str
    status: str
    reason: str
    prepared: tuple[tuple[str, str], ...] = ()


def prepared_select(v: ValueSQL, base: str) -> str:
    """`base` (a SELECT yielding `x`) with `v`'s prepared columns added, one layer each."""
    for alias, expr in v.prepared:
        base = f"SELECT *, {expr} AS {alias} FROM ({base})"
    return base


def fast_identifier_sql(normaliser: str, junk: tuple[str, ...]) -> ValueSQL:
    """`clean.identifiers.normalise_identifier` for plain ASCII ids, NULL for the rest (which
    the Python normaliser handles); a test keeps the two equal."""
    if normaliser == "id.lower":
        s = "lower(x)"
    elif normaliser == "id.compact_upper":
        s = "upper(regexp_replace(x, '[-.]', '', 'g'))"
    else:
        s = "x"

    def is_junk(v: str) -> str:
        low = f"lower({v})"
        return (
            f"({low} IN {literal_list(junk)} OR (length({low}) >= 3 "
            f"AND replace({low}, left({low}, 1), '') = ''))"
        )

    quote = "''''"  # a SQL literal holding one single quote
    return ValueSQL(
        "CASE WHEN fast AND NOT junky THEN s END",
        "CASE WHEN fast THEN CASE WHEN junky THEN 'junk' ELSE 'valid' END END",
        f"CASE WHEN fast AND junky THEN 'placeholder identifier ' || {quote} || s || {quote} END",
        (
            ("s", s),
            (
                "fast",
                f"length(x) <= {FAST_ID_MAX_LENGTH} AND regexp_full_match(x, '{FAST_ID_CHARS}') "
                "AND s <> ''",
            ),
            ("junky", f"({is_junk('x')} OR {is_junk('s')})"),
        ),
    )


def _sql_value(f: MappedField, junk: tuple[str, ...]) -> ValueSQL:
    """How SQL normalises `f`'s raw text `x`, for normalisers that run in SQL; NULLs otherwise."""
    if f.normaliser in ("id.exact", "id.lower", "id.compact_upper"):
        return fast_identifier_sql(f.normaliser, junk)
    if f.normaliser == "consent":
        allowed = f"granted: {', '.join(f.granted)}; revoked: {', '.join(f.revoked)}"
        message = literal(f"not a recognised consent value ({allowed})")
        return ValueSQL(
            "consent",
            "CASE WHEN consent IS NULL THEN 'invalid' ELSE 'valid' END",
            f"CASE WHEN consent IS NULL THEN {message} END",
            (
                ("low", "lower(trim(x))"),
                (
                    "consent",
                    f"CASE WHEN low IN {literal_list(f.granted)} THEN 'granted' "
                    f"WHEN low IN {literal_list(f.revoked)} THEN 'revoked' END",
                ),
            ),
        )
    if f.normaliser == "text":
        return ValueSQL(
            "CASE WHEN junky THEN NULL ELSE trim(x) END",
            "CASE WHEN junky THEN 'junk' ELSE 'valid' END",
            "CASE WHEN junky THEN 'junk value' END",
            (("junky", f"lower(trim(x)) IN {literal_list(junk)}"),),
        )
    if f.normaliser == "number":
        return ValueSQL(
            "num::VARCHAR",
            "CASE WHEN num IS NULL THEN 'invalid' ELSE 'valid' END",
            "CASE WHEN num IS NULL THEN 'not a number' END",
            (("num", "TRY_CAST(trim(x) AS DOUBLE)"),),
        )
    return ValueSQL("NULL", "NULL", "NULL")


def normalisation_key(normaliser: str, x: str) -> str:
    """The text a normaliser's answer is cached under.

    For phones, the separators the phone normaliser removes anyway are removed here first,
    so `(415) 555-2671`, `415-555-2671` and `415.555.2671` are parsed once, not three times.
    """
    if normaliser.endswith("phone"):
        return f"regexp_replace({x}, '[ \t.()-]+', '', 'g')"
    return x


def event_time_sql(x: str, formats: tuple[str, ...]) -> str:
    """Timestamp expression for raw text `x`: declared formats, else ISO-8601 or epoch."""
    if formats:
        fmts = "[" + ", ".join(literal(f) for f in formats) + "]"
        return f"try_strptime({x}, {fmts})::TIMESTAMPTZ"
    return (
        f"coalesce(TRY_CAST({x} AS TIMESTAMPTZ), CASE "
        f"WHEN regexp_full_match({x}, '\\d{{12,13}}') THEN to_timestamp({x}::BIGINT / 1000.0) "
        f"WHEN regexp_full_match({x}, '\\d{{9,11}}') THEN to_timestamp({x}::DOUBLE) END)"
    )


@dataclass(frozen=True)
class SourceSQL:
    extract: str
    records: str
    field_values: str
    rejects: tuple[str, ...]


@dataclass(frozen=True)
class _Selects:
    """A source's three SELECTs: current versions (`_src`), records and field values."""

    src: str
    records: str
    field_values: str
    #: position of the event-time and order-amount texts in `_src.j` (for the rejects)
    idx: dict[str, int]
    formats: tuple[str, ...]


def _selects(
    mapping: SourceMapping,
    fields: list[MappedField],
    junk: tuple[str, ...],
    rid: str,
    where: str,
    amount_text: bool = False,
) -> _Selects:
    """SELECT texts shared by the batch cleaning (`source_sql`) and the express path
    (`express_sql`): `rid` numbers `_src`'s rows, `where` narrows the landed rows."""
    meta: list[tuple[str, str]] = []  # (alias, path)
    if mapping.event_time:
        meta.append(("t", mapping.event_time.field))
    for i, type_path in enumerate(mapping.event_type_field):
        meta.append((f"et{i}", type_path))
    if mapping.order:
        meta.append(("amount", mapping.order.amount))
        if mapping.order.currency:
            meta.append(("currency", mapping.order.currency))
    paths = [FieldSpec(field=p).json_path() for _, p in meta] + [f.spec.json_path() for f in fields]
    idx = {alias: i + 1 for i, (alias, _) in enumerate(meta)}
    path_list = "[" + ", ".join(literal(p) for p in paths) + "]"
    # a collected message is read with the collector's envelope laid over it (receivedAt, the
    # clock-corrected timestamp), as Segment delivers it; the raw message stays as received
    document = (
        "CASE WHEN meta IS NULL THEN payload ELSE json_merge_patch(payload, meta) END"
        if mapping.collected
        else "payload"
    )
    # the rids number the latest versions only: numbered before QUALIFY, an older version
    # of a key took a number too, and the next source's rids (base + count) ran into these
    src = f"""
        SELECT {rid} AS rid, * FROM (
        SELECT record_key, load_id, file, row_number,
               loaded_at, json_extract_string({document}, {path_list}) AS j
        FROM landed_records
        WHERE source = {literal(mapping.name)} AND parse_error IS NULL
          AND record_key IS NOT NULL AND trim(record_key) <> ''{where}
        QUALIFY row_number() OVER (PARTITION BY record_key ORDER BY load_id DESC,
                                   row_number DESC) = 1
        )
    """

    def col(alias: str) -> str:
        return f"nullif(trim(j[{idx[alias]}]), '')" if alias in idx else "NULL"

    if mapping.event_type:
        etype = literal(mapping.event_type)
    elif mapping.event_type_field:
        etype = (
            "coalesce("
            + ", ".join(col(f"et{i}") for i in range(len(mapping.event_type_field)))
            + ", NULL)"
        )
    else:
        etype = "NULL"
    formats = mapping.event_time.formats if mapping.event_time else ()
    amount_raw = f", {col('amount')} AS amount_text" if amount_text else ""
    records = f"""
        SELECT rid, {literal(mapping.name)}, record_key, {literal(mapping.channel)}, load_id, file,
               row_number, loaded_at, {col("t")} AS event_time_raw,
               {event_time_sql(col("t"), formats)} AS event_time,
               {etype} AS event_type,
               TRY_CAST({col("amount")} AS DOUBLE) AS amount,
               upper({col("currency")}) AS currency{amount_raw}
        FROM _src
    """
    parts = []
    for i, mf in enumerate(fields, start=len(meta) + 1):
        v = _sql_value(mf, junk)
        raw = f"SELECT rid, j[{i}] AS x FROM _src WHERE j[{i}] IS NOT NULL AND trim(j[{i}]) <> ''"
        parts.append(
            f"SELECT rid, {literal(mf.role)}, {literal(mf.name)}, {literal(mf.spec.field)}, x, "
            f"{normalisation_key(mf.normaliser, 'x')}, "
            f"{literal(mf.normaliser)}, {literal(mf.param)}, {v.value}, {v.status}, {v.reason} "
            f"FROM ({prepared_select(v, raw)})"
        )
    return _Selects(src, records, " UNION ALL ".join(parts), idx, formats)


def source_sql(
    mapping: SourceMapping,
    fields: list[MappedField],
    junk: tuple[str, ...],
    rid_base: int,
    after_load: int | None = None,
    until_load: int | None = None,
) -> SourceSQL:
    """SQL for one source: extract current versions, then records and long field values.

    With `after_load`, only the records that a load after that one touched (new keys, or a
    new version of a known key) are extracted: what incremental resolution cleans. With
    `until_load`, loads after that one are left for the next run: the collector keeps landing
    while a run cleans, and a run records the last load it started from, so what it cleaned
    beyond that would be cleaned again, as a new version of itself, by the next one.
    """
    until = f" AND load_id <= {int(until_load)}" if until_load is not None else ""
    touched = until
    if after_load is not None:
        touched += (
            f"\n          AND record_key IN (SELECT record_key FROM landed_records "
            f"WHERE source = {literal(mapping.name)} AND load_id > {int(after_load)}{until})"
        )
    # landing order: the same numbering in every run, and the express path's (a window's
    # ORDER BY here cost nothing measurable: 10.5 s either way for 3.5M web events)
    sel = _selects(
        mapping,
        fields,
        junk,
        f"{rid_base} + row_number() OVER (ORDER BY load_id, row_number)",
        touched,
    )
    idx, formats = sel.idx, sel.formats
    extract = f"CREATE OR REPLACE TEMP TABLE _src AS {sel.src}"
    records = f"INSERT INTO records {sel.records}"
    field_values = f"INSERT INTO field_values {sel.field_values}" if sel.field_values else ""
    rejects: list[str] = []
    if mapping.event_time:
        shown = ", ".join(formats) if formats else "ISO-8601 or epoch"
        reason = literal(f"event_time: cannot parse as {shown}")
        rejects.append(f"""
            INSERT INTO rejects
            SELECT 'clean', source, record_key, load_id, file, row_number,
                   {literal(mapping.event_time.field)}, event_time_raw, 'invalid', {reason}, now()
            FROM records WHERE source = {literal(mapping.name)} AND rid > {int(rid_base)}
              AND event_time_raw IS NOT NULL AND event_time IS NULL
        """)
    if mapping.order:
        rejects.append(f"""
            INSERT INTO rejects
            SELECT 'clean', r.source, r.record_key, r.load_id, r.file, r.row_number,
                   {literal(mapping.order.amount)}, s.j[{idx["amount"]}], 'invalid',
                   'order amount: not a number', now()
            FROM records r JOIN _src s USING (rid)
            WHERE r.source = {literal(mapping.name)} AND r.rid > {int(rid_base)}
              AND r.amount IS NULL
              AND nullif(trim(s.j[{idx["amount"]}]), '') IS NOT NULL
        """)
    return SourceSQL(extract, records, field_values, tuple(rejects))


@dataclass(frozen=True)
class ExpressSQL:
    """One source's records and field values as two SELECTs over the landed rows of a load
    range: `$1` < load_id <= `$2`, rids from `$3` + 1 in landing order (both statements
    number them alike); the records carry one more column, the order amount's text (a
    record whose amount does not parse needs a reject). Prepared once per connection
    (`clean.express`), they skip the planning that makes up most of a small batch's
    cleaning time."""

    records: str
    field_values: str


def express_sql(
    mapping: SourceMapping, fields: list[MappedField], junk: tuple[str, ...]
) -> ExpressSQL:
    sel = _selects(
        mapping,
        fields,
        junk,
        "$3 + row_number() OVER (ORDER BY load_id, row_number)",
        " AND load_id > $1 AND load_id <= $2",
        amount_text=True,
    )
    src = f"WITH _src AS ({sel.src}) "
    values = sel.field_values or (
        "SELECT NULL::BIGINT, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        "WHERE false"
    )
    return ExpressSQL(src + sel.records, src + values)
