"""The express path: a few collected messages cleaned and placed in-process give exactly the
profiles the batch stages (the SQL fast path) and a full re-run give; what it cannot take it
leaves to them, having written nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onefold import Workspace
from onefold.collect.http_source import http_source_yaml
from shared_sources import SHOP, SHOP_HEAD
from test_fast_path import TABLES, assert_same_as_full_rerun

ROWS = (
    "o1,u-1,ann@mail.com,+14155550100,dev-1,Ann Lee,2024-01-01\n"
    "o2,,ann@mail.com,,dev-2,,2024-01-02\n"
    "o3,u-2,bob@mail.com,,dev-3,Bob Ray,2024-01-03\n"
    "o4,,fam@mail.com,,dev-4,Cy Doe,2024-01-04\n"
    "o5,,fam@mail.com,,dev-5,Di Moe,2024-01-05\n"
)
_SEQ = iter(range(10**6))


def identify(**fields: Any) -> dict[str, Any]:
    """A Segment identify message (traits beside the ids, as the SDKs send them)."""
    traits = fields.pop("traits", {})
    n = next(_SEQ)
    return {
        "type": "identify",
        "messageId": f"m-{n}",
        # each its own minute: the latest email or phone is then never a tie
        "timestamp": fields.pop("timestamp", f"2024-03-01T10:{n % 60:02d}:00Z"),
        "traits": traits,
        **fields,
    }


@pytest.fixture
def shop(workspace: Workspace, add_source: Any) -> Iterator[Workspace]:
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    (workspace.root / "sources" / "web.yml").write_text(http_source_yaml("web"), encoding="utf-8")
    workspace.load()
    workspace.resolve()
    yield workspace


def both_ways(
    ws: Workspace, tmp_path: Path, events: list[dict[str, Any]], *, together: bool = False
) -> Workspace:
    """Send `events` one by one (or `together`, in one request) through the express path,
    and through the batch stages on a copy; assert both hold the same tables, and a full
    re-run too. Returns the copy."""
    ws.engine.execute("CHECKPOINT")
    shutil.copytree(ws.root, tmp_path / "batch")
    batch = Workspace(tmp_path / "batch")
    for group in [events] if together else [[ev] for ev in events]:
        _, fast = ws.ingest("web", group)
        _, slow = batch.ingest("web", group, express=False)
        ev = group[-1]
        assert fast is not None and fast.express, ev
        assert slow is not None and not slow.express and slow.mode == "incremental"
        assert fast.ids.created == slow.ids.created and fast.ids.merged == slow.ids.merged
        assert (fast.profiles, fast.clean.rejects) == (slow.profiles, slow.clean.rejects)
        assert fast.profiles == ws.engine.fetchone("SELECT count(*) FROM profiles")
    assert_same_tables(ws, batch)
    assert_same_as_full_rerun(ws, tmp_path)
    return batch


#: Every table the express path writes, without what differs by construction (rids and node
#: ids are numbered per run, load and detection times are the clock's).
SAME_TABLES = [f"SELECT * FROM {t} ORDER BY ALL" for t in TABLES] + [
    "SELECT * EXCLUDE (rid) FROM record_profiles ORDER BY ALL",
    "SELECT * FROM profile_keys ORDER BY ALL",
    "SELECT * EXCLUDE (rid) FROM record_values ORDER BY ALL",
    "SELECT * EXCLUDE (rid, loaded_at) FROM records ORDER BY ALL",
    "SELECT * EXCLUDE (node_id) FROM identity_nodes ORDER BY ALL",
    "SELECT profile_id, event, other_profile_id, members, evidence FROM profile_history "
    "ORDER BY ALL",
    "SELECT * EXCLUDE (detected_at) FROM rejects ORDER BY ALL",
]


def assert_same_tables(a: Workspace, b: Workspace) -> None:
    for sql in SAME_TABLES:
        assert a.engine.fetchall(sql) == b.engine.fetchall(sql), sql


def test_first_visits_returning_customers_and_a_login(shop: Workspace, tmp_path: Path) -> None:
    events = [
        identify(anonymousId="a-new", traits={"email": "new@mail.com", "phone": "4155550199"}),
        # a known email from a new device: joins Ann
        identify(anonymousId="a-ann", traits={"email": "Ann@Mail.com"}),
        # a known account with a new phone: joins Bob, the phone becomes his
        identify(userId="u-2", traits={"phone": "+1 415 555 0142"}),
        # the new visitor logs in as Bob on that device: two profiles merge
        identify(anonymousId="a-new", userId="u-2"),
        # a Chinese name, family name first, and a Latin one
        identify(anonymousId="a-li", traits={"firstName": "伟", "lastName": "张"}),
        identify(anonymousId="a-jo", traits={"name": "José Núñez", "email": "jose@mail.com"}),
        # an email that is not one: kept on its record, listed in the rejects, joins nothing
        identify(anonymousId="a-bad", traits={"email": "not an email", "phone": "4155550123"}),
    ]
    batch = both_ways(shop, tmp_path, events)
    bob = shop.engine.fetchall(
        "SELECT p.user_id, p.phone, p.records FROM profiles p "
        "JOIN profile_identifiers i USING (profile_id) WHERE i.value = 'a-new'"
    )
    assert bob == [("u-2", "+14155550142", 4)]  # o3, the phone event, both a-new events
    names = shop.engine.fetchall(
        "SELECT name FROM profiles WHERE name LIKE '%张%' OR name LIKE 'J%'"
    )
    assert sorted(n for (n,) in names) == ["José Núñez", "张伟"]
    batch.close()


def test_messages_sent_together(shop: Workspace, tmp_path: Path) -> None:
    """One request of several messages: two of one new visitor, another new visitor who
    logs in as a known customer, a returning customer with a new name — placed in one run,
    as the batch stages place them."""
    events = [
        identify(anonymousId="a-1", traits={"email": "one@mail.com"}),
        identify(anonymousId="a-1", traits={"phone": "4155550177", "name": "Uma One"}),
        identify(anonymousId="a-2"),
        identify(anonymousId="a-2", userId="u-2"),
        identify(userId="u-1", traits={"name": "Ann Lee-Park"}),
    ]
    both_ways(shop, tmp_path, events, together=True).close()
    assert (
        shop.engine.fetchone(
            "SELECT p.records FROM profiles p JOIN profile_identifiers i USING (profile_id) "
            "WHERE i.value = 'one@mail.com'"
        )
        == 2
    )


def test_what_the_express_path_cannot_take_goes_to_the_batch_stages(shop: Workspace) -> None:
    declined = [
        # a fractional number as an id: how its text reads is the engine's to say
        identify(anonymousId="a-t", userId=1.25),
        # a third name on the family email: a hub in the making, the region run's call
        identify(anonymousId="a-fam", traits={"email": "fam@mail.com", "name": "Ed Roe"}),
    ]
    for ev in declined:
        _, result = shop.ingest("web", [ev])
        assert result is not None and result.mode == "incremental" and not result.express
    assert shop.engine.fetchone("SELECT count(*) FROM records WHERE source = 'web'") == 2


def test_a_resent_message_id_is_stored_once(shop: Workspace) -> None:
    ev = identify(anonymousId="a-once", traits={"email": "once@mail.com"})
    first, result = shop.ingest("web", [ev])
    again, nothing = shop.ingest("web", [ev])
    assert first.rows_new == 1 and again.rows_new == 0
    assert result is not None and result.express
    assert nothing is not None and nothing.clean.records == 0
    assert (
        shop.engine.fetchone("SELECT count(*) FROM records WHERE record_key = ?", [ev["messageId"]])
        == 1
    )


def test_a_blocked_identifier_goes_to_the_batch_stages(
    workspace: Workspace, add_source: Any
) -> None:
    """The workspace's own blocking rules are SQL; an event carrying a blocked value is
    cleaned by the batch stage, which marks it junk with the rule, and the rest stay express."""
    cfg = workspace.root / "onefold.yml"
    text = cfg.read_text(encoding="utf-8")
    assert "  blocked_values: {}" in text
    cfg.write_text(
        text.replace("  blocked_values: {}", "  blocked_values: {phone: ['+14155550000']}"),
        encoding="utf-8",
    )
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    (workspace.root / "sources" / "web.yml").write_text(http_source_yaml("web"), encoding="utf-8")
    with Workspace(workspace.root) as ws:
        ws.load()
        ws.resolve()
        _, blocked = ws.ingest("web", [identify(anonymousId="a-x", traits={"phone": "4155550000"})])
        _, plain = ws.ingest("web", [identify(anonymousId="a-y", traits={"phone": "4155550111"})])
        assert blocked is not None and not blocked.express and blocked.mode == "incremental"
        assert plain is not None and plain.express
        reasons = ws.engine.fetchall("SELECT raw_value, reason FROM rejects WHERE source = 'web'")
        assert reasons == [
            ("4155550000", "identifier phone: blocked value (identity.blocked_values.phone)")
        ]


def test_an_override_keeps_only_its_own_profiles_off_the_express_path(
    shop: Workspace, tmp_path: Path
) -> None:
    """A cannot-link between Ann's two orders sets her email aside; events for anyone else
    stay express and give what the batch stages and a full re-run give, and an event on a
    side of the override goes to the batch stages, which replay it."""
    shop.add_override("cannot_link", "shop/o1", "shop/o2")
    shop.resolve()
    both_ways(
        shop,
        tmp_path,
        [
            identify(userId="u-2", traits={"phone": "+1 415 555 0142"}),
            identify(anonymousId="a-new", traits={"email": "new@mail.com"}),
            identify(anonymousId="a-new", userId="u-2"),  # a merge, away from the override
        ],
    ).close()
    for held in (
        identify(userId="u-1"),
        identify(anonymousId="a-2", traits={"email": "ann@mail.com"}),
    ):
        _, result = shop.ingest("web", [held])
        assert result is not None and result.mode == "incremental" and not result.express
    links = shop.engine.fetchall(
        "SELECT record_key, profile_id FROM record_profiles WHERE record_key IN ('o1', 'o2')"
    )
    assert len({p for _, p in links}) == 2
    assert_same_as_full_rerun(shop, tmp_path / "after")
