"""The state every channel writer shares: rng, noise, clock, output sinks and id counters.

Channels are plain functions of `(ctx, person, household)`; bundling their shared state in one
object keeps their signatures short and makes the single-rng, single-order discipline that
reproducibility depends on explicit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from onefold.sample.noise import Noise
from onefold.sample.people import PersonFactory
from onefold.sample.pools import Pools
from onefold.sample.timefmt import END, Clock
from onefold.sample.writer import Sinks


@dataclass
class Ctx:
    rng: random.Random
    noise: Noise
    clock: Clock
    sinks: Sinks
    pools: Pools
    factory: PersonFactory
    seq: dict[str, int] = field(default_factory=dict)

    def next_id(self, name: str) -> int:
        """Sequential record number per source: record keys are unique by construction."""
        n = self.seq.get(name, 0) + 1
        self.seq[name] = n
        return n

    def when(self, since: int, end: int = END) -> int:
        """A random second in [since, end)."""
        return since + int(self.rng.random() * (end - since))
