"""The real Python SDKs, unmodified, deliver the customer journey to `onefold serve`.

One scenario for every client: anonymous page views → product viewed → identify with email
and phone → alias → order completed. Then the Profile API must return one profile holding
the whole timeline, with the identifiers normalised, within a second of the last ack.
"""

from __future__ import annotations

from typing import Any

import httpx

from live_server import Keys, LiveServer

EMAIL_RAW, EMAIL = " Ann.Lee@ShopMail.COM ", "ann.lee@shopmail.com"
PHONE_RAW, PHONE = "(415) 555-0100", "+14155550100"


def journey(client: Any, anon: str, user: str) -> None:
    """The scenario, through any SDK exposing the Segment calls (snake_case Python API)."""
    client.page(anonymous_id=anon, name="Home", properties={"path": "/"})
    client.page(anonymous_id=anon, name="Shoes", properties={"path": "/shoes"})
    client.track(anonymous_id=anon, event="Product Viewed", properties={"sku": "SH-1"})
    client.identify(
        user_id=user,
        anonymous_id=anon,
        traits={"email": EMAIL_RAW, "phone": PHONE_RAW, "name": "Ann Lee"},
    )
    client.alias(previous_id=anon, user_id=user)
    client.track(
        user_id=user, event="Order Completed", properties={"revenue": 42.5, "currency": "USD"}
    )


def profile_api(server: LiveServer, keys: Keys, path: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/profiles/{path}", auth=(keys.read, ""), timeout=10)


def assert_one_profile(server: LiveServer, keys: Keys, user: str, events: int) -> None:
    waited = server.wait_resolved()
    assert waited < 1.0 + 0.5, f"resolved {waited:.2f}s after the ack"
    by_email = profile_api(server, keys, f"email:{EMAIL}")
    assert by_email.status_code == 200, by_email.text
    body = by_email.json()
    pid = body["profile_id"]
    ids = {(i["id_type"], i["value"]) for i in body["identifiers"]}
    assert {("email", EMAIL), ("phone", PHONE), ("user_id", user)} <= ids
    assert any(t == "anonymous_id" for t, _ in ids)  # the anonymous browsing joined
    for ref in (f"phone:{PHONE_RAW}", f"user_id:{user}", pid):
        assert profile_api(server, keys, ref).json()["profile_id"] == pid
    timeline = profile_api(server, keys, f"user_id:{user}/events").json()
    kinds = [e["event_type"] for e in timeline["events"]]
    assert len(kinds) == events
    assert {"Home", "Shoes", "Product Viewed", "identify", "alias", "Order Completed"} <= set(kinds)
    order = next(e for e in timeline["events"] if e["event_type"] == "Order Completed")
    assert float(order["amount"]) == 42.5
    assert body["profile"]["name"] == "Ann Lee"


def test_segment_analytics_python_delivers_the_journey(live: tuple[LiveServer, Keys]) -> None:
    from segment.analytics import Client

    server, keys = live
    errors: list[Any] = []
    client = Client(
        write_key=keys.write,
        host=server.url,
        on_error=lambda e, batch: errors.append(e),
        max_retries=2,
        upload_interval=0.05,  # queued and sent as /v1/batch by its consumer thread
    )
    journey(client, "anon-py-1", "u-py-1")
    client.flush()
    assert errors == []
    assert server.health()["messages_committed"] == 6
    assert_one_profile(server, keys, "u-py-1", 6)


def test_rudder_sdk_python_delivers_the_journey(live: tuple[LiveServer, Keys]) -> None:
    from rudderstack.analytics import Client

    server, keys = live
    errors: list[Any] = []
    client = Client(
        write_key=keys.write,
        host=server.url,
        on_error=lambda e, batch: errors.append(e),
        max_retries=2,
        sync_mode=True,  # each call posted at once (a batch of one), gzip-compressed
        gzip=True,
    )
    journey(client, "anon-rs-1", "u-rs-1")
    client.flush()
    assert errors == []
    assert server.health()["messages_committed"] == 6
    assert_one_profile(server, keys, "u-rs-1", 6)


def test_a_retried_batch_is_stored_once(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    batch = {
        "batch": [
            {"type": "track", "event": "Viewed", "anonymousId": "a1", "messageId": f"m-{i}"}
            for i in range(20)
        ]
    }
    first = httpx.post(f"{server.url}/v1/batch", json=batch, auth=(keys.write, ""))
    again = httpx.post(f"{server.url}/v1/batch", json=batch, auth=(keys.write, ""))
    assert first.json()["stored"] == 20 and first.json()["duplicates"] == 0
    assert again.status_code == 200
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 20
    assert server.health()["messages_committed"] == 20
