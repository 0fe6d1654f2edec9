"""Union–find (disjoint sets) with path halving, for grouping things that are linked.

The identity stages group in SQL where the data is large (`graph.components`); in Python
they group what a run holds in memory already — the fast path's new records and their
values, the clustering's strongly linked components — and the benchmarks their oracle.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """`find(x)` names x's set (x itself until it is joined to another); `union(a, b)`
    joins two sets, the first one's name surviving."""

    def __init__(self) -> None:
        self.parent: dict[T, T] = {}

    def find(self, x: T) -> T:
        while self.parent.setdefault(x, x) != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: T, b: T) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def groups(self) -> dict[T, T]:
        """Every element seen → the name of its set."""
        return {x: self.find(x) for x in list(self.parent)}
