"""Landing: append-only storage of every raw row with its lineage, idempotent by content.

Each file is staged chunk by chunk (bounded memory), then merged into `landed_records` in one
transaction: a row whose (record key, content hash) the source already holds adds nothing, so
reloading a file is a no-op, and a changed row becomes a new version of its record. The hash
is DuckDB's 64-bit `hash()` (five times faster than md5 on wide JSON rows); pairing it with
the record key means a collision would have to hit two versions of the same record. Rows
that cannot be parsed are landed too, with `parse_error` set, so nothing read is ever lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from onefold.config.mappings import FieldSpec, SourceMapping
from onefold.engine.base import Engine
from onefold.engine.sql import identifier, literal
from onefold.ingest.readers import Chunk, Progress, lines_table, read_chunks

STAGING = "_landing_staging"


@dataclass(frozen=True)
class LoadResult:
    source: str
    file: str
    load_id: int
    rows_read: int
    rows_new: int
    rows_unreadable: int

    @property
    def rows_unchanged(self) -> int:
        return self.rows_read - self.rows_new


def _chunk_select(chunk: Chunk, key_path: str) -> str:
    """SQL turning a registered chunk into (row, key, hash, payload, error) rows."""
    if chunk.is_json_text:
        payload = "__line"
        error = (
            "coalesce(__error, CASE WHEN NOT json_valid(__line) THEN 'not valid JSON' "
            "WHEN json_type(__line) <> 'OBJECT' THEN 'expected a JSON object, got ' || "
            "lower(json_type(__line)) END)"
        )
    else:
        cols = [c for c in chunk.table.column_names if c != "__row"]
        fields = ", ".join(f"{identifier(c)} := {identifier(c)}" for c in cols)
        payload = f"to_json(struct_pack({fields}))::VARCHAR"
        error = "NULL::VARCHAR"
    meta = "__meta" if "__meta" in chunk.table.column_names else "NULL::VARCHAR"
    path = literal(key_path)
    return f"""
        SELECT __row AS row_number, payload, err AS parse_error,
               CASE WHEN err IS NULL THEN coalesce(json_extract_string(payload, {path}),
                                                   json_extract_string(meta, {path})) END
                   AS record_key,
               hash(payload) AS row_hash, meta
        FROM (SELECT __row, {payload} AS payload, {error} AS err, {meta} AS meta FROM _chunk)
    """


def _merge_sql(unique_keys: bool, known_new: bool = False) -> str:
    """Staged rows → landed_records, skipping what the source already holds (unless the
    caller has established that every staged row is new)."""
    if known_new:
        return f"""INSERT INTO landed_records
            SELECT ?, record_key, row_hash, ?, ?, ?, row_number, payload, parse_error, meta
            FROM {STAGING}"""
    if unique_keys:  # by key alone (unparseable rows have none and are always kept)
        partition = "record_key, CASE WHEN record_key IS NULL THEN row_number END"
        held = "record_key"
        same = "l.record_key = s.record_key"
    else:  # by key and content: a changed row is a new version
        partition, held = "record_key, row_hash", "row_hash"
        same = "l.row_hash = s.row_hash AND l.record_key IS NOT DISTINCT FROM s.record_key"
    return f"""INSERT INTO landed_records
        SELECT ?, record_key, row_hash, ?, ?, ?, row_number, payload, parse_error, meta
        FROM (SELECT *, row_number() OVER (PARTITION BY {partition}
                                           ORDER BY row_number) AS copy
              FROM {STAGING}) s
        WHERE copy = 1 AND NOT EXISTS (
            -- the semi join first: it hashes the staged rows, not the whole history
            SELECT 1 FROM (SELECT row_hash, record_key FROM landed_records
                           WHERE source = ? AND {held} IN (SELECT {held} FROM {STAGING})) l
            WHERE {same})"""


def land_file(
    engine: Engine,
    mapping: SourceMapping,
    path: Path,
    display_name: str,
    progress: Progress | None = None,
) -> LoadResult:
    """Land one file of `mapping`'s source; returns how many rows were new."""
    chunks = read_chunks(path, mapping.format, delimiter=mapping.csv_delimiter, progress=progress)
    return _land(engine, mapping, chunks, display_name, path.stat().st_size)


def land_payloads(
    engine: Engine,
    mapping: SourceMapping,
    payloads: Sequence[bytes],
    display_name: str,
    *,
    metas: Sequence[str | None] | None = None,
    unique_keys: bool = False,
    known_new: bool = False,
) -> LoadResult:
    """Land JSON documents handed over in memory (an event, a small batch) like a file's rows.

    Each payload is one JSON document as bytes; one that is not valid UTF-8 JSON is landed
    with its parse error, exactly as a bad line of a JSONL file would be. `metas` is what the
    collector adds beside each raw message (receive time, corrected timestamp). With
    `unique_keys`, a record key the source already holds adds nothing whatever the content:
    a message id is delivered once, however often a client retries it. `known_new` skips the
    check against what is held: the collector has claimed the ids already (`collected_ids`).
    """
    table = lines_table(list(payloads), 1, skip_blank=False)
    if metas is not None:
        table = table.append_column("__meta", pa.array(list(metas), pa.string()))
    size = sum(len(p) for p in payloads)
    return _land(
        engine, mapping, iter([Chunk(table, True)]), display_name, size, unique_keys, known_new
    )


def _land(
    engine: Engine,
    mapping: SourceMapping,
    chunks: Iterator[Chunk],
    display_name: str,
    file_bytes: int,
    unique_keys: bool = False,
    known_new: bool = False,
) -> LoadResult:
    key_path = FieldSpec(field=mapping.record_key).json_path()
    started = datetime.now(UTC)
    engine.execute(f"DROP TABLE IF EXISTS {STAGING}")
    engine.execute(
        f"CREATE TEMP TABLE {STAGING} (row_number BIGINT, payload VARCHAR, parse_error VARCHAR, "
        "record_key VARCHAR, row_hash UHUGEINT, meta VARCHAR)"
    )
    try:
        for chunk in chunks:
            engine.register("_chunk", chunk.table)
            try:
                engine.execute(
                    f"INSERT INTO {STAGING} {_chunk_select(chunk, key_path)}",
                    step=f"land {display_name}",
                )
            finally:
                engine.unregister("_chunk")
        with engine.transaction():
            load_id = int(engine.fetchone("SELECT nextval('load_id_seq')"))
            engine.execute(
                _merge_sql(unique_keys, known_new),
                [mapping.name, load_id, started, display_name]
                + ([] if known_new else [mapping.name]),
                step=f"land {display_name}",
            )
            read, unreadable = engine.fetchall(
                f"SELECT count(*), count(parse_error) FROM {STAGING}"
            )[0]
            new = int(
                engine.fetchone("SELECT count(*) FROM landed_records WHERE load_id = ?", [load_id])
            )
            engine.execute(
                "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'done')",
                [
                    load_id,
                    mapping.name,
                    display_name,
                    file_bytes,
                    started,
                    datetime.now(UTC),
                    read,
                    new,
                    unreadable,
                ],
            )
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {STAGING}")
    return LoadResult(mapping.name, display_name, load_id, int(read), new, int(unreadable))
