"""Comparison levels per method, as SQL over a left (`l`) and right (`r`) match record.

Level 0 means "no evidence" (a value missing on either side) and carries no weight; the
last level is disagreement. Names compare on their matching key (toneless pinyin for Chinese,
case- and accent-folded Latin), so `张伟` meets `Zhang Wei`; dates accept a day/month swap
as its own level; phones agree on the last four digits even when one side is masked; emails
are close when a typo or two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from onefold.config.settings import ComparisonSpec


@dataclass(frozen=True)
class Comparison:
    field: str
    method: str
    tf_adjust: bool
    levels: tuple[tuple[str, str], ...]  # (label, SQL condition) for levels 1..n-1

    @property
    def column(self) -> str:
        return f"g_{self.field}"

    @property
    def n_levels(self) -> int:
        """Including level 0 (missing) and the final 'else' level."""
        return len(self.levels) + 2

    def labels(self) -> list[str]:
        return ["missing", *(label for label, _ in self.levels), "different"]

    def gamma_sql(self) -> str:
        """CASE expression giving the level index of a pair."""
        f = self.field
        whens = " ".join(
            f"WHEN {cond} THEN {i}" for i, (_, cond) in enumerate(self.levels, start=1)
        )
        return (
            f"CASE WHEN l.{f}_key IS NULL OR r.{f}_key IS NULL THEN 0 {whens} "
            f"ELSE {len(self.levels) + 1} END"
        )


def _nickname(field: str) -> str:
    """Every token of each name is a token, or a nickname of a token, of the other (Bill
    Smith ~ William Smith); `<field>_ext` holds each name's tokens with their nicknames."""
    one_way = (
        "len(list_filter(string_split({a}.{f}_key, ' '), "
        "lambda x: NOT list_contains({b}.{f}_ext, x))) = 0"
    )
    return one_way.format(a="l", b="r", f=field) + " AND " + one_way.format(a="r", b="l", f=field)


def _levels(spec: ComparisonSpec) -> tuple[tuple[str, str], ...]:
    k = spec.field + "_key"
    lk, rk = f"l.{k}", f"r.{k}"
    jw = f"jaro_winkler_similarity({lk}, {rk})"
    if spec.method == "name":
        return (
            ("exact", f"{lk} = {rk}"),
            ("same tokens in another order", f"l.{spec.field}_sorted = r.{spec.field}_sorted"),
            ("nicknames of each other", _nickname(spec.field)),
            ("jaro-winkler ≥ 0.92", f"{jw} >= 0.92"),
            ("jaro-winkler ≥ 0.80", f"{jw} >= 0.80"),
        )
    if spec.method == "text":
        return (
            ("exact", f"{lk} = {rk}"),
            ("jaro-winkler ≥ 0.90", f"{jw} >= 0.90"),
            ("jaro-winkler ≥ 0.70", f"{jw} >= 0.70"),
        )
    if spec.method == "date":
        swapped = (
            f"substr({lk}, 1, 4) = substr({rk}, 1, 4) AND substr({lk}, 6, 2) = substr({rk}, 9, 2)"
            f" AND substr({lk}, 9, 2) = substr({rk}, 6, 2)"
        )
        return (
            ("exact", f"{lk} = {rk}"),
            ("day and month swapped", swapped),
            ("one typo", f"levenshtein({lk}, {rk}) <= 1"),
            ("same year", f"substr({lk}, 1, 4) = substr({rk}, 1, 4)"),
        )
    if spec.method == "phone":
        return (
            ("exact", f"{lk} = {rk}"),
            ("same last four digits", f"right({lk}, 4) = right({rk}, 4)"),
        )
    if spec.method == "email":
        # "close" means a typo (two edits at most), not a Jaro–Winkler band: local parts are
        # mostly built from the name (barbara.smith2363455, barbara.smith4605863), so two
        # strangers of one name score ≥ 0.9 and the level would count the name twice
        return (
            ("exact", f"{lk} = {rk}"),
            ("same local part", f"split_part({lk}, '@', 1) = split_part({rk}, '@', 1)"),
            ("one or two typos", f"levenshtein({lk}, {rk}) <= 2"),
        )
    if spec.method == "number":
        num_l, num_r = f"TRY_CAST({lk} AS DOUBLE)", f"TRY_CAST({rk} AS DOUBLE)"
        return (
            ("exact", f"{lk} = {rk}"),
            (
                "within 10 %",
                f"abs({num_l} - {num_r}) <= 0.1 * greatest(abs({num_l}), abs({num_r}))",
            ),
        )
    return (("exact", f"{lk} = {rk}"),)


def build_comparisons(specs: tuple[ComparisonSpec, ...]) -> list[Comparison]:
    return [Comparison(s.field, s.method, s.tf_adjust, _levels(s)) for s in specs]
