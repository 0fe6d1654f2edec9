"""Probabilistic matching (Fellegi–Sunter) for records that share no strong identifier.

The heavy, per-pair work is SQL: one row of comparable values per record (`match_records`),
candidate pairs from blocking rules, a level per comparison per pair. Learning happens on the
*distinct level patterns* (a few thousand rows whatever the data size): u-probabilities from
random pairs, m-probabilities and the prior by expectation–maximisation, no labels. Scores go
back to SQL as literal weights, so every pair carries the weight of each comparison.

Learning is the training step only: the model is kept (`match_model`) and later runs score
with it — a full run through `run_matching(model=…)`, an incremental one through the same
`compare_pairs` / `add_tf_terms` / `score_pairs` on its new records' pairs only (see
`incremental_matching`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from onefold.config.settings import MatchingSettings
from onefold.engine.base import Engine
from onefold.engine.sql import literal
from onefold.identity.comparisons import Comparison, build_comparisons
from onefold.identity.nicknames import extensions_sql, person_name_sql, register_aliases

USABLE = "('valid', 'suspicious', 'partial')"
#: A virtual field: the full name where a source has one, else first and last name joined
#: (in either order: the name comparison has a level for the same tokens reordered).
PERSON_NAME = "person_name"
NAME_PARTS = ("full_name", "first_name", "last_name")
_BLOCK_KEY = r"^(?P<field>[a-z_][a-z0-9_]*)(\[(?P<a>-?\d*):(?P<b>-?\d*)\])?$"


@dataclass
class Model:
    """Learned parameters: prior λ, and m/u per comparison level (index 0 = missing)."""

    prior: float
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    iterations: int = 0
    pairs: int = 0
    history: list[float] = field(default_factory=list)
    #: P(match) for two records drawn at random: the prior used to score. EM's `prior` is the
    #: match rate *among candidate pairs*, which blocking pushes towards 1 on good blocks.
    global_prior: float | None = None
    #: EM's match rate among each blocking rule's candidates (one entry without rules)
    rule_priors: list[float] = field(default_factory=list)
    #: per `tf_adjust` field, the frequency given to a value the training data did not hold
    tf_unseen: dict[str, float] = field(default_factory=dict)

    def weight(self, name: str, level: int) -> float:
        if level == 0:
            return 0.0
        return math.log2(self.m[name][level] / self.u[name][level])


def blocking_key_sql(key: str) -> tuple[str, str]:
    """`last_name` → (field, SQL); `birth_date[:4]` a prefix, `phone[-4:]` a suffix."""
    import re

    m = re.match(_BLOCK_KEY, key)
    if not m:
        raise ValueError(f"blocking key {key!r}: expected `field`, `field[:N]` or `field[-N:]`")
    col = f"{m['field']}_key"
    a, b = m["a"], m["b"]
    if m.group(2) is None:
        return m["field"], col
    if a in ("", None) and b and int(b) > 0:
        return m["field"], f"left({col}, {int(b)})"
    if a and int(a) < 0 and b in ("", None):
        return m["field"], f"right({col}, {-int(a)})"
    raise ValueError(f"blocking key {key!r}: only [:N] prefixes and [-N:] suffixes are supported")


def build_match_records(
    engine: Engine,
    settings: MatchingSettings,
    *,
    model: Model | None = None,
    rids: str | None = None,
    table: str = "match_records",
) -> int:
    """One row per record with `<field>`, `<field>_key`, `<field>_sorted`, and `tf_<field>`
    for each `tf_adjust` comparison.

    Without `model`, `tf_<field>` is the value's frequency among these records (what a
    training run learns from). With a stored `model`, it is the frequency the model was
    trained with (`match_model_tf`, a value it never saw counting as seen once): a trained
    model scores every later record with the same weights, so a pair scores the same in an
    incremental run as in a full one. `rids` (a condition on `rid`) builds the rows of some
    records only, into the temporary `table`: an incremental run's new records.
    """
    comps = {c.field: c for c in settings.comparisons}
    fields = list(comps)
    for rule in settings.blocking:
        for key in rule:
            f, _ = blocking_key_sql(key)
            if f not in fields:
                fields.append(f)
    phone_like = {f for f, c in comps.items() if c.method == "phone"}
    source_fields = [f for f in fields if f != PERSON_NAME]
    if PERSON_NAME in fields:
        source_fields += [f for f in NAME_PARTS if f not in source_fields]
    cols = []
    for f in source_fields:
        key = "regexp_replace(key, '[^0-9]', '', 'g')" if f in phone_like else "key"
        cols.append(f"any_value(value) FILTER (WHERE name = {literal(f)}) AS {f}")
        cols.append(f"any_value({key}) FILTER (WHERE name = {literal(f)}) AS {f}_key")
    where_source = ""
    if settings.sources:
        where_source = "AND r.source IN (" + ", ".join(literal(s) for s in settings.sources) + ")"
    if rids is not None:
        where_source += f" AND ({rids})"
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _mr AS
        SELECT rid, any_value(source) AS src, {", ".join(cols)}
        FROM (SELECT v.rid, r.source, v.name, v.value,
                     nullif(coalesce(v.key, lower(trim(v.value))), '') AS key
              FROM record_values v JOIN records r USING (rid)
              WHERE v.name IN ({", ".join(literal(f) for f in source_fields)})
                AND v.status IN {USABLE} {where_source})
        GROUP BY rid
    """,
        step="matching: records",
    )
    if PERSON_NAME in fields:
        engine.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _mr AS
            SELECT *, {person_name_sql("full_name", "first_name", "last_name")} AS {PERSON_NAME},
                   {person_name_sql("full_name_key", "first_name_key", "last_name_key")}
                       AS {PERSON_NAME}_key
            FROM _mr
        """,
            step="matching: records",
        )
    name_fields = [f for f, c in comps.items() if c.method == "name"]
    joins = ""
    if name_fields:
        register_aliases(engine)
    for f in name_fields:
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE _ext_{f} AS SELECT nm AS {f}_key, ext AS {f}_ext "
            f"FROM ({extensions_sql(f'SELECT {f}_key AS nm FROM _mr')})",
            step="matching: nicknames",
        )
        joins += f" LEFT JOIN _ext_{f} USING ({f}_key)"
    extra = [
        f"array_to_string(list_sort(string_split({f}_key, ' ')), ' ') AS {f}_sorted" for f in fields
    ]
    for f in tf_fields(settings):
        if model is None:
            extra.append(
                f"CASE WHEN {f}_key IS NOT NULL THEN count(*) OVER (PARTITION BY {f}_key) "
                f"/ count({f}_key) OVER () END AS tf_{f}"
            )
        else:
            unseen = model.tf_unseen.get(f, 1.0)
            extra.append(
                f"CASE WHEN {f}_key IS NOT NULL THEN coalesce((SELECT t.tf FROM match_model_tf t "
                f"WHERE t.field = {literal(f)} AND t.key = {f}_key), {unseen!r}::DOUBLE) "
                f"END AS tf_{f}"
            )
    kind = "TABLE" if rids is None else "TEMP TABLE"
    engine.execute(
        f"CREATE OR REPLACE {kind} {table} AS SELECT *, {', '.join(extra)} FROM _mr{joins}",
        step="matching: records",
    )
    engine.execute("DROP TABLE _mr")
    for f in name_fields:
        engine.execute(f"DROP TABLE _ext_{f}")
    return int(engine.fetchone(f"SELECT count(*) FROM {table}"))


def tf_fields(settings: MatchingSettings) -> list[str]:
    """The fields whose exact agreement is weighted by the value's frequency."""
    return [c.field for c in settings.comparisons if c.tf_adjust]


def blocks_sql(settings: MatchingSettings, rows: str) -> str:
    """(rule, bk, rid, src): each record of `rows` under each blocking rule whose keys it
    holds. Kept as `match_blocks`, it is the blocking index new records are looked up in."""
    parts = []
    for i, rule in enumerate(settings.blocking):
        exprs = [blocking_key_sql(k)[1] for k in rule]
        not_null = " AND ".join(f"({e}) IS NOT NULL AND ({e}) <> ''" for e in exprs)
        bk = "concat_ws(chr(31), " + ", ".join(exprs) + ")"
        parts.append(
            f"SELECT {i}::INTEGER AS rule, {bk} AS bk, rid, src FROM {rows} WHERE {not_null}"
        )
    return " UNION ALL ".join(parts)


def candidate_pairs(engine: Engine, settings: MatchingSettings) -> int:
    """`match_blocks`, then the union of the blocking rules' pairs into `_pairs`; a block
    larger than max_block_size is skipped.

    Each pair keeps `rules`, a bit mask of the rules that produced it (bit i: rule i), so
    that EM can learn from each rule's pairs without the fields that rule forced to agree.
    """
    engine.execute(
        f"CREATE OR REPLACE TABLE match_blocks AS {blocks_sql(settings, 'match_records')} "
        "ORDER BY rule, bk",
        step="matching: blocking",
    )
    cross = " AND a.src <> b.src" if settings.link_only else ""
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _pairs AS
        WITH live AS (
            SELECT * FROM match_blocks
            QUALIFY count(*) OVER (PARTITION BY rule, bk) <= {int(settings.max_block_size)})
        SELECT a.rid AS rid_l, b.rid AS rid_r, bit_or((1::BIGINT) << a.rule) AS rules
        FROM live a JOIN live b ON a.rule = b.rule AND a.bk = b.bk AND a.rid < b.rid{cross}
        GROUP BY ALL
    """,
        step="matching: blocking",
    )
    return int(engine.fetchone("SELECT count(*) FROM _pairs"))


def _gamma_select(comparisons: list[Comparison]) -> str:
    return ", ".join(f"{c.gamma_sql()} AS {c.column}" for c in comparisons)


def _level_counts(engine: Engine, comparisons: list[Comparison], sql: str) -> list[tuple[int, ...]]:
    cols = ", ".join(c.column for c in comparisons)
    return [
        tuple(int(x) for x in row)
        for row in engine.fetchall(f"SELECT {cols}, count(*) FROM ({sql}) GROUP BY ALL")
    ]


def estimate_u(
    engine: Engine, comparisons: list[Comparison], settings: MatchingSettings
) -> dict[str, list[float]]:
    """u: how often each level occurs between two random records (almost all non-matches).

    The records are drawn by a hash of their rid rather than by DuckDB's reservoir sample,
    whose draw depends on the order parallel threads deliver rows: the same data must give
    the same model, or a pair near the threshold links in one run and not in the next."""
    n = max(2, int(math.sqrt(2 * settings.u_sample_pairs)))
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _sample AS SELECT * FROM match_records "
        f"ORDER BY hash(rid + 7), rid LIMIT {n}"
    )
    rows = _level_counts(
        engine,
        comparisons,
        f"SELECT {_gamma_select(comparisons)} FROM _sample l JOIN _sample r ON l.rid < r.rid"
        + (" AND l.src <> r.src" if settings.link_only else ""),
    )
    engine.execute("DROP TABLE _sample")
    u: dict[str, list[float]] = {}
    for i, c in enumerate(comparisons):
        counts = [0.0] * c.n_levels
        for row in rows:
            counts[row[i]] += row[-1]
        present = sum(counts[1:])
        # add-half smoothing: a level never seen among random pairs is rare, not impossible
        u[c.field] = [0.0] + [
            (counts[level] + 0.5) / (present + 0.5 * (c.n_levels - 1))
            for level in range(1, c.n_levels)
        ]
        exact = exact_agreement(engine, c.field, settings.link_only)
        if exact is not None:
            # level 1 (exact) counted over every pair instead of the sample's ~1,000 agreeing
            # ones; the other levels keep their sampled shares of the rest
            # (every record holding the field holding one value is no certainty either: the
            # other levels keep a sliver, as the sample's smoothing gives them, not log(0))
            exact = min(exact, 1 - 1e-6)
            rest = sum(u[c.field][2:])
            u[c.field] = [0.0, exact] + [x * (1 - exact) / rest for x in u[c.field][2:]]
    return u


def exact_agreement(engine: Engine, field: str, link_only: bool) -> float | None:
    """P(two random records that both hold `field` agree on it exactly), counted over all
    pairs from the values' frequencies — Σ c(c−1)/2 over n(n−1)/2, or across sources only for
    `link_only` — rather than sampled. None when fewer than two records hold it (or, for
    `link_only`, one source only); a value shared by nobody counts as half an agreement."""
    key = f"{field}_key"
    row = engine.fetchall(
        f"""
        WITH v AS (
            SELECT {key} AS k, src, count(*)::DOUBLE AS c FROM match_records
            WHERE {key} IS NOT NULL GROUP BY ALL
        ), per_value AS (SELECT sum(c) AS c, sum(c * c) AS within FROM v GROUP BY k),
        per_source AS (SELECT sum(c) AS n FROM v GROUP BY src)
        SELECT (SELECT sum(c) FROM per_value), (SELECT sum(c * (c - 1)) FROM per_value),
               (SELECT sum(c * c - within) FROM per_value),
               (SELECT sum(n * n) FROM per_source)
    """,
        step="matching: u exact",
    )[0]
    n, same_all, same_cross, squares = (float(x or 0) for x in row)
    pairs = (n * n - squares) / 2 if link_only else n * (n - 1) / 2
    if pairs <= 0:
        return None
    agree = same_cross / 2 if link_only else same_all / 2
    return max(agree, 0.5) / pairs


def _initial_m(c: Comparison) -> list[float]:
    """Agreement levels start likely for matches, disagreement unlikely; EM takes it from there."""
    k = c.n_levels - 1
    weights = [2.0 ** (k - i) for i in range(1, k + 1)]
    weights[-1] = weights[-1] / 4
    total = sum(weights)
    return [0.0] + [w / total for w in weights]


def blocked_comparisons(
    comparisons: list[Comparison], blocking: tuple[tuple[str, ...], ...]
) -> list[frozenset[int]]:
    """Per blocking rule, the indices of the comparisons whose field the rule blocks on (a
    prefix or suffix key counts: `birth_date[:4]` makes every candidate agree on the year).

    Blocking on a name part blocks the person-name comparison too. A comparison that every
    rule blocks on cannot be learned from any rule's pairs without that bias, so it is left
    in (learned from all pairs, as before) rather than never learned at all.
    """
    out = []
    for rule in blocking:
        fields = {blocking_key_sql(k)[0] for k in rule}
        if fields & set(NAME_PARTS):
            fields.add(PERSON_NAME)
        out.append(frozenset(i for i, c in enumerate(comparisons) if c.field in fields))
    always = frozenset.intersection(*out) if out else frozenset()
    return [b - always for b in out]


def _posterior(log_odds: float) -> float:
    return 1 / (1 + math.exp(min(700.0, -log_odds)))


def expectation_maximisation(
    patterns: list[tuple[int, ...]],
    comparisons: list[Comparison],
    u: dict[str, list[float]],
    max_iterations: int,
    prior: float = 0.1,
    blocked: list[frozenset[int]] | None = None,
) -> Model:
    """EM over distinct level patterns (each with its count); u stays fixed, as in Splink.

    Without `blocked`, a pattern is (*levels, count), every comparison counts and there is one
    match rate. With `blocked` (per blocking rule, the comparisons it blocks on — see
    `blocked_comparisons`), a pattern is (*levels, rules mask, count) and is learned from once
    per rule that produced it, as Splink's training sessions per blocking rule are, in one
    pass: a rule's candidates agree on the fields it blocks on whether they match or not, so
    those comparisons carry no evidence among them and are left out of that rule's E and M
    steps. Otherwise EM, with u from *random* pairs, reads the agreement that blocking itself
    put there as evidence of a match, calls every candidate a match (a rate of 1.0 on the
    sample data) and learns m from all candidates: "same birth year, another day" came out
    as strong evidence for a match because every name + year block is full of such pairs.
    Each rule has its own match rate; m pools the expected counts of all rules.
    """
    n_c = len(comparisons)
    sessions = list(blocked) if blocked else [frozenset()]
    active = [[i for i in range(n_c) if i not in sessions[b]] for b in range(len(sessions))]
    rows: list[tuple[tuple[int, ...], list[int], int]] = []
    totals = [0.0] * len(sessions)
    for p in patterns:
        member = [b for b in range(len(sessions)) if p[n_c] >> b & 1] if blocked else [0]
        rows.append((tuple(p[:n_c]), member, p[-1]))
        for b in member:
            totals[b] += p[-1]
    m = {c.field: _initial_m(c) for c in comparisons}
    model = Model(prior, m, u, pairs=sum(p[-1] for p in patterns))
    priors = [prior] * len(sessions)
    for it in range(1, max_iterations + 1):
        lr = [
            [0.0]
            + [
                math.log(model.m[c.field][lv]) - math.log(model.u[c.field][lv])
                for lv in range(1, c.n_levels)
            ]
            for c in comparisons
        ]
        base = [math.log(pr) - math.log(1 - pr) for pr in priors]
        sums = [[0.0] * c.n_levels for c in comparisons]
        matched = [0.0] * len(sessions)
        for levels, member, count in rows:
            for b in member:
                keep = active[b]
                post = _posterior(base[b] + sum(lr[i][levels[i]] for i in keep))
                weight = post * count
                matched[b] += weight
                for i in keep:
                    sums[i][levels[i]] += weight
        new_priors = [
            min(max(matched[b] / totals[b], 1e-9), 1 - 1e-9) if totals[b] else priors[b]
            for b in range(len(sessions))
        ]
        change = max(abs(a - b) for a, b in zip(new_priors, priors, strict=True))
        for i, c in enumerate(comparisons):
            present = sum(sums[i][1:])
            if present > 0:
                levels_m = [0.0] + [max(sums[i][lv] / present, 1e-6) for lv in range(1, c.n_levels)]
                change = max(
                    change, max(abs(a - b) for a, b in zip(levels_m, model.m[c.field], strict=True))
                )
                model.m[c.field] = levels_m
        priors = new_priors
        model.iterations = it
        model.history.append(change)
        if change < 1e-5:
            break
    model.rule_priors = priors
    model.prior = (
        priors[0] if not blocked else _expected_matches(model, rows, active) / max(model.pairs, 1)
    )
    return model


def _expected_matches(
    model: Model, rows: list[tuple[tuple[int, ...], list[int], int]], active: list[list[int]]
) -> float:
    """Expected matches among the distinct candidate pairs: each pair's posterior under the
    first rule that produced it (that rule's match rate, its unblocked comparisons)."""
    fields = list(model.m)
    lr = [
        [0.0]
        + [math.log(model.m[f][lv]) - math.log(model.u[f][lv]) for lv in range(1, len(model.m[f]))]
        for f in fields
    ]
    total = 0.0
    for levels, member, count in rows:
        if not member:
            continue
        b = member[0]
        pr = model.rule_priors[b]
        x = math.log(pr) - math.log(1 - pr) + sum(lr[i][levels[i]] for i in active[b])
        total += _posterior(x) * count
    return total


def score_sql(comparisons: list[Comparison], model: Model) -> str:
    """The match weight of a pair as SQL: prior + Σ level weights (+ term-frequency terms)."""
    prior = model.global_prior if model.global_prior is not None else model.prior
    # DOUBLE literals: bare ones are DECIMALs, whose wide sums made scoring twice as slow
    terms = [f"{math.log2(prior / (1 - prior))!r}::DOUBLE"]
    for c in comparisons:
        whens = " ".join(
            f"WHEN {lv} THEN {model.weight(c.field, lv)!r}::DOUBLE" for lv in range(1, c.n_levels)
        )
        terms.append(f"(CASE {c.column} {whens} ELSE 0::DOUBLE END)")
        if c.tf_adjust:
            terms.append(f"tfa_{c.field}")
    return " + ".join(terms)


def score_pairs(
    engine: Engine,
    comparisons: list[Comparison],
    model: Model,
    table: str = "match_pairs",
    *,
    temp: bool = False,
) -> None:
    """Write `table` (`match_pairs`) from `_gamma`: each comparison's level and weight, the
    total and the probability. The one scoring statement of full and incremental runs."""
    weights_cols = []
    for c in comparisons:
        whens = " ".join(
            f"WHEN {lv} THEN {model.weight(c.field, lv)!r}::DOUBLE" for lv in range(1, c.n_levels)
        )
        tf = f" + tfa_{c.field}" if c.tf_adjust else ""
        weights_cols.append(f"(CASE {c.column} {whens} ELSE 0::DOUBLE END){tf} AS w_{c.field}")
    engine.execute(
        f"""
        CREATE OR REPLACE {"TEMP " if temp else ""}TABLE {table} AS
        SELECT *, 1 / (1 + pow(2, -match_weight)) AS match_probability FROM (
            SELECT *, {score_sql(comparisons, model)} AS match_weight, {", ".join(weights_cols)}
            FROM _gamma)
    """,
        step="matching: score",
    )


def compare_pairs(engine: Engine, comparisons: list[Comparison], pairs: str, rows: str) -> None:
    """`_gamma_raw`: each pair of `pairs` (rid_l, rid_r, rules) with its comparison levels
    and its records' value frequencies, the match rows read from `rows`."""
    tf_cols = ", ".join(
        f"l.tf_{c.field} AS tfl_{c.field}, r.tf_{c.field} AS tfr_{c.field}"
        for c in comparisons
        if c.tf_adjust
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _gamma_raw AS
        SELECT p.rid_l, p.rid_r, p.rules, {_gamma_select(comparisons)},
               {tf_cols or "NULL AS _no_tf"}
        FROM {pairs} p JOIN {rows} l ON l.rid = p.rid_l JOIN {rows} r ON r.rid = p.rid_r
    """,
        step="matching: compare",
    )


def add_tf_terms(engine: Engine, comparisons: list[Comparison], model: Model) -> None:
    """`_gamma` from `_gamma_raw`: the term-frequency terms need the model's u(exact)."""
    tf = _tf_terms(comparisons, model).replace("l.tf_", "tfl_").replace("r.tf_", "tfr_")
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _gamma AS SELECT *{tf} FROM _gamma_raw",
        step="matching: term frequencies",
    )
    engine.execute("DROP TABLE _gamma_raw")


def _tf_terms(comparisons: list[Comparison], model: Model) -> str:
    """Exact agreement on a rare value counts for more: replace u(exact) by the value's
    frequency (the larger of the two sides), as Splink's term-frequency adjustment does."""
    out = []
    for c in comparisons:
        if c.tf_adjust:
            u_exact = model.u[c.field][1]
            out.append(
                f"CASE WHEN {c.column} = 1 THEN log2({u_exact!r}) - "
                f"log2(greatest(l.tf_{c.field}, r.tf_{c.field}, 1e-9)) ELSE 0 END "
                f"AS tfa_{c.field}"
            )
    return (", " + ", ".join(out)) if out else ""


@dataclass(frozen=True)
class MatchResult:
    records: int
    pairs: int
    model: Model
    above_threshold: int
    #: whether this run learned the model (else it scored with the stored one)
    trained: bool = True


def run_matching(
    engine: Engine,
    settings: MatchingSettings,
    progress: Callable[[str, int, int], None] | None = None,
    model: Model | None = None,
) -> MatchResult:
    """Records → candidate pairs → levels → u, EM → `match_pairs` and `match_weights`.

    With a stored `model` (see `match_model`), nothing is learned: the pairs are scored with
    it, term frequencies included, as linkers do once trained (Splink: train, then
    `predict`) — so that a full run and an incremental one score every pair alike.
    """
    report = progress or (lambda _s, _d, _t: None)
    comparisons = build_comparisons(settings.comparisons)
    trained = model is None
    report("matching", 0, 4)
    n_records = build_match_records(engine, settings, model=model)
    n_pairs = candidate_pairs(engine, settings)
    report("matching", 1, 4)
    # levels first, term-frequency terms after EM (they need the learned u(exact) only)
    compare_pairs(engine, comparisons, "_pairs", "match_records")
    report("matching", 2, 4)
    if model is None:
        model = train_model(engine, settings, comparisons, n_records, n_pairs)
    report("matching", 3, 4)
    add_tf_terms(engine, comparisons, model)
    score_pairs(engine, comparisons, model)
    _store_weights(engine, comparisons, model)
    above = int(
        engine.fetchone(
            "SELECT count(*) FROM match_pairs WHERE match_probability >= ?", [settings.threshold]
        )
    )
    for t in ("_pairs", "_gamma"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    report("matching", 4, 4)
    return MatchResult(n_records, n_pairs, model, above, trained)


def train_model(
    engine: Engine,
    settings: MatchingSettings,
    comparisons: list[Comparison],
    n_records: int,
    n_pairs: int,
) -> Model:
    """u from random pairs, m and the prior by EM over `_gamma_raw`'s level patterns, and the
    term frequencies that scoring with this model will use from now on."""
    u = estimate_u(engine, comparisons, settings)
    cols = ", ".join(c.column for c in comparisons)
    patterns = [
        tuple(int(x) for x in row)
        for row in engine.fetchall(f"SELECT {cols}, rules, count(*) FROM _gamma_raw GROUP BY ALL")
    ]
    model = expectation_maximisation(
        patterns,
        comparisons,
        u,
        settings.max_em_iterations,
        blocked=blocked_comparisons(comparisons, settings.blocking),
    )
    # expected matches among the candidates, over all possible pairs: blocking with good
    # recall finds nearly every match, so this is the chance two random records match
    all_pairs = max(n_records * (n_records - 1) / 2, 1.0)
    if settings.link_only:
        per_source = [
            int(r[0]) for r in engine.fetchall("SELECT count(*) FROM match_records GROUP BY src")
        ]
        all_pairs = max((n_records**2 - sum(n * n for n in per_source)) / 2, 1.0)
    expected = model.prior * n_pairs
    model.global_prior = min(max(expected / all_pairs, 1e-12), 0.5)
    for f in tf_fields(settings):
        # a value the model never saw scores as one seen once
        held = int(engine.fetchone(f"SELECT count({f}_key) FROM match_records"))
        model.tf_unseen[f] = 1 / held if held else 1.0
    return model


def _store_weights(engine: Engine, comparisons: list[Comparison], model: Model) -> None:
    """Keep the learned parameters beside the pairs, for `explain` and for the README."""
    rows: dict[str, list[object]] = {k: [] for k in ("field", "level", "label", "m", "u", "weight")}
    for c in comparisons:
        for lv, label in enumerate(c.labels()):
            if lv == 0:
                continue
            rows["field"].append(c.field)
            rows["level"].append(lv)
            rows["label"].append(label)
            rows["m"].append(model.m[c.field][lv])
            rows["u"].append(model.u[c.field][lv])
            rows["weight"].append(model.weight(c.field, lv))
    prior = model.global_prior if model.global_prior is not None else model.prior
    rows["field"].append("(prior)")
    rows["level"].append(0)
    rows["label"].append(
        f"P(two random records match); EM: {model.iterations} iterations over "
        f"{model.pairs} candidate pairs, {model.prior:.4f} of them matches"
    )
    rows["m"].append(prior)
    rows["u"].append(None)
    rows["weight"].append(math.log2(prior / (1 - prior)))
    engine.register("_weights", pa.table(rows))
    try:
        engine.execute("CREATE OR REPLACE TABLE match_weights AS SELECT * FROM _weights")
    finally:
        engine.unregister("_weights")
