"""The outcome of normalising one raw value, shared by every normaliser."""

from __future__ import annotations

from typing import Literal, NamedTuple

Status = Literal["valid", "partial", "suspicious", "invalid", "junk", "empty"]

#: Statuses whose value may be used (as identifier or trait). `partial` values (a masked
#: phone) are kept for probabilistic matching later but never used as a full identifier.
USABLE: frozenset[str] = frozenset({"valid", "suspicious"})
#: Statuses that put the value into the rejects table with its reason.
REJECTED: frozenset[str] = frozenset({"invalid", "junk"})


class Normalised(NamedTuple):
    """`value` is the canonical form (None when unusable); `reason` explains any non-valid status.

    `key` is a secondary matching key: the pinyin/case-folded key of a name, the national
    significant number of a phone, the digits visible in a masked phone. `script` is set for
    names only ("han", "latin", "mixed", "other").
    """

    value: str | None
    status: Status
    reason: str | None = None
    key: str | None = None
    script: str | None = None
