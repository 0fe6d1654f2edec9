"""Entry point: `generate` streams a whole sample workspace (data, ground truth, mappings).

Persons are generated household by household and every channel writes that household's rows
immediately, so memory does not grow with `persons`. One `random.Random(seed)` drives
everything in a fixed order, which is what makes the output byte-identical per seed.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from onefold.sample.channels_commerce import pos_receipts, shop_orders
from onefold.sample.channels_events import app_events, email_engagement, web_events
from onefold.sample.channels_profiles import (
    call_center,
    crm_contact,
    loyalty_member,
    wechat_follower,
)
from onefold.sample.context import Ctx
from onefold.sample.noise import Noise
from onefold.sample.people import PersonFactory
from onefold.sample.pools import Pools
from onefold.sample.timefmt import Clock
from onefold.sample.writer import SOURCE_NAMES, Sinks

MAPPINGS_DIR = Path(__file__).parent / "mappings"
PROGRESS_STEP = 1000


@dataclass(frozen=True)
class SampleSummary:
    """What `generate` wrote: record counts and paths per source."""

    persons: int
    records: dict[str, int]
    files: dict[str, Path]
    ground_truth: Path


def mapping_files() -> dict[str, Path]:
    """Source name → the packaged mapping YAML for that source."""
    return {name: MAPPINGS_DIR / f"{name}.yml" for name in SOURCE_NAMES}


def generate(
    out: Path, persons: int, seed: int = 42, progress: Callable[[int], None] | None = None
) -> SampleSummary:
    """Write a sample workspace for `persons` persons into `out`.

    Layout: `out/data/<source file>`, `out/ground_truth.csv` (source, record_key, person_id
    for every record) and `out/sources/<source>.yml`. progress(k) is called with the number
    of persons just finished, every ~1000 persons and once at the end.
    """
    if persons < 1:
        raise ValueError("persons must be at least 1")
    out = Path(out)
    rng = random.Random(seed)
    pools = Pools()
    factory = PersonFactory(rng, pools, persons)
    done_since_report = 0
    with Sinks(out) as sinks:
        ctx = Ctx(
            rng=rng, noise=Noise(rng), clock=Clock(), sinks=sinks, pools=pools, factory=factory
        )
        for household in factory.households():
            for p in household:
                crm_contact(ctx, p)
                shop_orders(ctx, p, household)
                pos_receipts(ctx, p)
                loyalty_member(ctx, p)
                web_events(ctx, p)
                app_events(ctx, p)
                call_center(ctx, p)
                email_engagement(ctx, p)
                wechat_follower(ctx, p)
            done_since_report += len(household)
            if progress is not None and done_since_report >= PROGRESS_STEP:
                progress(done_since_report)
                done_since_report = 0
        records = dict(sinks.counts)
        files = dict(sinks.files)
        ground_truth = sinks.ground_truth
    if progress is not None and done_since_report:
        progress(done_since_report)
    sources = out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for name, path in mapping_files().items():
        shutil.copyfile(path, sources / f"{name}.yml")
    return SampleSummary(persons=persons, records=records, files=files, ground_truth=ground_truth)
