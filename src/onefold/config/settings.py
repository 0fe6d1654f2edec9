"""Project settings: `onefold.yml` at the root of a workspace."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from onefold.config._yaml import explain_validation, read_yaml
from onefold.schema import BUILTIN_ID_NORMALISERS, BUILTIN_ID_TYPES, IdNormaliser

CONFIG_FILE = "onefold.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomIdentifier(_Strict):
    normaliser: IdNormaliser = "exact"


class ProfileLimit(_Strict):
    """At most `max` values of one identifier type per profile, optionally per time window."""

    max: int = Field(ge=1)
    window_days: float | None = Field(
        default=None,
        gt=0,
        description=(
            "count only the values first seen within this many days of each other: a person "
            "changes phones over the years but does not get six new ones in a week"
        ),
    )


#: Key of `blocked_values` / `blocked_patterns` that applies to every identifier type.
ANY_TYPE = "*"


class IdentitySettings(_Strict):
    """Rules of the deterministic identity graph."""

    priority: tuple[str, ...] = Field(
        default=BUILTIN_ID_TYPES,
        description="identifier types, strongest first; types not listed rank last",
    )
    custom_identifiers: dict[str, CustomIdentifier] = Field(default_factory=dict)
    hub_limits: dict[str, int] = Field(
        default_factory=lambda: {
            "user_id": 1,
            "loyalty_card": 1,
            "wechat_unionid": 1,
            "email": 3,
            "phone": 2,
        },
        description=(
            "a value is a hub (shared by several people) when the records holding it carry "
            "more than this many distinct values of the given type"
        ),
    )
    profile_limits: dict[str, int | ProfileLimit] = Field(
        default_factory=lambda: dict[str, int | ProfileLimit](
            user_id=1, loyalty_card=1, wechat_unionid=1, email=5, phone=5
        ),
        description=(
            "at most this many values of a type in one profile: a merge that would exceed it "
            "drops the linking record's lowest-priority identifier instead, and records why"
        ),
    )
    blocked_values: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description=(
            "normalised identifier values that never link, per type ('*': any type), on top "
            "of the built-in junk list"
        ),
    )
    blocked_patterns: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description=(
            "regular expressions (RE2 syntax, matched against the whole normalised value) "
            "for identifier values that never link, per type ('*': any type)"
        ),
    )
    link_types: tuple[str, ...] | None = Field(
        default=None,
        description="identifier types that may join records; default: all except order_id",
    )
    name_conflict_similarity: float | None = Field(
        default=0.8,
        description=(
            "a shared value (email, phone, device…) whose records carry two names that differ "
            "beyond this Jaro–Winkler similarity, once common tokens are removed, is a hub: "
            "Li Jia and Li Ming share a family email, not an identity; None disables"
        ),
    )
    canonicalise_email_providers: bool = Field(
        default=False, description="fold Gmail dots and +tags (googlemail.com → gmail.com)"
    )

    @property
    def id_types(self) -> dict[str, IdNormaliser]:
        types: dict[str, IdNormaliser] = dict(BUILTIN_ID_NORMALISERS)
        types.update({k: v.normaliser for k, v in self.custom_identifiers.items()})
        return types

    @property
    def linking_types(self) -> tuple[str, ...]:
        if self.link_types is not None:
            return self.link_types
        return tuple(t for t in self.id_types if t != "order_id")

    @property
    def unique_types(self) -> tuple[str, ...]:
        """Types a person has at most one value of (hub limit 1): they never merge apart."""
        return tuple(t for t, limit in self.hub_limits.items() if limit <= 1)

    @property
    def limits(self) -> dict[str, ProfileLimit]:
        """`profile_limits` with plain numbers read as limits without a window."""
        return {
            t: v if isinstance(v, ProfileLimit) else ProfileLimit(max=v)
            for t, v in self.profile_limits.items()
        }

    @model_validator(mode="after")
    def _check_patterns(self) -> IdentitySettings:
        for id_type, patterns in self.blocked_patterns.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(
                        f"blocked_patterns.{id_type}: {pattern!r} is not a regular "
                        f"expression: {exc}"
                    ) from exc
        return self

    def rank(self, id_type: str) -> int:
        """Position in the priority list (0 = strongest)."""
        return self.priority.index(id_type) if id_type in self.priority else len(self.priority)


ComparisonMethod = Literal["name", "text", "exact", "date", "phone", "email", "number"]


class ComparisonSpec(_Strict):
    """One field compared between two records; its levels depend on `method`."""

    field: str = Field(description="a trait name or an identifier type")
    method: ComparisonMethod = "text"
    tf_adjust: bool = Field(
        default=False, description="weight exact agreement by how rare the value is"
    )


class MatchingSettings(_Strict):
    """Probabilistic (Fellegi–Sunter) matching for records without a shared identifier."""

    enabled: bool = False
    sources: tuple[str, ...] | None = Field(
        default=None, description="sources whose records are matched (default: all)"
    )
    comparisons: tuple[ComparisonSpec, ...] = ()
    blocking: tuple[tuple[str, ...], ...] = Field(
        default=(),
        description=(
            "candidate pairs: each rule lists keys that must be equal, e.g. "
            "[last_name, 'birth_date[:4]']; `field[:N]` is a prefix, `field[-N:]` a suffix"
        ),
    )
    link_only: bool = Field(
        default=False,
        description="compare records of different sources only (each source is clean already)",
    )
    max_block_size: int = Field(default=2000, description="larger blocks are skipped")
    threshold: float = Field(default=0.95, gt=0, lt=1, description="match probability to link")
    u_sample_pairs: int = 300_000
    max_em_iterations: int = 30

    @model_validator(mode="after")
    def _check(self) -> MatchingSettings:
        if self.enabled and (not self.comparisons or not self.blocking):
            raise ValueError("matching.enabled needs comparisons and blocking rules")
        return self


class ProjectConfig(_Strict):
    """Everything in onefold.yml. Every key has a working default."""

    name: str = "onefold"
    database: str = "onefold.duckdb"
    sources_dir: str = "sources"
    memory_limit: str | None = Field(default=None, description="DuckDB memory_limit, e.g. '4GB'")
    threads: int | None = None
    junk_values: tuple[str, ...] = Field(
        default=(), description="extra junk values, added to the built-in list"
    )
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    source_priority: tuple[str, ...] = Field(
        default=(), description="sources whose traits win survivorship, first wins"
    )
    matching: MatchingSettings = Field(default_factory=MatchingSettings)

    @model_validator(mode="after")
    def _check(self) -> ProjectConfig:
        known = set(self.identity.id_types)
        rules: dict[str, Mapping[str, object]] = {
            "hub_limits": self.identity.hub_limits,
            "profile_limits": self.identity.profile_limits,
            "blocked_values": self.identity.blocked_values,
            "blocked_patterns": self.identity.blocked_patterns,
        }
        for rule, by_type in rules.items():
            for key in by_type:
                if key not in known and not (key == ANY_TYPE and rule.startswith("blocked")):
                    raise ValueError(f"identity.{rule}: unknown identifier type {key!r}")
        return self


def load_project(root: Path) -> ProjectConfig:
    path = root / CONFIG_FILE
    data = read_yaml(path)
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise explain_validation(path, exc) from exc


DEFAULT_CONFIG_YAML = """\
# onefold workspace settings. Every key is optional; the values shown are the defaults.
name: {name}
database: onefold.duckdb        # all state lives in this one DuckDB file
sources_dir: sources            # one mapping file per source
# memory_limit: 4GB             # DuckDB memory limit; spills to disk beyond it
junk_values: []                 # added to the built-in junk list (test@test.com, N/A, …)
identity:
  # strongest first: decides which link gives way when rules conflict
  priority: [user_id, loyalty_card, wechat_unionid, wechat_openid, email, phone, order_id,
             device_id, anonymous_id]
  # a value whose records carry more than N distinct values of a type is a shared "hub"
  # (family email, store tablet, recycled phone) and does not join profiles
  hub_limits: {{user_id: 1, loyalty_card: 1, wechat_unionid: 1, email: 3, phone: 2}}
  # at most N values of a type per profile (optionally {{max: N, window_days: D}}); a merge
  # that would exceed it drops the lowest-priority link instead and records the conflict
  profile_limits: {{user_id: 1, loyalty_card: 1, wechat_unionid: 1, email: 5, phone: 5}}
  blocked_values: {{}}            # e.g. {{phone: ['+14155550000'], '*': [guest]}}
  blocked_patterns: {{}}          # e.g. {{email: ['.*@mystore\\.com']}} (whole value, RE2)
  canonicalise_email_providers: false
  custom_identifiers: {{}}        # e.g. {{member_no: {{normaliser: compact_upper}}}}
source_priority: []             # e.g. [crm, loyalty]: their traits win over more recent ones
"""
