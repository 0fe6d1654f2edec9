"""Checking requests in the worker process gives exactly what checking in place gives."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime

import orjson
import pytest

from onefold.collect.messages import RequestError
from onefold.collect.requests import check_request, check_request_columns
from onefold.collect.store import RecentIds
from onefold.server.checking import POOL_MIN_BYTES, Checker

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def big_batch() -> bytes:
    msgs = [
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": f"u-{i}",
            "messageId": f"m-{i}",
            "timestamp": "2026-12-03T11:59:58Z",
            "properties": {"sku": "x" * 200},
            "writeKey": "wk_in_every_message",
        }
        for i in range(200)
    ]
    msgs[7] = {"type": "track", "userId": "u-7", "messageId": "m-7"}  # no event name
    msgs[9] = {"type": "identify", "messageId": "m-9"}  # no user
    body = orjson.dumps({"batch": msgs, "sentAt": "2026-12-03T11:59:59Z", "writeKey": "wk_b"})
    assert len(body) > POOL_MIN_BYTES
    return body


def test_columns_round_trip_is_the_same_request() -> None:
    body = big_batch()
    direct = check_request(body, None, None, NOW)
    assert direct == check_request_columns(body, None, None, NOW).request()
    assert direct.write_key == "wk_b"
    assert len(direct.accepted) == 198
    assert [(r.index, r.field) for r in direct.rejected] == [(7, "event"), (9, "userId")]
    assert all(b"wk_in_every_message" not in m.payload for m in direct.accepted)


def test_a_gzipped_single_message_is_stored_as_the_json_it_holds() -> None:
    msg = orjson.dumps({"type": "track", "event": "Signed Up", "userId": "u-1", "messageId": "g"})
    checked = check_request(gzip.compress(msg), "gzip", "track", NOW)
    assert [m.payload for m in checked.accepted] == [msg]


def test_a_boolean_message_id_is_no_id() -> None:
    msg = {"type": "track", "event": "x", "userId": "u-1", "messageId": True}
    [accepted] = check_request(orjson.dumps(msg), None, "track", NOW).accepted
    assert accepted.message_id.startswith("auto-")


def test_recent_ids_forget_the_oldest_first() -> None:
    recent = RecentIds(capacity=3)
    recent.add("web", ["a", "b"])
    recent.add("web", ["c", "d"])
    recent.add("app", ["a"])
    assert [("web", i) in recent for i in "abcd"] == [False, True, True, True]
    assert ("app", "a") in recent and ("app", "b") not in recent


def test_the_worker_checks_large_batches_and_its_errors_cross_back() -> None:
    checker = Checker(workers=1)
    checker.start()
    try:
        body = big_batch()
        pooled = asyncio.run(checker.check(body, None, None, NOW))
        assert pooled == check_request(body, None, None, NOW)
        broken = b'{"batch": [' + b" " * POOL_MIN_BYTES + b"{]}"
        with pytest.raises(RequestError) as err:
            asyncio.run(checker.check(broken, None, None, NOW))
        assert (err.value.status, err.value.code) == (400, "invalid_json")
        assert checker.pooled  # both went through the worker, which is still there
    finally:
        checker.stop()


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        ("9999-12-31T23:00:00-05:00", None),  # past year 9999 once in UTC
        ("9999-12-31T23:00:00Z", "2000-01-01T00:00:00Z"),  # a device clock 27 years slow
    ],
)
def test_a_timestamp_out_of_range_is_rejected_not_a_crash(
    timestamp: str, sent_at: str | None
) -> None:
    msg = {"type": "track", "event": "E", "userId": "u", "timestamp": timestamp}
    if sent_at:
        msg["sentAt"] = sent_at
    checked = check_request(orjson.dumps({"batch": [msg]}), None, None, NOW)
    assert not checked.accepted
    assert [(r.field, r.reason) for r in checked.rejected] == [
        ("timestamp", "timestamp: out of range once corrected to UTC")
    ]
