"""Manual overrides: must-link, cannot-link (cutting a deterministic chain), unmerge."""

from __future__ import annotations

import pytest

from onefold import ConfigError
from onefold.errors import NotFoundError
from shared_sources import SHOP, SHOP_HEAD, profile_links


def test_cannot_link_cuts_the_weakest_value_and_survives_reruns(workspace, add_source):
    # o1 and o3 are joined only through o2: email, then phone
    add_source(
        "shop",
        SHOP,
        "shop.csv",
        SHOP_HEAD + "o1,u-1,ann@mail.com,,,Ann,2024-01-01\n"
        "o2,,ann@mail.com,+14155550101,,Ann,2024-01-02\n"
        "o3,,,+14155550101,,Bo,2024-01-03\n",
    )
    workspace.load()
    workspace.resolve()
    assert len(set(profile_links(workspace).values())) == 1
    workspace.add_override("cannot_link", "shop/o1", "shop/o3", "two customers")
    workspace.resolve()
    got = profile_links(workspace)
    assert got["o1"] != got["o3"]
    assert got["o2"] == got["o1"]  # the phone (lower priority than email) was set aside
    cut = workspace.query(
        "SELECT id_type, value FROM hub_values WHERE shared_with_type = 'override'"
    )
    assert cut == [{"id_type": "phone", "value": "+14155550101"}]
    workspace.resolve()
    assert profile_links(workspace) == got  # respected by every later run


def test_must_link_joins_even_two_user_ids(workspace, add_source):
    add_source(
        "shop",
        SHOP,
        "shop.csv",
        SHOP_HEAD + "o1,u-1,a@mail.com,,,Ann,2024-01-01\no2,u-2,b@mail.com,,,Ann,2024-01-02\n",
    )
    workspace.load()
    workspace.resolve()
    assert len(set(profile_links(workspace).values())) == 2
    workspace.add_override("must_link", "user_id:u-1", "user_id:u-2", "merged accounts")
    workspace.resolve()
    assert len(set(profile_links(workspace).values())) == 1
    [o] = workspace.overrides()
    assert (o.kind, o.a, o.b, o.note) == (
        "must_link",
        "user_id:u-1",
        "user_id:u-2",
        "merged accounts",
    )
    workspace.remove_override(o.override_id)
    workspace.resolve()
    assert len(set(profile_links(workspace).values())) == 2


def test_identifier_references_are_normalised(workspace, add_source):
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + "o1,,ann@mail.com,,,Ann,2024-01-01\n")
    workspace.load()
    oid = workspace.add_override("cannot_link", "email: ANN@Mail.com ", "shop/o1")
    assert workspace.overrides()[0].a == "email:ann@mail.com" and oid >= 1
    with pytest.raises(ConfigError, match="Did you mean 'email'"):
        workspace.add_override("cannot_link", "emial:x@y.z", "shop/o1")
    with pytest.raises(NotFoundError, match="no record 'o9'"):
        workspace.add_override("cannot_link", "shop/o9", "shop/o1")
    with pytest.raises(ConfigError, match="Did you mean 'shop'"):
        workspace.add_override("cannot_link", "shpo/o1", "shop/o1")


def test_unmerge_undoes_the_latest_merge(workspace, add_source):
    path = add_source(
        "shop",
        SHOP,
        "shop.csv",
        SHOP_HEAD + "o1,u-1,ann@mail.com,,,Ann,2024-01-01\n"
        "o2,,bob@mail.com,+14155550102,,Bob,2024-01-02\n",
    )
    workspace.load()
    workspace.resolve()
    before = profile_links(workspace)
    with path.open("a") as fh:  # a later order wrongly ties Ann's account to Bob's email
        fh.write("o3,u-1,bob@mail.com,,,Ann,2024-03-01\n")
    workspace.load()
    workspace.resolve()
    merged = profile_links(workspace)
    assert len(set(merged.values())) == 1
    survivor = merged["o1"]
    workspace.unmerge(survivor)
    workspace.resolve()
    after = profile_links(workspace)
    assert after["o1"] == survivor and after["o2"] != survivor
    assert after["o2"] == before["o2"] or after["o2"] not in before.values()
    with pytest.raises(NotFoundError, match="no recorded merge"):
        workspace.unmerge(after["o2"])
