"""Normalise each distinct raw value once, and remember the answer across runs.

The SQL side collects the distinct (normaliser, param, raw) triples no run has seen yet;
this module runs the Python normaliser on each and hands the answers back as Arrow. A
re-run, or a new load that repeats known values, costs no Python work at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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

#: Normalisers done in SQL (no Python, nothing cached): trimmed text, numbers.
SQL_NORMALISERS = frozenset({"text", "number"})


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


def _function(
    normaliser: str, param: str, ctx: CleaningContext, junk: JunkFilter
) -> Callable[[str], Normalised]:
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


def normalise_pending(
    engine: Engine,
    pending_sql: str,
    ctx: CleaningContext,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Normalise every distinct value `pending_sql` returns and append to normalised_values.

    `pending_sql` must return (normaliser, param, raw) rows not yet in the cache.
    """
    junk = JunkFilter(ctx.junk_values)
    groups = engine.fetchall(
        f"SELECT normaliser, param, count(*) FROM ({pending_sql}) GROUP BY ALL ORDER BY ALL"
    )
    done = 0
    for normaliser, param, _count in groups:
        fn = _function(normaliser, param, ctx, junk)
        raws = (
            engine.fetch_arrow(
                f"SELECT raw FROM ({pending_sql}) WHERE normaliser = ? AND param = ?",
                [normaliser, param],
            )
            .column("raw")
            .to_pylist()
        )
        for start in range(0, len(raws), 200_000):
            part = raws[start : start + 200_000]
            results = [fn(r) for r in part]
            table = pa.table(
                {
                    "normaliser": pa.array([normaliser] * len(part), pa.string()),
                    "param": pa.array([param] * len(part), pa.string()),
                    "raw": pa.array(part, pa.string()),
                    "value": pa.array([r.value for r in results], pa.string()),
                    "status": pa.array([r.status for r in results], pa.string()),
                    "reason": pa.array([r.reason for r in results], pa.string()),
                    "key": pa.array([r.key for r in results], pa.string()),
                    "script": pa.array([r.script for r in results], pa.string()),
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
            done += len(part)
            if progress:
                progress(len(part))
    return done
