"""Adversarial inputs for the express path: each either goes through it and writes exactly
what the batch stages write, or is declined (and the batch stages then write it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from onefold import Workspace
from onefold.collect.http_source import http_source_yaml
from shared_sources import SHOP, SHOP_HEAD
from test_express import ROWS, assert_same_tables, both_ways, identify, shop  # noqa: F401
from test_fast_path import TABLES, assert_same_as_full_rerun


def either_way(
    ws: Workspace, tmp_path: Path, events: list[Any], *, express: bool | None, rerun: bool = True
) -> None:
    """Like `both_ways` (one request), but events may be raw bytes and the express path may
    decline (`express`: whether it must take them; None: either)."""
    ws.engine.execute("CHECKPOINT")
    shutil.copytree(ws.root, tmp_path / "batch")
    batch = Workspace(tmp_path / "batch")
    _, fast = ws.ingest("web", events)
    _, slow = batch.ingest("web", events, express=False)
    assert fast is not None and slow is not None and not slow.express
    if express is not None:
        assert fast.express is express
    assert fast.ids.created == slow.ids.created and fast.ids.merged == slow.ids.merged
    assert (fast.profiles, fast.clean.rejects) == (slow.profiles, slow.clean.rejects)
    assert fast.clean.suspicious == slow.clean.suspicious
    assert_same_tables(ws, batch)
    if rerun:
        assert_same_as_full_rerun(ws, tmp_path)
    batch.close()


def test_numbers_and_booleans_as_ids(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(userId=123456789, anonymousId="a-num"),
        identify(userId=18446744073709551615, anonymousId="a-big"),
        identify(anonymousId=-42, traits={"email": "neg@mail.com"}),
        identify(anonymousId="a-bool", traits={"name": True, "phone": 4155550188}),
    ]
    both_ways(shop, tmp_path, events).close()


def test_whitespace_tabs_newlines_and_nul(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-ws", traits={"email": "   ", "name": "  Ann  Ray "}),
        identify(anonymousId="a-tab", traits={"address": {"city": "\tParis\n"}}),
        identify(anonymousId=" a-sp ", traits={"email": " sp@mail.com\t"}),
        identify(anonymousId="a-nul", traits={"address": {"city": "Pa\u0000ris"}}),
        identify(anonymousId="a-only-tab", traits={"address": {"city": "\t"}, "name": "\n"}),
    ]
    both_ways(shop, tmp_path, events).close()


def test_unicode_case_in_free_text_junk(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    """DuckDB lowers İ (U+0130) to i, Python to i + a combining dot: 'NİL' is junk to SQL."""
    events = [identify(anonymousId="a-nil", traits={"address": {"city": "NİL"}})]
    either_way(shop, tmp_path, events, express=None)


def test_kelvin_sign_and_sharp_s(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-k", traits={"address": {"city": "UNKNOWN"}}),
        identify(anonymousId="a-ss", traits={"address": {"city": "STRAẞE"}}),
    ]
    either_way(shop, tmp_path, events, express=None)


def test_duplicate_json_keys(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    """The stored message is the bytes received: DuckDB reads the first of two equal keys,
    orjson the last."""
    raw = (
        b'{"type":"identify","messageId":"m-dup","timestamp":"2024-03-01T10:00:00Z",'
        b'"anonymousId":"a-dup","traits":{"email":"first@mail.com","email":"last@mail.com"}}'
    )
    either_way(shop, tmp_path, [raw], express=None)


def test_context_traits_merged_with_nulls(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(
            anonymousId="a-ctx",
            traits={"email": None, "name": "Top Name"},
            context={"traits": {"email": "ctx@mail.com", "phone": "4155550161"}},
        ),
        identify(
            anonymousId="a-ctx2",
            traits=None,
            context={"traits": {"email": "ctx2@mail.com", "address": {"city": "Rome"}}},
        ),
        identify(
            anonymousId="a-ctx3",
            traits={"address": {"country": "FR", "city": None}},
            context={"traits": {"address": {"city": "Nice"}}, "device": {"id": "dev-ctx3"}},
        ),
    ]
    both_ways(shop, tmp_path, events).close()


def test_every_mapped_trait(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(
            anonymousId="a-all",
            traits={
                "firstName": "Zoë",
                "lastName": "O'Brien",
                "birthday": "1990-02-03",
                "gender": "F",
                "address": {"city": "Dublin", "country": "Ireland"},
            },
        ),
        identify(
            anonymousId="a-all",
            traits={"birthday": "not a date", "gender": "?", "address": {"country": "Narnia"}},
        ),
        identify(anonymousId="a-zh", traits={"firstName": "伟", "lastName": "Zhang"}),
        identify(anonymousId="a-zh2", traits={"firstName": "伟"}),
        identify(anonymousId="a-zh3", traits={"name": "张伟"}),
        identify(anonymousId="a-jp", traits={"firstName": "さくら", "lastName": "山田"}),
        identify(anonymousId="a-zh4", traits={"firstName": "〇", "lastName": "张"}),
        identify(anonymousId="a-zh5", traits={"firstName": "Wei", "lastName": "张"}),
        identify(anonymousId="a-zh6", traits={"firstName": "伟", "lastName": " "}),
        identify(anonymousId="a-g", traits={"gender": "M", "birthday": "03/02/1990"}),
        identify(anonymousId="a-c", traits={"address": {"country": "us", "city": "NYC"}}),
    ]
    for i, ev in enumerate(events):
        either_way(shop, tmp_path / str(i), [ev], express=None)


def test_timestamps(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-t1", timestamp="2024-03-01T10:00:00.123456+05:30"),
        identify(anonymousId="a-t1", timestamp="2024-03-01T04:30:00.123-00:00"),
        identify(anonymousId="a-t2", timestamp="2024-03-01 10:00:00"),
        identify(anonymousId="a-t3", timestamp="2024-03-01"),
        identify(anonymousId="a-t4", timestamp="1970-01-01T00:00:00Z"),
    ]
    both_ways(shop, tmp_path, events).close()


def test_trait_ties_among_new_records_are_declined(shop: Workspace) -> None:  # noqa: F811
    """Two names for one profile at one instant, from one source: SQL settles it by rid
    (landing order); the express path declines it rather than settle it."""
    t = "2024-03-01T11:00:00Z"
    events = [identify(userId="u-1", timestamp=t, traits={"name": f"Name {c}"}) for c in "QWERTYUI"]
    _, result = shop.ingest("web", events)
    assert result is not None and not result.express


def test_equal_values_at_one_instant_stay_express(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    t = "2024-03-01T11:00:00Z"
    events = [
        identify(userId="u-1", timestamp=t, traits={"name": "Ann Q", "gender": "f"}),
        identify(userId="u-1", timestamp=t, traits={"name": "Ann Q"}),
        identify(userId="u-1", timestamp=t, traits={"gender": "female"}),
    ]
    both_ways(shop, tmp_path, events, together=True).close()


def test_a_merge_of_two_tied_old_winners_is_declined(shop: Workspace) -> None:  # noqa: F811
    """Both profiles' names were seen at the same instant: the merged profile's name is the
    SQL's arbitrary pick (both old rows rank as rid -1), so the express path declines."""
    t = "2024-03-01T11:00:00Z"
    for ev in [
        identify(anonymousId="a-ta", timestamp=t, traits={"name": "Tie A"}),
        identify(userId="u-tb", timestamp=t, traits={"name": "Tie B"}),
    ]:
        _, r = shop.ingest("web", [ev])
        assert r is not None and r.express
    _, merged = shop.ingest("web", [identify(anonymousId="a-ta", userId="u-tb")])
    assert merged is not None and merged.ids.merged == 1 and not merged.express


def test_junk_and_odd_values(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-zero", userId=0),
        identify(anonymousId="a-j", traits={"address": {"city": "N/A "}, "phone": "415-555-CALL"}),
        identify(anonymousId="a-k", traits={"email": "ÄNN@Mail.com", "address": {"city": "0"}}),
        identify(anonymousId="a b c", context={"device": {"id": 77}}),
        identify(anonymousId="a-x", traits={"address": {"city": "null"}, "email": "aaaa"}),
        identify(anonymousId="a-y", traits={"name": "-", "firstName": "N/A", "lastName": "Lee"}),
    ]
    both_ways(shop, tmp_path, events).close()


def test_trait_tie_with_the_old_winner(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    # o1 (Ann) was observed at 2024-01-01: a new name at that very instant
    events = [identify(userId="u-1", timestamp="2024-01-01T00:00:00Z", traits={"name": "Ann X"})]
    both_ways(shop, tmp_path, events).close()


def test_email_tie_same_instant(shop: Workspace) -> None:  # noqa: F811
    """Two new emails of a known customer seen at one instant: `arg_max` picks either."""
    t = "2024-03-01T12:00:00Z"
    events = [
        identify(userId="u-2", timestamp=t, traits={"email": "e1@mail.com"}),
        identify(userId="u-2", timestamp=t, traits={"email": "e2@mail.com"}),
    ]
    _, result = shop.ingest("web", events)
    assert result is not None and not result.express


def test_merge_with_traits_on_both(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-m", traits={"name": "Anon Name", "address": {"city": "Oslo"}}),
        identify(userId="u-m", traits={"name": "User Name", "gender": "male"}),
        identify(anonymousId="a-m", userId="u-m"),
        # and a known customer logs in on it
        identify(anonymousId="a-m", userId="u-1"),
    ]
    for ev in events:
        either_way(shop, tmp_path / ev["messageId"], [ev], express=None)


def test_revenue_on_an_existing_profile(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    order = {
        "type": "track",
        "event": "Order Completed",
        "messageId": "m-order",
        "timestamp": "2024-03-02T10:00:00Z",
        "anonymousId": "a-buyer",
        "properties": {"revenue": 19.99, "currency": "usd"},
    }
    _, r = shop.ingest("web", [order])
    assert r is not None and not r.express
    events = [
        identify(anonymousId="a-buyer", traits={"email": "buyer@mail.com"}),
        identify(anonymousId="a-buyer2", traits={"email": "buyer@mail.com"}),
        {
            "type": "track",
            "event": "Viewed",
            "messageId": "m-view",
            "timestamp": "2024-03-02T11:00:00Z",
            "anonymousId": "a-buyer",
            "properties": {"currency": "eur", "revenue": "  "},
        },
    ]
    both_ways(shop, tmp_path, events).close()


def test_duplicates_within_one_request(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    ev = identify(anonymousId="a-twice", traits={"email": "twice@mail.com"})
    other = dict(ev, traits={"email": "other@mail.com"})
    either_way(shop, tmp_path, [ev, ev, other], express=None)


def test_resent_with_other_content(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    ev = identify(anonymousId="a-re", traits={"email": "re1@mail.com"})
    shop.ingest("web", [ev])
    changed = dict(ev, traits={"email": "re2@mail.com"})
    either_way(shop, tmp_path, [changed], express=None)


def test_nested_objects_and_arrays(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-obj", traits={"name": {"first": "A"}, "email": ["x@mail.com"]}),
        identify(anonymousId="a-fl", traits={"phone": 4155550100.0}),
        identify(anonymousId="a-ev", event={"x": 1}, type="identify"),
    ]
    for i, ev in enumerate(events):
        either_way(shop, tmp_path / str(i), [ev], express=None)


def test_event_name_types(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        {
            "type": "page",
            "name": "Home",
            "messageId": "m-p1",
            "anonymousId": "a-pg",
            "timestamp": "2024-03-01T09:00:00Z",
        },
        {
            "type": "track",
            "event": "  Clicked  ",
            "messageId": "m-p2",
            "anonymousId": "a-pg",
            "timestamp": "2024-03-01T09:01:00Z",
        },
        {
            "type": "alias",
            "previousId": "a-pg",
            "userId": "u-pg",
            "messageId": "m-p3",
            "timestamp": "2024-03-01T09:02:00Z",
        },
    ]
    both_ways(shop, tmp_path, events).close()


def test_raw_bytes_with_escapes(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    raw = orjson.dumps(identify(anonymousId="a-esc")).replace(b'"a-esc"', b'"a-\\u00e9sc\\/"')
    either_way(shop, tmp_path, [raw], express=None)


def test_a_request_with_a_rejected_message(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-ok", traits={"email": "ok@mail.com"}),
        {"type": "identify", "messageId": "m-bad", "traits": {"email": "x@mail.com"}},
        {"type": "track", "messageId": "m-bad2", "anonymousId": "a-ok"},
    ]
    either_way(shop, tmp_path, events, express=True)


def test_alias_and_odd_ids(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="匿名-1", userId="ÄBC Ünïcode", traits={"email": "ÄNN@MAIL.COM"}),
        identify(anonymousId="a-al", traits={"phone": "(415) 555-0166"}),
        {
            "type": "alias",
            "messageId": "m-alias",
            "previousId": "a-al",
            "userId": "u-1",
            "timestamp": "2024-03-05T10:00:00Z",
        },
        identify(userId="  u-1  ", context={"device": {"id": "DEV-1"}}),
    ]
    both_ways(shop, tmp_path, events).close()


def test_two_collected_sources_in_one_run(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    (shop.root / "sources" / "app.yml").write_text(http_source_yaml("app"), encoding="utf-8")
    shop.resolve()  # the mapping changed: a full run
    shop.engine.execute("CHECKPOINT")
    shutil.copytree(shop.root, tmp_path / "batch")
    batch = Workspace(tmp_path / "batch")
    web = [identify(anonymousId="a-2s", traits={"name": "Web Name", "email": "two@mail.com"})]
    app = [identify(anonymousId="a-2s", userId="u-2s", traits={"phone": "4155550155"})]
    results = []
    for ws, express in ((shop, True), (batch, False)):
        ws.ingest("web", web, resolve=False)
        _, r = ws.ingest("app", app, express=express)
        results.append(r)
    assert results[0] is not None and results[0].express
    for t in TABLES:
        sql = f"SELECT * FROM {t} ORDER BY ALL"
        assert shop.engine.fetchall(sql) == batch.engine.fetchall(sql), sql
    batch.close()
    assert_same_as_full_rerun(shop, tmp_path)


def test_far_times(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-old", timestamp="0099-01-01T00:00:00Z"),
        identify(anonymousId="a-far", timestamp="9999-12-31T23:59:59.999999Z"),
        identify(anonymousId="a-leap", timestamp="2024-02-29T23:59:59.9995+00:00"),
    ]
    both_ways(shop, tmp_path, events).close()


def test_one_value_in_two_fields(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-same", previousId="a-same", userId="a-same"),
        dict(identify(anonymousId="a-int-id"), messageId=987654321),
        dict(identify(anonymousId="a-sp-id"), messageId=" m-spaced "),
        identify(anonymousId="a-same", traits={"email": "same@mail.com", "phone": "same@mail.com"}),
    ]
    both_ways(shop, tmp_path, events).close()


def test_a_merge_with_revenue_on_one_side(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    for i, (amount, currency) in enumerate([(10.005, "usd"), (0.1, "usd"), (0.2, "eur")]):
        order = {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"m-rv-{i}",
            "timestamp": f"2024-03-02T10:0{i}:00Z",
            "anonymousId": "a-rv",
            "properties": {"revenue": amount, "currency": currency},
        }
        shop.ingest("web", [order])
    _, r = shop.ingest("web", [identify(userId="u-rv", traits={"name": "Rev Side"})])
    assert r is not None and r.express
    events = [identify(anonymousId="a-rv", userId="u-rv"), identify(userId="u-rv")]
    for i, ev in enumerate(events):
        either_way(shop, tmp_path / str(i), [ev], express=None)


def test_deeply_nested_properties(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    """orjson reads 1,024 levels, Python's `json` fewer: the duplicate-key check must not
    crash on such a message."""
    ev = identify(anonymousId="a-deep", traits={"email": "deep@mail.com"})
    raw = orjson.dumps(ev)[:-1] + b',"properties":{"x":' + b"[" * 1010 + b"]" * 1010 + b"}}"
    assert orjson.loads(raw)["anonymousId"] == "a-deep"
    either_way(shop, tmp_path, [raw], express=None)


def test_the_shared_family_email(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-fam2", traits={"email": "fam@mail.com"}),
        identify(anonymousId="a-fam3", traits={"email": "FAM@mail.com", "phone": "4155550133"}),
        identify(userId="u-1", traits={"email": "fam@mail.com"}),
        identify(anonymousId="a-fam4", context={"device": {"id": "dev-4"}}),
    ]
    for i, ev in enumerate(events):
        either_way(shop, tmp_path / str(i), [ev], express=None)


def test_suspicious_values_are_counted(shop: Workspace, tmp_path: Path) -> None:  # noqa: F811
    events = [
        identify(anonymousId="a-sus", traits={"email": "sus@gmial.com", "birthday": "03/04/1990"})
    ]
    either_way(shop, tmp_path, events, express=True)


@pytest.fixture
def ranked(workspace: Workspace, add_source: Any) -> Iterator[Workspace]:
    """The shop's traits win over the web's, however recent (`source_priority`)."""
    cfg = workspace.root / "onefold.yml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("source_priority: []", "source_priority: [shop]"),
        encoding="utf-8",
    )
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    (workspace.root / "sources" / "web.yml").write_text(http_source_yaml("web"), encoding="utf-8")
    with Workspace(workspace.root) as ws:
        ws.load()
        ws.resolve()
        yield ws


def test_source_priority(ranked: Workspace, tmp_path: Path) -> None:
    events = [
        identify(userId="u-1", traits={"name": "Web Ann", "gender": "f"}),
        identify(userId="u-2", timestamp="2023-01-01T00:00:00Z", traits={"name": "Old Web Bob"}),
        identify(anonymousId="a-r", traits={"name": "Web Only"}),
        identify(anonymousId="a-r", userId="u-2"),
    ]
    both_ways(ranked, tmp_path, events).close()


CUSTOM = """\
name: web
format: segment
channel: online
record_key: messageId
phone_region: [GB, US]
event_time: timestamp
event_type: visit
identifiers:
  user_id: userId
  anonymous_id: anonymousId
  email: ["traits.emails[0]", "traits.emails[1]"]
traits:
  nickname: traits.nick
  work_email: {field: traits.work, kind: email}
  mobile: {field: traits.mobile, kind: phone}
  plan: traits.plan
"""


@pytest.fixture
def custom(workspace: Workspace, add_source: Any) -> Iterator[Workspace]:
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    (workspace.root / "sources" / "web.yml").write_text(CUSTOM, encoding="utf-8")
    workspace.load()
    workspace.resolve()
    yield workspace


def test_a_custom_collected_mapping(custom: Workspace, tmp_path: Path) -> None:
    events = [
        identify(
            anonymousId="a-c1",
            traits={
                "emails": ["c1@mail.com", "ANN@mail.com"],
                "nick": "Annie",
                "work": "Ann@Work.com",
                "mobile": "07700 900123",
                "plan": "Pro  ",
            },
        ),
        identify(anonymousId="a-c2", traits={"emails": [None, "c2@mail.com"], "plan": "n/a"}),
        identify(
            anonymousId="a-c3", traits={"emails": "c3@mail.com", "mobile": "+44 (0)20 7946 0958"}
        ),
    ]
    # the first one (sent last) has two emails seen at one instant: which is the profile's email is
    # `arg_max`'s arbitrary pick, so it is declined (and the batch stages' pick need not be
    # a full re-run's: not compared)
    for i, (ev, express) in enumerate(
        zip(events[1:] + events[:1], (True, True, False), strict=True)
    ):
        either_way(custom, tmp_path / str(i), [ev], express=express, rerun=express)


def test_no_timestamp_and_clock_skew(
    shop: Workspace,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a timestamp the receive time is the event's; with sentAt the device clock is
    corrected. The receive time is pinned so both copies see the same."""
    import datetime as dt

    import onefold.workspace as wsmod

    class Pinned(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Pinned:  # type: ignore[override]
            return cls(2024, 3, 9, 12, 30, 15, 123456, tzinfo=dt.UTC)

    monkeypatch.setattr(wsmod, "datetime", Pinned)
    plain = identify(anonymousId="a-now", traits={"email": "now@mail.com"})
    del plain["timestamp"]
    skewed = identify(
        anonymousId="a-skew", timestamp="2024-03-09T12:00:00.5+01:00", traits={"name": "Sk Ew"}
    )
    skewed["sentAt"] = "2024-03-09T11:29:59.999Z"
    both_ways(shop, tmp_path, [plain, skewed]).close()
