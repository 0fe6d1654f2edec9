"""DuckDB, the embedded default: one database file per workspace, no server to run."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb  # noqa: TID251 - this is the engine layer
import pyarrow as pa

from onefold.engine.base import ConstraintViolation, Engine, EngineError
from onefold.errors import TransientError

log = logging.getLogger("onefold.sql")

#: The write-ahead log size at which DuckDB checkpoints by itself under `stream_writes`.
WAL_BACKSTOP = "1GB"
#: DuckDB's default `max_vacuum_tasks`, for the checkpoints that do vacuum.
VACUUM_TASKS = 100


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) < 600 else text[:600] + " …"


class DuckDBEngine(Engine):
    """Runs the pipeline's SQL on a DuckDB database file (or `:memory:`)."""

    name = "duckdb"

    def __init__(
        self, path: Path | str, *, memory_limit: str | None = None, threads: int | None = None
    ) -> None:
        self.path = str(path)
        try:
            con = duckdb.connect(self.path)
        except duckdb.IOException as exc:  # another process holds the write lock
            raise TransientError(f"cannot open {self.path}: {exc}") from exc
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = false")
        self._adopt(con)

    def _adopt(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.con.execute("SET TimeZone = 'UTC'")
        self._in_tx = False

    def cursor(self) -> DuckDBEngine:
        """Another connection to the same open database, for another thread.

        DuckDB runs each connection's transactions concurrently (optimistic concurrency); the
        server's collector, resolver and API readers each use their own.
        """
        other = DuckDBEngine.__new__(DuckDBEngine)
        other.path = self.path
        other._adopt(self.con.cursor())
        return other

    def _run(self, sql: str, params: Sequence[Any] | None, step: str) -> duckdb.DuckDBPyConnection:
        started = time.perf_counter()
        try:
            result = self.con.execute(sql, params) if params else self.con.execute(sql)
            log.debug("%.3fs %s: %s", time.perf_counter() - started, step or "sql", _short(sql))
            return result
        except duckdb.Error as exc:
            where = f" in step {step!r}" if step else ""
            kind = (
                ConstraintViolation if isinstance(exc, duckdb.ConstraintException) else EngineError
            )
            raise kind(f"duckdb{where}: {exc}\n  SQL: {_short(sql)}") from exc

    def execute(self, sql: str, params: Sequence[Any] | None = None, *, step: str = "") -> None:
        self._run(sql, params, step)

    def fetchall(
        self, sql: str, params: Sequence[Any] | None = None, *, step: str = ""
    ) -> list[tuple[Any, ...]]:
        return self._run(sql, params, step).fetchall()

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        log.debug("fetch: %s", _short(sql))
        try:
            rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            if rel is None:
                raise EngineError(f"duckdb: not a query: {_short(sql)}")
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
            table: pa.Table = fetch()
        except duckdb.Error as exc:
            raise EngineError(f"duckdb: {exc}\n  SQL: {_short(sql)}") from exc
        return table

    def stream_writes(self) -> None:
        """DuckDB checkpoints inside whichever commit pushes its write-ahead log past
        `checkpoint_threshold` (16 MB): that commit — and every request waiting on it —
        stalls for the checkpoint. The collector instead checkpoints between commits
        (`fold_log`), and the threshold only backs it up. Vacuum is off for this database
        instance: it re-merged the row groups of an append-only table on every checkpoint
        (0.1 s → 2 s per checkpoint, doubling); `fold_log(vacuum=True)` runs it in a lull, for
        the tables that do delete (the resolver's)."""
        self.con.execute(f"SET checkpoint_threshold = '{WAL_BACKSTOP}'")
        self.con.execute("SET max_vacuum_tasks = 0")

    def log_bytes(self) -> int:
        try:
            return Path(self.path + ".wal").stat().st_size
        except OSError:
            return 0

    def fold_log(self, *, vacuum: bool = False) -> bool:
        if vacuum:
            self.con.execute(f"SET max_vacuum_tasks = {VACUUM_TASKS}")
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.TransactionException:  # another connection is writing: later
            return False
        finally:
            if vacuum:
                self.con.execute("SET max_vacuum_tasks = 0")
        return True

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_tx:  # nested use joins the outer transaction
            yield
            return
        self._run("BEGIN TRANSACTION", None, "transaction")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self._run("COMMIT", None, "transaction")
        finally:
            self._in_tx = False

    def close(self) -> None:
        self.con.close()
