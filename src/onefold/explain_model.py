"""The data `explain` returns: plain frozen dataclasses, usable from notebooks and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

HopKind = Literal["identifier", "shared_value", "probabilistic"]


# -- data --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordRef:
    """One source record, named the way users name it: `source/record_key`."""

    rid: int
    source: str
    record_key: str

    @property
    def ref(self) -> str:
        return f"{self.source}/{self.record_key}"


@dataclass(frozen=True)
class IdentifierTie:
    """An identifier value held by several records of the profile, which it joins.

    `kind` is 'identifier' for an ordinary linking value and 'shared_value' for a hub that
    holds together records carrying nothing else (it joins them to nothing further)."""

    id_type: str
    value: str
    records: tuple[RecordRef, ...]
    sources: tuple[str, ...]
    kind: HopKind = "identifier"


@dataclass(frozen=True)
class UnusedValue:
    """A shared (hub) value, or a value of a non-linking type, that did not join records."""

    id_type: str
    value: str
    records: int
    sources: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class DroppedLink:
    """A record's identifier that did not join it: the merge would have broken a profile limit."""

    record: RecordRef
    id_type: str
    value: str
    reason: str


@dataclass(frozen=True)
class ComparisonTerm:
    """One comparison of a scored pair: its level, label and weight in bits.

    `weight` is the `w_<field>` column of `match_pairs`, so it already includes the
    term-frequency adjustment (`tf_adjustment`, also shown on its own when the comparison
    has one): the prior plus every `weight` is the pair's match weight."""

    field: str
    level: int
    label: str
    weight: float
    tf_adjustment: float | None = None


@dataclass(frozen=True)
class MatchEvidence:
    """The Fellegi–Sunter score of one candidate pair, term by term."""

    a: RecordRef
    b: RecordRef
    probability: float
    match_weight: float
    prior: float
    comparisons: tuple[ComparisonTerm, ...]
    threshold: float

    @property
    def above_threshold(self) -> bool:
        return self.probability >= self.threshold


@dataclass(frozen=True)
class HistoryEvent:
    """A `profile_history` row that concerns the profile (as subject or as the other side)."""

    run_id: int
    happened_at: datetime | None
    event: str
    profile_id: str
    other_profile_id: str | None
    members: int | None

    def describe(self, subject: str) -> str:
        """The event in words, from the point of view of profile `subject`."""
        other = self.other_profile_id
        if self.event == "created":
            return "created"
        if self.event == "merged":
            if self.profile_id == subject:
                return f"merged into {other}"
            n = f" ({self.members} shared keys)" if self.members else ""
            return f"absorbed {self.profile_id}{n}"
        if self.event == "split":
            if self.profile_id == subject:
                return f"split off from {other}"
            return f"{self.profile_id} split off"
        return f"{self.event} {other or ''}".strip()


@dataclass(frozen=True)
class ProfileExplanation:
    """The evidence that holds one profile together."""

    profile_id: str
    name: str | None
    records: int
    sources: tuple[str, ...]
    ties: tuple[IdentifierTie, ...]
    links: tuple[MatchEvidence, ...]
    unused: tuple[UnusedValue, ...]
    history: tuple[HistoryEvent, ...]
    #: records joined by nothing (a single-record profile has exactly one)
    loose: tuple[RecordRef, ...] = ()
    matching_enabled: bool = False
    dropped: tuple[DroppedLink, ...] = ()


@dataclass(frozen=True)
class SharedIdentifier:
    """The identifier value a hop goes through."""

    id_type: str
    value: str
    kind: HopKind = "identifier"


@dataclass(frozen=True)
class Hop:
    """One step of a path: from one record to the next through a value or a link."""

    start: RecordRef
    end: RecordRef
    via: SharedIdentifier | MatchEvidence

    @property
    def kind(self) -> HopKind:
        return "probabilistic" if isinstance(self.via, MatchEvidence) else self.via.kind


@dataclass(frozen=True)
class PathExplanation:
    """How two records are linked, or why they are not.

    Same profile: `hops` is a shortest path over the evidence graph. Different profiles:
    `shared` lists the values they share that could not join them, and `candidate` is their
    probabilistic score when blocking generated the pair (None otherwise)."""

    a: RecordRef
    b: RecordRef
    profile_a: str
    profile_b: str
    hops: tuple[Hop, ...] = ()
    shared: tuple[UnusedValue, ...] = ()
    candidate: MatchEvidence | None = None
    matching_enabled: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def linked(self) -> bool:
        return self.profile_a == self.profile_b
