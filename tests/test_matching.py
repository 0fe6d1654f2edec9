"""Probabilistic matching: blocking keys, EM on known parameters, guards, end to end."""

from __future__ import annotations

import math
import random

import pytest

from onefold import Workspace
from onefold.config.settings import ComparisonSpec, MatchingSettings
from onefold.engine import DuckDBEngine
from onefold.identity.clustering import cluster_components
from onefold.identity.comparisons import build_comparisons
from onefold.identity.matching import (
    blocked_comparisons,
    blocking_key_sql,
    estimate_u,
    exact_agreement,
    expectation_maximisation,
)
from shared_sources import PEOPLE_CRM, PEOPLE_MATCHING, people_rows


def test_blocking_keys() -> None:
    assert blocking_key_sql("last_name") == ("last_name", "last_name_key")
    assert blocking_key_sql("birth_date[:4]") == ("birth_date", "left(birth_date_key, 4)")
    assert blocking_key_sql("phone[-4:]") == ("phone", "right(phone_key, 4)")
    with pytest.raises(ValueError, match="prefixes"):
        blocking_key_sql("phone[2:5]")


def test_em_recovers_known_parameters() -> None:
    """Simulate level patterns from known m, u and prior; EM must find them again."""
    comps = build_comparisons(tuple(ComparisonSpec(field=f, method="exact") for f in "abc"))
    true_m = {"a": [0.0, 0.9, 0.1], "b": [0.0, 0.8, 0.2], "c": [0.0, 0.95, 0.05]}
    u = {"a": [0.0, 0.05, 0.95], "b": [0.0, 0.1, 0.9], "c": [0.0, 0.02, 0.98]}
    rng = random.Random(3)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(40_000):
        probs = true_m if rng.random() < 0.3 else u
        levels = tuple(1 if rng.random() < probs[f][1] else 2 for f in "abc")
        counts[levels] = counts.get(levels, 0) + 1
    patterns = [(*k, v) for k, v in counts.items()]
    model = expectation_maximisation(patterns, comps, u, max_iterations=200)
    assert model.prior == pytest.approx(0.3, abs=0.02)
    for f in "abc":
        assert model.m[f][1] == pytest.approx(true_m[f][1], abs=0.03)
    assert model.weight("a", 1) == pytest.approx(math.log2(model.m["a"][1] / 0.05))


def test_typos_and_swapped_dates_link_without_shared_identifiers(workspace, add_source) -> None:
    cfg = workspace.root / "onefold.yml"
    cfg.write_text(cfg.read_text() + PEOPLE_MATCHING)
    add_source("crm", PEOPLE_CRM, "crm.csv", people_rows(60))
    ws = Workspace(workspace.root)
    ws.load()
    result = ws.resolve()
    assert result.matching is not None and result.matching.merges >= 55
    links = {
        r["record_key"]: r["profile_id"]
        for r in ws.query("SELECT record_key, profile_id FROM record_profiles")
    }
    same = sum(links[f"a{i}"] == links[f"b{i}"] for i in range(60))
    assert same >= 57  # recall
    assert len(set(links.values())) >= 60  # no two people glued together
    weights = {
        (w["field"], w["label"]): w["weight"]
        for w in ws.query("SELECT field, label, weight FROM match_weights")
    }
    assert weights[("birth_date", "exact")] > 3
    assert weights[("person_name", "jaro-winkler ≥ 0.92")] > 3  # every b-row has a typo
    assert weights[("person_name", "different")] < 0
    ws.close()


def test_clustering_refuses_conflicts_and_incoherent_chains() -> None:
    """Components a-b-c-d: b and c hold different user ids; d hangs on c by one weak link."""
    engine = DuckDBEngine(":memory:")
    engine.execute(
        "CREATE TABLE _record_comp AS SELECT * FROM (VALUES "
        "(1, 'A'), (2, 'B'), (3, 'C'), (4, 'D'), (5, 'D'), (6, 'D')) t(rid, comp)"
    )
    engine.execute(
        "ALTER TABLE _record_comp ADD COLUMN source VARCHAR DEFAULT 's'; "
        "ALTER TABLE _record_comp ADD COLUMN record_key VARCHAR; "
        "UPDATE _record_comp SET record_key = rid::VARCHAR"
    )
    engine.execute(
        "CREATE TABLE _members AS SELECT comp, 'k' || rid AS member_key FROM _record_comp"
    )
    engine.execute(
        "CREATE TABLE identity_nodes AS SELECT * FROM (VALUES "
        "(10, 'user_id', 'u-1', false), (11, 'user_id', 'u-2', false)) "
        "t(node_id, id_type, value, is_hub)"
    )
    engine.execute(
        "CREATE TABLE record_nodes AS SELECT * FROM (VALUES (2, 10), (3, 11)) t(rid, node_id)"
    )
    engine.execute(
        "CREATE TABLE match_pairs AS SELECT * FROM (VALUES "
        "(1, 2, 0.99::DOUBLE, 7.0::DOUBLE), (1, 3, 0.98, 6.0), (3, 4, 0.97, 5.0), "
        "(3, 5, 0.10, -3.0), (3, 6, 0.20, -2.0)) "
        "t(rid_l, rid_r, match_probability, match_weight)"
    )
    result = cluster_components(engine, 0.95, ("user_id",))
    comps = dict(engine.fetchall("SELECT rid, comp FROM _record_comp ORDER BY rid"))
    assert comps[1] == comps[2]  # the strongest link wins first
    assert comps[3] != comps[1]  # would put u-1 and u-2 in one profile
    assert comps[4] != comps[3]  # one of three scored pairs agree: not coherent
    assert (result.merges, result.refused_conflict, result.refused_incoherent) == (1, 1, 1)
    members = dict(engine.fetchall("SELECT member_key, comp FROM _members"))
    assert members["k1"] == members["k2"]
    # the evidence of the one accepted merge is kept for `explain`
    assert engine.fetchall("SELECT rid_l, rid_r FROM match_links") == [(1, 2)]


def test_u_of_exact_agreement_is_counted_over_all_pairs() -> None:
    """Five records hold a city: three Boston, two Austin, one none. Of the ten pairs of
    holders, 3 + 1 agree; across the two sources (a: Boston, Boston, Austin; b: Boston,
    Austin) 2 + 1 of the six cross pairs do. A value nobody shares still counts half a pair."""
    engine = DuckDBEngine(":memory:")
    engine.execute(
        "CREATE TABLE match_records AS SELECT * FROM (VALUES "
        "(1, 'a', 'boston'), (2, 'a', 'boston'), (3, 'a', 'austin'), (4, 'b', 'boston'), "
        "(5, 'b', 'austin'), (6, 'b', NULL)) t(rid, src, city_key)"
    )
    assert exact_agreement(engine, "city", link_only=False) == pytest.approx(4 / 10)
    assert exact_agreement(engine, "city", link_only=True) == pytest.approx(3 / 6)
    engine.execute("UPDATE match_records SET city_key = 'c' || rid")
    assert exact_agreement(engine, "city", link_only=False) == pytest.approx(0.5 / 15)
    engine.execute("DELETE FROM match_records WHERE src = 'b'")
    assert exact_agreement(engine, "city", link_only=True) is None


def test_close_emails_are_typos_not_the_same_name() -> None:
    """Two strangers named Barbara Smith have name-built addresses a Jaro–Winkler band calls
    close; only a typo or two is the same address mistyped."""
    [email] = build_comparisons((ComparisonSpec(field="email", method="email"),))
    engine = DuckDBEngine(":memory:")
    cases = [
        ("ann.lee@mail.com", "ann.lee@mail.com", "exact"),
        ("ann.lee@mail.com", "ann.lee@work.com", "same local part"),
        ("ann.lee@mail.com", "ann.lea@mail.con", "one or two typos"),
        ("barbara.smith2363455@gmail.com", "barbara.smith4605863@gmail.com", "different"),
        ("ann.lee@mail.com", None, "missing"),
    ]
    for left, right, label in cases:
        [(level,)] = engine.fetchall(
            f"SELECT {email.gamma_sql()} FROM (SELECT ?::VARCHAR AS email_key) l, "
            "(SELECT ?::VARCHAR AS email_key) r",
            [left, right],
        )
        assert email.labels()[level] == label, (left, right)


def test_em_leaves_out_what_a_blocking_rule_forced_to_agree() -> None:
    """Rule 0 blocks on `a`, rule 1 on `b`: every candidate of a rule agrees on its field,
    matches and strangers alike. u comes from random pairs (agreement rare), so an EM that
    reads that forced agreement as evidence calls every candidate a match and learns m from
    all of them; leaving each rule's own field out recovers the true m and match rates."""
    comps = build_comparisons(tuple(ComparisonSpec(field=f, method="exact") for f in "abc"))
    u = {"a": [0.0, 0.001, 0.999], "b": [0.0, 0.001, 0.999], "c": [0.0, 0.01, 0.99]}
    true_m = {"a": 0.9, "b": 0.95, "c": 0.8}
    rng = random.Random(11)
    counts: dict[tuple[int, ...], int] = {}
    for rule, blocked_field, rate in ((0, "a", 0.3), (1, "b", 0.6)):
        for _ in range(20_000):
            match = rng.random() < rate
            levels = tuple(
                1 if f == blocked_field or rng.random() < (true_m[f] if match else u[f][1]) else 2
                for f in "abc"
            )
            key = (*levels, 1 << rule)
            counts[key] = counts.get(key, 0) + 1
    patterns = [(*k, v) for k, v in counts.items()]
    blocked = [frozenset({0}), frozenset({1})]
    model = expectation_maximisation(patterns, comps, u, max_iterations=200, blocked=blocked)
    for f in "abc":
        assert model.m[f][1] == pytest.approx(true_m[f], abs=0.03)
    assert model.rule_priors == [pytest.approx(0.3, abs=0.03), pytest.approx(0.6, abs=0.03)]
    # expected matches over all candidates: 0.3 of the first 20,000 and 0.6 of the second
    assert model.prior == pytest.approx(0.45, abs=0.03)
    # the same pairs learned as one pool: forced agreement makes (nearly) everything a match
    pooled = [(*k[:3], v) for k, v in counts.items()]
    naive = expectation_maximisation(pooled, comps, u, max_iterations=200)
    assert naive.prior > 0.9
    assert naive.m["b"][1] < 0.8


def test_blocked_comparisons_follow_the_rules() -> None:
    comps = build_comparisons(
        (
            ComparisonSpec(field="person_name", method="name"),
            ComparisonSpec(field="birth_date", method="date"),
            ComparisonSpec(field="phone", method="phone"),
        )
    )
    rules = (("person_name", "birth_date[:4]"), ("last_name", "phone[-4:]"), ("email",))
    assert blocked_comparisons(comps, rules) == [
        frozenset({0, 1}),
        frozenset({0, 2}),  # a name part blocks the person-name comparison
        frozenset(),
    ]
    # a comparison every rule blocks on is learned from all pairs rather than never
    assert blocked_comparisons(comps, (("person_name",), ("person_name", "phone"))) == [
        frozenset(),
        frozenset({2}),
    ]


def _singleton_components(engine: DuckDBEngine, rids: list[int], pairs: str) -> None:
    """Every record its own component, no identifiers, `pairs` as (rid_l, rid_r, prob)."""
    _components(engine, {r: f"c{r:02d}" for r in rids}, pairs)


def _components(engine: DuckDBEngine, comps: dict[int, str], pairs: str) -> None:
    """Records in the given deterministic components, no identifiers, `pairs` as (rid_l,
    rid_r, prob)."""
    rows = ", ".join(f"({r}, '{c}')" for r, c in comps.items())
    engine.execute(
        "CREATE TABLE _record_comp AS SELECT *, 's' AS source, rid::VARCHAR AS record_key "
        f"FROM (VALUES {rows}) t(rid, comp)"
    )
    engine.execute(
        "CREATE TABLE _members AS SELECT comp, 'k' || rid AS member_key FROM _record_comp"
    )
    engine.execute(
        "CREATE TABLE identity_nodes (node_id BIGINT, id_type VARCHAR, value VARCHAR, "
        "is_hub BOOLEAN)"
    )
    engine.execute("CREATE TABLE record_nodes (rid BIGINT, node_id BIGINT)")
    engine.execute(
        f"CREATE TABLE match_pairs AS SELECT rid_l, rid_r, prob::DOUBLE AS match_probability, "
        f"log2(prob / (1 - prob)) AS match_weight FROM (VALUES {pairs}) t(rid_l, rid_r, prob)"
    )


def test_clustering_accepts_a_star_of_duplicates() -> None:
    """An original (1) and three copies damaged in different fields: each copy links to the
    original, no two copies resemble each other. Three of the four scored pairs between the
    third copy and the rest disagree, but both ends of each link to the centre: one person."""
    engine = DuckDBEngine(":memory:")
    _singleton_components(
        engine,
        [1, 2, 3, 4],
        "(1, 2, 0.9999), (1, 3, 0.9990), (1, 4, 0.998), (2, 3, 0.30), (2, 4, 0.0002), (3, 4, 0.07)",
    )
    result = cluster_components(engine, 0.95, ())
    comps = dict(engine.fetchall("SELECT rid, comp FROM _record_comp"))
    assert len(set(comps.values())) == 1
    assert (result.merges, result.refused_incoherent, result.stars) == (3, 0, 1)
    assert sorted(engine.fetchall("SELECT rid_l, rid_r FROM match_links")) == [
        (1, 2),
        (1, 3),
        (1, 4),
    ]


def test_clustering_still_refuses_a_chain_of_strangers() -> None:
    """A chain 1 ~ 2 ~ 3 ~ 4 ~ 5 whose links are each above the threshold and whose other
    pairs all disagree: no record resembles every disagreeing end, so no star holds it."""
    engine = DuckDBEngine(":memory:")
    links = "(1, 2, 0.999), (2, 3, 0.998), (3, 4, 0.997), (4, 5, 0.996)"
    others = ", ".join(f"({a}, {b}, 0.01)" for a in range(1, 6) for b in range(a + 2, 6))
    _singleton_components(engine, [1, 2, 3, 4, 5], f"{links}, {others}")
    result = cluster_components(engine, 0.95, ())
    comps = dict(engine.fetchall("SELECT rid, comp FROM _record_comp"))
    # 3 joins {1, 2} on one agreeing and one disagreeing pair (half agree); 4 then meets
    # two disagreeing pairs (1 and 2) whose ends share no centre, and so does 5 with 3 and 4
    assert comps[1] == comps[2] == comps[3]
    assert comps[4] != comps[3]
    assert result.stars == 0 and result.refused_incoherent >= 1
    assert max(list(comps.values()).count(c) for c in set(comps.values())) == 3


def test_star_needs_the_centre_to_link_each_end_by_a_scored_pair() -> None:
    """A record linked to one record of a deterministic component but scored low against
    the component's other records is not a star leaf: sharing an identifier with the centre
    is not the centre vouching for the disagreeing record."""
    engine = DuckDBEngine(":memory:")
    _components(
        engine, {1: "A", 2: "A", 3: "A", 4: "B"}, "(1, 4, 0.99), (2, 4, 0.10), (3, 4, 0.05)"
    )
    result = cluster_components(engine, 0.95, ())
    comps = dict(engine.fetchall("SELECT rid, comp FROM _record_comp"))
    assert comps[4] != comps[1]
    assert (result.merges, result.refused_incoherent, result.stars) == (0, 1, 0)


def test_u_sample_does_not_depend_on_row_order() -> None:
    """The same records in another physical order give the same u-probabilities (a reservoir
    sample follows the order rows arrive in; a pair near the threshold would flip)."""
    comps = build_comparisons(
        (
            ComparisonSpec(field="first_name", method="exact"),
            ComparisonSpec(field="city", method="text"),
        )
    )
    rng = random.Random(5)
    rows = [
        (i, "s", rng.choice(["ann", "bob", "cara", "dan", "eve"]), rng.choice(["x", "y", "z"]))
        for i in range(1, 3001)
    ]
    values = ", ".join(f"({r}, '{s}', '{f}', '{c}')" for r, s, f, c in rows)
    found = []
    for order in ("rid", "rid DESC", "hash(rid * 31)"):
        engine = DuckDBEngine(":memory:")
        engine.execute(
            "CREATE TABLE match_records AS SELECT rid, src, f AS first_name_key, "
            "c AS city_key FROM (VALUES "
            f"{values}) t(rid, src, f, c) ORDER BY {order}"
        )
        found.append(estimate_u(engine, comps, MatchingSettings(u_sample_pairs=100_000)))
    assert found[0] == found[1] == found[2]
    # five names drawn uniformly: about one random pair in five agrees exactly
    assert found[0]["first_name"][1] == pytest.approx(0.2, abs=0.02)


def test_probabilistic_links_never_join_two_user_ids(workspace, add_source) -> None:
    cfg = workspace.root / "onefold.yml"
    cfg.write_text(cfg.read_text() + PEOPLE_MATCHING)
    twins = "".join(f"t{i},u-t{i},,Zhang,Wei,,1990-01-01,Boston\n" for i in range(2))
    add_source("crm", PEOPLE_CRM, "crm.csv", people_rows(40) + twins)
    ws = Workspace(workspace.root)
    ws.load()
    result = ws.resolve()
    links = {
        r["record_key"]: r["profile_id"]
        for r in ws.query("SELECT record_key, profile_id FROM record_profiles")
    }
    assert links["t0"] != links["t1"]  # same name, same birthday, two accounts: two people
    assert result.matching is not None
    ws.close()
