"""Normalise each distinct raw value once, and remember the answer across runs.

The SQL side collects the distinct (normaliser, param, raw) triples no run has seen yet;
this module runs the Python normaliser on each and hands the answers back as Arrow. A
re-run, or a new load that repeats known values, costs no Python work at all.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import repeat

import pyarrow as pa

from onefold.clean.countries import normalise_country
from onefold.clean.dates import normalise_date
from onefold.clean.emails import normalise_email
from onefold.clean.genders import normalise_gender
from onefold.clean.identifiers import normalise_identifier
from onefold.clean.junk import JunkFilter
from onefold.clean.names import normalise_name
from onefold.clean.phones import normalise_phone
from onefold.clean.result import Normalised
from onefold.engine.base import Engine


@dataclass(frozen=True)
class CleaningContext:
    """What a normaliser's answer depends on besides the raw value (part of the cache key)."""

    junk_values: tuple[str, ...] = ()
    canonicalise_email_providers: bool = False

    @property
    def fingerprint(self) -> str:
        text = "|".join([*sorted(self.junk_values), str(self.canonicalise_email_providers)])
        return hashlib.sha1(text.encode()).hexdigest()[:8]


def cache_param(
    normaliser: str, ctx: CleaningContext, *, region: str = "", formats: tuple[str, ...] = ()
) -> str:
    """The cache key's `param`: everything besides `raw` that the answer depends on."""
    if normaliser.endswith("phone"):
        return f"{region}|{ctx.fingerprint}"
    if normaliser == "date":
        return "|".join(formats)
    return ctx.fingerprint


def normaliser_function(
    normaliser: str, param: str, ctx: CleaningContext, junk: JunkFilter
) -> Callable[[str], Normalised]:
    """The Python normaliser behind cache entries of (`normaliser`, `param`)."""
    region = param.split("|", 1)[0]
    if normaliser.startswith("id."):
        return partial(
            normalise_identifier,
            normaliser=normaliser[3:],
            region=region or "US",
            junk=junk,
            canonicalise_email_providers=ctx.canonicalise_email_providers,
        )
    if normaliser == "email":
        return partial(
            normalise_email, canonicalise_provider=ctx.canonicalise_email_providers, junk=junk
        )
    if normaliser == "phone":
        return partial(normalise_phone, region=region or "US", junk=junk)
    if normaliser == "name":
        return normalise_name
    if normaliser == "date":
        return partial(normalise_date, formats=tuple(param.split("|")) if param else ("%Y-%m-%d",))
    if normaliser == "country":
        return normalise_country
    if normaliser == "gender":
        return normalise_gender
    raise ValueError(f"unknown normaliser {normaliser!r}")


#: Below this many pending values, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 200_000
CHUNK = 50_000

Columns = tuple[list[str | None], list[str], list[str | None], list[str | None], list[str | None]]


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork where available: workers only run pure-Python normalisers (never the engine,
    whose threads are idle between statements), and unlike spawn it does not re-import the
    caller's `__main__`, so a user's unguarded script cannot run twice."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def normalise_chunk(normaliser: str, param: str, ctx: CleaningContext, raws: list[str]) -> Columns:
    """Normalise a list of raw values; runs in a worker process for large runs."""
    fn = normaliser_function(normaliser, param, ctx, JunkFilter(ctx.junk_values))
    results = [fn(r) for r in raws]
    return (
        [r.value for r in results],
        [r.status for r in results],
        [r.reason for r in results],
        [r.key for r in results],
        [r.script for r in results],
    )


def _store(engine: Engine, normaliser: str, param: str, raws: list[str], cols: Columns) -> None:
    n = len(raws)
    table = pa.table(
        {
            "normaliser": pa.array([normaliser] * n, pa.string()),
            "param": pa.array([param] * n, pa.string()),
            "raw": pa.array(raws, pa.string()),
            **{
                name: pa.array(col, pa.string())
                for name, col in zip(
                    ("value", "status", "reason", "key", "script"), cols, strict=True
                )
            },
        }
    )
    engine.register("_normalised", table)
    try:
        engine.execute(
            "INSERT INTO normalised_values SELECT * FROM _normalised",
            step="cache normalised values",
        )
    finally:
        engine.unregister("_normalised")


def normalise_pending(
    engine: Engine,
    pending_sql: str,
    ctx: CleaningContext,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Normalise every distinct value `pending_sql` returns and append to normalised_values.

    `pending_sql` must return (normaliser, param, raw) rows not yet in the cache. Large runs
    fan out over one worker process per core (normalising is pure Python and CPU-bound, and
    the engine is idle meanwhile).
    """
    groups = engine.fetchall(
        f"SELECT normaliser, param, count(*) FROM ({pending_sql}) GROUP BY ALL ORDER BY ALL"
    )
    total = sum(int(g[2]) for g in groups)
    pool: ProcessPoolExecutor | None = None
    if total >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
        pool = ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=_mp_context())
    try:
        for normaliser, param, _count in groups:
            raws: list[str] = (
                engine.fetch_arrow(
                    f"SELECT raw FROM ({pending_sql}) WHERE normaliser = ? AND param = ?",
                    [normaliser, param],
                )
                .column("raw")
                .to_pylist()
            )
            parts = [raws[i : i + CHUNK] for i in range(0, len(raws), CHUNK)]
            if pool is not None:
                results = pool.map(
                    normalise_chunk, repeat(normaliser), repeat(param), repeat(ctx), parts
                )
            else:
                results = (normalise_chunk(normaliser, param, ctx, p) for p in parts)
            for part, cols in zip(parts, results, strict=True):
                _store(engine, normaliser, param, part, cols)
                if progress:
                    progress(len(part))
    finally:
        if pool is not None:
            pool.shutdown()
    return total
