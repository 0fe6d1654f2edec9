"""Streaming readers: every format becomes a sequence of bounded Arrow chunks.

A chunk has `__row` (1-based data row number in the file), either `__line` (one JSON document
as text) or the file's own columns, and `__error` for rows that could not be parsed. Bad rows
are never dropped here: they travel with their error so landing can keep them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from onefold.errors import SourceReadError

CHUNK_BYTES = 16 << 20
CHUNK_ROWS = 200_000

#: progress(bytes_done) — called after each chunk.
Progress = Callable[[int], None]


@dataclass
class Chunk:
    """`table` holds either a `__line` column (JSON text) or the source's own columns."""

    table: pa.Table
    is_json_text: bool


def read_chunks(
    path: Path, fmt: str, *, delimiter: str = ",", progress: Progress | None = None
) -> Iterator[Chunk]:
    readers = {"csv": _csv, "jsonl": _jsonl, "json": _json, "parquet": _parquet, "xlsx": _xlsx}
    try:
        yield from readers[fmt](path, delimiter, progress or (lambda _n: None))
    except (OSError, pa.ArrowInvalid, ValueError) as exc:
        raise SourceReadError(f"{path}: cannot read as {fmt}: {exc}") from exc


def _with_rows(table: pa.Table, first_row: int) -> pa.Table:
    rows = pa.array(range(first_row, first_row + table.num_rows), pa.int64())
    return table.append_column("__row", rows)


def _csv(path: Path, delimiter: str, progress: Progress) -> Iterator[Chunk]:
    with path.open("rb") as fh:
        header = fh.readline().decode("utf-8-sig", errors="replace")
    names = next(iter(_csv_header(header, delimiter)))
    bad: list[tuple[int, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number if row.number is not None else -1
        bad.append(
            (number, row.text, f"expected {row.expected_columns} columns, got {row.actual_columns}")
        )
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CHUNK_BYTES, use_threads=True, encoding="utf8"),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            # only an empty cell is missing: "N/A", "null"… are values the cleaning stage
            # must see (and reject as junk, with a reason)
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    done_rows = 0
    size = path.stat().st_size
    total_batches_bytes = 0
    for batch in reader:
        table = pa.Table.from_batches([batch])
        yield Chunk(_with_rows(table, done_rows + 1), is_json_text=False)
        done_rows += table.num_rows
        total_batches_bytes = min(size, total_batches_bytes + CHUNK_BYTES)
        progress(total_batches_bytes)
    if bad:
        yield Chunk(_error_rows(bad), is_json_text=True)
    progress(size)


def _csv_header(line: str, delimiter: str) -> Iterator[list[str]]:
    import csv

    return csv.reader([line.rstrip("\r\n")], delimiter=delimiter)


def _error_rows(bad: list[tuple[int, str, str]]) -> pa.Table:
    return pa.table(
        {
            "__line": [t for _, t, _ in bad],
            "__row": pa.array([n for n, _, _ in bad], pa.int64()),
            "__error": [e for _, _, e in bad],
        }
    )


def _block_table(block: bytes, first_row: int) -> tuple[pa.Table, int]:
    """Split a block of whole lines into rows; returns the table and the number of lines.

    The common case (valid UTF-8) is validated, split and filtered in C by pyarrow; a block
    with a bad byte falls back to line-by-line decoding so only the bad line is flagged.
    """
    try:
        text = pa.array([block], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        lines = block.split(b"\n")
        return lines_table(lines, first_row), len(lines)
    lines_arr = pc.list_flatten(pc.split_pattern(text, pattern="\n"))
    n = len(lines_arr)
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    keep = pc.not_equal(pc.utf8_trim_whitespace(lines_arr), "")
    kept = pc.sum(keep).as_py() or 0
    table = pa.table(
        {
            "__line": pc.filter(lines_arr, keep),
            "__row": pc.filter(rows, keep),
            "__error": pa.nulls(kept, pa.string()),
        }
    )
    return table, n


def lines_table(lines: list[bytes], first_row: int, *, skip_blank: bool = True) -> pa.Table:
    """JSON text rows as a chunk table; a row that is not UTF-8 keeps its decode error.

    A file's blank lines are skipped; documents handed over one by one (`skip_blank=False`)
    are all kept, so an empty one is landed and rejected rather than lost.
    """
    texts: list[str] = []
    errors: list[str | None] = []
    rows: list[int] = []
    for i, raw in enumerate(lines):
        if skip_blank and not raw.strip():
            continue
        try:
            texts.append(raw.decode("utf-8"))
            errors.append(None)
        except UnicodeDecodeError as exc:
            texts.append(raw.decode("utf-8", errors="replace"))
            errors.append(f"not UTF-8: {exc.reason} at byte {exc.start}")
        rows.append(first_row + i)
    return pa.table(
        {
            "__line": texts,
            "__row": pa.array(rows, pa.int64()),
            "__error": pa.array(errors, pa.string()),
        }
    )


def _jsonl(path: Path, _delimiter: str, progress: Progress) -> Iterator[Chunk]:
    row = 1
    done = 0
    rest = b""
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            done += len(block)
            data = rest + block
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            table, n = _block_table(data[:cut], row)
            rest = data[cut + 1 :]
            yield Chunk(table, is_json_text=True)
            row += n
            progress(done)
    if rest.strip():
        yield Chunk(lines_table([rest], row), is_json_text=True)
    progress(done)


def _json(path: Path, _delimiter: str, progress: Progress) -> Iterator[Chunk]:
    """A JSON array of objects (read whole: use jsonl for files that do not fit in memory)."""
    try:
        docs = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise SourceReadError(f"{path}: not valid JSON: {exc}") from exc
    if isinstance(docs, dict):
        docs = [docs]
    if not isinstance(docs, list):
        raise SourceReadError(f"{path}: expected a JSON array of objects")
    for start in range(0, len(docs), CHUNK_ROWS):
        part = docs[start : start + CHUNK_ROWS]
        lines = [orjson.dumps(d) for d in part]
        yield Chunk(lines_table(lines, start + 1), is_json_text=True)
    progress(path.stat().st_size)


def _parquet(path: Path, _delimiter: str, progress: Progress) -> Iterator[Chunk]:
    pf = pq.ParquetFile(path)
    size = path.stat().st_size
    total = max(pf.metadata.num_rows, 1)
    row = 1
    for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
        table = pa.Table.from_batches([batch])
        yield Chunk(_with_rows(table, row), is_json_text=False)
        row += table.num_rows
        progress(int(size * min(1.0, (row - 1) / total)))


def _xlsx(path: Path, _delimiter: str, progress: Progress) -> Iterator[Chunk]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [
            str(h) if h is not None else f"column_{i + 1}" for i, h in enumerate(next(rows, ()))
        ]
        batch: list[list[str | None]] = []
        row = 1
        for values in rows:
            batch.append([None if v is None else str(v) for v in values][: len(header)])
            if len(batch) >= CHUNK_ROWS:
                yield Chunk(_with_rows(_columns(header, batch), row), is_json_text=False)
                row += len(batch)
                batch = []
        if batch:
            yield Chunk(_with_rows(_columns(header, batch), row), is_json_text=False)
    finally:
        wb.close()
    progress(path.stat().st_size)


def _columns(header: list[str], rows: list[list[str | None]]) -> pa.Table:
    cols = {
        name: pa.array([r[i] if i < len(r) else None for r in rows], pa.string())
        for i, name in enumerate(header)
    }
    return pa.table(cols)
