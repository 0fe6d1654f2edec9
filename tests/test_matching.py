"""Probabilistic matching: blocking keys, EM on known parameters, guards, end to end."""

from __future__ import annotations

import math
import random

import pytest

from onefold import Workspace
from onefold.config.settings import ComparisonSpec
from onefold.engine import DuckDBEngine
from onefold.identity.clustering import cluster_components
from onefold.identity.comparisons import build_comparisons
from onefold.identity.matching import blocking_key_sql, expectation_maximisation
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
