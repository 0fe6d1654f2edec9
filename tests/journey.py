"""The customer journey every SDK test delivers, and what the Profile API must then return.

One scenario for every client: anonymous page views (Home, Shoes) → product viewed →
identify with email and phone → alias → order completed. Then the Profile API must return
one profile holding the whole timeline, with the identifiers normalised, within a second of
the last ack. The JavaScript SDKs run the same calls from tests/js/ with these values.
"""

from __future__ import annotations

from typing import Any

import httpx

from live_server import Keys, LiveServer

EMAIL_RAW, EMAIL = " Ann.Lee@ShopMail.COM ", "ann.lee@shopmail.com"
PHONE_RAW, PHONE = "(415) 555-0100", "+14155550100"
#: the calls of the journey, hence the events of the profile's timeline
JOURNEY_EVENTS = 6


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
    server.wait_resolved()  # latency is measured by benchmarks/ingest.py, not here
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
