"""The engine contract: what the pipeline needs from a SQL engine, nothing more.

Stages build SQL strings (DuckDB dialect) and hand them to an Engine; Python-side work
(normalising distinct values) goes in and out as Arrow tables. Keeping the surface this small
is what lets a Spark engine run the same pipeline later.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from onefold.errors import OnefoldError


class EngineError(OnefoldError):
    """A statement failed; the message carries the step name and the SQL that failed."""


class ConstraintViolation(EngineError):
    """A write broke a primary key or other constraint; its transaction is void."""


class Engine(abc.ABC):
    """A SQL engine holding the workspace's tables."""

    name: str = "abstract"

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None, *, step: str = "") -> None:
        """Run one statement for its effect."""

    @abc.abstractmethod
    def fetchall(
        self, sql: str, params: Sequence[Any] | None = None, *, step: str = ""
    ) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""

    @abc.abstractmethod
    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and return an Arrow table (for bulk hand-off to Python)."""

    @abc.abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table to SQL under `name` until `unregister`."""

    @abc.abstractmethod
    def unregister(self, name: str) -> None: ...

    @abc.abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside on success, roll it all back on error."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def cursor(self) -> Engine:
        """Another connection to the same database, for use from another thread."""

    def stream_writes(self) -> None:
        """Tune the database for a long-running writer of many small transactions (the
        collector): it decides itself when to fold its log into the tables (`fold_log`).
        Engines without such a log ignore this."""
        return None

    def log_bytes(self) -> int:
        """Bytes committed but not yet folded into the tables (0 when not applicable)."""
        return 0

    def fold_log(self, *, vacuum: bool = False) -> bool:
        """Fold the log into the tables now (also compacting them, with `vacuum`); False when
        it cannot run at this moment."""
        return True

    def fetchone(self, sql: str, params: Sequence[Any] | None = None, *, step: str = "") -> Any:
        """First column of the first row, or None."""
        rows = self.fetchall(sql, params, step=step)
        return rows[0][0] if rows else None

    def fetch_dicts(
        self, sql: str, params: Sequence[Any] | None = None, *, step: str = ""
    ) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name (for reports and the API)."""
        rows: list[dict[str, Any]] = self.fetch_arrow(sql, params).to_pylist()
        return rows

    def table_exists(self, name: str) -> bool:
        return bool(
            self.fetchone(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            )
        )

    def run_script(self, statements: Sequence[str], *, step: str) -> None:
        """Run statements in order; each failure names the step and the statement."""
        for sql in statements:
            self.execute(sql, step=step)
