"""Deterministic identity: links across sources, guards against over-merging, stable ids."""

from __future__ import annotations

from onefold import Workspace
from shared_sources import SHOP
from shared_sources import SHOP_HEAD as HEAD

POS = """\
name: pos
path: data/pos.csv
format: csv
channel: offline
phone_region: CN
record_key: receipt
identifiers: {loyalty_card: card, phone: phone}
"""


def profile_of(ws: Workspace) -> dict[tuple[str, str], str]:
    return {
        (r["source"], r["record_key"]): r["profile_id"]
        for r in ws.query("SELECT source, record_key, profile_id FROM record_profiles")
    }


def test_records_join_across_sources_through_normalised_identifiers(workspace, add_source):
    add_source(
        "shop",
        SHOP,
        "shop.csv",
        HEAD + "o1,u-1,Ann.Lee@Mail.com,+86 138 0013 8000,,Ann Lee,2024-01-01\n"
        "o2,,ann.lee@mail.com ,,,,2024-02-01\n",
    )
    add_source(
        "pos",
        POS,
        "pos.csv",
        "receipt,card,phone\nr1,LC 1111 2222 33,0086-13800138000\nr2,lc1111222233,\n",
    )
    workspace.load()
    workspace.resolve()
    links = profile_of(workspace)
    assert len(set(links.values())) == 1
    [p] = workspace.query("SELECT * FROM profiles")
    assert p["name"] == "Ann Lee" and p["email"] == "ann.lee@mail.com"
    assert p["sources"] == ["pos", "shop"] and p["records"] == 4


def test_family_email_does_not_glue_two_accounts(workspace, add_source):
    add_source(
        "shop",
        SHOP,
        "shop.csv",
        HEAD + "o1,u-1,family@mail.com,+14155550101,,Ann Lee,2024-01-01\n"
        "o2,u-2,family@mail.com,+14155550102,,Bob Lee,2024-01-02\n"
        "o3,u-1,,+14155550101,,Ann Lee,2024-01-03\n",
    )
    workspace.load()
    workspace.resolve()
    links = profile_of(workspace)
    assert links[("shop", "o1")] == links[("shop", "o3")]
    assert links[("shop", "o1")] != links[("shop", "o2")]
    hubs = workspace.query("SELECT id_type, value, shared_with_type FROM hub_values")
    assert {"id_type": "email", "value": "family@mail.com", "shared_with_type": "user_id"} in hubs


def test_store_tablet_is_a_hub(workspace, add_source):
    rows = "".join(f"o{i},u-{i},p{i}@mail.com,,DEMO-TABLET,,2024-01-01\n" for i in range(5))
    add_source("shop", SHOP, "shop.csv", HEAD + rows)
    workspace.load()
    workspace.resolve()
    assert len(set(profile_of(workspace).values())) == 5
    [hub] = workspace.query(
        "SELECT value, distinct_values FROM hub_values "
        "WHERE id_type = 'device_id' AND shared_with_type = 'user_id'"
    )
    assert hub == {"value": "demo-tablet", "distinct_values": 5}


def test_recycled_phone_seen_with_two_loyalty_cards_links_neither(workspace, add_source):
    add_source(
        "pos",
        POS,
        "pos.csv",
        "receipt,card,phone\nr1,LC1,13912345678\nr2,LC2,13912345678\nr3,LC1,\n",
    )
    workspace.load()
    workspace.resolve()
    links = profile_of(workspace)
    assert links[("pos", "r1")] == links[("pos", "r3")]
    assert links[("pos", "r1")] != links[("pos", "r2")]


CALLS = """\
name: calls
path: data/calls.csv
format: csv
channel: offline
phone_region: US
record_key: call
identifiers: {phone: phone}
traits: {full_name: caller}
"""


def test_callers_on_a_shared_landline_stay_apart(workspace, add_source):
    """Li Jia and Li Ming calling from one home number make it a hub by name evidence; the
    calls hold nothing but that number, yet they must not then share a profile of the
    number: each caller's calls form one profile (their name in any token order), and a call
    that names nobody stays in the shared value's profile."""
    add_source(
        "calls",
        CALLS,
        "calls.csv",
        "call,phone,caller\n"
        "c1,(415) 555-0199,Li Jia\n"
        "c2,+1 415 555 0199,Jia Li\n"
        "c3,415-555-0199,Li Ming\n"
        "c4,4155550199,\n"
        "c5,4155550199,\n",
    )
    workspace.load()
    workspace.resolve()
    links = profile_of(workspace)
    [hub] = workspace.query("SELECT value, shared_with_type FROM hub_values")
    assert hub == {"value": "+14155550199", "shared_with_type": "name"}
    jia, ming, nobody = links[("calls", "c1")], links[("calls", "c3")], links[("calls", "c4")]
    assert links[("calls", "c2")] == jia
    assert links[("calls", "c5")] == nobody
    assert len({jia, ming, nobody}) == 3
    # each stays put on a re-run: ids come from the records, not from the shared number
    workspace.resolve()
    assert profile_of(workspace) == links
    # a later call by Li Ming, resolved incrementally, finds his profile through the number
    calls = workspace.root / "data" / "calls.csv"
    calls.write_text(calls.read_text() + "c6,415 555 0199,Ming Li\n")
    workspace.load()
    result = workspace.resolve(incremental=True)
    assert result.mode == "incremental"
    assert profile_of(workspace) == {**links, ("calls", "c6"): ming}


def test_junk_values_never_link(workspace, add_source):
    add_source(
        "shop",
        SHOP,
        "shop.csv",
        HEAD + "o1,,test@test.com,13800000000,,A,2024-01-01\n"
        "o2,,test@test.com,13800000000,,B,2024-01-01\n"
        "o3,N/A,,,,C,2024-01-01\n"
        "o4,N/A,,,,D,2024-01-01\n",
    )
    workspace.load()
    workspace.resolve()
    assert len(set(profile_of(workspace).values())) == 4
    reasons = [r["reason"] for r in workspace.rejects()]
    assert sum("placeholder" in r or "junk" in r for r in reasons) >= 6


def test_a_user_with_many_emails_keeps_their_account(workspace, add_source):
    rows = "".join(f"o{i},u-1,a{i}@mail.com,,,,2024-01-0{i + 1}\n" for i in range(5))
    add_source("shop", SHOP, "shop.csv", HEAD + rows)
    workspace.load()
    workspace.resolve()
    assert len(set(profile_of(workspace).values())) == 1


def test_profile_ids_are_stable_and_merges_keep_the_older_id(workspace, add_source):
    path = add_source(
        "shop",
        SHOP,
        "shop.csv",
        HEAD + "o1,u-1,ann@mail.com,,,Ann,2024-01-01\n"
        "o2,,bob@mail.com,+14155550102,,Bob,2024-01-02\n",
    )
    workspace.load()
    workspace.resolve()
    before = profile_of(workspace)
    workspace.resolve()
    assert profile_of(workspace) == before  # a re-run changes nothing

    # a later order ties Ann's account to Bob's email: one profile, Ann's (older) id survives
    with path.open("a") as fh:
        fh.write("o3,u-1,bob@mail.com,,,Ann,2024-03-01\n")
    workspace.load()
    workspace.resolve()
    after = profile_of(workspace)
    assert len(set(after.values())) == 1
    survivor = after[("shop", "o1")]
    assert survivor in set(before.values())
    merged = workspace.query(
        "SELECT profile_id, other_profile_id FROM profile_history WHERE event = 'merged'"
    )
    assert len(merged) == 1 and merged[0]["other_profile_id"] == survivor


def test_fresh_workspace_with_same_data_gets_same_ids(tmp_path, add_source, workspace):
    content = HEAD + "o1,u-1,ann@mail.com,,,Ann,2024-01-01\no2,u-2,,,,Bo,2024-01-01\n"
    add_source("shop", SHOP, "shop.csv", content)
    workspace.load()
    workspace.resolve()
    first = profile_of(workspace)
    other = Workspace.init(tmp_path / "other")
    (other.root / "data").mkdir()
    (other.root / "sources" / "shop.yml").write_text(SHOP)
    (other.root / "data" / "shop.csv").write_text(content)
    other.load()
    other.resolve()
    assert profile_of(other) == first
    other.close()


def test_split_gets_new_id_with_lineage(workspace, add_source):
    path = add_source(
        "shop",
        SHOP,
        "shop.csv",
        HEAD + "o1,u-1,ann@mail.com,,,Ann,2024-01-01\n"
        "o2,,ann@mail.com,+14155550102,,Ann,2024-01-02\n",
    )
    workspace.load()
    workspace.resolve()
    [old] = set(profile_of(workspace).values())
    # the shared email is corrected in the source: o2 now belongs to someone else
    path.write_text(
        HEAD + "o1,u-1,ann@mail.com,,,Ann,2024-01-01\n"
        "o2,,zed@mail.com,+14155550102,,Zed,2024-01-02\n"
    )
    workspace.load()
    workspace.resolve()
    links = profile_of(workspace)
    assert links[("shop", "o1")] == old
    assert links[("shop", "o2")] != old
    split = workspace.query(
        "SELECT profile_id, other_profile_id FROM profile_history WHERE event = 'split'"
    )
    assert split == [{"profile_id": links[("shop", "o2")], "other_profile_id": old}]
