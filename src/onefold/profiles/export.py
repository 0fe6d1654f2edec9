"""Exports: profiles as CSV/Parquet for other tools, and record→profile links for evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from onefold.engine.base import Engine
from onefold.engine.sql import literal


def export_profiles(engine: Engine, path: Path, fmt: Literal["csv", "parquet"]) -> int:
    """Write the golden records; lists become JSON-like text in CSV, native lists in Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = "* REPLACE (revenue::VARCHAR AS revenue)" if fmt == "csv" else "*"
    opts = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    engine.execute(
        f"COPY (SELECT {cols} FROM profiles ORDER BY profile_id) TO {literal(str(path))} ({opts})",
        step="export profiles",
    )
    return int(engine.fetchone("SELECT count(*) FROM profiles"))


def export_links(engine: Engine, path: Path) -> int:
    """One row per current record: `source,record_key,profile_id`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine.execute(
        f"COPY (SELECT source, record_key, profile_id FROM record_profiles "
        f"ORDER BY source, record_key) TO {literal(str(path))} (FORMAT csv, HEADER true)",
        step="export links",
    )
    return int(engine.fetchone("SELECT count(*) FROM record_profiles"))
