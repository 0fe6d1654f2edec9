"""The incremental fast path: records that join one known profile, or start their own, are
placed without a region run and give exactly what a full re-run gives; a record that could
change anyone else's profile goes to the region run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from onefold import Workspace
from onefold.identity.fast_path import LAST_GRAPH_RUN, conflicted_profiles
from onefold.identity.incremental import conflict_pairs
from onefold.identity.override_hold import override_hold
from shared_sources import SHOP, SHOP_HEAD, profile_links

ROWS = (
    "o1,u-1,ann@mail.com,+14155550100,dev-1,Ann Lee,2024-01-01\n"
    "o2,,ann@mail.com,,dev-2,,2024-01-02\n"
    "o7,u-1,,+14155550101,,,2024-01-07\n"  # Ann's second phone: two is the hub limit
    "o3,u-2,bob@mail.com,,dev-3,Bob Ray,2024-01-03\n"
    # a family email: two people's names on it make it a shared value (a hub)
    "o4,,fam@mail.com,,dev-4,Cy Doe,2024-01-04\n"
    "o5,,fam@mail.com,,dev-5,Di Moe,2024-01-05\n"
    "o6,,cy@mail.com,,dev-6,,2024-01-06\n"
    # two people whose names were recorded by the same source at the same moment
    "t1,,tia@mail.com,,dev-t1,Tia Poe,2024-02-02\n"
    "t2,,tim@mail.com,,dev-t2,Tim Poe,2024-02-02\n"
)
TABLES = (
    "profiles",
    "profile_identifiers",
    "profile_traits",
    "profile_consents",
    "profile_docs",
)


@pytest.fixture
def shop(workspace: Workspace, add_source: Any) -> Workspace:
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    workspace.load()
    workspace.resolve()
    return workspace


def assert_same_as_full_rerun(ws: Workspace, tmp_path: Path) -> None:
    """A copy of the workspace resolved in full holds the same profiles, row for row."""
    ws.engine.execute("CHECKPOINT")
    copy = tmp_path / "rerun"
    shutil.copytree(ws.root, copy)
    with Workspace(copy) as full:
        assert full.resolve().mode == "full"
        for sql in [f"SELECT * FROM {t} ORDER BY ALL" for t in TABLES] + [
            "SELECT source, record_key, profile_id FROM record_profiles ORDER BY ALL",
            "SELECT member_key, profile_id FROM profile_keys ORDER BY ALL",
            "SELECT profile_id, event, other_profile_id FROM profile_history ORDER BY ALL",
        ]:
            assert ws.engine.fetchall(sql) == full.engine.fetchall(sql), sql


def test_a_returning_customer_joins_on_the_fast_path(shop: Workspace, tmp_path: Path) -> None:
    before = profile_links(shop)
    _, result = shop.ingest(
        "shop", [{"order": "o9", "email": "ANN@mail.com", "device": "dev-9", "at": "2024-03-01"}]
    )
    assert result is not None and result.fast is not None
    assert (result.fast.records, result.fast.joined, result.fast.left_to_region) == (1, 1, 0)
    links = profile_links(shop)
    assert links["o9"] == links["o1"] == before["o1"]
    [hit] = shop.search("dev-9")  # the new device is the profile's from now on
    assert hit["profile_id"] == links["o1"]
    view = shop.profile(links["o1"])
    assert view.profile["records"] == 4
    assert_same_as_full_rerun(shop, tmp_path)


def test_an_account_with_a_third_phone_stays_on_the_fast_path(
    shop: Workspace, tmp_path: Path
) -> None:
    # an account id is never made shared by how many phones it was seen with (the hub rule),
    # and five phones are allowed per profile: nothing but Ann's profile can change
    _, result = shop.ingest("shop", [{"order": "p3", "uid": "u-1", "phone": "+14155550102"}])
    assert result is not None and result.fast is not None
    assert (result.fast.records, result.fast.joined, result.fast.left_to_region) == (1, 1, 0)
    assert profile_links(shop)["p3"] == profile_links(shop)["o1"]
    assert_same_as_full_rerun(shop, tmp_path)


def test_a_name_given_to_a_nameless_profile_stays_on_the_fast_path(
    shop: Workspace, tmp_path: Path
) -> None:
    # anonymous until now (no record of o6's profile carries a name): one name cannot make
    # its email shared by name evidence, which needs two different names on a value
    _, result = shop.ingest(
        "shop", [{"order": "n9", "email": "cy@mail.com", "name": "Cy Lee", "at": "2024-03-01"}]
    )
    assert result is not None and result.fast is not None
    assert (result.fast.records, result.fast.left_to_region) == (1, 0)
    links = profile_links(shop)
    assert links["n9"] == links["o6"]
    assert shop.profile(links["o6"]).profile["name"] == "Cy Lee"
    assert_same_as_full_rerun(shop, tmp_path)


def test_first_visits_start_profiles_on_the_fast_path(shop: Workspace, tmp_path: Path) -> None:
    _, result = shop.ingest(
        "shop",
        [
            {"order": "n1", "email": "new@mail.com", "device": "dev-n", "at": "2024-03-01"},
            {"order": "n2", "device": "dev-n", "at": "2024-03-02"},  # same visitor, later
            {"order": "n3", "at": "2024-03-03"},  # nothing to link by: a profile of its own
        ],
    )
    assert result is not None and result.fast is not None
    assert (result.fast.records, result.fast.created, result.fast.left_to_region) == (3, 2, 0)
    links = profile_links(shop)
    assert links["n1"] == links["n2"] != links["n3"]
    assert_same_as_full_rerun(shop, tmp_path)  # the minted ids are the full run's too


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"email": "tia@mail.com", "device": "dev-t2"}, id="merge-whose-names-tie"),
        pytest.param({"email": "fam@mail.com", "device": "dev-8"}, id="holds-a-shared-value"),
        pytest.param({"email": "bob@mail.com", "name": "Rob Ray"}, id="names-a-known-email"),
        pytest.param({"uid": "u-7", "email": "bob@mail.com"}, id="second-user-id"),
        # a cookie seen beside a third phone of its profile could be a shared device
        pytest.param({"device": "dev-1", "phone": "+14155550102"}, id="third-phone-by-cookie"),
    ],
)
def test_a_record_that_could_change_other_profiles_goes_to_the_region_run(
    shop: Workspace, tmp_path: Path, event: dict[str, str]
) -> None:
    _, result = shop.ingest("shop", [{"order": "x1", "at": "2024-03-01", **event}])
    assert result is not None and result.fast is not None and result.region is not None
    assert (result.fast.records, result.fast.left_to_region) == (0, 1)
    assert result.region.new_records == 1
    assert_same_as_full_rerun(shop, tmp_path)


def region_twin(tmp_path: Path) -> Workspace:
    """The same workspace a second time, for the region run to resolve what the fast path
    resolves in the first."""
    ws = Workspace.init(tmp_path / "twin", "twin")
    (ws.root / "sources" / "shop.yml").write_text(SHOP, encoding="utf-8")
    (ws.root / "data").mkdir()
    (ws.root / "data" / "shop.csv").write_text(SHOP_HEAD + ROWS, encoding="utf-8")
    ws.load()
    ws.resolve()
    return ws


def test_a_merge_on_the_fast_path_is_the_region_runs_merge(shop: Workspace, tmp_path: Path) -> None:
    # a login: Ann's second cookie (dev-2) with the email of the profile of o6
    event = {"order": "x1", "email": "cy@mail.com", "device": "dev-2", "at": "2024-03-01"}
    twin = region_twin(tmp_path)
    try:
        _, slow = twin.ingest("shop", [event], fast_path=False)
        _, fast = shop.ingest("shop", [event])
        assert slow is not None and slow.fast is None and slow.ids.merged == 1
        assert fast is not None and fast.fast is not None
        assert (fast.fast.records, fast.fast.merged, fast.fast.left_to_region) == (1, 1, 0)
        for sql in [f"SELECT * FROM {t} ORDER BY ALL" for t in TABLES] + [
            "SELECT source, record_key, profile_id FROM record_profiles ORDER BY ALL",
            "SELECT member_key, profile_id FROM profile_keys ORDER BY ALL",
            "SELECT run_id, profile_id, event, other_profile_id, members, evidence "
            "FROM profile_history ORDER BY ALL",
        ]:
            assert shop.engine.fetchall(sql) == twin.engine.fetchall(sql), sql
    finally:
        twin.close()
    links = profile_links(shop)
    assert links["x1"] == links["o1"] == links["o6"]  # the older, larger profile's id stays
    assert_same_as_full_rerun(shop, tmp_path)


def test_one_batch_is_split_between_the_two_paths(shop: Workspace, tmp_path: Path) -> None:
    _, result = shop.ingest(
        "shop",
        [
            {"order": "f1", "device": "dev-5", "at": "2024-03-01"},  # Di again: fast
            {"order": "r1", "email": "tia@mail.com", "device": "dev-t2", "at": "2024-03-02"},
        ],
    )
    assert result is not None and result.fast is not None
    assert (result.fast.records, result.fast.left_to_region) == (1, 1)
    links = profile_links(shop)
    assert links["f1"] == links["o5"]
    assert links["r1"] == links["t1"] == links["t2"]  # r1 merged two profiles
    assert_same_as_full_rerun(shop, tmp_path)


CUT_ANN = ("cannot_link", "shop/o1", "shop/o2")  # sets her email aside; o2 stands alone
JOIN_ANN_BOB = ("must_link", "user_id:u-1", "user_id:u-2")  # across two user ids


@pytest.mark.parametrize(
    ("override", "event", "fast"),
    [
        pytest.param(CUT_ANN, {"device": "dev-3"}, True, id="elsewhere"),
        pytest.param(CUT_ANN, {"device": "dev-2"}, False, id="a-side-it-cut-off"),
        pytest.param(CUT_ANN, {"uid": "u-1"}, False, id="a-profile-holding-a-named-record"),
        pytest.param(CUT_ANN, {"email": "ann@mail.com"}, False, id="the-value-it-set-aside"),
        pytest.param(JOIN_ANN_BOB, {"device": "dev-6"}, True, id="elsewhere-after-a-must-link"),
        pytest.param(JOIN_ANN_BOB, {"device": "dev-3"}, False, id="the-profile-it-joined"),
        pytest.param(
            ("cannot_link", "email:cy@mail.com", "shop/o4"),
            {"email": "cy@mail.com", "device": "dev-c"},
            False,
            id="an-identifier-it-names",
        ),
    ],
)
def test_an_override_holds_back_only_what_it_acts_on(
    shop: Workspace,
    tmp_path: Path,
    override: tuple[Any, str, str],
    event: dict[str, str],
    fast: bool,
) -> None:
    """The region run replays overrides, the fast path does not: a record it would place
    next to a record, identifier or set-aside value an override names goes to the region
    run; every other record still takes the fast path, with the override in force."""
    shop.add_override(*override)
    shop.resolve()
    before = profile_links(shop)
    _, result = shop.ingest("shop", [{"order": "x1", "at": "2024-03-01", **event}])
    assert result is not None and result.fast is not None
    assert (result.fast.records, result.fast.left_to_region) == ((1, 0) if fast else (0, 1))
    links = profile_links(shop)
    assert {k: links[k] for k in before} == before  # nobody else moved
    assert_same_as_full_rerun(shop, tmp_path)


def test_a_profile_in_a_recorded_limit_conflict_goes_to_the_region_run(
    shop: Workspace, tmp_path: Path
) -> None:
    # a chain from a new account to Ann's phone, no value shared by two accounts: the limit
    # of one user id per profile drops a link and records the conflict
    _, first = shop.ingest(
        "shop",
        [
            {"order": "x1", "uid": "u-8", "email": "ex@mail.com", "at": "2024-03-01"},
            {"order": "x1b", "email": "ex@mail.com", "phone": "+14155550100", "at": "2024-03-02"},
        ],
    )
    assert first is not None and first.fast is not None and first.fast.left_to_region == 2
    assert shop.engine.fetchone("SELECT count(*) FROM identity_conflicts")
    # Ann again, by her device: her profile is one side of that conflict, replayed with it
    _, again = shop.ingest("shop", [{"order": "x2", "device": "dev-1", "at": "2024-03-03"}])
    assert again is not None and again.fast is not None
    assert (again.fast.records, again.fast.left_to_region) == (0, 1)
    links = profile_links(shop)
    assert links["x2"] == links["o1"] != links["x1"]
    assert_same_as_full_rerun(shop, tmp_path)


def test_a_region_run_updates_the_conflicted_profiles_it_knew(shop: Workspace) -> None:
    """After its own region run a workspace updates the profiles in limit conflicts, and the
    pairs a dropped link separates, from the region alone; the answer is the one a
    recomputation over the workspace gives."""
    shop.ingest("shop", [{"order": "w0", "email": "ann@mail.com", "at": "2024-02-28"}])
    cache = shop._conflicts
    assert cache.get(shop.engine) == set()  # known before the region runs
    seen: list[int] = []
    for rows in (
        [
            {"order": "x1", "uid": "u-8", "email": "ex@mail.com", "at": "2024-03-01"},
            {"order": "x1b", "email": "ex@mail.com", "phone": "+14155550100", "at": "2024-03-02"},
        ],
        [{"order": "x2", "device": "dev-1", "at": "2024-03-03"}],
        # a corrected x1b without Ann's phone: the conflict is gone, and so are its profiles
        [{"order": "x1b", "email": "ex@mail.com", "at": "2024-03-02"}],
    ):
        _, result = shop.ingest("shop", rows)
        assert result is not None and result.region is not None and result.region.profiles
        key = int(shop.engine.fetchone(LAST_GRAPH_RUN))
        assert cache._key == key == result.run_id  # updated, not left for a recomputation
        assert cache._profiles == conflicted_profiles(shop.engine)
        assert cache._pairs == conflict_pairs(shop.engine)
        seen.append(len(cache._profiles))
    assert seen[0] and seen[-1] == 0
    assert not cache._pairs


def test_region_runs_update_the_override_hold(shop: Workspace) -> None:
    """Recomputing what the overrides hold scans `record_profiles`; after a region run the
    workspace keeps the answer (the run did not touch it) or updates it from the region,
    and the answer is always the one a recomputation gives."""
    shop.add_override(*CUT_ANN)
    shop.resolve()
    cache = shop._held
    for rows in (
        # a third name on the family email: the region run's, away from Ann
        [{"order": "x1", "email": "fam@mail.com", "name": "Ed Roe", "at": "2024-03-01"}],
        [{"order": "x2", "device": "dev-2", "at": "2024-03-02"}],  # Ann's cut-off side
        [{"order": "x3", "email": "ann@mail.com", "at": "2024-03-03"}],  # the set-aside value
        [{"order": "x4", "uid": "u-1", "device": "dev-2", "at": "2024-03-04"}],  # both sides
    ):
        _, result = shop.ingest("shop", rows)
        assert result is not None and result.fast is not None and result.fast.left_to_region
        graph_run = int(shop.engine.fetchone(LAST_GRAPH_RUN))
        assert graph_run == result.run_id
        assert cache._key is not None and cache._key[0] == graph_run  # not left stale
        assert cache._hold == override_hold(shop.engine, shop.overrides())
    links = profile_links(shop)
    assert links["o1"] != links["o2"] and links["x2"] == links["o2"]
